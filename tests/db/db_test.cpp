// Tests for the SQLite wrapper: migrations, statements, transactions, errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "db/db.h"

namespace fs = std::filesystem;
using inhouse::db::Database;
using inhouse::db::Error;
using inhouse::db::Transaction;

namespace {

fs::path temp_db(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("inhouse-db-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::remove(dir / name);
  return dir / name;
}

TEST(Database, MigratesOnceAndKeepsData) {
  const fs::path p = temp_db("m.db");
  const std::vector<std::string> v1 = {"CREATE TABLE t (x INTEGER)"};
  {
    Database db = Database::open(p);
    db.migrate("test", v1);
    db.prepare("INSERT INTO t VALUES (?)").bind(1, int64_t(7)).run();
  }
  Database db = Database::open(p);
  db.migrate("test", v1);  // already applied: must not run CREATE again
  db.migrate("test", {v1[0], "ALTER TABLE t ADD COLUMN y TEXT"});
  auto st = db.prepare("SELECT x, y FROM t");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.column_int(0), 7);
  EXPECT_TRUE(st.column_is_null(1));
  EXPECT_FALSE(st.step());
}

TEST(Database, RefusesNewerSchema) {
  Database db = Database::open(":memory:");
  db.migrate("c", {"CREATE TABLE a (x)", "CREATE TABLE b (x)"});
  EXPECT_THROW(db.migrate("c", {"CREATE TABLE a (x)"}), Error);
}

TEST(Database, BindsAndReadsEveryType) {
  Database db = Database::open(":memory:");
  db.exec("CREATE TABLE t (i INTEGER, d REAL, s TEXT, b BLOB)");
  const uint8_t blob[] = {0, 1, 255};
  db.prepare("INSERT INTO t VALUES (?,?,?,?)").bind(1, int64_t(-5)).bind(2, 2.5).bind(3, "héllo").bind_blob(4, blob, 3).run();
  EXPECT_EQ(db.changes(), 1);
  auto st = db.prepare("SELECT i, d, s, b FROM t");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.column_int(0), -5);
  EXPECT_DOUBLE_EQ(st.column_double(1), 2.5);
  EXPECT_EQ(st.column_text(2), "héllo");
  EXPECT_EQ(st.column_blob(3), std::vector<uint8_t>({0, 1, 255}));
}

TEST(Database, TransactionRollsBackUnlessCommitted) {
  Database db = Database::open(":memory:");
  db.exec("CREATE TABLE t (x)");
  {
    Transaction tx(db);
    db.exec("INSERT INTO t VALUES (1)");
  }
  {
    Transaction tx(db);
    db.exec("INSERT INTO t VALUES (2)");
    tx.commit();
  }
  auto st = db.prepare("SELECT group_concat(x) FROM t");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.column_text(0), "2");
}

TEST(Database, ErrorsNameTheStatement) {
  Database db = Database::open(":memory:");
  try {
    db.prepare("SELEC nonsense");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SELEC nonsense"), std::string::npos) << e.what();
  }
  db.exec("CREATE TABLE u (x UNIQUE)");
  db.exec("INSERT INTO u VALUES (1)");
  EXPECT_THROW(db.exec("INSERT INTO u VALUES (1)"), Error);
}

TEST(Database, UnopenablePathIsAnError) {
  EXPECT_THROW(Database::open("/proc/definitely/not/here.db"), Error);
}

}  // namespace
