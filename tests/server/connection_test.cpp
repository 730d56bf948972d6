// peer_has_closed on real loopback TCP connections: open while the client is connected, closed
// once it hangs up (CLOSE_WAIT) and once our side is closed too (no row); unknown peers and bad
// input are "closed" or "can't tell" as documented, never a crash.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "server/server_internal.h"

namespace inhouse::server {
namespace {

int local_port_of(int fd) {
  sockaddr_in a{};
  socklen_t n = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  return ntohs(a.sin_port);
}

// Polls for up to 2 s: the kernel moves the socket to CLOSE_WAIT when the peer's FIN arrives.
bool eventually_closed(const std::string& addr, int peer_port, int local_port) {
  for (int i = 0; i < 200; ++i) {
    if (peer_has_closed(addr, peer_port, local_port)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(PeerHasClosed, FollowsARealLoopbackConnection) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  const int server_port = local_port_of(listener);
  a.sin_port = htons(uint16_t(server_port));

  const int client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const int accepted = accept(listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  const int client_port = local_port_of(client);

  EXPECT_FALSE(peer_has_closed("127.0.0.1", client_port, server_port));
  close(client);
  EXPECT_TRUE(eventually_closed("127.0.0.1", client_port, server_port));
  close(accepted);
  close(listener);

  // A connection that never existed reads as gone; input that cannot match is "can't tell".
  EXPECT_TRUE(peer_has_closed("127.0.0.1", client_port, server_port));
  EXPECT_FALSE(peer_has_closed("127.0.0.1", 0, server_port));
  EXPECT_FALSE(peer_has_closed("not an address", 5, 0));
}

}  // namespace
}  // namespace inhouse::server
