// db — owns the data directory's SQLite database: opening it in WAL mode with foreign keys and
// a busy timeout, versioned schema migrations, transactions, and a small RAII statement
// wrapper. Every failure is a db::Error carrying SQLite's message and the statement that failed.
// Other modules keep their own tables (auth: clients; kb: documents) and register migrations.
#pragma once

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

}  // namespace inhouse::db
