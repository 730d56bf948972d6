// backup — owns backups of a whole data directory: a consistent copy taken while the server
// keeps writing, its manifest, checking a copy, restoring one, and the hooks run after each.
//
// A backup is a directory DEST/inhouse-backup-<YYYYMMDDTHHMMSSZ>/ holding a mirror of the data
// directory plus manifest.json:
//   {"format": "inhouse-backup", "version": 1, "created_at": "2026-11-29T15:31:42Z",
//    "created_at_ms": N, "source": "/abs/data/dir",
//    "files": [{"path": "inhouse.db", "kind": "sqlite" | "file", "size": N, "mode": "0600",
//               "blake2b": "<BLAKE2b-256 hex>"}, ...],
//    "audit_head": {"seq": N, "hash": "..."} or null,
//    "skipped": ["kb/3.faiss.tmp.123 (temporary file)", ...]}
// Every SQLite database (found by its header) is copied through SQLite's online backup API in one
// step, so each is a snapshot of one moment even while others write (WAL readers don't block
// writers); the copy is switched to rollback-journal mode so it never needs a -wal next to it.
// Other regular files are copied byte for byte with their permission bits (key files stay 0600).
// Files written by temp file + rename (kb/<id>.faiss) are copied whole, old or new; the FAISS
// index is a cache the kb rebuilds from the database when their generations differ. The -wal,
// -shm and -journal files of databases, temp files (*.tmp, *.tmp.*) and anything that is not a
// regular file (symlinks, sockets) are not copied. The backup appears atomically: it is built in
// a hidden temp directory and renamed into place.
//
// Hooks: after the rename, every executable regular file in DATA_DIR/hooks/backup.d/ (not
// starting with '.', not ending in '~') runs in name order with the backup path as its only
// argument and INHOUSE_BACKUP_DIR set to it (e.g. to push it to object storage or git-lfs). Each
// has a timeout; its stdout and stderr are captured. A failing hook is reported and does not
// undo the backup.
//
// restore() must run while no server uses the data directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace inhouse::backup {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HookResult {
  std::string name;       // file name in hooks/backup.d
  int exit_code = 0;      // the hook's exit status; 128 + N when killed by signal N
  bool timed_out = false;
  std::string output;     // stdout and stderr interleaved, at most 64 KiB (the tail is kept)
  bool ok() const { return exit_code == 0 && !timed_out; }
};

struct CreateOptions {
  int hook_timeout_s = 600;
  bool run_hooks = true;
  // Recorded as the manifest's audit_head instead of reading inhouse.db's audit_log table (for
  // an audit log kept in PostgreSQL: {"seq": N, "hash": "..."} from audit::AuditLog::head()).
  std::optional<nlohmann::json> audit_head;
};

struct CreateResult {
  std::filesystem::path path;  // the new backup directory
  nlohmann::json manifest;
  std::vector<HookResult> hooks;
  size_t files = 0;
  uint64_t bytes = 0;
  bool hooks_ok() const;
};

// Backs up data_dir into a new directory under dest_dir (created when missing). dest_dir may
// lie inside data_dir; it is then left out of the copy. Throws Error (nothing is left behind in
// dest_dir) when data_dir is not a directory or a file cannot be read or written.
CreateResult create(const std::filesystem::path& data_dir, const std::filesystem::path& dest_dir,
                    const CreateOptions& options = {});

struct VerifyReport {
  bool ok = true;
  size_t files = 0;                   // files in the manifest
  std::vector<std::string> problems;  // one line each: "inhouse.db: size 4096, manifest says 8192"
  nlohmann::json manifest;            // null when it could not be read
};

// Checks a backup directory: manifest.json readable and well-formed, every listed file present
// with its size and BLAKE2b-256, and `PRAGMA integrity_check` ok on every database copy. Files not
// in the manifest are ignored (a hook may add some). Never throws for a bad backup.
VerifyReport verify(const std::filesystem::path& backup_dir);

struct RestoreResult {
  size_t files = 0;
  uint64_t bytes = 0;
};

// Replaces data_dir by the backup's files: verifies the backup first (throws Error listing the
// problems), refuses a non-empty data_dir unless force, then builds the new directory beside
// data_dir and swaps it in by rename, so a failure at any point leaves the old data in place.
// With force, the old contents are deleted once the new ones are in place.
RestoreResult restore(const std::filesystem::path& backup_dir, const std::filesystem::path& data_dir,
                      bool force = false);

// The hooks that create() runs, on their own (e.g. to re-run them for an existing backup).
std::vector<HookResult> run_hooks(const std::filesystem::path& data_dir, const std::filesystem::path& backup_path,
                                  int timeout_s = 600);

}  // namespace inhouse::backup
