// audit/audit.cpp — the hash-chained audit log over the shared database (see audit.h for the
// chain's definition and what it can and cannot detect).
#include "audit/audit.h"

#include <cctype>

#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <ctime>
#include <ostream>
#include <stdexcept>

namespace inhouse::audit {
namespace {

using db::Row;
using db::Value;
using json = nlohmann::json;
using Digest = std::array<unsigned char, 32>;

// One statement per migration step, so any backend's migrate() can run them. The update
// trigger lets exactly one change through: the erasure (payload and salt to NULL, erased 0 → 1,
// chain columns unchanged).
const char* const kTable =
    "CREATE TABLE audit_log ("
    " seq BIGINT NOT NULL PRIMARY KEY,"
    " time_ms BIGINT NOT NULL,"
    " actor TEXT, action TEXT, resource TEXT, source TEXT, result TEXT, details TEXT,"
    " salt TEXT,"                       // hex; NULL once erased
    " payload_digest TEXT NOT NULL,"    // hex
    " hash TEXT NOT NULL,"              // hex
    " erased BIGINT NOT NULL DEFAULT 0)";
const char* const kTimeIndex = "CREATE INDEX audit_log_time ON audit_log (time_ms)";
const char* const kActorIndex = "CREATE INDEX audit_log_actor ON audit_log (actor)";

#define INHOUSE_AUDIT_ERASURE_ONLY                                                              \
  "OLD.erased = 0 AND NEW.erased = 1 AND NEW.seq = OLD.seq AND NEW.time_ms = OLD.time_ms"       \
  " AND NEW.payload_digest = OLD.payload_digest AND NEW.hash = OLD.hash"                       \
  " AND NEW.actor IS NULL AND NEW.action IS NULL AND NEW.resource IS NULL"                     \
  " AND NEW.source IS NULL AND NEW.result IS NULL AND NEW.details IS NULL AND NEW.salt IS NULL"

const std::vector<std::string> kSqliteMigrations = {
    kTable, kTimeIndex, kActorIndex,
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
    " WHEN NOT (" INHOUSE_AUDIT_ERASURE_ONLY ")"
    " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
};

const std::vector<std::string> kPostgresMigrations = {
    kTable, kTimeIndex, kActorIndex,
    "CREATE OR REPLACE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF TG_OP = 'UPDATE' THEN\n"
    "    IF " INHOUSE_AUDIT_ERASURE_ONLY " THEN RETURN NEW; END IF;\n"
    "  END IF;\n"
    "  RAISE EXCEPTION 'audit log is append-only';\n"
    "END $$",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
    " FOR EACH ROW EXECUTE FUNCTION audit_log_guard()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
    " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_guard()",
};
#undef INHOUSE_AUDIT_ERASURE_ONLY

const char* const kColumns =
    "seq, time_ms, actor, action, resource, source, result, details, erased, payload_digest, hash, salt";
enum Col { kSeq, kTime, kActor, kAction, kResource, kSource, kResult, kDetails, kErased, kDigest, kHash, kSalt };

constexpr size_t kBatch = 1000;

std::string hex(const unsigned char* p, size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), p, n);
  out.pop_back();
  return out;
}

// 32 bytes from 64 hex digits; nullopt for anything else.
std::optional<Digest> unhex(const std::string& s) {
  Digest d{};
  size_t n = 0;
  if (s.size() != 64 || sodium_hex2bin(d.data(), d.size(), s.data(), s.size(), nullptr, &n, nullptr) != 0 ||
      n != d.size())
    return std::nullopt;
  return d;
}

const std::string& genesis_hash() {
  static const std::string h(64, '0');
  return h;
}

std::string canonical_payload(const json& payload) {
  return payload.dump(-1, ' ', false, json::error_handler_t::strict);
}

json payload_of(const std::string& actor, const std::string& action, const std::string& resource,
                const std::string& source, const std::string& result, const json& details) {
  return json{{"actor", actor}, {"action", action}, {"resource", resource},
              {"source", source}, {"result", result}, {"details", details}};
}

Digest payload_digest(const Digest& salt, const std::string& canonical) {
  Digest d{};
  crypto_generichash(d.data(), d.size(), reinterpret_cast<const unsigned char*>(canonical.data()),
                     canonical.size(), salt.data(), salt.size());
  return d;
}

void put_be64(crypto_generichash_state& st, int64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(uint64_t(v) >> (56 - 8 * i));
  crypto_generichash_update(&st, b, 8);
}

Digest chain_hash(const Digest& prev, int64_t seq, int64_t time_ms, const Digest& digest) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  crypto_generichash_update(&st, prev.data(), prev.size());
  put_be64(st, seq);
  put_be64(st, time_ms);
  crypto_generichash_update(&st, digest.data(), digest.size());
  Digest h{};
  crypto_generichash_final(&st, h.data(), h.size());
  return h;
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string iso_utc(int64_t ms) {
  const std::time_t s = std::time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, int(((ms % 1000) + 1000) % 1000));
  return buf;
}

Entry entry_of(const Row& r) {
  Entry e;
  e.seq = r[kSeq].integer();
  e.time_ms = r[kTime].integer();
  e.erased = r[kErased].integer() != 0;
  e.payload_digest = r[kDigest].text();
  e.hash = r[kHash].text();
  if (!e.erased) {
    e.actor = r[kActor].text();
    e.action = r[kAction].text();
    e.resource = r[kResource].text();
    e.source = r[kSource].text();
    e.result = r[kResult].text();
    e.details = json::parse(r[kDetails].text(), nullptr, false);
    if (e.details.is_discarded()) e.details = json::object();  // verify() reports it
  }
  return e;
}

// A duplicate seq can only come from a backend whose transaction let two appends read the same
// tail (PostgreSQL reports most of these as serialization failures, which transaction() retries).
bool is_duplicate_key(const db::Error& e) {
  const std::string w = e.what();
  return w.find("UNIQUE constraint") != std::string::npos || w.find("duplicate key") != std::string::npos;
}

// Why a stored row breaks the chain after `prev`, or "" when it continues it.
std::string check_row(const Row& r, int64_t expected_seq, const Digest& prev) {
  const int64_t seq = r[kSeq].integer();
  if (seq != expected_seq)
    return seq > expected_seq ? "entries " + std::to_string(expected_seq) + ".." + std::to_string(seq - 1) + " are missing"
                              : "sequence number out of order";
  const auto digest = unhex(r[kDigest].text());
  const auto hash = unhex(r[kHash].text());
  if (!digest || !hash) return "payload_digest or hash is not 64 hex digits";
  if (chain_hash(prev, seq, r[kTime].integer(), *digest) != *hash)
    return "hash does not match (entry changed, moved, or its predecessor changed)";
  if (r[kErased].integer() != 0) return "";
  const auto salt = unhex(r[kSalt].text());
  if (!salt) return "salt missing on an entry that is not erased";
  json details = json::parse(r[kDetails].text(), nullptr, false);
  if (details.is_discarded() || !details.is_object()) return "details is not a JSON object";
  const json payload = payload_of(r[kActor].text(), r[kAction].text(), r[kResource].text(),
                                  r[kSource].text(), r[kResult].text(), details);
  std::string canonical;
  try {
    canonical = canonical_payload(payload);
  } catch (const json::exception&) {
    return "payload is not valid UTF-8";
  }
  if (payload_digest(*salt, canonical) != *digest) return "payload does not match its digest (entry content changed)";
  return "";
}

bool mentions(const Row& r, const std::string& name) {
  for (int c : {kActor, kAction, kResource, kSource, kResult, kDetails})
    if (mentions_name(r[c].text(), name)) return true;
  return false;
}

// WHERE clause and parameters for a filter (after_seq pages through a long export).
std::string where_of(const Filter& f, int64_t after_seq, std::vector<Value>& params) {
  std::string w = " WHERE seq > ?";
  params.push_back(after_seq);
  if (f.actor) w += " AND actor = ?", params.push_back(*f.actor);
  if (f.action) w += " AND action = ?", params.push_back(*f.action);
  if (f.since_ms) w += " AND time_ms >= ?", params.push_back(*f.since_ms);
  if (f.until_ms) w += " AND time_ms < ?", params.push_back(*f.until_ms);
  return w;
}

}  // namespace

json to_json(const Entry& e) {
  return json{{"seq", e.seq},         {"time_ms", e.time_ms},   {"time", iso_utc(e.time_ms)},
              {"actor", e.actor},     {"action", e.action},     {"resource", e.resource},
              {"source", e.source},   {"result", e.result},     {"details", e.details},
              {"erased", e.erased},   {"payload_digest", e.payload_digest}, {"hash", e.hash}};
}

AuditLog::AuditLog(db::SharedDatabase& db) : db_(db) {
  if (sodium_init() < 0) throw std::runtime_error("audit: libsodium failed to initialise");
  db_.migrate("audit", std::string(db_.backend()) == "postgres" ? kPostgresMigrations : kSqliteMigrations);
}

Entry AuditLog::append(const Event& event) {
  if (event.action.empty()) throw std::invalid_argument("audit: an event needs an action");
  if (!event.details.is_object()) throw std::invalid_argument("audit: event details must be a JSON object");
  // Invalid UTF-8 (a user name from a raw header, say) becomes U+FFFD once, here, so what is
  // stored is exactly what the digest covers.
  const json payload = json::parse(
      payload_of(event.actor, event.action, event.resource, event.source, event.result, event.details)
          .dump(-1, ' ', false, json::error_handler_t::replace));
  const std::string canonical = canonical_payload(payload);
  Digest salt{};
  randombytes_buf(salt.data(), salt.size());
  const Digest digest = payload_digest(salt, canonical);

  Entry e;
  e.time_ms = event.time_ms != 0 ? event.time_ms : now_ms();
  e.actor = payload["actor"];
  e.action = payload["action"];
  e.resource = payload["resource"];
  e.source = payload["source"];
  e.result = payload["result"];
  e.details = payload["details"];
  e.payload_digest = hex(digest.data(), digest.size());
  for (int attempt = 0;; ++attempt) {
    try {
      db_.transaction([&] {
        const auto last = db_.query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
        const int64_t prev_seq = last.empty() ? 0 : last[0][0].integer();
        const auto prev = unhex(last.empty() ? genesis_hash() : last[0][1].text());
        if (!prev) throw std::runtime_error("audit: the last entry's hash is corrupt; run `inhouse audit verify`");
        e.seq = prev_seq + 1;
        const Digest h = chain_hash(*prev, e.seq, e.time_ms, digest);
        e.hash = hex(h.data(), h.size());
        db_.execute("INSERT INTO audit_log (seq, time_ms, actor, action, resource, source, result, details,"
                    " salt, payload_digest, hash, erased) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                    {e.seq, e.time_ms, e.actor, e.action, e.resource, e.source, e.result, e.details.dump(),
                     hex(salt.data(), salt.size()), e.payload_digest, e.hash});
      });
      return e;
    } catch (const db::Error& err) {
      if (attempt >= 4 || !is_duplicate_key(err)) throw;
    }
  }
}

std::vector<Entry> AuditLog::list(const Filter& filter) const {
  std::vector<Value> params;
  std::string sql = std::string("SELECT ") + kColumns + " FROM audit_log" + where_of(filter, 0, params);
  sql += filter.newest ? " ORDER BY seq DESC" : " ORDER BY seq";
  if (filter.limit > 0) sql += " LIMIT ?", params.push_back(int64_t(filter.limit));
  std::vector<Entry> out;
  for (const Row& r : db_.query(sql, params)) out.push_back(entry_of(r));
  if (filter.newest) std::reverse(out.begin(), out.end());
  return out;
}

size_t AuditLog::export_jsonl(std::ostream& out, const Filter& filter) const {
  if (filter.limit > 0) {
    const auto entries = list(filter);
    for (const Entry& e : entries) out << to_json(e).dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    return entries.size();
  }
  size_t n = 0;
  for (int64_t after = 0;;) {  // pages, so a long log is never held in memory at once
    std::vector<Value> params;
    std::string sql = std::string("SELECT ") + kColumns + " FROM audit_log" + where_of(filter, after, params) +
                      " ORDER BY seq LIMIT " + std::to_string(kBatch);
    const auto rows = db_.query(sql, params);
    for (const Row& r : rows) out << to_json(entry_of(r)).dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    n += rows.size();
    if (rows.size() < kBatch) break;
    after = rows.back()[kSeq].integer();
  }
  out.flush();
  return n;
}

VerifyReport AuditLog::verify() const {
  VerifyReport rep;
  rep.head = Head{0, genesis_hash()};
  Digest prev{};
  for (int64_t after = 0;;) {
    const auto rows = db_.query(std::string("SELECT ") + kColumns +
                                    " FROM audit_log WHERE seq > ? ORDER BY seq LIMIT " + std::to_string(kBatch),
                                {after});
    for (const Row& r : rows) {
      const int64_t expected = rep.head.seq + 1;
      std::string problem = check_row(r, expected, prev);
      if (!problem.empty()) {
        rep.ok = false;
        rep.first_bad_seq = std::min(expected, r[kSeq].integer());
        rep.problem = std::move(problem);
        return rep;
      }
      prev = *unhex(r[kHash].text());
      rep.head = Head{expected, r[kHash].text()};
      ++rep.entries;
    }
    if (rows.size() < kBatch) break;
    after = rows.back()[kSeq].integer();
  }
  return rep;
}

Head AuditLog::head() const {
  const auto last = db_.query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
  if (last.empty()) return Head{0, genesis_hash()};
  return Head{last[0][0].integer(), last[0][1].text()};
}

bool mentions_name(std::string_view text, std::string_view name) {
  if (name.empty()) return false;
  auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '@' || c == '-';
  };
  for (size_t at = text.find(name); at != std::string_view::npos; at = text.find(name, at + 1)) {
    const size_t end = at + name.size();
    if ((at == 0 || !name_char(text[at - 1])) && (end == text.size() || !name_char(text[end]))) return true;
  }
  return false;
}

bool mentions(const Entry& e, std::string_view name) {
  for (const std::string* f : {&e.actor, &e.action, &e.resource, &e.source, &e.result})
    if (mentions_name(*f, name)) return true;
  return mentions_name(e.details.dump(), name);
}

int64_t AuditLog::erase_actor(const std::string& name, const std::string& erased_by, const std::string& source) {
  if (name.empty()) throw std::invalid_argument("audit: erase_actor needs a name");
  int64_t erased = 0;
  db_.transaction([&] {
    erased = 0;  // transaction() may run this again from the start
    std::vector<int64_t> seqs;
    for (int64_t after = 0;;) {
      const auto rows = db_.query(std::string("SELECT ") + kColumns +
                                      " FROM audit_log WHERE seq > ? AND erased = 0 ORDER BY seq LIMIT " +
                                      std::to_string(kBatch),
                                  {after});
      for (const Row& r : rows)
        if (mentions(r, name)) seqs.push_back(r[kSeq].integer());
      if (rows.size() < kBatch) break;
      after = rows.back()[kSeq].integer();
    }
    for (int64_t seq : seqs)
      erased += db_.execute("UPDATE audit_log SET actor = NULL, action = NULL, resource = NULL, source = NULL,"
                            " result = NULL, details = NULL, salt = NULL, erased = 1 WHERE seq = ? AND erased = 0",
                            {seq});
    // The record of the erasure must not name the person it erased.
    Event fact{.actor = mentions_name(erased_by, name) ? "" : erased_by,
               .action = kPrivacyErase,
               .resource = "",
               .source = mentions_name(source, name) ? "" : source,
               .result = kOk,
               .details = json{{"entries", erased}}};
    append(fact);
  });
  return erased;
}

}  // namespace inhouse::audit
