// Scale-out on PostgreSQL: two "replicas" (two SharedDatabase connections to one throwaway
// server, each with its own AccessControl, ClientStore and AuditLog, as two `inhouse serve`
// processes would hold them) see each other's users, roles, policy and clients, and append to
// one audit chain concurrently without breaking it. Skipped when no PostgreSQL server can start
// (tests/db/pg_server.h says why). Lives here because this binary links access, auth and audit.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "access/access.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "db/pg_server.h"

using inhouse::test::PgServer;
namespace acl = inhouse::access;  // "access" is also POSIX access()
namespace audit = inhouse::audit;
namespace db = inhouse::db;

namespace {

class Replicas : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = PgServer::shared();
    if (!server_) GTEST_SKIP() << PgServer::skip_reason();
    const std::string schema = server_->create_schema();
    a_ = db::open_postgres(server_->conninfo(schema));
    b_ = db::open_postgres(server_->conninfo(schema));
  }
  PgServer* server_ = nullptr;
  std::unique_ptr<db::SharedDatabase> a_, b_;  // replica A's and replica B's connections
};

TEST_F(Replicas, ShareUsersRolesAndPolicy) {
  acl::AccessControl on_a(*a_, /*recheck_ms=*/0), on_b(*b_, 0);
  on_a.add_user("alice", "Alice", "alice@example.com", {"viewer"});
  on_a.add_group("finance", {"admin"});
  on_a.add_member("finance", "alice");

  const auto alice = on_b.find_user("alice");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->email, "alice@example.com");
  EXPECT_EQ(on_b.effective_roles("alice"), (std::vector<std::string>{"admin", "viewer"}));

  EXPECT_FALSE(on_b.enabled());
  on_a.import_policy(acl::Policy::parse(
      R"({"roles": {"admin": ["read","write","delete"], "viewer": ["read"]},
          "resources": {"financial_reports": ["admin"], "*": ["admin", "viewer"]}})"));
  EXPECT_TRUE(on_b.enabled());
  acl::AccessControl on_b_later(*b_, 0);  // a replica that starts after the import
  on_b.add_user("bob", "", "", {"viewer"});
  for (acl::AccessControl* ac : {&on_b, &on_b_later}) {
    EXPECT_TRUE(ac->allowed(ac->principal_for_user("alice"), acl::Permission::Write, "financial_reports"));
    EXPECT_FALSE(ac->allowed(ac->principal_for_user("bob"), acl::Permission::Read, "financial_reports"));
    EXPECT_TRUE(ac->allowed(ac->principal_for_user("bob"), acl::Permission::Read, "handbook"));
  }
  EXPECT_TRUE(on_a.revoke_user_role("bob", "viewer"));
  EXPECT_FALSE(on_b.allowed(on_b.principal_for_user("bob"), acl::Permission::Read, "handbook"));
}

TEST_F(Replicas, ShareClients) {
  inhouse::auth::ClientStore on_a(*a_), on_b(*b_);
  const auto added = on_a.add("reporting-bot", "viewer", "alice");
  const auto found = on_b.authenticate(added.client.id, added.secret);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->name, "reporting-bot");
  EXPECT_EQ(found->user, "alice");
  EXPECT_FALSE(on_b.authenticate(added.client.id, "wrong").has_value());
  EXPECT_EQ(on_b.list_for_user("alice").size(), 1u);
  EXPECT_TRUE(on_b.remove(added.client.id));
  EXPECT_FALSE(on_a.find(added.client.id).has_value());
}

TEST_F(Replicas, AppendToOneAuditChainConcurrently) {
  audit::AuditLog on_a(*a_), on_b(*b_);
  constexpr int kPerThread = 15;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      audit::AuditLog& log = t % 2 ? on_b : on_a;
      for (int i = 0; i < kPerThread; ++i) {
        try {
          audit::Event e;
          e.actor = "user" + std::to_string(t);
          e.action = audit::kKbSearch;
          e.resource = "kb:handbook";
          e.source = t % 2 ? "replica-b" : "replica-a";
          e.details = {{"i", i}};
          log.append(e);
        } catch (const std::exception& ex) {
          ++failures;
          ADD_FAILURE() << ex.what();
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (audit::AuditLog* log : {&on_a, &on_b}) {
    const auto report = log->verify();
    EXPECT_TRUE(report.ok) << report.problem << " at seq " << report.first_bad_seq;
    EXPECT_EQ(report.entries, 4 * kPerThread);
  }
  EXPECT_EQ(on_a.head().hash, on_b.head().hash);
  audit::Filter by_user2;
  by_user2.actor = "user2";
  EXPECT_EQ(on_b.list(by_user2).size(), size_t(kPerThread));
  // Erasure on one replica keeps the chain valid for both.
  EXPECT_EQ(on_b.erase_actor("user1", "admin"), kPerThread);
  EXPECT_TRUE(on_a.verify().ok);
  // The append-only triggers hold on PostgreSQL too.
  EXPECT_THROW(a_->execute("DELETE FROM audit_log"), db::Error);
  EXPECT_THROW(a_->execute("UPDATE audit_log SET actor = 'mallory'"), db::Error);
}

}  // namespace
