// Tests for `inhouse audit verify|list|export|head` against a data directory's database.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "audit/audit.h"
#include "common/run_cli.h"

namespace fs = std::filesystem;
using namespace inhouse;
using inhouse::test_util::run_cli;
using nlohmann::json;

namespace {

class AuditCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(INHOUSE_BINARY)) GTEST_SKIP() << "the inhouse binary is not built";
    dir_ = fs::temp_directory_path() / ("inhouse-audit-cli-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto db = db::open_shared_sqlite(dir_ / "inhouse.db");
    audit::AuditLog log(*db);
    for (int i = 0; i < 5; ++i) {
      audit::Event e;
      e.actor = i % 2 ? "bob" : "alice";
      e.action = i == 4 ? "kb.write" : "kb.search";
      e.resource = "kb:finance";
      e.source = "10.0.0.1:4000";
      e.details = {{"i", i}};
      e.time_ms = 1700000000000 + i * 86400000LL;  // one a day from 2023-11-14
      log.append(e);
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(AuditCliTest, VerifyListExportHead) {
  const std::string d = dir_.string();
  auto r = run_cli({"audit", "verify", "--data-dir", d});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("ok: 5 entries"), std::string::npos) << r.out;

  r = run_cli({"audit", "list", "--data-dir", d, "--actor", "alice"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3);
  EXPECT_NE(r.out.find("kb:finance"), std::string::npos);

  r = run_cli({"audit", "list", "--data-dir", d, "--limit", "2", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<int64_t> seqs;
  while (std::getline(lines, line)) seqs.push_back(json::parse(line)["seq"]);
  EXPECT_EQ(seqs, (std::vector<int64_t>{4, 5}));

  r = run_cli({"audit", "export", "--data-dir", d, "--since", "2023-11-15", "--until", "2023-11-17T00:00:00Z"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream exported(r.out);
  seqs.clear();
  while (std::getline(exported, line)) seqs.push_back(json::parse(line)["seq"]);
  EXPECT_EQ(seqs, (std::vector<int64_t>{2, 3}));

  r = run_cli({"audit", "export", "--data-dir", d, "--action", "kb.write"});
  EXPECT_EQ(json::parse(r.out)["actor"], "alice");

  r = run_cli({"audit", "head", "--data-dir", d, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["seq"], 5);
}

TEST_F(AuditCliTest, VerifyFailsNamingTheBadEntry) {
  {
    db::Database raw = db::Database::open(dir_ / "inhouse.db");
    raw.exec("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET resource = 'kb:hr' WHERE seq = 3");
  }
  const auto r = run_cli({"audit", "verify", "--data-dir", dir_.string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("entry 3"), std::string::npos) << r.err;
}

TEST_F(AuditCliTest, ClearErrors) {
  auto r = run_cli({"audit", "verify", "--data-dir", (dir_ / "missing").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no database"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "missing"));
  r = run_cli({"audit", "list", "--data-dir", dir_.string(), "--since", "yesterday"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--since"), std::string::npos) << r.err;
}

}  // namespace
