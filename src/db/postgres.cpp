// db/postgres.cpp — SharedDatabase over a PostgreSQL server (libpq): `?` → `$n`, parameters
// sent as text, result cells typed by column type, SERIALIZABLE transactions re-run on
// serialization failures, migrations serialised across replicas by an advisory lock.
//
// Parameters go without a type, so the server types each from where it stands, as it would a
// quoted literal: `id = ?` takes a BIGINT, `substr(s, ?)` an INTEGER, `LIMIT ?` a BIGINT. The
// price: `SELECT ?` alone reads back as text, and a parameter whose place says "integer"
// cannot carry 2.5. Write `CAST(? AS BIGINT)` where the context says nothing.
#include <libpq-fe.h>

#include <charconv>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "db/db.h"

namespace inhouse::db {

namespace {

// Type OIDs from PostgreSQL's pg_type.dat (stable across versions).
constexpr Oid kBoolOid = 16, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23, kOidOid = 26;
constexpr Oid kFloat4Oid = 700, kFloat8Oid = 701, kNumericOid = 1700;

// Serialization failure / deadlock: the transaction may succeed when run again.
bool retryable(std::string_view sqlstate) { return sqlstate == "40001" || sqlstate == "40P01"; }

// Thrown for a retryable failure, so transaction() can tell it from the body's own errors.
class SerializationFailure : public Error {
 public:
  using Error::Error;
};

constexpr int kTransactionTries = 12;

// Any 64-bit key, the same in every replica: the advisory lock that serialises migrations.
constexpr int64_t kMigrationLockKey = 0x696e686f75736501;  // "inhouse\x01"

// Raises a nesting counter for the life of a scope.
class Nested {
 public:
  explicit Nested(int& depth) : depth_(depth) { ++depth_; }
  ~Nested() { --depth_; }
  Nested(const Nested&) = delete;
  Nested& operator=(const Nested&) = delete;

 private:
  int& depth_;
};

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string abbreviated(std::string_view sql) {
  constexpr size_t kMax = 300;
  return sql.size() <= kMax ? std::string(sql) : std::string(sql.substr(0, kMax)) + "...";
}

Value cell(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return Value();
  const char* s = PQgetvalue(r, row, col);
  const size_t n = size_t(PQgetlength(r, row, col));
  switch (PQftype(r, col)) {
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid: {
      int64_t v = 0;
      std::from_chars(s, s + n, v);
      return Value(v);
    }
    case kFloat4Oid:
    case kFloat8Oid:
    case kNumericOid: {
      double v = 0;
      std::from_chars(s, s + n, v);  // "Infinity"/"NaN" parse as inf/nan (case-insensitive)
      return Value(v);
    }
    case kBoolOid:  // 't' / 'f': as SQLite's 1 / 0, so `SELECT x IS NULL` reads the same on both
      return Value(int64_t(n > 0 && s[0] == 't'));
    default:
      return Value(std::string(s, n));
  }
}

class Postgres final : public SharedDatabase {
 public:
  explicit Postgres(PGconn* conn) : conn_(conn) {}
  ~Postgres() override { PQfinish(conn_); }
  const char* backend() const override { return "postgres"; }

  std::vector<Row> query(std::string_view sql, const std::vector<Value>& params) override {
    std::lock_guard lock(mu_);
    Result r = run(sql, params);
    std::vector<Row> rows;
    const int n_rows = PQntuples(r.get()), n_cols = PQnfields(r.get());
    rows.reserve(size_t(n_rows));
    for (int i = 0; i < n_rows; ++i) {
      Row row;
      row.reserve(size_t(n_cols));
      for (int c = 0; c < n_cols; ++c) row.push_back(cell(r.get(), i, c));
      rows.push_back(std::move(row));
    }
    return rows;
  }

  int64_t execute(std::string_view sql, const std::vector<Value>& params) override {
    std::lock_guard lock(mu_);
    Result r = run(sql, params);
    const char* count = PQcmdTuples(r.get());  // "" for statements that count nothing
    int64_t n = 0;
    std::from_chars(count, count + std::strlen(count), n);
    return n;
  }

  void transaction(const std::function<void()>& body) override {
    std::lock_guard lock(mu_);
    if (depth_ > 0) {  // joins the outer transaction; a failure unwinds to it
      Nested nested(depth_);
      body();
      return;
    }
    for (int attempt = 1;; ++attempt) {
      try {
        run_once(body);
        return;
      } catch (const SerializationFailure&) {
        if (attempt == kTransactionTries) throw;
        backoff(attempt);
      }
    }
  }

  void migrate(std::string_view name, const std::vector<std::string>& migrations) override {
    std::lock_guard lock(mu_);
    if (depth_ > 0) throw Error("database: migrate() cannot run inside a transaction", 0);
    // READ COMMITTED, not SERIALIZABLE: after waiting for the lock, the next statement must see
    // what the replica that held it committed (a serializable snapshot would predate it).
    run("BEGIN", {});
    Nested in_transaction(depth_);  // no silent reconnect in the middle
    try {
      run("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")", {});
      run("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version BIGINT NOT NULL)", {});
      Result r = run("SELECT version FROM schema_versions WHERE component = ?", {Value(name)});
      const int64_t current = PQntuples(r.get()) > 0 ? cell(r.get(), 0, 0).integer() : 0;
      if (current > int64_t(migrations.size()))
        throw Error("database: schema of '" + std::string(name) + "' is version " + std::to_string(current) +
                        ", newer than this program knows (" + std::to_string(migrations.size()) + ")",
                    0);
      for (size_t v = size_t(current); v < migrations.size(); ++v)
        run_script(expand_migration(migrations[v], "postgres"));
      run("INSERT INTO schema_versions(component, version) VALUES(?, ?) "
          "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
          {Value(name), Value(int64_t(migrations.size()))});
      commit();
    } catch (...) {
      rollback();
      throw;
    }
  }

 private:
  void run_once(const std::function<void()>& body) {
    run("BEGIN ISOLATION LEVEL SERIALIZABLE", {});
    failed_sqlstate_.clear();
    try {
      Nested nested(depth_);
      body();
    } catch (...) {
      rollback();
      throw;
    }
    // The body may have caught a statement's error and carried on: the transaction is aborted
    // then, and COMMIT would quietly roll it back.
    if (!failed_sqlstate_.empty()) {
      const std::string state = failed_sqlstate_;
      rollback();
      if (retryable(state)) throw SerializationFailure("database: serialization failure", 0);
      throw Error("database: a statement in the transaction failed (SQLSTATE " + state + "); rolled back", 0);
    }
    commit();
  }

  void commit() {
    Result r = run("COMMIT", {});
    // COMMIT of an aborted transaction succeeds as "ROLLBACK".
    if (std::strcmp(PQcmdStatus(r.get()), "COMMIT") != 0)
      throw Error("database: the transaction was rolled back by the server", 0);
  }

  void rollback() {
    if (PQstatus(conn_) != CONNECTION_OK) return;  // the server ended it with the connection
    PQclear(PQexec(conn_, "ROLLBACK"));
  }

  static void backoff(int attempt) {
    thread_local std::minstd_rand rng{std::random_device{}()};
    const int cap_ms = std::min(1 << std::min(attempt, 7), 100);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % (uint32_t(cap_ms) * 1000 + 1)));
  }

  // Outside a transaction, a connection the server dropped (restart, idle timeout) is opened
  // again once; inside one, the transaction is lost with it and the error goes to the caller.
  bool reconnect_if_dropped() {
    if (depth_ > 0 || PQstatus(conn_) == CONNECTION_OK) return false;
    PQreset(conn_);
    return PQstatus(conn_) == CONNECTION_OK;
  }

  // One statement with parameters; the result of a successful one.
  Result run(std::string_view sql, const std::vector<Value>& params) {
    const std::string numbered = numbered_placeholders(sql);
    std::vector<std::string> texts(params.size());
    std::vector<const char*> values(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& v = params[i].get();
      if (std::holds_alternative<std::monostate>(v)) continue;  // values[i] stays NULL
      texts[i] = params[i].text();
      if (texts[i].find('\0') != std::string::npos)
        throw Error("database: parameter " + std::to_string(i + 1) + " of '" + abbreviated(sql) +
                        "' contains a NUL byte (PostgreSQL text cannot hold one)",
                    0);
      values[i] = texts[i].c_str();
    }
    reconnect_if_dropped();
    auto send = [&] {
      return Result(PQexecParams(conn_, numbered.c_str(), int(params.size()), /*paramTypes=*/nullptr,
                                 values.data(), nullptr, nullptr, 0));
    };
    Result r = send();
    if (!ok(r.get()) && reconnect_if_dropped()) r = send();
    check(r.get(), sql);
    return r;
  }

  // A migration: several statements, no parameters.
  void run_script(const std::string& sql) {
    Result r(PQexec(conn_, sql.c_str()));
    check(r.get(), sql);
  }

  static bool ok(const PGresult* r) {
    const ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }

  void check(const PGresult* r, std::string_view sql) {
    if (ok(r)) return;
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state ? state : "";
    if (depth_ > 0 && failed_sqlstate_.empty()) failed_sqlstate_ = sqlstate.empty() ? "?" : sqlstate;
    std::string message = trimmed(r ? PQresultErrorMessage(r) : nullptr);
    if (message.empty()) message = trimmed(PQerrorMessage(conn_));
    if (message.empty()) message = "unknown error";
    const std::string what = "database: " + message + " (in '" + abbreviated(sql) + "')";
    if (retryable(sqlstate)) throw SerializationFailure(what, 0);
    throw Error(what, 0);
  }

  std::recursive_mutex mu_;
  PGconn* conn_;
  int depth_ = 0;
  std::string failed_sqlstate_;  // of the first statement that failed in the current transaction
};

}  // namespace

std::unique_ptr<SharedDatabase> open_postgres(const std::string& conninfo) {
  // Defaults before the conninfo, so it may override them (libpq's own connect timeout is
  // none: an unreachable host would hang startup for minutes); client_encoding after it, so
  // text is always exchanged as UTF-8.
  const char* keys[] = {"application_name", "connect_timeout", "dbname", "client_encoding", nullptr};
  const char* values[] = {"inhouse", "10", conninfo.c_str(), "UTF8", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (!conn) throw Error("database: cannot connect to PostgreSQL: out of memory", 0);
  if (PQstatus(conn) != CONNECTION_OK) {
    // libpq's message names host, port and user, never the password.
    const std::string message = trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    throw Error("database: cannot connect to PostgreSQL: " + message, 0);
  }
  // NOTICEs ("relation already exists, skipping") would go to stderr; nothing needs them.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  return std::make_unique<Postgres>(conn);
}

}  // namespace inhouse::db
