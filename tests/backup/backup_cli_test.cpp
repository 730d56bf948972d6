// Tests for `inhouse backup create|verify|restore`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/run_cli.h"
#include "db/db.h"

namespace fs = std::filesystem;
using namespace inhouse;
using inhouse::test_util::run_cli;

namespace {

class BackupCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(INHOUSE_BINARY)) GTEST_SKIP() << "the inhouse binary is not built";
    root_ = fs::temp_directory_path() / ("inhouse-backup-cli-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "data" / "kb");
    db::Database d = db::Database::open(root_ / "data" / "inhouse.db");
    d.exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (42)");
    std::ofstream(root_ / "data" / "kb" / "1.faiss") << "vectors";
  }
  void TearDown() override { fs::remove_all(root_); }

  // The one backup made under root_/out.
  fs::path only_backup() const {
    fs::path found;
    for (const auto& e : fs::directory_iterator(root_ / "out")) found = e.path();
    return found;
  }
  fs::path root_;
};

TEST_F(BackupCliTest, CreateVerifyRestore) {
  auto r = run_cli({"backup", "create", "--data-dir", (root_ / "data").string(), (root_ / "out").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const fs::path b = only_backup();
  EXPECT_NE(r.out.find("backup: " + b.string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("files: 2"), std::string::npos) << r.out;

  r = run_cli({"backup", "verify", b.string()});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("ok: 2 files"), std::string::npos) << r.out;

  r = run_cli({"backup", "restore", b.string(), "--data-dir", (root_ / "data").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
  r = run_cli({"backup", "restore", b.string(), "--data-dir", (root_ / "data").string(), "--force"});
  EXPECT_EQ(r.status, 0) << r.err;
  r = run_cli({"backup", "restore", b.string(), "--data-dir", (root_ / "fresh").string()});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(root_ / "fresh" / "kb" / "1.faiss"));

  std::ofstream(b / "kb" / "1.faiss") << "VECTORS";
  r = run_cli({"backup", "verify", b.string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("kb/1.faiss"), std::string::npos) << r.out;
}

TEST_F(BackupCliTest, FailingHookIsReportedAndKeepsTheBackup) {
  const fs::path hook = root_ / "data" / "hooks" / "backup.d" / "push";
  fs::create_directories(hook.parent_path());
  std::ofstream(hook) << "#!/bin/sh\necho upload refused\nexit 2\n";
  fs::permissions(hook, fs::perms(0755));
  const auto r = run_cli({"backup", "create", "--data-dir", (root_ / "data").string(), (root_ / "out").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("hook push: FAILED (exit 2)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("upload refused"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("a hook failed"), std::string::npos) << r.err;
  EXPECT_EQ(run_cli({"backup", "verify", only_backup().string()}).status, 0);
}

}  // namespace
