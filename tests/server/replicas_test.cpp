// Two server replicas sharing users, roles, the policy, clients and the audit log through a real
// PostgreSQL server on loopback (database_url), as docs/scale-out.md describes: what one
// replica's admin API creates, the other enforces at once; a token issued by one is accepted by
// the other (shared jwt.key); both append to one audit chain. Skips without PostgreSQL.
#include <gtest/gtest.h>

#include <filesystem>

#include "db/pg_server.h"
#include "test_server.h"

namespace inhouse {
namespace {

using nlohmann::json;
using test_util::body_of;
using test_util::expect_error;

httplib::Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

TEST(Replicas, ShareUsersPolicyClientsTokensAndAudit) {
  test::PgServer* pg = test::PgServer::shared();
  if (!pg) GTEST_SKIP() << test::PgServer::skip_reason();
  const std::string url = "postgres:" + pg->conninfo(pg->create_schema());

  server::ServerConfig ca = test_util::base_config("replica-a");
  ca.models = {{"chat", test_util::kModels + "qwen2-tiny-chat-q4_0.gguf"}};
  ca.database_url = url;
  server::ServerConfig cb = ca;
  cb.data_dir = test_util::fresh_dir("replica-b");
  auto a = std::make_unique<test_util::RunningServer>(ca);
  std::filesystem::copy_file(ca.data_dir / "jwt.key", cb.data_dir / "jwt.key");  // replicas share the signing key
  std::filesystem::permissions(cb.data_dir / "jwt.key", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto b = std::make_unique<test_util::RunningServer>(cb);
  auto on_a = a->client();
  auto on_b = b->client();

  // Personal mode (no policy yet): the operator on loopback sets up users through replica A.
  auto r = on_a.Post("/api/v1/admin/users", json{{"name", "alice"}, {"roles", {"admin"}}}.dump(), "application/json");
  ASSERT_EQ(r->status, 201) << r->body;
  r = on_a.Post("/api/v1/admin/users", json{{"name", "victor"}, {"roles", {"viewer"}}}.dump(), "application/json");
  ASSERT_EQ(r->status, 201) << r->body;
  r = on_a.Post("/api/v1/admin/clients", json{{"name", "alice-app"}, {"role", "default"}, {"user", "alice"}}.dump(),
                "application/json");
  ASSERT_EQ(r->status, 201) << r->body;
  const json alice = body_of(r);
  r = on_a.Post("/api/v1/admin/clients", json{{"name", "victor-app"}, {"role", "default"}, {"user", "victor"}}.dump(),
                "application/json");
  const std::string victor_key = body_of(r)["api_key"];
  r = on_a.Put("/api/v1/admin/policy", bearer(alice["api_key"]),
               R"({"roles": {"admin": ["read","write","delete"], "viewer": ["read"]},
                   "resources": {"*": ["admin", "viewer"], "payroll": ["admin"]}})",
               "application/json");
  ASSERT_EQ(r->status, 200) << r->body;

  // Replica B knows the users, enforces the policy and accepts A's clients.
  r = on_b.Get("/api/v1/admin/users", bearer(alice["api_key"]));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["data"].size(), 2u);
  expect_error(on_b.Get("/api/v1/admin/users", bearer(victor_key)), 403, "administrator");
  expect_error(on_b.Get("/api/v1/admin/users"), 403, "administrator");  // anonymous, now enforced

  ASSERT_EQ(on_b.Post("/api/v1/kb", bearer(alice["api_key"]), R"({"name": "payroll"})", "application/json")->status, 201);
  expect_error(on_b.Get("/api/v1/kb/payroll", bearer(victor_key)), 404, "no knowledge base");

  // A token issued by B is good on A.
  r = on_b.Post("/api/v1/auth", json{{"client_id", alice["id"]}, {"client_secret", alice["client_secret"]}}.dump(),
                "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  r = on_a.Get("/api/v1/admin/clients", bearer(body_of(r)["access_token"]));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["data"].size(), 2u);

  // One audit chain, written by both.
  r = on_a.Get("/api/v1/admin/audit/verify", bearer(alice["api_key"]));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(body_of(r)["ok"].get<bool>()) << r->body;
  r = on_b.Get("/api/v1/admin/audit?action=login", bearer(alice["api_key"]));
  EXPECT_NE(r->body.find("alice-app"), std::string::npos);
  r = on_b.Get("/api/v1/admin/audit?actor=victor", bearer(alice["api_key"]));
  EXPECT_NE(r->body.find("\"denied\""), std::string::npos);
}

}  // namespace
}  // namespace inhouse
