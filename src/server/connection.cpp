// server/connection.cpp — is the client of a request still there? cpp-httplib 0.11 gives a
// handler neither its socket nor a way to see the connection close, so a handler that waits
// (non-streaming generation) asks the kernel instead: the connection's row in /proc/net/tcp[6],
// found by our port and the peer's, is in CLOSE_WAIT once the peer has closed its side, and gone
// once the socket is closed.
#include <arpa/inet.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "server/server_internal.h"

namespace inhouse::server {
namespace {

constexpr int kTcpCloseWait = 0x08;
constexpr int kTcpClose = 0x07;
constexpr int kTcpLastAck = 0x09;

// "0100007F:1F90" → (address hex, port).
bool split_endpoint(const std::string& s, std::string& address, int& port) {
  const size_t colon = s.find(':');
  if (colon == std::string::npos) return false;
  address = s.substr(0, colon);
  try {
    port = std::stoi(s.substr(colon + 1), nullptr, 16);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// The state of the connection local_port <-> (peer_hex, peer_port) in one table; nullopt when
// the table has no such row. peer_hex empty: match by ports only (IPv6).
std::optional<int> state_in(const char* table, int local_port, const std::string& peer_hex, int peer_port,
                            bool& readable) {
  std::ifstream in(table);
  if (!in) return std::nullopt;
  readable = true;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string slot, local, remote, state;
    if (!(row >> slot >> local >> remote >> state)) continue;
    std::string local_addr, remote_addr;
    int lport = 0, rport = 0;
    if (!split_endpoint(local, local_addr, lport) || !split_endpoint(remote, remote_addr, rport)) continue;
    if (lport != local_port || rport != peer_port) continue;
    if (!peer_hex.empty() && remote_addr != peer_hex) continue;
    try {
      return std::stoi(state, nullptr, 16);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

bool peer_has_closed(const std::string& peer_addr, int peer_port, int local_port) {
  if (peer_port <= 0 || local_port <= 0) return false;
  std::string v4_hex;  // /proc/net/tcp prints the in_addr's bytes as one native-endian word
  in_addr a{};
  if (inet_pton(AF_INET, peer_addr.c_str(), &a) == 1) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08X", a.s_addr);
    v4_hex = buf;
  }
  bool readable = false;
  std::optional<int> state = state_in("/proc/self/net/tcp", local_port, v4_hex, peer_port, readable);
  if (!state) state = state_in("/proc/self/net/tcp6", local_port, "", peer_port, readable);
  if (!readable) return false;  // no /proc: cannot tell, assume still there
  if (!state) return true;      // the socket is gone
  return *state == kTcpCloseWait || *state == kTcpClose || *state == kTcpLastAck;
}

}  // namespace inhouse::server
