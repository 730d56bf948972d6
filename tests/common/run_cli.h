// Runs the `inhouse` binary (INHOUSE_BINARY) from a test and captures its stdout and stderr
// separately, byte for byte, with its exit status. Shared by every test binary that drives the
// CLI (include as "common/run_cli.h").
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace inhouse::test_util {

struct CliResult {
  int status = -1;  // the exit code; -1 when killed by a signal
  std::string out, err;
};

namespace detail {

inline std::string slurp_fd(int fd) {
  std::string text;
  ::lseek(fd, 0, SEEK_SET);
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, size_t(n));
  return text;
}

// An unlinked temp file: it vanishes when the descriptor closes.
inline int anonymous_temp_file() {
  std::string path = (std::filesystem::temp_directory_path() / "inhouse_cli_XXXXXX").string();
  int fd = ::mkstemp(path.data());
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::unlink(path.c_str());
  return fd;
}

// fork + exec argv[0] with stdout/stderr sent to temp files (no pipes, so no deadlock on big
// outputs), then waits.
inline CliResult run_argv(const std::vector<std::string>& argv) {
  int out_fd = anonymous_temp_file(), err_fd = anonymous_temp_file();
  std::vector<char*> c_argv;
  for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execv(c_argv[0], c_argv.data());
    ::_exit(127);
  }
  CliResult r;
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid)
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp_fd(out_fd);
  r.err = slurp_fd(err_fd);
  ::close(out_fd);
  ::close(err_fd);
  return r;
}

}  // namespace detail

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// `inhouse ARGS...`, each argument passed as is (no shell).
inline CliResult run_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv{INHOUSE_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return detail::run_argv(argv);
}

// `inhouse ARGS` with ARGS split and unquoted by /bin/sh (for tests written as one command line).
inline CliResult run_cli_shell(const std::string& args) {
  return detail::run_argv({"/bin/sh", "-c", "exec " + shell_quote(INHOUSE_BINARY) + " " + args});
}

}  // namespace inhouse::test_util
