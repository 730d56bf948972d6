// audit — owns the append-only audit log: who did what, when, from where, with what result.
// Entries live in the shared database's `audit_log` table (SQLite file or PostgreSQL), one
// hash chain across every process and replica writing to it:
//
//   salt           = 32 random bytes per entry (hex)
//   payload_digest = BLAKE2b-256 keyed with salt, of the canonical payload JSON
//                    {"action","actor","details","resource","result","source"} (keys sorted,
//                    no spaces, as nlohmann::json::dump() writes it)
//   hash           = BLAKE2b-256(prev_hash || seq (8 bytes BE) || time_ms (8 bytes BE) || payload_digest)
//                    where prev_hash is the previous entry's hash (32 zero bytes before seq 1)
//
// The salt makes erasure possible without breaking the chain: erase_actor() removes an entry's
// payload and salt but keeps seq, time, payload_digest and hash, so verify() still walks an
// unbroken chain, and without the salt the digest cannot be used to guess what was erased.
// Database triggers abort every DELETE and every UPDATE except that erasure.
//
// What verify() cannot see: an attacker with write access to the database who drops the
// triggers can cut entries off the END of the log (the remaining chain is still valid) or
// erase entries (they then show as erased). Record head() outside the database (the backup
// manifest does; so can a monitoring job) and compare later to detect truncation.
//
// Thread-safe: one AuditLog may be shared by all server threads; several processes or replicas
// may append to the same database (appends are serialised by the database transaction).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "db/db.h"

namespace inhouse::audit {

// Well-known actions (any string is accepted; these are what the server writes).
inline constexpr const char* kLogin = "login";
inline constexpr const char* kTokenIssue = "token.issue";
inline constexpr const char* kKbRead = "kb.read";
inline constexpr const char* kKbSearch = "kb.search";
inline constexpr const char* kKbAsk = "kb.ask";
inline constexpr const char* kKbWrite = "kb.write";
inline constexpr const char* kKbDelete = "kb.delete";
inline constexpr const char* kAccessChange = "access.change";
inline constexpr const char* kPrivacyErase = "privacy.erase";

// Results.
inline constexpr const char* kOk = "ok";
inline constexpr const char* kDenied = "denied";
inline constexpr const char* kError = "error";

// What happened, as the caller describes it.
struct Event {
  std::string actor;     // user or client name; "" for anonymous
  std::string action;    // e.g. kKbSearch
  std::string resource;  // e.g. "kb:financial_reports/q3.pdf"; "" when none
  std::string source;    // peer address ("10.0.0.7:51234") or "cli"
  std::string result = kOk;                        // kOk, kDenied or kError
  nlohmann::json details = nlohmann::json::object();  // must be an object
  int64_t time_ms = 0;   // unix milliseconds; 0 = now
};

// One stored entry. An erased entry has erased = true and empty actor..details.
struct Entry {
  int64_t seq = 0;  // 1, 2, 3, ... without gaps
  int64_t time_ms = 0;
  std::string actor, action, resource, source, result;
  nlohmann::json details = nlohmann::json::object();
  bool erased = false;
  std::string payload_digest;  // hex
  std::string hash;            // hex
};

// {"seq", "time_ms", "time" (ISO 8601 UTC), "actor", "action", "resource", "source", "result",
// "details", "erased", "payload_digest", "hash"}: one line of export_jsonl().
nlohmann::json to_json(const Entry& e);

// The chain's last entry: seq 0 and a hash of 64 zeros for an empty log.
struct Head {
  int64_t seq = 0;
  std::string hash;
};

struct VerifyReport {
  bool ok = true;
  int64_t entries = 0;        // entries checked (all of them when ok)
  int64_t first_bad_seq = 0;  // the first entry that fails (0 when ok)
  std::string problem;        // what is wrong with it ("" when ok)
  Head head;                  // the last good entry
};

// Selects entries; every field optional. Entries come in seq order.
struct Filter {
  std::optional<std::string> actor, action;
  std::optional<int64_t> since_ms;  // time_ms >= since_ms
  std::optional<int64_t> until_ms;  // time_ms <  until_ms
  size_t limit = 0;                 // 0 = all; else at most this many
  bool newest = false;              // with limit: the newest `limit` entries (still in seq order)
};

// Whether `name` occurs in `text` as a whole name: the characters either side of it, if any, are
// not name characters [A-Za-z0-9_.@-]. Erasing "al" must leave "alice" alone.
bool mentions_name(std::string_view text, std::string_view name);
// Whether an entry's actor, action, resource, source, result or details mention `name`: the test
// erase_actor() applies, and what a data-subject export includes.
bool mentions(const Entry& e, std::string_view name);

class AuditLog {
 public:
  // Creates the table and its triggers when missing. `db` must outlive the AuditLog.
  explicit AuditLog(db::SharedDatabase& db);

  // Appends one entry at the end of the chain; it is committed (durable) when this returns.
  // Throws std::invalid_argument when details is not an object or action is empty, db::Error
  // when the database fails.
  Entry append(const Event& event);

  std::vector<Entry> list(const Filter& filter = {}) const;
  // One JSON object (to_json) per line; returns the number of lines written.
  size_t export_jsonl(std::ostream& out, const Filter& filter = {}) const;

  // Walks the whole chain: seq continuity from 1, each hash recomputed from its predecessor,
  // each payload not erased re-digested with its salt. Stops at the first bad entry.
  VerifyReport verify() const;
  Head head() const;

  // GDPR erasure of a person: erases every entry that mentions(name) (so "user:alice" is
  // erased for "alice", "alice2" is not), then
  // appends one kPrivacyErase entry by `erased_by` from `source` whose details say only how
  // many entries were erased ({"entries": N}). Returns N. Throws std::invalid_argument for an
  // empty name.
  int64_t erase_actor(const std::string& name, const std::string& erased_by = "",
                      const std::string& source = "cli");

 private:
  db::SharedDatabase& db_;
};

}  // namespace inhouse::audit
