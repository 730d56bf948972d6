// The audit log on a real PostgreSQL server (tests/db/pg_server.h; skipped when none can
// start): the chain, the plpgsql append-only trigger, erasure, tampering and appends from
// several connections (replicas) forming one chain.
#include <gtest/gtest.h>

#include <thread>

#include "audit/audit.h"
#include "db/pg_server.h"

using namespace inhouse;
using inhouse::test::PgServer;
using nlohmann::json;

namespace {

audit::Event event(const std::string& actor, const std::string& action, int i) {
  audit::Event e;
  e.actor = actor;
  e.action = action;
  e.resource = "kb:finance/report-" + std::to_string(i) + ".pdf";
  e.source = "10.1.2.3:4444";
  e.details = {{"i", i}, {"note", "ünïcode"}};
  return e;
}

class AuditPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = PgServer::shared();
    if (!server_) GTEST_SKIP() << PgServer::skip_reason();
    conninfo_ = server_->conninfo(server_->create_schema());
    db_ = db::open_postgres(conninfo_);
    log_ = std::make_unique<audit::AuditLog>(*db_);
  }
  PgServer* server_ = nullptr;
  std::string conninfo_;
  std::unique_ptr<db::SharedDatabase> db_;
  std::unique_ptr<audit::AuditLog> log_;
};

TEST_F(AuditPgTest, ChainTriggersAndErasure) {
  for (int i = 0; i < 10; ++i) log_->append(event(i % 2 ? "bob" : "alice", "kb.read", i));
  auto rep = log_->verify();
  EXPECT_TRUE(rep.ok) << rep.problem;
  EXPECT_EQ(rep.entries, 10);
  EXPECT_EQ(log_->list()[3].details["note"], "ünïcode");

  EXPECT_THROW(db_->execute("DELETE FROM audit_log WHERE seq = 2"), db::Error);
  EXPECT_THROW(db_->execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"), db::Error);
  EXPECT_THROW(db_->execute("TRUNCATE audit_log"), db::Error);

  EXPECT_EQ(log_->erase_actor("alice", "admin"), 5);
  rep = log_->verify();
  EXPECT_TRUE(rep.ok) << rep.problem;
  EXPECT_EQ(rep.entries, 11);
  for (const auto& row : db_->query("SELECT * FROM audit_log"))
    for (const auto& cell : row) EXPECT_EQ(cell.text().find("alice"), std::string::npos);
  EXPECT_THROW(db_->execute("UPDATE audit_log SET erased = 0 WHERE seq = 1"), db::Error);
}

TEST_F(AuditPgTest, TamperingIsDetected) {
  for (int i = 0; i < 6; ++i) log_->append(event("carol", "kb.search", i));
  db_->execute("DROP TRIGGER audit_log_append_only ON audit_log");
  db_->execute("UPDATE audit_log SET result = 'denied' WHERE seq = 4");
  EXPECT_EQ(log_->verify().first_bad_seq, 4);
  db_->execute("DELETE FROM audit_log WHERE seq = 2");
  const auto rep = log_->verify();
  EXPECT_EQ(rep.first_bad_seq, 2);
  EXPECT_NE(rep.problem.find("missing"), std::string::npos);
}

TEST_F(AuditPgTest, ReplicasAppendToOneChain) {
  auto second = db::open_postgres(conninfo_);
  audit::AuditLog other(*second);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      audit::AuditLog& log = t % 2 ? other : *log_;
      for (int i = 0; i < 25; ++i) log.append(event("replica" + std::to_string(t), "kb.ask", i));
    });
  for (auto& t : threads) t.join();
  const auto rep = log_->verify();
  EXPECT_TRUE(rep.ok) << rep.problem << " at " << rep.first_bad_seq;
  EXPECT_EQ(rep.entries, 100);
  EXPECT_EQ(other.head().hash, log_->head().hash);
}

}  // namespace
