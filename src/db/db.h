// db — owns the data directory's SQLite database: opening it in WAL mode with foreign keys and
// a busy timeout, versioned schema migrations, transactions, and a small RAII statement
// wrapper. Every failure is a db::Error carrying SQLite's message and the statement that failed.
// Other modules keep their own tables (auth: clients; kb: documents) and register migrations.
//
// SharedDatabase is the portable side: the tables several server replicas may share (users,
// groups, roles, clients, audit) go through it, so they live either in the embedded SQLite file
// (the default) or in a PostgreSQL server (libpq) chosen in the configuration.
#pragma once

#include <functional>
#include <memory>
#include <variant>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace inhouse::db {

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }  // SQLite's extended result code (0 when not SQLite's)

 private:
  int code_;
};

class Database;

// A prepared statement. bind() is 1-based like SQLite's; step() returns true while a row is
// available; column getters read the current row (0-based).
class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  Statement& bind(int index, int64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view text);
  Statement& bind_blob(int index, const void* data, size_t n);
  Statement& bind_null(int index);

  bool step();   // throws Error on failure; false when done
  void run();    // steps to completion (INSERT/UPDATE/DELETE)
  void reset();  // to run again with new bindings

  int64_t column_int(int col) const;
  double column_double(int col) const;
  std::string column_text(int col) const;  // "" for NULL
  std::vector<uint8_t> column_blob(int col) const;
  bool column_is_null(int col) const;
  int column_type(int col) const;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL
  sqlite3_stmt* handle() const { return stmt_; }

 private:
  Database* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

// One connection. Not thread-safe: one thread at a time per Database (open one per thread, or
// guard it); SQLite's WAL mode lets connections read while another writes.
class Database {
 public:
  // Creates the file (and its parent directory) when missing. ":memory:" opens a private
  // in-memory database.
  static Database open(const std::filesystem::path& path);
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  ~Database();

  void exec(std::string_view sql);  // one or more statements, no results
  Statement prepare(std::string_view sql) { return Statement(*this, sql); }
  int64_t last_insert_id() const;
  int changes() const;  // rows changed by the last statement

  // Applies the migrations past the database's user_version, each in its own transaction:
  // migrations[i] brings the schema of component `name` from version i to i + 1. Components
  // keep separate version counters in the schema_versions table.
  void migrate(std::string_view name, const std::vector<std::string>& migrations);

  sqlite3* handle() const { return db_; }
  [[noreturn]] void fail(const std::string& context, int code) const;

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Database& db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

// ---- portable SQL: SQLite or PostgreSQL (shared_sqlite.cpp, postgres.cpp) --------------------

// A parameter or a result cell: NULL, a 64-bit integer, a double or text.
class Value {
 public:
  Value() = default;                 // NULL
  Value(std::nullptr_t) {}           // NULL
  Value(int v) : v_(int64_t(v)) {}
  Value(int64_t v) : v_(v) {}
  Value(double v) : v_(v) {}
  Value(std::string v) : v_(std::move(v)) {}
  Value(std::string_view v) : v_(std::string(v)) {}
  Value(const char* v) : v_(std::string(v)) {}

  bool is_null() const { return std::holds_alternative<std::monostate>(v_); }
  // Conversions as SQL would: integer() of text parses it, text() of a number formats it; NULL
  // gives 0 / "".
  int64_t integer() const;
  double real() const;
  std::string text() const;
  const std::variant<std::monostate, int64_t, double, std::string>& get() const { return v_; }

 private:
  std::variant<std::monostate, int64_t, double, std::string> v_;
};

using Row = std::vector<Value>;

// One connection to the shared tables, SQLite or PostgreSQL. Statements use the SQL both accept:
// `?` placeholders (rewritten to $1.. for PostgreSQL), BIGINT / TEXT / DOUBLE PRECISION columns,
// INSERT ... RETURNING, ON CONFLICT ... DO, no blobs. In a migration, `{{id}}` stands for an
// auto-incrementing BIGINT primary key column type. Thread-safe: one mutex around the connection
// (a transaction holds it throughout, so other threads wait rather than interleave).
class SharedDatabase {
 public:
  virtual ~SharedDatabase() = default;
  virtual const char* backend() const = 0;  // "sqlite" or "postgres"
  // Runs one statement; its result rows (empty for statements without results). Throws Error.
  virtual std::vector<Row> query(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  // Runs one statement; the number of rows it inserted, updated or deleted. Throws Error.
  virtual int64_t execute(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  // Runs body in one transaction that other writers cannot interleave with (SQLite: BEGIN
  // IMMEDIATE; PostgreSQL: SERIALIZABLE, re-run from the start on a serialization failure, so
  // body must only touch the database). Commits when body returns, rolls back when it throws.
  // Nested calls join the outer transaction.
  virtual void transaction(const std::function<void()>& body) = 0;
  // As Database::migrate: migrations[i] brings component `name` from version i to i + 1.
  virtual void migrate(std::string_view name, const std::vector<std::string>& migrations) = 0;
};

// The embedded default: a second connection to the data directory's SQLite file (WAL, so it
// and the kb's connection work side by side).
std::unique_ptr<SharedDatabase> open_shared_sqlite(const std::filesystem::path& path);
// The same over a connection the caller owns (and must keep, and not use from another thread
// while the returned object does).
std::unique_ptr<SharedDatabase> borrow_shared(Database& db);
// A PostgreSQL server, `conninfo` as libpq takes it ("host=127.0.0.1 port=5432 dbname=inhouse
// user=inhouse" or a postgresql:// URI). Throws Error when it cannot connect.
std::unique_ptr<SharedDatabase> open_postgres(const std::string& conninfo);
// "sqlite:PATH" → open_shared_sqlite(PATH); "postgresql://..." or "postgres://..." or a
// key=value conninfo prefixed with "postgres:" → open_postgres. Throws Error for anything else.
std::unique_ptr<SharedDatabase> open_shared(const std::string& url);

// `?` placeholders → `$1`, `$2`, ... outside quoted strings and identifiers (PostgreSQL's form).
std::string numbered_placeholders(std::string_view sql);
// A migration's `{{id}}` replaced by the backend's auto-increment primary key type.
std::string expand_migration(std::string_view sql, std::string_view backend);

}  // namespace inhouse::db
