// Tests for backups: a consistent copy while another connection keeps writing, the manifest,
// verification catching damage, restore's refusals and atomic swap, and the hooks.
#include <gtest/gtest.h>
#include <sodium.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "backup/backup.h"
#include "db/db.h"

namespace fs = std::filesystem;
using namespace inhouse;
using nlohmann::json;

namespace {

void write_file(const fs::path& p, const std::string& text, fs::perms mode = fs::perms(0644)) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
  fs::permissions(p, mode);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// BLAKE2b-256, as the manifest records it.
std::string blake2b_hex(const std::string& bytes) {
  unsigned char h[32];
  crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), nullptr, 0);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return hex;
}

int64_t count_rows(const fs::path& db_path) {
  db::Database d = db::Database::open(db_path);
  auto st = d.prepare("SELECT COUNT(*) FROM t");
  st.step();
  return st.column_int(0);
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("inhouse-backup-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    data_ = root_ / "data";
    dest_ = root_ / "backups";
    fs::create_directories(data_);
    db::Database d = db::Database::open(data_ / "inhouse.db");
    d.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
           "CREATE TABLE audit_log (seq BIGINT PRIMARY KEY, hash TEXT);"
           "INSERT INTO audit_log VALUES (1, 'aaaa'), (2, 'bbbb');");
    for (int i = 0; i < 100; ++i) d.prepare("INSERT INTO t (v) VALUES (?)").bind(1, std::string(200, 'x')).run();
    write_file(data_ / "kb" / "1.faiss", std::string(5000, 'f'));
    write_file(data_ / "kb" / "2.zst", "compressed");
    write_file(data_ / "server.key", "secret", fs::perms(0600));
    write_file(data_ / "inhouse.toml", "data_dir = \".\"\n");
    write_file(data_ / "kb" / "1.faiss.tmp.999", "half-written");
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_, data_, dest_;
};

TEST_F(BackupTest, CopiesEverythingWithManifest) {
  fs::create_symlink("/etc/hostname", data_ / "link");
  const auto r = backup::create(data_, dest_);
  EXPECT_TRUE(fs::is_directory(r.path));
  EXPECT_EQ(r.path.parent_path(), fs::weakly_canonical(dest_));
  EXPECT_EQ(r.path.filename().string().rfind("inhouse-backup-", 0), 0u);
  EXPECT_TRUE(r.path.filename().string().ends_with("Z"));
  EXPECT_EQ(r.files, 5u);  // inhouse.db, 2 kb files, key, config

  const json m = json::parse(read_file(r.path / "manifest.json"));
  EXPECT_EQ(m, r.manifest);
  EXPECT_EQ(m["format"], "inhouse-backup");
  EXPECT_EQ(m["version"], 1);
  EXPECT_EQ(m["source"], fs::weakly_canonical(data_).string());
  EXPECT_EQ(m["audit_head"], json({{"seq", 2}, {"hash", "bbbb"}}));
  std::map<std::string, json> files;
  for (const json& f : m["files"]) files[f["path"]] = f;
  ASSERT_EQ(files.size(), 5u);
  EXPECT_EQ(files["inhouse.db"]["kind"], "sqlite");
  EXPECT_EQ(files["kb/1.faiss"]["kind"], "file");
  EXPECT_EQ(files["kb/1.faiss"]["size"], 5000);
  EXPECT_EQ(files["kb/1.faiss"]["blake2b"].get<std::string>().size(), 64u);
  EXPECT_EQ(files["server.key"]["mode"], "0600");
  EXPECT_EQ(fs::status(r.path / "server.key").permissions() & fs::perms::mask, fs::perms(0600));
  EXPECT_EQ(read_file(r.path / "kb" / "2.zst"), "compressed");
  EXPECT_FALSE(fs::exists(r.path / "kb" / "1.faiss.tmp.999"));
  EXPECT_FALSE(fs::exists(r.path / "link"));
  EXPECT_FALSE(fs::exists(r.path / "inhouse.db-wal"));
  EXPECT_FALSE(fs::exists(r.path / "inhouse.db-shm"));
  const std::string skipped = m["skipped"].dump();
  EXPECT_NE(skipped.find("1.faiss.tmp.999"), std::string::npos);
  EXPECT_NE(skipped.find("link"), std::string::npos);
  // No temp directory left behind.
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dest_)) ++entries, (void)e;
  EXPECT_EQ(entries, 1u);

  const auto v = backup::verify(r.path);
  EXPECT_TRUE(v.ok) << (v.problems.empty() ? "" : v.problems[0]);
  EXPECT_EQ(v.files, 5u);
  EXPECT_EQ(count_rows(r.path / "inhouse.db"), 100);
}

TEST_F(BackupTest, ConsistentWhileAnotherConnectionWrites) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> committed{100};
  std::thread writer([&] {
    db::Database d = db::Database::open(data_ / "inhouse.db");
    while (!stop) {
      db::Transaction tx(d);
      for (int i = 0; i < 20; ++i) d.prepare("INSERT INTO t (v) VALUES (?)").bind(1, std::string(300, 'w')).run();
      tx.commit();
      committed += 20;
    }
  });
  while (committed < 2000) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int64_t before = committed;  // every one of these rows was committed before create()
  const auto r = backup::create(data_, dest_);
  const int64_t after = committed;
  stop = true;
  writer.join();

  const auto v = backup::verify(r.path);
  ASSERT_TRUE(v.ok) << v.problems[0];
  EXPECT_FALSE(fs::exists(r.path / "inhouse.db-wal"));
  const fs::path restored = root_ / "restored";
  backup::restore(r.path, restored);
  const int64_t rows = count_rows(restored / "inhouse.db");
  EXPECT_GE(rows, before);
  EXPECT_LE(rows, after + 20);
  EXPECT_EQ(rows % 20, 0);  // a snapshot never holds part of a transaction
  db::Database d = db::Database::open(restored / "inhouse.db");
  auto st = d.prepare("SELECT MIN(id), MAX(id) FROM t");
  st.step();
  EXPECT_EQ(st.column_int(0), 1);
  EXPECT_EQ(st.column_int(1), rows);  // no gaps: every earlier row is there
}

TEST_F(BackupTest, VerifyFindsDamage) {
  const auto r = backup::create(data_, dest_);
  ASSERT_TRUE(backup::verify(r.path).ok);

  {  // one flipped byte
    std::fstream f(r.path / "kb" / "1.faiss", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('X');
  }
  auto v = backup::verify(r.path);
  EXPECT_FALSE(v.ok);
  ASSERT_EQ(v.problems.size(), 1u);
  EXPECT_NE(v.problems[0].find("kb/1.faiss"), std::string::npos);
  EXPECT_NE(v.problems[0].find("BLAKE2b"), std::string::npos);

  fs::resize_file(r.path / "inhouse.db", 4096);
  fs::remove(r.path / "server.key");
  v = backup::verify(r.path);
  ASSERT_EQ(v.problems.size(), 3u);  // in manifest order: inhouse.db, kb/1.faiss, server.key
  EXPECT_NE(v.problems[0].find("inhouse.db: size 4096"), std::string::npos) << v.problems[0];
  EXPECT_NE(v.problems[1].find("kb/1.faiss"), std::string::npos) << v.problems[1];
  EXPECT_NE(v.problems[2].find("server.key: missing"), std::string::npos) << v.problems[2];
}

TEST_F(BackupTest, VerifyRunsIntegrityCheckOnDatabases) {
  const auto r = backup::create(data_, dest_);
  const fs::path db = r.path / "inhouse.db";
  {  // garbage over a b-tree page, with the manifest updated so only the integrity check can tell
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 2 + 10);
    for (int i = 0; i < 2000; ++i) f.put(char(0xA5 ^ i));
  }
  json m = json::parse(read_file(r.path / "manifest.json"));
  for (json& f : m["files"])
    if (f["path"] == "inhouse.db") f["blake2b"] = blake2b_hex(read_file(db));
  write_file(r.path / "manifest.json", m.dump());
  const auto v = backup::verify(r.path);
  EXPECT_FALSE(v.ok);
  ASSERT_FALSE(v.problems.empty());
  EXPECT_NE(v.problems[0].find("inhouse.db"), std::string::npos) << v.problems[0];
  EXPECT_NE(v.problems[0].find("integrity"), std::string::npos) << v.problems[0];
}

TEST_F(BackupTest, VerifyRejectsBadManifests) {
  const fs::path dir = root_ / "fake";
  fs::create_directories(dir);
  EXPECT_FALSE(backup::verify(dir).ok);  // no manifest
  write_file(dir / "manifest.json", "{not json");
  EXPECT_FALSE(backup::verify(dir).ok);
  write_file(dir / "manifest.json", R"({"format":"other","version":1,"files":[]})");
  EXPECT_FALSE(backup::verify(dir).ok);
  write_file(dir / "manifest.json", R"({"format":"inhouse-backup","version":99,"files":[]})");
  EXPECT_NE(backup::verify(dir).problems[0].find("version"), std::string::npos);
  write_file(dir / "manifest.json",
             R"({"format":"inhouse-backup","version":1,"files":[{"path":"../etc/passwd","size":1,"blake2b":"00"}]})");
  const auto v = backup::verify(dir);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.problems[0].find("leaves"), std::string::npos);
  write_file(dir / "manifest.json", R"({"format":"inhouse-backup","version":1,"files":[{"path":3}]})");
  EXPECT_NE(backup::verify(dir).problems[0].find("malformed"), std::string::npos);
}

TEST_F(BackupTest, RestoreRefusesNonEmptyDirectoryAndForceReplaces) {
  const auto r = backup::create(data_, dest_);
  const fs::path target = root_ / "live";
  write_file(target / "keep.txt", "old data");
  EXPECT_THROW(backup::restore(r.path, target), backup::Error);
  EXPECT_EQ(read_file(target / "keep.txt"), "old data");

  const auto res = backup::restore(r.path, target, /*force=*/true);
  EXPECT_EQ(res.files, 5u);
  EXPECT_FALSE(fs::exists(target / "keep.txt"));
  EXPECT_EQ(count_rows(target / "inhouse.db"), 100);
  EXPECT_EQ(read_file(target / "kb" / "1.faiss"), std::string(5000, 'f'));
  EXPECT_EQ(fs::status(target / "server.key").permissions() & fs::perms::mask, fs::perms(0600));
  // Nothing left beside it.
  for (const auto& e : fs::directory_iterator(root_))
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
}

TEST_F(BackupTest, RestoreOfDamagedBackupChangesNothing) {
  const auto r = backup::create(data_, dest_);
  write_file(r.path / "inhouse.toml", "tampered");
  const fs::path target = root_ / "live";
  write_file(target / "keep.txt", "old data");
  try {
    backup::restore(r.path, target, true);
    FAIL() << "restore of a damaged backup succeeded";
  } catch (const backup::Error& e) {
    EXPECT_NE(std::string(e.what()).find("inhouse.toml"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(target / "keep.txt"), "old data");
}

TEST_F(BackupTest, RestoreIntoEmptyOrMissingDirectory) {
  const auto r = backup::create(data_, dest_);
  fs::create_directories(root_ / "empty");
  EXPECT_EQ(backup::restore(r.path, root_ / "empty").files, 5u);
  EXPECT_EQ(backup::restore(r.path, root_ / "new" / "nested").files, 5u);
  EXPECT_TRUE(backup::verify(r.path).ok);
  // A symlinked data directory is restored where it points; the link stays.
  fs::create_directories(root_ / "real");
  fs::create_directory_symlink(root_ / "real", root_ / "link");
  EXPECT_EQ(backup::restore(r.path, root_ / "link").files, 5u);
  EXPECT_TRUE(fs::is_symlink(root_ / "link"));
  EXPECT_TRUE(fs::exists(root_ / "real" / "inhouse.db"));
}

TEST_F(BackupTest, BackupInsideDataDirectoryLeavesEarlierBackupsOut) {
  const auto first = backup::create(data_, data_ / "backups");
  const auto second = backup::create(data_, data_ / "backups");
  EXPECT_NE(first.path, second.path);  // same second: "-2"
  EXPECT_EQ(second.files, 5u);
  EXPECT_TRUE(backup::verify(second.path).ok);
}

TEST_F(BackupTest, RefusesMissingDataDirectory) {
  EXPECT_THROW(backup::create(root_ / "nope", dest_), backup::Error);
  EXPECT_FALSE(fs::exists(dest_) && !fs::is_empty(dest_));
}

TEST_F(BackupTest, HooksRunInOrderWithTheBackupPath) {
  const fs::path log = root_ / "hook.log";
  const fs::path hooks = data_ / "hooks" / "backup.d";
  write_file(hooks / "20-record", "#!/bin/sh\necho \"second $1 $INHOUSE_BACKUP_DIR\" >> " + log.string() + "\n",
             fs::perms(0755));
  write_file(hooks / "10-first", "#!/bin/sh\necho \"first $#\" >> " + log.string() + "\n", fs::perms(0755));
  write_file(hooks / "30-fail", "#!/bin/sh\necho oops; echo to-stderr >&2; exit 3\n", fs::perms(0755));
  write_file(hooks / "40-not-executable", "#!/bin/sh\necho never >> " + log.string() + "\n", fs::perms(0644));
  write_file(hooks / ".hidden", "#!/bin/sh\necho never >> " + log.string() + "\n", fs::perms(0755));
  write_file(hooks / "50-after-failure", "#!/bin/sh\necho fifth >> " + log.string() + "\n", fs::perms(0755));

  const auto r = backup::create(data_, dest_);
  ASSERT_EQ(r.hooks.size(), 4u);
  EXPECT_EQ(r.hooks[0].name, "10-first");
  EXPECT_TRUE(r.hooks[0].ok());
  EXPECT_EQ(r.hooks[2].name, "30-fail");
  EXPECT_FALSE(r.hooks[2].ok());
  EXPECT_EQ(r.hooks[2].exit_code, 3);
  EXPECT_NE(r.hooks[2].output.find("oops"), std::string::npos);
  EXPECT_NE(r.hooks[2].output.find("to-stderr"), std::string::npos);
  EXPECT_FALSE(r.hooks_ok());
  EXPECT_EQ(read_file(log), "first 1\nsecond " + r.path.string() + " " + r.path.string() + "\nfifth\n");
  EXPECT_TRUE(backup::verify(r.path).ok);  // a failing hook does not undo the backup
  EXPECT_TRUE(fs::exists(r.path / "hooks" / "backup.d" / "20-record"));  // hooks are backed up too
}

TEST_F(BackupTest, HookTimeoutKillsIt) {
  write_file(data_ / "hooks" / "backup.d" / "slow", "#!/bin/sh\necho started\nsleep 30\n", fs::perms(0755));
  const auto start = std::chrono::steady_clock::now();
  backup::CreateOptions opt;
  opt.hook_timeout_s = 1;
  const auto r = backup::create(data_, dest_, opt);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  ASSERT_EQ(r.hooks.size(), 1u);
  EXPECT_TRUE(r.hooks[0].timed_out);
  EXPECT_FALSE(r.hooks[0].ok());
  EXPECT_NE(r.hooks[0].output.find("started"), std::string::npos);
}

}  // namespace
