// db/db.cpp — the SQLite wrapper: errors carry SQLite's message and the statement text.
#include "db/db.h"

#include <sqlite3.h>

#include <utility>

namespace inhouse::db {

[[noreturn]] void Database::fail(const std::string& context, int code) const {
  const char* msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
  throw Error("database: " + context + ": " + msg, code);
}

Database Database::open(const std::filesystem::path& path) {
  const std::string p = path.string();
  if (p != ":memory:" && path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) throw Error("database: cannot create " + path.parent_path().string() + ": " + ec.message(), 0);
  }
  sqlite3* handle = nullptr;
  const int rc = sqlite3_open_v2(p.c_str(), &handle,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                 nullptr);
  Database db(handle);  // closes the handle even when opening failed
  if (rc != SQLITE_OK) db.fail("cannot open " + p, rc);
  sqlite3_extended_result_codes(handle, 1);
  sqlite3_busy_timeout(handle, 5000);
  // WAL: readers don't block the writer; synchronous=FULL: a committed transaction survives
  // power loss, so anything acknowledged is durable.
  if (p != ":memory:") db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON");
  return db;
}

Database::Database(Database&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    if (db_) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

void Database::exec(std::string_view sql) {
  const std::string s(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw Error("database: " + msg + " (in: " + s.substr(0, 200) + ")", rc);
  }
}

int64_t Database::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
int Database::changes() const { return sqlite3_changes(db_); }

void Database::migrate(std::string_view name, const std::vector<std::string>& migrations) {
  exec("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
  Transaction tx(*this);
  auto get = prepare("SELECT version FROM schema_versions WHERE component = ?");
  get.bind(1, name);
  const int64_t current = get.step() ? get.column_int(0) : 0;
  if (current > int64_t(migrations.size()))
    throw Error("database: schema of '" + std::string(name) + "' is version " + std::to_string(current) +
                    ", newer than this program knows (" + std::to_string(migrations.size()) + ")",
                0);
  for (size_t v = size_t(current); v < migrations.size(); ++v) exec(migrations[v]);
  prepare("INSERT INTO schema_versions(component, version) VALUES(?, ?) "
          "ON CONFLICT(component) DO UPDATE SET version = excluded.version")
      .bind(1, name)
      .bind(2, int64_t(migrations.size()))
      .run();
  tx.commit();
}

// ---- Statement -------------------------------------------------------------------------------

Statement::Statement(Database& db, std::string_view sql) : db_(&db), sql_(sql) {
  const int rc = sqlite3_prepare_v2(db.handle(), sql_.data(), int(sql_.size()), &stmt_, nullptr);
  if (rc != SQLITE_OK) db.fail("cannot prepare '" + sql_ + "'", rc);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), sql_(std::move(other.sql_)) {}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) db_->fail("bind " + std::to_string(index) + " of '" + sql_ + "'", rc);
  return *this;
}

Statement& Statement::bind(int index, double value) {
  const int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK) db_->fail("bind " + std::to_string(index) + " of '" + sql_ + "'", rc);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  const int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) db_->fail("bind " + std::to_string(index) + " of '" + sql_ + "'", rc);
  return *this;
}

Statement& Statement::bind_blob(int index, const void* data, size_t n) {
  const int rc = sqlite3_bind_blob64(stmt_, index, data, n, SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) db_->fail("bind " + std::to_string(index) + " of '" + sql_ + "'", rc);
  return *this;
}

Statement& Statement::bind_null(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) db_->fail("bind " + std::to_string(index) + " of '" + sql_ + "'", rc);
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->fail("'" + sql_ + "'", rc);
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::column_int(int col) const { return sqlite3_column_int64(stmt_, col); }
double Statement::column_double(int col) const { return sqlite3_column_double(stmt_, col); }
bool Statement::column_is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
int Statement::column_type(int col) const { return sqlite3_column_type(stmt_, col); }

std::string Statement::column_text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, size_t(sqlite3_column_bytes(stmt_, col))) : std::string();
}

std::vector<uint8_t> Statement::column_blob(int col) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  return p ? std::vector<uint8_t>(p, p + sqlite3_column_bytes(stmt_, col)) : std::vector<uint8_t>();
}

// ---- Transaction -----------------------------------------------------------------------------

Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {  // a failed rollback leaves SQLite to roll back on close
    }
  }
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace inhouse::db
