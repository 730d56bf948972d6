// Tests for SharedDatabase: the same suite on the embedded SQLite file and on a throwaway
// PostgreSQL server (tests/db/pg_server.h; skipped with the reason when it cannot start).
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <utility>

#include "db/db.h"
#include "db/pg_server.h"

namespace fs = std::filesystem;
using inhouse::db::Error;
using inhouse::db::Row;
using inhouse::db::SharedDatabase;
using inhouse::db::Value;
using inhouse::test::PgServer;

namespace {

class Shared : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      server_ = PgServer::shared();
      if (!server_) GTEST_SKIP() << PgServer::skip_reason();
      schema_ = server_->create_schema();
    } else {
      static int n = 0;
      const fs::path dir = fs::temp_directory_path() / ("inhouse-shared-test-" + std::to_string(::getpid()));
      fs::create_directories(dir);
      path_ = dir / ("db" + std::to_string(++n) + ".db");
      fs::remove(path_);
    }
    db_ = open();
  }
  void TearDown() override {
    db_.reset();
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_.parent_path(), ec);
    }
  }

  // Another connection to the same database.
  std::unique_ptr<SharedDatabase> open() {
    if (server_) return inhouse::db::open_postgres(server_->conninfo(schema_));
    return inhouse::db::open_shared_sqlite(path_);
  }

  bool postgres() const { return GetParam() == "postgres"; }

  PgServer* server_ = nullptr;
  std::string schema_;
  fs::path path_;
  std::unique_ptr<SharedDatabase> db_;
};

template <typename T>
bool holds(const Value& v) {
  return std::holds_alternative<T>(v.get());
}

TEST_P(Shared, NamesItsBackend) { EXPECT_EQ(db_->backend(), GetParam()); }

TEST_P(Shared, RoundTripsTypedValues) {
  db_->execute("CREATE TABLE t (i BIGINT, r DOUBLE PRECISION, s TEXT)");
  db_->execute("INSERT INTO t VALUES (?, ?, ?)", {Value(int64_t(9007199254740993)), Value(0.1), Value("hello")});
  db_->execute("INSERT INTO t VALUES (?, ?, ?)", {Value(int64_t(-5)), Value(-1.5e300), Value("")});
  const auto rows = db_->query("SELECT i, r, s FROM t ORDER BY i DESC");
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_TRUE(holds<int64_t>(rows[0][0]));
  ASSERT_TRUE(holds<double>(rows[0][1]));
  ASSERT_TRUE(holds<std::string>(rows[0][2]));
  EXPECT_EQ(rows[0][0].integer(), 9007199254740993);
  EXPECT_EQ(rows[0][1].real(), 0.1);  // exact: both sides keep every bit
  EXPECT_EQ(rows[0][2].text(), "hello");
  EXPECT_EQ(rows[1][0].integer(), -5);
  EXPECT_EQ(rows[1][1].real(), -1.5e300);
  EXPECT_TRUE(holds<std::string>(rows[1][2]));
  EXPECT_EQ(rows[1][2].text(), "");
  // Aggregates and comparisons come back as numbers on both.
  const auto agg = db_->query("SELECT COUNT(*), MAX(i) FROM t WHERE r < ?", {Value(1.0)});
  EXPECT_TRUE(holds<int64_t>(agg[0][0]));
  EXPECT_EQ(agg[0][0].integer(), 2);
  EXPECT_EQ(agg[0][1].integer(), 9007199254740993);
  EXPECT_EQ(db_->query("SELECT i FROM t WHERE s = ?", {Value("hello")}).at(0)[0].integer(), 9007199254740993);
  EXPECT_TRUE(db_->query("SELECT i FROM t WHERE s = ?", {Value("nobody")}).empty());
}

TEST_P(Shared, StoresAndReturnsNulls) {
  db_->execute("CREATE TABLE t (i BIGINT, r DOUBLE PRECISION, s TEXT)");
  db_->execute("INSERT INTO t VALUES (?, ?, ?)", {Value(), Value(nullptr), Value()});
  const auto rows = db_->query("SELECT i, r, s, i IS NULL FROM t");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows[0][0].is_null());
  EXPECT_TRUE(rows[0][1].is_null());
  EXPECT_TRUE(rows[0][2].is_null());
  EXPECT_EQ(rows[0][3].integer(), 1);  // PostgreSQL's boolean reads as SQLite's 1
  EXPECT_EQ(rows[0][0].text(), "");
  EXPECT_EQ(db_->query("SELECT COUNT(*) FROM t WHERE s IS NULL")[0][0].integer(), 1);
}

TEST_P(Shared, LeavesPlaceholdersInQuotesAlone) {
  db_->execute("CREATE TABLE t (\"odd?name\" TEXT, n BIGINT)");
  db_->execute("INSERT INTO t VALUES ('what?', ?)", {Value(1)});
  db_->execute("INSERT INTO t VALUES ('it''s ? here', ?)", {Value(2)});
  const auto rows = db_->query("SELECT \"odd?name\", n FROM t WHERE n >= ? ORDER BY n", {Value(1)});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0].text(), "what?");
  EXPECT_EQ(rows[1][0].text(), "it's ? here");
  EXPECT_EQ(inhouse::db::numbered_placeholders("SELECT '?', \"?\", ? , 'a''?' || ?"),
            "SELECT '?', \"?\", $1 , 'a''?' || $2");
  EXPECT_EQ(inhouse::db::numbered_placeholders("SELECT ? -- why?\n, ? /* or? */, ?"),
            "SELECT $1 -- why?\n, $2 /* or? */, $3");
  EXPECT_EQ(inhouse::db::numbered_placeholders("SELECT 'unterminated ?"), "SELECT 'unterminated ?");
  EXPECT_EQ(inhouse::db::numbered_placeholders("x -- ?"), "x -- ?");
  const auto rows2 = db_->query("SELECT n -- the count?\n FROM t WHERE n = ? /* one? */", {Value(2)});
  ASSERT_EQ(rows2.size(), 1u);
}

TEST_P(Shared, InsertReturningGivesIds) {
  db_->migrate("items", {"CREATE TABLE items (id {{id}}, name TEXT NOT NULL UNIQUE)"});
  const auto a = db_->query("INSERT INTO items(name) VALUES (?) RETURNING id", {Value("a")});
  const auto b = db_->query("INSERT INTO items(name) VALUES (?) RETURNING id, name", {Value("b")});
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_TRUE(holds<int64_t>(a[0][0]));
  EXPECT_EQ(a[0][0].integer(), 1);
  EXPECT_EQ(b[0][0].integer(), 2);
  EXPECT_EQ(b[0][1].text(), "b");
}

TEST_P(Shared, ExecuteCountsChangedRows) {
  db_->execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT)");
  for (const char* k : {"a", "b", "c"}) EXPECT_EQ(db_->execute("INSERT INTO t VALUES (?, 0)", {Value(k)}), 1);
  EXPECT_EQ(db_->execute("UPDATE t SET v = v + 1 WHERE k <> ?", {Value("a")}), 2);
  EXPECT_EQ(db_->execute("UPDATE t SET v = 9 WHERE k = ?", {Value("zzz")}), 0);
  // A statement that changes no rows says 0, not the previous statement's count.
  EXPECT_EQ(db_->execute("UPDATE t SET v = 1 WHERE k <> ?", {Value("a")}), 2);
  EXPECT_EQ(db_->execute("CREATE TABLE u (x BIGINT)"), 0);
  EXPECT_EQ(db_->execute("DELETE FROM t"), 3);
}

TEST_P(Shared, UpsertsWithOnConflict) {
  db_->execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)");
  const std::string upsert = "INSERT INTO kv(k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = kv.v + excluded.v";
  EXPECT_EQ(db_->execute(upsert, {Value("x"), Value(2)}), 1);
  EXPECT_EQ(db_->execute(upsert, {Value("x"), Value(3)}), 1);
  EXPECT_EQ(db_->execute("INSERT INTO kv(k, v) VALUES (?, ?) ON CONFLICT DO NOTHING", {Value("x"), Value(100)}), 0);
  EXPECT_EQ(db_->query("SELECT v FROM kv WHERE k = ?", {Value("x")})[0][0].integer(), 5);
}

TEST_P(Shared, TransactionCommitsOrRollsBackOnThrow) {
  db_->execute("CREATE TABLE t (x BIGINT)");
  db_->transaction([&] {
    db_->execute("INSERT INTO t VALUES (1)");
    db_->execute("INSERT INTO t VALUES (2)");
  });
  EXPECT_THROW(db_->transaction([&] {
    db_->execute("INSERT INTO t VALUES (3)");
    throw std::runtime_error("changed my mind");
  }),
               std::runtime_error);
  EXPECT_EQ(db_->query("SELECT COUNT(*) FROM t")[0][0].integer(), 2);
  // A failing statement rolls back the whole transaction too.
  EXPECT_THROW(db_->transaction([&] {
    db_->execute("INSERT INTO t VALUES (4)");
    db_->execute("INSERT INTO no_such_table VALUES (5)");
  }),
               Error);
  EXPECT_EQ(db_->query("SELECT COUNT(*) FROM t")[0][0].integer(), 2);
  // The connection is usable afterwards.
  db_->transaction([&] { db_->execute("INSERT INTO t VALUES (6)"); });
  EXPECT_EQ(db_->query("SELECT COUNT(*) FROM t")[0][0].integer(), 3);
}

TEST_P(Shared, NestedTransactionsJoinTheOuterOne) {
  db_->execute("CREATE TABLE t (x BIGINT)");
  db_->transaction([&] {
    db_->execute("INSERT INTO t VALUES (1)");
    db_->transaction([&] { db_->execute("INSERT INTO t VALUES (2)"); });
  });
  EXPECT_EQ(db_->query("SELECT COUNT(*) FROM t")[0][0].integer(), 2);
  // An inner failure that reaches the outer body undoes the inner work as well.
  EXPECT_THROW(db_->transaction([&] {
    db_->execute("INSERT INTO t VALUES (3)");
    db_->transaction([&] {
      db_->execute("INSERT INTO t VALUES (4)");
      throw std::runtime_error("inner");
    });
  }),
               std::runtime_error);
  EXPECT_EQ(db_->query("SELECT COUNT(*) FROM t")[0][0].integer(), 2);
}

TEST_P(Shared, MigratesOnceAndRefusesNewerSchema) {
  const std::vector<std::string> v1 = {
      "CREATE TABLE a (id {{id}}, name TEXT); CREATE TABLE b (x BIGINT)"};  // two statements
  db_->migrate("comp", v1);
  db_->execute("INSERT INTO a(name) VALUES ('kept')");
  db_->migrate("comp", v1);  // already applied: no CREATE again
  db_->migrate("comp", {v1[0], "ALTER TABLE a ADD COLUMN note TEXT"});
  db_->migrate("other", {"CREATE TABLE c (y BIGINT)"});  // its own counter
  const auto rows = db_->query("SELECT name, note FROM a");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0].text(), "kept");
  EXPECT_TRUE(rows[0][1].is_null());
  try {
    db_->migrate("comp", v1);
    FAIL() << "expected an error for a schema newer than the program";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this program"), std::string::npos) << e.what();
  }
  // A migration that fails leaves the version where it was.
  EXPECT_THROW(db_->migrate("comp", {v1[0], "ALTER TABLE a ADD COLUMN note TEXT", "NOT SQL AT ALL"}), Error);
  db_->migrate("comp", {v1[0], "ALTER TABLE a ADD COLUMN note TEXT", "CREATE TABLE d (z BIGINT)"});
  EXPECT_EQ(db_->query("SELECT COUNT(*) FROM d")[0][0].integer(), 0);
}

TEST_P(Shared, ConcurrentIncrementsLoseNothing) {
  db_->execute("CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)");
  db_->execute("INSERT INTO counter VALUES (1, 0)");
  std::unique_ptr<SharedDatabase> second = open();
  SharedDatabase* conns[2] = {db_.get(), second.get()};
  constexpr int kThreads = 4, kEach = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SharedDatabase& db = *conns[t % 2];
      for (int i = 0; i < kEach; ++i) {
        try {
          db.transaction([&] {  // read, then write what was read + 1: a lost update without isolation
            const int64_t n = db.query("SELECT n FROM counter WHERE id = 1")[0][0].integer();
            db.execute("UPDATE counter SET n = ? WHERE id = 1", {Value(n + 1)});
          });
        } catch (const std::exception& e) {
          ++failures;
          ADD_FAILURE() << e.what();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(db_->query("SELECT n FROM counter WHERE id = 1")[0][0].integer(), kThreads * kEach);
}

TEST_P(Shared, KeepsUnicodeText) {
  db_->execute("CREATE TABLE t (s TEXT)");
  const std::string s = "财务报告 – Ünïcödé 🎉 \xF0\x9F\x91\x8D\u00A0end";
  db_->execute("INSERT INTO t VALUES (?)", {Value(s)});
  const auto rows = db_->query("SELECT s, length(s) FROM t WHERE s = ?", {Value(s)});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0].text(), s);
  EXPECT_EQ(rows[0][1].integer(), 22);  // characters, not bytes
}

TEST_P(Shared, BadSqlNamesTheStatement) {
  try {
    db_->query("SELEC 1 FROM nowhere");
    FAIL() << "expected db::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SELEC 1 FROM nowhere"), std::string::npos) << e.what();
  }
  try {
    db_->execute("INSERT INTO missing_table VALUES (?)", {Value(1)});
    FAIL() << "expected db::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing_table"), std::string::npos) << e.what();
  }
  EXPECT_EQ(db_->query("SELECT 1 + 1")[0][0].integer(), 2);  // still usable
}

INSTANTIATE_TEST_SUITE_P(Backends, Shared, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// ---- PostgreSQL only ---------------------------------------------------------------------------

class Postgres : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = PgServer::shared();
    if (!server_) GTEST_SKIP() << PgServer::skip_reason();
    schema_ = server_->create_schema();
    static bool said = false;
    if (!std::exchange(said, true))
      std::cerr << "[ pg       ] test server started in " << server_->startup_seconds() << " s\n";
  }
  std::unique_ptr<SharedDatabase> open() { return inhouse::db::open_postgres(server_->conninfo(schema_)); }
  PgServer* server_ = nullptr;
  std::string schema_;
};

TEST_F(Postgres, ConnectErrorKeepsThePasswordOut) {
  try {
    inhouse::db::open_postgres("host=127.0.0.1 port=" + std::to_string(server_->port()) +
                               " dbname=no_such_db user=nobody password=s3cret-pw connect_timeout=5");
    FAIL() << "expected db::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot connect to PostgreSQL"), std::string::npos) << what;
    EXPECT_EQ(what.find("s3cret-pw"), std::string::npos) << what;
  }
  try {
    inhouse::db::open_shared("postgresql://nobody:s3cret-pw@127.0.0.1:1/x?connect_timeout=2");
    FAIL() << "expected db::Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cret-pw"), std::string::npos) << e.what();
  }
}

TEST_F(Postgres, OpensThroughAUrl) {
  auto db = inhouse::db::open_shared("postgresql://inhouse@127.0.0.1:" + std::to_string(server_->port()) +
                                     "/inhouse_test");
  EXPECT_STREQ(db->backend(), "postgres");
  EXPECT_EQ(db->query("SELECT 40 + 2")[0][0].integer(), 42);
  auto kv = inhouse::db::open_shared("postgres:" + server_->conninfo(schema_));
  EXPECT_EQ(kv->query("SELECT current_schema()")[0][0].text(), schema_);
}

TEST_F(Postgres, ReconnectsAfterTheServerDropsTheConnection) {
  auto db = open();
  const int64_t pid = db->query("SELECT pg_backend_pid()")[0][0].integer();
  server_->admin().query("SELECT pg_terminate_backend(?)", {Value(pid)});
  for (int i = 0; i < 50 && !server_->admin().query("SELECT 1 FROM pg_stat_activity WHERE pid = ?", {Value(pid)}).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(db->query("SELECT 7")[0][0].integer(), 7);
  EXPECT_NE(db->query("SELECT pg_backend_pid()")[0][0].integer(), pid);
}

TEST_F(Postgres, SwallowedStatementErrorStillFailsTheTransaction) {
  auto db = open();
  db->execute("CREATE TABLE t (x BIGINT PRIMARY KEY)");
  db->execute("INSERT INTO t VALUES (1)");
  EXPECT_THROW(db->transaction([&] {
    db->execute("INSERT INTO t VALUES (2)");
    try {
      db->execute("INSERT INTO t VALUES (1)");  // duplicate key: aborts the transaction
    } catch (const Error&) {
    }
  }),
               Error);
  EXPECT_EQ(db->query("SELECT COUNT(*) FROM t")[0][0].integer(), 1);
}

TEST_F(Postgres, ConcurrentMigrationsRunOnce) {
  // Two replicas starting together: the advisory lock lets one migrate, the other sees it done.
  const std::vector<std::string> m = {"CREATE TABLE once (x BIGINT); INSERT INTO once VALUES (1)",
                                      "INSERT INTO once VALUES (2)"};
  std::vector<std::unique_ptr<SharedDatabase>> replicas;
  for (int i = 0; i < 4; ++i) replicas.push_back(open());
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (auto& r : replicas)
    threads.emplace_back([&, db = r.get()] {
      try {
        db->migrate("race", m);
      } catch (const std::exception& e) {
        ++errors;
        ADD_FAILURE() << e.what();
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(replicas[0]->query("SELECT COUNT(*) FROM once")[0][0].integer(), 2);
}

TEST_F(Postgres, RejectsTextItCannotStore) {
  auto db = open();
  EXPECT_THROW(db->query("SELECT ?", {Value(std::string("a\0b", 3))}), Error);
  EXPECT_THROW(db->query("SELECT ?", {Value("bad \xff\xfe utf-8")}), Error);
  EXPECT_EQ(db->query("SELECT ?", {Value("fine")})[0][0].text(), "fine");
}

TEST(SharedUrl, RejectsUnknownSchemes) {
  EXPECT_THROW(inhouse::db::open_shared("mysql://localhost/x"), Error);
  EXPECT_THROW(inhouse::db::open_shared(""), Error);
}

}  // namespace
