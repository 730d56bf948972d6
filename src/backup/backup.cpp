// backup/backup.cpp — consistent copies of a data directory (SQLite online backup for the
// databases, plain copies for the rest), their manifest and checks, restore, and the hooks.
#include "backup/backup.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <thread>

extern char** environ;

namespace inhouse::backup {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kFormatVersion = 1;
constexpr const char* kFormat = "inhouse-backup";
constexpr const char* kManifest = "manifest.json";
constexpr size_t kHookOutputMax = 64 * 1024;

[[noreturn]] void fail(const std::string& what) { throw Error("backup: " + what); }

// ---- files -------------------------------------------------------------------------------------

struct FileDigest {
  uint64_t size = 0;
  std::string blake2b;  // hex
};

FileDigest digest_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) fail("cannot read " + p.string() + ": " + std::strerror(errno));
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  std::vector<char> buf(1 << 20);
  FileDigest d;
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    const auto n = in.gcount();
    if (n <= 0) break;
    crypto_generichash_update(&st, reinterpret_cast<unsigned char*>(buf.data()), size_t(n));
    d.size += uint64_t(n);
  }
  if (in.bad()) fail("error reading " + p.string());
  unsigned char h[32];
  crypto_generichash_final(&st, h, sizeof h);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  d.blake2b = hex;
  return d;
}

// fsync a file or directory so a finished backup (or restore) survives a crash.
void sync_path(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open " + p.string() + " to sync it: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) fail("cannot sync " + p.string() + ": " + std::strerror(errno));
}

bool is_sqlite_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char head[16] = {};
  in.read(head, sizeof head);
  return in.gcount() == 16 && std::memcmp(head, "SQLite format 3\0", 16) == 0;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Why a file of the data directory is left out of a backup, or "" to copy it.
std::string skip_reason(const std::string& name) {
  for (const char* s : {"-wal", "-shm", "-journal"})
    if (ends_with(name, s)) return "SQLite side file";
  if (ends_with(name, ".tmp") || name.find(".tmp.") != std::string::npos) return "temporary file";
  return "";
}

std::string mode_string(fs::perms p) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", unsigned(p) & 07777);
  return buf;
}

std::optional<fs::perms> parse_mode(const json& v) {
  if (!v.is_string()) return std::nullopt;
  const std::string s = v;
  if (s.empty() || s.size() > 5 || s.find_first_not_of("01234567") != std::string::npos) return std::nullopt;
  return fs::perms(std::stoul(s, nullptr, 8) & 07777);
}

// A manifest path that stays inside the backup: relative, no "..", not the manifest itself.
bool safe_relative(const std::string& s) {
  if (s.empty() || s == kManifest || s.find('\0') != std::string::npos) return false;
  const fs::path p(s);
  if (p.is_absolute()) return false;
  for (const auto& part : p)
    if (part == ".." || part == "." || part.empty()) return false;
  return true;
}

std::string random_suffix() {
  unsigned char b[6];
  randombytes_buf(b, sizeof b);
  char hex[13];
  sodium_bin2hex(hex, sizeof hex, b, sizeof b);
  return std::to_string(::getpid()) + "-" + hex;
}

// Creates `to`'s parent directories inside `root` with the permissions of the matching
// directories under `from_root` (when it has them).
void make_parents(const fs::path& root, const fs::path& rel, const fs::path* from_root) {
  fs::path at = root;
  for (const auto& part : rel.parent_path()) {
    at /= part;
    if (fs::exists(at)) continue;
    fs::create_directory(at);
    if (from_root) {
      std::error_code ec;
      const auto st = fs::status(*from_root / at.lexically_relative(root), ec);
      if (!ec) fs::permissions(at, st.permissions(), ec);
    }
  }
}

// ---- SQLite ------------------------------------------------------------------------------------

struct SqliteHandle {
  sqlite3* db = nullptr;
  ~SqliteHandle() { if (db) sqlite3_close_v2(db); }
};

std::string uri_of(const fs::path& p) {
  std::string out = "file:";
  for (unsigned char c : fs::absolute(p).string()) {
    if (c == '?' || c == '#' || c == '%' || c < 0x21 || c >= 0x7f) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out;
}

// A snapshot of `src` in `dst` (one backup step holds one read transaction: the copy is the
// database as of one commit, while other connections go on writing), in rollback-journal mode.
void copy_database(const fs::path& src, const fs::path& dst) {
  SqliteHandle in, out;
  if (sqlite3_open_v2(src.c_str(), &in.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    fail("cannot open database " + src.string() + ": " + sqlite3_errmsg(in.db));
  sqlite3_busy_timeout(in.db, 10000);
  if (sqlite3_open_v2(dst.c_str(), &out.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK)
    fail("cannot create " + dst.string() + ": " + sqlite3_errmsg(out.db));
  sqlite3_backup* b = sqlite3_backup_init(out.db, "main", in.db, "main");
  if (!b) fail("cannot back up " + src.string() + ": " + sqlite3_errmsg(out.db));
  int rc = SQLITE_OK;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    rc = sqlite3_backup_step(b, -1);
    if (rc == SQLITE_DONE) break;
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    break;
  }
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) fail("backing up " + src.string() + " failed: " + sqlite3_errstr(rc));
  if (sqlite3_exec(out.db, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr) != SQLITE_OK)
    fail("cannot finish " + dst.string() + ": " + sqlite3_errmsg(out.db));
}

// The last audit entry of a database copy, if it has an audit_log table (audit.h's table).
json audit_head_of(const fs::path& db_copy) {
  SqliteHandle h;
  if (sqlite3_open_v2(uri_of(db_copy).c_str(), &h.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) != SQLITE_OK)
    return nullptr;
  sqlite3_stmt* st = nullptr;
  json head = nullptr;
  if (sqlite3_prepare_v2(h.db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", -1, &st, nullptr) ==
      SQLITE_OK) {
    head = json{{"seq", 0}, {"hash", std::string(64, '0')}};
    if (sqlite3_step(st) == SQLITE_ROW) {
      const auto* hash = sqlite3_column_text(st, 1);
      head = json{{"seq", sqlite3_column_int64(st, 0)}, {"hash", hash ? reinterpret_cast<const char*>(hash) : ""}};
    }
  }
  sqlite3_finalize(st);
  return head;
}

// `PRAGMA integrity_check` of a database copy, read without writing anything beside it.
std::string integrity_problem(const fs::path& p) {
  SqliteHandle h;
  const std::string uri = uri_of(p) + "?immutable=1";
  if (sqlite3_open_v2(uri.c_str(), &h.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) != SQLITE_OK)
    return std::string("cannot open as a database: ") + sqlite3_errmsg(h.db);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h.db, "PRAGMA integrity_check(5)", -1, &st, nullptr) != SQLITE_OK)
    return std::string("integrity check failed: ") + sqlite3_errmsg(h.db);
  std::string msgs;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const auto* t = sqlite3_column_text(st, 0);
    const std::string line = t ? reinterpret_cast<const char*>(t) : "";
    if (line != "ok") msgs += (msgs.empty() ? "" : "; ") + line;
  }
  if (rc != SQLITE_DONE && msgs.empty()) msgs = sqlite3_errmsg(h.db);
  sqlite3_finalize(st);
  return msgs.empty() ? "" : "integrity check: " + msgs;
}

// ---- naming ------------------------------------------------------------------------------------

std::string utc(std::time_t t, const char* fmt) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

// rename() that never replaces an existing target; false when the target exists.
bool rename_no_replace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno == EEXIST || errno == ENOTEMPTY) return false;
  if (errno == EINVAL || errno == ENOSYS) {  // a file system without RENAME_NOREPLACE
    if (fs::exists(to)) return false;
    fs::rename(from, to);
    return true;
  }
  fail("cannot rename " + from.string() + " to " + to.string() + ": " + std::strerror(errno));
}

// Removes a directory tree when the scope ends unless release()d.
struct TempDir {
  fs::path path;
  ~TempDir() {
    if (path.empty()) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void release() { path.clear(); }
};

bool inside(const fs::path& p, const fs::path& dir) {
  const auto rel = p.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

// ---- hooks -------------------------------------------------------------------------------------

HookResult run_hook(const fs::path& hook, const fs::path& backup_path, int timeout_s) {
  HookResult r;
  r.name = hook.filename().string();
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) fail(std::string("cannot create a pipe: ") + std::strerror(errno));

  const std::string env_var = "INHOUSE_BACKUP_DIR=" + backup_path.string();
  std::vector<char*> envp;
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, "INHOUSE_BACKUP_DIR=", 19) != 0) envp.push_back(*e);
  envp.push_back(const_cast<char*>(env_var.c_str()));
  envp.push_back(nullptr);
  std::string prog = hook.string(), arg = backup_path.string();
  char* argv[] = {prog.data(), arg.data(), nullptr};

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);  // a server ignores SIGPIPE; its hooks should not inherit that
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);  // its own process group, so a timeout kills its children too
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, prog.c_str(), &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(pipefd[1]);
  if (rc != 0) {
    ::close(pipefd[0]);
    r.exit_code = 127;
    r.output = std::string("cannot run: ") + std::strerror(rc);
    return r;
  }

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  auto left_ms = [&] {
    return int(std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                        deadline - std::chrono::steady_clock::now()).count()));
  };
  bool open = true;
  int status = 0;
  bool exited = false;
  char buf[4096];
  while (!exited) {
    if (left_ms() == 0) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    if (open) {
      pollfd p{pipefd[0], POLLIN, 0};
      if (::poll(&p, 1, std::min(left_ms(), 200)) > 0) {
        const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
        if (n > 0) {
          r.output.append(buf, size_t(n));
          if (r.output.size() > kHookOutputMax) r.output.erase(0, r.output.size() - kHookOutputMax);
        } else if (n == 0 || errno != EINTR) {
          open = false;
        }
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) exited = true;
  }
  // Drain what the hook wrote just before it exited (without waiting on its children).
  while (open) {
    pollfd p{pipefd[0], POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) break;
    const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
    if (n <= 0) break;
    r.output.append(buf, size_t(n));
  }
  if (r.output.size() > kHookOutputMax) r.output.erase(0, r.output.size() - kHookOutputMax);
  ::close(pipefd[0]);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
  return r;
}

}  // namespace

bool CreateResult::hooks_ok() const {
  return std::all_of(hooks.begin(), hooks.end(), [](const HookResult& h) { return h.ok(); });
}

std::vector<HookResult> run_hooks(const fs::path& data_dir, const fs::path& backup_path, int timeout_s) {
  const fs::path dir = data_dir / "hooks" / "backup.d";
  std::vector<fs::path> hooks;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || ends_with(name, "~")) continue;
    if (!e.is_regular_file() || ::access(e.path().c_str(), X_OK) != 0) continue;
    hooks.push_back(e.path());
  }
  std::sort(hooks.begin(), hooks.end());
  std::vector<HookResult> out;
  for (const fs::path& h : hooks) out.push_back(run_hook(h, backup_path, timeout_s));
  return out;
}

namespace {

CreateResult create_backup(const fs::path& data_dir_in, const fs::path& dest_dir_in, const CreateOptions& options) {
  if (sodium_init() < 0) fail("libsodium failed to initialise");
  std::error_code ec;
  if (!fs::is_directory(data_dir_in, ec)) fail("data directory " + data_dir_in.string() + " does not exist");
  const fs::path data_dir = fs::weakly_canonical(fs::absolute(data_dir_in));
  fs::create_directories(dest_dir_in, ec);
  if (!fs::is_directory(dest_dir_in)) fail("cannot create backup directory " + dest_dir_in.string());
  const fs::path dest_dir = fs::weakly_canonical(fs::absolute(dest_dir_in));
  if (dest_dir == data_dir) fail("the backup directory cannot be the data directory itself");

  const auto now = std::chrono::system_clock::now();
  const std::time_t now_s = std::chrono::system_clock::to_time_t(now);
  const std::string stamp = utc(now_s, "%Y%m%dT%H%M%SZ");
  TempDir tmp{dest_dir / (".inhouse-backup-" + stamp + ".tmp-" + random_suffix())};
  fs::create_directory(tmp.path);
  fs::permissions(tmp.path, fs::perms::owner_all);  // it holds keys and the databases

  // Databases first (each a snapshot), then everything else.
  std::vector<fs::path> databases, files;
  json skipped = json::array();
  for (auto it = fs::recursive_directory_iterator(data_dir); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path& p = it->path();
    const auto st = it->symlink_status();
    if (fs::is_directory(st)) {
      if (p == dest_dir) it.disable_recursion_pending();  // a backup directory inside the data directory
      continue;
    }
    const std::string rel = p.lexically_relative(data_dir).generic_string();
    if (!fs::is_regular_file(st)) {
      skipped.push_back(rel + " (not a regular file)");
      continue;
    }
    if (const std::string why = skip_reason(p.filename().string()); !why.empty()) {
      skipped.push_back(rel + " (" + why + ")");
      continue;
    }
    (is_sqlite_file(p) ? databases : files).push_back(p);
  }

  json entries = json::array();
  CreateResult result;
  auto record = [&](const fs::path& src, const fs::path& copy, const char* kind) {
    const auto st = fs::status(src, ec);
    if (!ec) fs::permissions(copy, st.permissions() & fs::perms::mask);
    sync_path(copy);
    const FileDigest d = digest_file(copy);
    entries.push_back({{"path", copy.lexically_relative(tmp.path).generic_string()},
                       {"kind", kind},
                       {"size", d.size},
                       {"mode", mode_string(fs::status(copy).permissions())},
                       {"blake2b", d.blake2b}});
    ++result.files;
    result.bytes += d.size;
  };
  for (const fs::path& src : databases) {
    const fs::path rel = src.lexically_relative(data_dir);
    make_parents(tmp.path, rel, &data_dir);
    copy_database(src, tmp.path / rel);
    record(src, tmp.path / rel, "sqlite");
  }
  for (const fs::path& src : files) {
    const fs::path rel = src.lexically_relative(data_dir);
    make_parents(tmp.path, rel, &data_dir);
    fs::copy_file(src, tmp.path / rel, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      if (!fs::exists(src)) {  // removed while we walked (a temp file, a deleted kb)
        skipped.push_back(rel.generic_string() + " (vanished during the backup)");
        ec.clear();
        continue;
      }
      fail("cannot copy " + src.string() + ": " + ec.message());
    }
    record(src, tmp.path / rel, "file");
  }
  std::sort(entries.begin(), entries.end(), [](const json& a, const json& b) { return a["path"] < b["path"]; });

  json head = nullptr;
  if (options.audit_head) head = *options.audit_head;
  else if (fs::exists(tmp.path / "inhouse.db")) head = audit_head_of(tmp.path / "inhouse.db");
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  result.manifest = json{{"format", kFormat},
                         {"version", kFormatVersion},
                         {"created_at", utc(now_s, "%Y-%m-%dT%H:%M:%SZ")},
                         {"created_at_ms", now_ms},
                         {"source", data_dir.string()},
                         {"files", entries},
                         {"audit_head", head},
                         {"skipped", skipped}};
  {
    std::ofstream out(tmp.path / kManifest, std::ios::binary);
    out << result.manifest.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    if (!out.flush()) fail("cannot write " + (tmp.path / kManifest).string());
  }
  sync_path(tmp.path / kManifest);
  sync_path(tmp.path);

  // Appears atomically under its final name (a second backup in the same second gets "-2").
  const std::string base = "inhouse-backup-" + stamp;
  for (int n = 1;; ++n) {
    const fs::path target = dest_dir / (n == 1 ? base : base + "-" + std::to_string(n));
    if (rename_no_replace(tmp.path, target)) {
      result.path = target;
      break;
    }
    if (n > 1000) fail("cannot find a free name for the backup in " + dest_dir.string());
  }
  tmp.release();
  sync_path(dest_dir);

  if (options.run_hooks) result.hooks = run_hooks(data_dir, result.path, options.hook_timeout_s);
  return result;
}

RestoreResult restore_backup(const fs::path& backup_dir, const fs::path& data_dir_in, bool force);

}  // namespace

// std::filesystem errors become backup::Error, as the header promises.
CreateResult create(const fs::path& data_dir, const fs::path& dest_dir, const CreateOptions& options) {
  try {
    return create_backup(data_dir, dest_dir, options);
  } catch (const fs::filesystem_error& e) {
    fail(e.what());
  }
}

RestoreResult restore(const fs::path& backup_dir, const fs::path& data_dir, bool force) {
  try {
    return restore_backup(backup_dir, data_dir, force);
  } catch (const fs::filesystem_error& e) {
    fail(e.what());
  }
}

VerifyReport verify(const fs::path& backup_dir) {
  VerifyReport rep;
  auto problem = [&](std::string p) {
    rep.ok = false;
    rep.problems.push_back(std::move(p));
  };
  if (sodium_init() < 0) {
    problem("libsodium failed to initialise");
    return rep;
  }
  std::ifstream in(backup_dir / kManifest, std::ios::binary);
  if (!in) {
    problem(std::string(kManifest) + ": missing or unreadable in " + backup_dir.string());
    return rep;
  }
  json m = json::parse(in, nullptr, false);
  if (m.is_discarded() || !m.is_object()) {
    problem(std::string(kManifest) + ": not valid JSON");
    return rep;
  }
  if (m.value("format", "") != kFormat || !m.contains("version") || !m["version"].is_number_integer()) {
    problem(std::string(kManifest) + ": not an inhouse backup manifest");
    return rep;
  }
  if (m["version"].get<int64_t>() != kFormatVersion) {
    problem(std::string(kManifest) + ": format version " + m["version"].dump() + " is not supported");
    return rep;
  }
  if (!m.contains("files") || !m["files"].is_array()) {
    problem(std::string(kManifest) + ": no file list");
    return rep;
  }
  rep.manifest = m;
  std::set<std::string> seen;
  for (const json& f : m["files"]) {
    ++rep.files;
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("size") ||
        !f["size"].is_number_unsigned() || !f.contains("blake2b") || !f["blake2b"].is_string()) {
      problem("manifest entry " + std::to_string(rep.files) + " is malformed: " + f.dump().substr(0, 200));
      continue;
    }
    const std::string rel = f["path"];
    if (!safe_relative(rel)) {
      problem(rel + ": path leaves the backup directory");
      continue;
    }
    if (!seen.insert(rel).second) {
      problem(rel + ": listed twice");
      continue;
    }
    const fs::path p = backup_dir / rel;
    std::error_code ec;
    if (!fs::is_regular_file(fs::symlink_status(p, ec))) {
      problem(rel + ": missing");
      continue;
    }
    const uint64_t want_size = f["size"];
    const uint64_t size = fs::file_size(p, ec);
    if (size != want_size) {
      problem(rel + ": size " + std::to_string(size) + ", manifest says " + std::to_string(want_size));
      continue;
    }
    try {
      if (digest_file(p).blake2b != f["blake2b"].get<std::string>()) {
        problem(rel + ": content differs from the manifest (BLAKE2b mismatch)");
        continue;
      }
    } catch (const Error& e) {
      problem(rel + ": " + e.what());
      continue;
    }
    if (f.value("kind", "") == "sqlite") {
      if (fs::exists(p.string() + "-wal")) problem(rel + ": has a -wal file beside it");
      if (const std::string why = integrity_problem(p); !why.empty()) problem(rel + ": " + why);
    }
  }
  return rep;
}

namespace {

RestoreResult restore_backup(const fs::path& backup_dir, const fs::path& data_dir_in, bool force) {
  const VerifyReport rep = verify(backup_dir);
  if (!rep.ok) {
    std::string msg = "backup " + backup_dir.string() + " failed verification, nothing restored:";
    for (size_t i = 0; i < rep.problems.size() && i < 10; ++i) msg += "\n  " + rep.problems[i];
    if (rep.problems.size() > 10) msg += "\n  ... and " + std::to_string(rep.problems.size() - 10) + " more";
    throw Error(msg);
  }
  // A symlinked data directory is restored where it points.
  fs::path target = fs::weakly_canonical(fs::absolute(data_dir_in));
  if (target.filename().empty()) target = target.parent_path();
  std::error_code ec;
  const bool exists = fs::exists(fs::symlink_status(target, ec));
  if (exists && !fs::is_directory(fs::symlink_status(target)))
    fail(target.string() + " exists and is not a directory");
  if (exists && !fs::is_empty(target) && !force)
    fail("data directory " + target.string() + " is not empty; use --force to replace its contents");
  if (inside(fs::weakly_canonical(fs::absolute(backup_dir)), fs::weakly_canonical(target)))
    fail("the backup lies inside the data directory it would replace; copy it elsewhere first");

  const fs::path parent = target.parent_path();
  fs::create_directories(parent);
  const std::string name = target.filename().string();
  TempDir tmp{parent / ("." + name + ".restore-" + random_suffix())};
  fs::create_directory(tmp.path);
  fs::permissions(tmp.path, exists ? fs::status(target).permissions() : fs::perms::owner_all);

  RestoreResult result;
  for (const json& f : rep.manifest["files"]) {
    const fs::path rel = f["path"].get<std::string>();
    make_parents(tmp.path, rel, nullptr);
    const fs::path to = tmp.path / rel;
    fs::copy_file(backup_dir / rel, to, fs::copy_options::overwrite_existing);
    if (const auto mode = parse_mode(f.value("mode", json()))) fs::permissions(to, *mode);
    sync_path(to);
    const FileDigest d = digest_file(to);
    if (d.blake2b != f["blake2b"].get<std::string>())
      fail("restored copy of " + rel.string() + " differs from the backup (disk error?); nothing restored");
    ++result.files;
    result.bytes += d.size;
  }
  sync_path(tmp.path);

  // Swap in: old → aside, new → place; undo the first rename if the second fails.
  if (exists) {
    const fs::path old = parent / ("." + name + ".old-" + random_suffix());
    fs::rename(target, old);
    try {
      fs::rename(tmp.path, target);
    } catch (...) {
      fs::rename(old, target);
      throw;
    }
    tmp.release();
    fs::remove_all(old, ec);  // the old contents (only reached with force or when it was empty)
  } else {
    fs::rename(tmp.path, target);
    tmp.release();
  }
  sync_path(parent);
  return result;
}

}  // namespace

}  // namespace inhouse::backup
