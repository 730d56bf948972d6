// Tests for the audit log: the chain verifies, tampering of every kind is found, the triggers
// keep the table append-only, erasure keeps the chain valid and removes the person, appends
// from several threads and connections form one chain, and the export is JSON lines.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "audit/audit.h"
#include "db/db.h"

namespace fs = std::filesystem;
using namespace inhouse;
using audit::AuditLog;
using audit::Event;
using nlohmann::json;

namespace {

Event ev(std::string actor, std::string action, std::string resource = "", std::string source = "cli",
         std::string result = "ok", json details = json::object(), int64_t time_ms = 0) {
  Event e;
  e.actor = std::move(actor);
  e.action = std::move(action);
  e.resource = std::move(resource);
  e.source = std::move(source);
  e.result = std::move(result);
  e.details = std::move(details);
  e.time_ms = time_ms;
  return e;
}

audit::Filter by(std::optional<std::string> actor, std::optional<std::string> action = std::nullopt) {
  audit::Filter f;
  f.actor = std::move(actor);
  f.action = std::move(action);
  return f;
}

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("inhouse-audit-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = db::open_shared_sqlite(path());
    log_ = std::make_unique<AuditLog>(*db_);
  }
  void TearDown() override {
    log_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }
  fs::path path() const { return dir_ / "inhouse.db"; }

  void append_n(int n, const std::string& actor = "alice") {
    for (int i = 0; i < n; ++i)
      log_->append(ev(actor, "kb.search", "kb:finance", "10.0.0.1:5000", "ok", {{"query", "q" + std::to_string(i)}}));
  }

  // A raw connection without the triggers: what an attacker with the file could do.
  db::Database tamperer() {
    db::Database raw = db::Database::open(path());
    raw.exec("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete");
    return raw;
  }

  fs::path dir_;
  std::unique_ptr<db::SharedDatabase> db_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditTest, EmptyLogVerifiesWithGenesisHead) {
  const auto rep = log_->verify();
  EXPECT_TRUE(rep.ok);
  EXPECT_EQ(rep.entries, 0);
  EXPECT_EQ(log_->head().seq, 0);
  EXPECT_EQ(log_->head().hash, std::string(64, '0'));
}

TEST_F(AuditTest, ChainVerifiesAndHeadIsLastEntry) {
  append_n(25);
  const auto last = log_->append(ev("", "login", "", "cli", "denied"));
  EXPECT_EQ(last.seq, 26);
  const auto rep = log_->verify();
  EXPECT_TRUE(rep.ok) << rep.problem;
  EXPECT_EQ(rep.entries, 26);
  EXPECT_EQ(rep.head.seq, 26);
  EXPECT_EQ(rep.head.hash, last.hash);
  EXPECT_EQ(log_->head().hash, last.hash);
  EXPECT_EQ(log_->head().seq, 26);
}

TEST_F(AuditTest, ReopeningContinuesTheChain) {
  append_n(3);
  log_.reset();
  db_ = db::open_shared_sqlite(path());
  log_ = std::make_unique<AuditLog>(*db_);
  append_n(2);
  EXPECT_EQ(log_->head().seq, 5);
  EXPECT_TRUE(log_->verify().ok);
}

TEST_F(AuditTest, RejectsBadEvents) {
  EXPECT_THROW(log_->append(ev("a", "")), std::invalid_argument);
  EXPECT_THROW(log_->append(ev("a", "x", "", "cli", "ok", json::array())), std::invalid_argument);
  EXPECT_THROW(log_->erase_actor(""), std::invalid_argument);
  EXPECT_EQ(log_->head().seq, 0);
}

TEST_F(AuditTest, InvalidUtf8IsStoredReplacedAndStillVerifies) {
  const auto e = log_->append(ev(std::string("bad\xff\xfe"), "login", "", "cli", "ok", {{"ua", std::string("x\xc3")}}));
  EXPECT_NE(e.actor.find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_TRUE(log_->verify().ok) << log_->verify().problem;
  EXPECT_EQ(log_->list()[0].actor, e.actor);
}

TEST_F(AuditTest, TriggersBlockUpdateAndDelete) {
  append_n(3);
  EXPECT_THROW(db_->execute("DELETE FROM audit_log WHERE seq = 2"), db::Error);
  EXPECT_THROW(db_->execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"), db::Error);
  EXPECT_THROW(db_->execute("UPDATE audit_log SET time_ms = 1 WHERE seq = 2"), db::Error);
  // An "erasure" that also rewrites the chain is not an erasure.
  EXPECT_THROW(db_->execute("UPDATE audit_log SET actor = NULL, action = NULL, resource = NULL, source = NULL,"
                            " result = NULL, details = NULL, salt = NULL, erased = 1, hash = 'x' WHERE seq = 2"),
               db::Error);
  // Un-erasing is refused too.
  log_->erase_actor("alice");
  EXPECT_THROW(db_->execute("UPDATE audit_log SET erased = 0, actor = 'alice' WHERE seq = 1"), db::Error);
  EXPECT_EQ(db_->query("SELECT COUNT(*) FROM audit_log")[0][0].integer(), 4);
  EXPECT_TRUE(log_->verify().ok);
}

TEST_F(AuditTest, DetectsChangedPayload) {
  append_n(8);
  tamperer().exec("UPDATE audit_log SET actor = 'mallory' WHERE seq = 5");
  const auto rep = log_->verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 5);
  EXPECT_EQ(rep.entries, 4);
  EXPECT_NE(rep.problem.find("payload"), std::string::npos) << rep.problem;
}

TEST_F(AuditTest, DetectsChangedDetailsAndResult) {
  append_n(4);
  tamperer().exec("UPDATE audit_log SET result = 'denied' WHERE seq = 3");
  EXPECT_EQ(log_->verify().first_bad_seq, 3);
}

TEST_F(AuditTest, DetectsChangedTime) {
  append_n(4);
  tamperer().exec("UPDATE audit_log SET time_ms = time_ms + 1 WHERE seq = 2");
  const auto rep = log_->verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 2);
  EXPECT_NE(rep.problem.find("hash"), std::string::npos) << rep.problem;
}

TEST_F(AuditTest, DetectsForgedErasure) {
  append_n(4);
  // Hiding an entry by marking it erased without the chain changing is visible as an erased
  // entry; forging one whose digest changes breaks the hash.
  tamperer().exec("UPDATE audit_log SET payload_digest = hash WHERE seq = 3");
  EXPECT_EQ(log_->verify().first_bad_seq, 3);
}

TEST_F(AuditTest, DetectsDeletedMiddleEntry) {
  append_n(6);
  tamperer().exec("DELETE FROM audit_log WHERE seq = 4");
  const auto rep = log_->verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 4);
  EXPECT_NE(rep.problem.find("missing"), std::string::npos) << rep.problem;
}

TEST_F(AuditTest, DetectsDeletedFirstEntry) {
  append_n(3);
  tamperer().exec("DELETE FROM audit_log WHERE seq = 1");
  EXPECT_EQ(log_->verify().first_bad_seq, 1);
}

TEST_F(AuditTest, DetectsReorderedEntries) {
  append_n(6);
  tamperer().exec(
      "UPDATE audit_log SET seq = -1 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 4;"
      " UPDATE audit_log SET seq = 4 WHERE seq = -1");
  const auto rep = log_->verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 3);
}

TEST_F(AuditTest, DetectsSwappedPayloads) {
  append_n(6);
  tamperer().exec(
      "UPDATE audit_log SET details = (SELECT details FROM audit_log WHERE seq = 2) WHERE seq = 5");
  EXPECT_EQ(log_->verify().first_bad_seq, 5);
}

TEST_F(AuditTest, ErasureKeepsChainAndRemovesTheName) {
  append_n(3, "alice");
  append_n(2, "bob");
  log_->append(ev("admin", "access.change", "user:alice", "cli", "ok", {{"role", "viewer"}}));
  log_->append(ev("bob", "kb.read", "kb:hr/review.md", "cli", "ok", {{"about", {{"subject", "alice"}}}}));
  const auto before = log_->list();
  const int64_t n = log_->erase_actor("alice", "admin", "10.0.0.9:1");
  EXPECT_EQ(n, 5);
  const auto rep = log_->verify();
  EXPECT_TRUE(rep.ok) << rep.problem;
  EXPECT_EQ(rep.entries, 8);

  // Not a byte of "alice" anywhere in the table.
  for (const auto& row : db_->query("SELECT * FROM audit_log"))
    for (const auto& cell : row) EXPECT_EQ(cell.text().find("alice"), std::string::npos) << cell.text();

  const auto after = log_->list();
  ASSERT_EQ(after.size(), 8u);
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].hash, before[i].hash);  // the chain itself is untouched
    EXPECT_EQ(after[i].time_ms, before[i].time_ms);
  }
  EXPECT_TRUE(after[0].erased);
  EXPECT_EQ(after[0].actor, "");
  EXPECT_FALSE(after[3].erased);  // bob's search
  EXPECT_EQ(after[3].actor, "bob");
  EXPECT_TRUE(after[6].erased);   // bob's read about alice
  const auto& fact = after.back();
  EXPECT_EQ(fact.action, "privacy.erase");
  EXPECT_EQ(fact.actor, "admin");
  EXPECT_EQ(fact.details, json({{"entries", 5}}));

  // Erasing again finds nothing more, and the log still verifies.
  EXPECT_EQ(log_->erase_actor("alice"), 0);
  EXPECT_TRUE(log_->verify().ok);
  // An erased entry's payload cannot be restored by hand.
  EXPECT_THROW(db_->execute("UPDATE audit_log SET salt = 'aa' WHERE seq = 1"), db::Error);
}

TEST_F(AuditTest, ErasureMatchesWholeNamesOnly) {
  append_n(2, "al");
  append_n(2, "alice");
  log_->append(ev("admin", "access.change", "user:al", "cli", "ok", {{"op", "role.grant"}}));
  log_->append(ev("admin", "access.change", "user:alice2", "cli", "ok", {{"note", "al.bert and sal"}}));
  EXPECT_EQ(log_->erase_actor("al", "admin"), 3);  // al's two searches and "user:al"
  const auto after = log_->list();
  EXPECT_EQ(after[2].actor, "alice");
  EXPECT_FALSE(after[5].erased);
  EXPECT_TRUE(log_->verify().ok);
  EXPECT_TRUE(audit::mentions_name("kb:x user:al, ok", "al"));
  EXPECT_TRUE(audit::mentions_name("\"al\"", "al"));
  EXPECT_FALSE(audit::mentions_name("alice", "al"));
  EXPECT_FALSE(audit::mentions_name("sal", "al"));
  EXPECT_FALSE(audit::mentions_name("al.bert", "al"));
  EXPECT_FALSE(audit::mentions_name("al@example.com", "al"));
  EXPECT_FALSE(audit::mentions_name("anything", ""));
}

TEST_F(AuditTest, SelfErasureDoesNotNameThePerson) {
  append_n(2, "carol");
  log_->erase_actor("carol", "carol", "cli");
  for (const auto& row : db_->query("SELECT * FROM audit_log"))
    for (const auto& cell : row) EXPECT_EQ(cell.text().find("carol"), std::string::npos);
  EXPECT_TRUE(log_->verify().ok);
}

TEST_F(AuditTest, ConcurrentAppendsFromThreadsAndConnectionsFormOneChain) {
  auto second = db::open_shared_sqlite(path());
  AuditLog other(*second);
  constexpr int kPerThread = 60;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      AuditLog& log = t % 2 == 0 ? *log_ : other;
      for (int i = 0; i < kPerThread; ++i)
        log.append(ev("t" + std::to_string(t), "kb.ask", "", "cli", "ok", {{"i", i}}));
    });
  for (auto& t : threads) t.join();
  const auto rep = log_->verify();
  EXPECT_TRUE(rep.ok) << rep.problem << " at " << rep.first_bad_seq;
  EXPECT_EQ(rep.entries, 4 * kPerThread);
  for (int t = 0; t < 4; ++t)
    EXPECT_EQ(log_->list(by("t" + std::to_string(t))).size(), size_t(kPerThread));
}

TEST_F(AuditTest, ConcurrentAppendsFromTwoProcessesFormOneChain) {
  constexpr int kEach = 40;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // its own connection, as another server process would have
    int rc = 0;
    try {
      auto db = db::open_shared_sqlite(path());
      AuditLog log(*db);
      for (int i = 0; i < kEach; ++i) log.append(ev("child", "kb.read", "", "cli", "ok", {{"i", i}}));
    } catch (...) {
      rc = 1;
    }
    ::_exit(rc);
  }
  for (int i = 0; i < kEach; ++i) log_->append(ev("parent", "kb.read", "", "cli", "ok", {{"i", i}}));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const auto rep = log_->verify();
  EXPECT_TRUE(rep.ok) << rep.problem;
  EXPECT_EQ(rep.entries, 2 * kEach);
  EXPECT_EQ(log_->list(by("child")).size(), size_t(kEach));
}

TEST_F(AuditTest, ListFiltersAndLimits) {
  log_->append(ev("a", "login", "", "cli", "ok", json::object(), 1000));
  log_->append(ev("b", "kb.read", "", "cli", "ok", json::object(), 2000));
  log_->append(ev("a", "kb.read", "", "cli", "ok", json::object(), 3000));
  log_->append(ev("a", "kb.write", "", "cli", "ok", json::object(), 4000));
  EXPECT_EQ(log_->list(by("a")).size(), 3u);
  EXPECT_EQ(log_->list(by(std::nullopt, "kb.read")).size(), 2u);
  EXPECT_EQ(log_->list(by("a", "kb.read")).size(), 1u);
  audit::Filter w;
  w.since_ms = 2000;
  w.until_ms = 4000;
  const auto window = log_->list(w);
  ASSERT_EQ(window.size(), 2u);
  EXPECT_EQ(window[0].seq, 2);
  EXPECT_EQ(window[1].seq, 3);
  audit::Filter two;
  two.limit = 2;
  const auto first = log_->list(two);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].seq, 1);
  two.newest = true;
  const auto newest = log_->list(two);
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].seq, 3);
  EXPECT_EQ(newest[1].seq, 4);
}

TEST_F(AuditTest, ExportIsJsonLines) {
  append_n(1100);  // more than one page
  log_->append(ev("bob", "kb.delete", "kb:x", "cli", "denied", {{"why", "line\nbreak \"quoted\""}}));
  std::stringstream out;
  EXPECT_EQ(log_->export_jsonl(out), 1101u);
  std::string line;
  int64_t seq = 0;
  json last;
  while (std::getline(out, line)) {
    last = json::parse(line);
    EXPECT_EQ(last["seq"], ++seq);
  }
  EXPECT_EQ(seq, 1101);
  EXPECT_EQ(last["actor"], "bob");
  EXPECT_EQ(last["result"], "denied");
  EXPECT_EQ(last["details"]["why"], "line\nbreak \"quoted\"");
  EXPECT_EQ(last["hash"], log_->head().hash);
  EXPECT_TRUE(last["time"].get<std::string>().ends_with("Z"));

  std::stringstream only_bob;
  EXPECT_EQ(log_->export_jsonl(only_bob, by("bob")), 1u);
  EXPECT_EQ(json::parse(only_bob.str())["action"], "kb.delete");
}

}  // namespace
