// A throwaway PostgreSQL server for tests: initdb into a temp directory, `postgres` listening on
// 127.0.0.1:<free port> and a private socket directory, fsync off; stopped and deleted by the
// destructor. When run as root the server runs as the `postgres` OS user (initdb refuses root).
// Binaries: $INHOUSE_PG_BIN, else the newest /usr/lib/postgresql/<N>/bin. Tests call
// PgServer::shared() and GTEST_SKIP with skip_reason() when it is null.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "db/db.h"

namespace inhouse::test {

class PgServer {
 public:
  // The server every test of this process shares, started on first use; null when it cannot
  // start (skip_reason() says why).
  static PgServer* shared() {
    static std::unique_ptr<PgServer> server = [] {
      std::unique_ptr<PgServer> s(new PgServer);
      if (!s->start()) {
        reason() = s->error_;
        return std::unique_ptr<PgServer>();
      }
      return s;
    }();
    return server.get();
  }
  static const std::string& skip_reason() { return reason(); }

  ~PgServer() {
    admin_.reset();
    if (pid_ > 0) {
      ::kill(pid_, SIGINT);  // fast shutdown
      for (int i = 0; i < 100 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (::waitpid(pid_, nullptr, WNOHANG) == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    std::error_code ec;
    if (!root_.empty()) std::filesystem::remove_all(root_, ec);
  }

  // conninfo for the test database; `schema` (created by create_schema) as the search path.
  std::string conninfo(const std::string& schema = "") const {
    std::string c = "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=inhouse_test user=inhouse";
    if (!schema.empty()) c += " options='-c search_path=" + schema + "'";
    return c;
  }
  // A fresh, empty schema: one per test keeps tests apart without a database each.
  std::string create_schema() {
    const std::string name = "t" + std::to_string(++schemas_);
    admin_->execute("DROP SCHEMA IF EXISTS " + name + " CASCADE");
    admin_->execute("CREATE SCHEMA " + name);
    return name;
  }
  db::SharedDatabase& admin() { return *admin_; }
  int port() const { return port_; }
  double startup_seconds() const { return startup_seconds_; }

 private:
  PgServer() = default;
  static std::string& reason() {
    static std::string r;
    return r;
  }

  bool fail(const std::string& why) {
    error_ = "PostgreSQL test server: " + why;
    return false;
  }

  static std::optional<std::filesystem::path> find_bin() {
    namespace fs = std::filesystem;
    if (const char* env = std::getenv("INHOUSE_PG_BIN")) return fs::path(env);
    std::optional<fs::path> best;
    int best_version = -1;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
      const int v = std::atoi(e.path().filename().c_str());
      if (v > best_version && fs::exists(e.path() / "bin" / "initdb")) best = e.path() / "bin", best_version = v;
    }
    return best;
  }

  static int free_port() {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(s);
    return port;
  }

  // fork + exec argv as the server's user, output to log_; the child's pid.
  pid_t spawn(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    const int log = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) ::dup2(log, 1), ::dup2(log, 2);
    if (as_postgres_) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid_) != 0 || ::setuid(uid_) != 0) ::_exit(126);
    }
    ::prctl(PR_SET_PDEATHSIG, SIGQUIT);  // a crashed test does not leave the server behind
    if (::chdir(root_.c_str()) != 0) ::_exit(126);
    ::execv(args[0], args.data());
    const char msg[] = "cannot execute ";
    (void)!::write(2, msg, sizeof msg - 1);
    (void)!::write(2, args[0], std::strlen(args[0]));
    ::_exit(127);
  }

  std::string log_tail() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > 600 ? s.substr(s.size() - 600) : s;
  }

  bool start() {
    namespace fs = std::filesystem;
    const auto t0 = std::chrono::steady_clock::now();
    const auto bin = find_bin();
    if (!bin) return fail("no /usr/lib/postgresql/*/bin/initdb (apt install postgresql, or set INHOUSE_PG_BIN)");
    for (const char* tool : {"initdb", "postgres"})
      if (::access((*bin / tool).c_str(), X_OK) != 0) return fail("no executable " + (*bin / tool).string());
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (!pw) return fail("running as root and there is no 'postgres' user to run the server as");
      as_postgres_ = true, uid_ = pw->pw_uid, gid_ = pw->pw_gid;
    }
    std::string tmpl = (fs::temp_directory_path() / "inhouse-pg-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return fail("cannot create a temp directory");
    root_ = tmpl;
    log_ = root_ / "server.log";
    if (as_postgres_ && ::chown(root_.c_str(), uid_, gid_) != 0) return fail("cannot chown " + root_.string());

    const std::string data = (root_ / "data").string();
    const pid_t init = spawn({(*bin / "initdb").string(), "-D", data, "-U", "inhouse", "-A", "trust", "-E", "UTF8",
                              "--locale=C", "--no-sync", "--no-instructions"});
    int status = 0;
    if (init < 0 || ::waitpid(init, &status, 0) != init || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return fail("initdb failed: " + log_tail());

    for (int attempt = 0; attempt < 3 && pid_ <= 0; ++attempt) {
      port_ = free_port();
      pid_ = spawn({(*bin / "postgres").string(), "-D", data, "-k", root_.string(), "-h", "127.0.0.1", "-p",
                    std::to_string(port_), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
                    "full_page_writes=off", "-c", "max_connections=50"});
      if (!wait_ready()) {
        if (pid_ > 0) ::kill(pid_, SIGKILL), ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
      }
    }
    if (pid_ <= 0) return fail("postgres did not start: " + log_tail());
    try {
      auto postgres = db::open_postgres("host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=inhouse");
      postgres->execute("CREATE DATABASE inhouse_test");
      admin_ = db::open_postgres(conninfo());
    } catch (const std::exception& e) {
      return fail(std::string("cannot create the test database: ") + e.what());
    }
    startup_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return true;
  }

  // Polls with a connection until the server accepts one (up to 30 s) or the process exits.
  bool wait_ready() {
    for (int i = 0; i < 600; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      try {
        db::open_postgres("host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=inhouse connect_timeout=2");
        return true;
      } catch (const db::Error&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    return false;
  }

  std::filesystem::path root_, log_;
  bool as_postgres_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  pid_t pid_ = -1;
  int port_ = 0;
  int schemas_ = 0;
  double startup_seconds_ = 0;
  std::string error_;
  std::unique_ptr<db::SharedDatabase> admin_;
};

}  // namespace inhouse::test
