// auth/borrowed_sqlite.cpp — db::SharedDatabase over a db::Database the caller owns, so the
// client store keeps working on the connection the server already holds. (db's own
// open_shared_sqlite opens a second connection instead; a db::borrow_shared() there would
// make this file unnecessary.)
#include <sqlite3.h>

#include <mutex>

#include "auth/auth_internal.h"
#include "db/db.h"

namespace inhouse::auth::detail {
namespace {

class BorrowedSqlite final : public db::SharedDatabase {
 public:
  explicit BorrowedSqlite(db::Database& db) : db_(db) {}
  const char* backend() const override { return "sqlite"; }

  std::vector<db::Row> query(std::string_view sql, const std::vector<db::Value>& params) override {
    std::lock_guard lock(mu_);
    db::Statement st = prepare(sql, params);
    std::vector<db::Row> rows;
    const int n = sqlite3_column_count(st.handle());
    while (st.step()) {
      db::Row row;
      for (int c = 0; c < n; ++c) row.push_back(cell(st, c));
      rows.push_back(std::move(row));
    }
    return rows;
  }

  int64_t execute(std::string_view sql, const std::vector<db::Value>& params) override {
    std::lock_guard lock(mu_);
    prepare(sql, params).run();
    return db_.changes();
  }

  void transaction(const std::function<void()>& body) override {
    std::lock_guard lock(mu_);
    struct Depth {
      int& d;
      explicit Depth(int& d) : d(d) { ++d; }
      ~Depth() { --d; }
    };
    if (depth_ > 0) {  // joins the outer transaction
      Depth in(depth_);
      body();
      return;
    }
    db::Transaction tx(db_);
    {
      Depth in(depth_);
      body();
    }
    tx.commit();
  }

  void migrate(std::string_view name, const std::vector<std::string>& migrations) override {
    std::lock_guard lock(mu_);
    std::vector<std::string> expanded;
    for (const std::string& m : migrations) expanded.push_back(db::expand_migration(m, "sqlite"));
    db_.migrate(name, expanded);
  }

 private:
  db::Statement prepare(std::string_view sql, const std::vector<db::Value>& params) {
    db::Statement st = db_.prepare(sql);
    for (size_t i = 0; i < params.size(); ++i) {
      const int at = int(i + 1);
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::monostate>) st.bind_null(at);
            else st.bind(at, v);
          },
          params[i].get());
    }
    return st;
  }

  static db::Value cell(const db::Statement& st, int c) {
    switch (st.column_type(c)) {
      case SQLITE_NULL: return {};
      case SQLITE_INTEGER: return db::Value(st.column_int(c));
      case SQLITE_FLOAT: return db::Value(st.column_double(c));
      default: return db::Value(st.column_text(c));
    }
  }

  std::recursive_mutex mu_;
  db::Database& db_;
  int depth_ = 0;
};

}  // namespace

std::unique_ptr<db::SharedDatabase> borrow_sqlite(db::Database& db) { return std::make_unique<BorrowedSqlite>(db); }

}  // namespace inhouse::auth::detail
