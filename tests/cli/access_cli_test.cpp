// `inhouse user|group|role` and `client add --user` end to end through the binary, in a temp
// data directory: users and groups with roles, a malformed policy rejected with a clear error
// and nothing changed, import/export round trip, `role check` naming the deciding key, and a
// user's clients removed with it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/cli_fixture.h"

namespace inhouse {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_util::CliResult;
using test_util::run_cli;

const char* kPolicy = R"({"roles": {"admin": ["read","write","delete"], "viewer": ["read"], "finance": ["read","write"]},
  "resources": {"*": ["admin", "viewer"], "finance": ["admin", "finance"], "finance/public": ["admin", "finance", "viewer"]}})";

class AccessCliTest : public test_util::DataDirCliTest {};

TEST_F(AccessCliTest, UsersGroupsAndRoles) {
  ok({"user", "add", "alice", "--display-name", "Alice A", "--email", "alice@example.com", "--role", "viewer"});
  ok({"user", "add", "bob"});
  ok({"group", "add", "fin", "--role", "finance"});
  ok({"group", "add-member", "fin", "alice"});
  ok({"user", "grant", "bob", "admin"});

  const json users = ok_json({"user", "list"});
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0]["name"], "alice");
  EXPECT_EQ(users[0]["email"], "alice@example.com");
  const json alice = ok_json({"user", "show", "alice"});
  EXPECT_EQ(alice["effective_roles"], json({"finance", "viewer"}));
  EXPECT_EQ(alice["groups"], json({"fin"}));
  EXPECT_EQ(ok_json({"group", "list"})[0]["members"], json({"alice"}));

  ok({"user", "revoke", "bob", "admin"});
  EXPECT_EQ(ok_json({"user", "show", "bob"})["roles"], json::array());
  ok({"group", "remove-member", "fin", "alice"});
  EXPECT_EQ(ok_json({"user", "show", "alice"})["effective_roles"], json({"viewer"}));

  CliResult bad = cli({"user", "add", "bad name"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("error: user name 'bad name' is invalid"), std::string::npos) << bad.err;
  bad = cli({"user", "add", "alice"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("already exists"), std::string::npos) << bad.err;
  bad = cli({"group", "add-member", "fin", "ghost"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("no user named 'ghost'"), std::string::npos) << bad.err;
}

TEST_F(AccessCliTest, PolicyImportExportAndCheck) {
  ok({"user", "add", "vic", "--role", "viewer"});
  // No policy yet: everything allowed, and said so.
  CliResult r = ok({"role", "check", "vic", "write", "finance"});
  EXPECT_TRUE(r.out.starts_with("allow\n")) << r.out;
  EXPECT_EQ(cli({"role", "export"}).status, 1);

  // A malformed policy: a clear error naming the field; nothing imported.
  const std::string bad = write("bad.json", R"({"roles": {"viewer": ["read", "fly"]}, "resources": {}})");
  r = cli({"role", "import", bad});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("invalid policy: roles.\"viewer\"[1]: \"fly\" is not a permission"), std::string::npos) << r.err;
  EXPECT_EQ(cli({"role", "export"}).status, 1);

  const std::string good = write("policy.json", kPolicy);
  r = ok({"role", "import", good});
  EXPECT_NE(r.err.find("warning: no user holds the 'admin' role"), std::string::npos) << r.err;
  EXPECT_EQ(json::parse(ok({"role", "export"}).out), json::parse(kPolicy));

  // A second malformed import leaves the first policy in place.
  r = cli({"role", "import", write("bad2.json", R"({"roles": {}, "resources": {"kb": ["ghost"]}})")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("role \"ghost\" is not defined"), std::string::npos) << r.err;
  EXPECT_EQ(json::parse(ok({"role", "export"}).out), json::parse(kPolicy));
  EXPECT_EQ(cli({"role", "import", (root_ / "missing.json").string()}).status, 1);

  json d = ok_json({"role", "check", "vic", "read", "finance/public/q1.md"});
  EXPECT_EQ(d["allowed"], true);
  EXPECT_EQ(d["decided_by"], "finance/public");
  d = ok_json({"role", "check", "vic", "read", "finance/q1.md"});
  EXPECT_EQ(d["allowed"], false);
  EXPECT_EQ(d["decided_by"], "finance");
  r = ok({"role", "check", "vic", "write", "wiki"});
  EXPECT_TRUE(r.out.starts_with("deny\n")) << r.out;
  EXPECT_NE(r.out.find("\"*\""), std::string::npos) << r.out;
  EXPECT_EQ(cli({"role", "check", "vic", "fly", "wiki"}).status, 1);
  EXPECT_EQ(cli({"role", "check", "ghost", "read", "wiki"}).status, 1);
  EXPECT_EQ(cli({"role", "check", "vic", "read", "bad kb"}).status, 1);
  const json listed = ok_json({"role", "list"});
  EXPECT_EQ(listed["resources"].size(), 3u);
}

TEST_F(AccessCliTest, ClientsBelongToUsersAndGoWithThem) {
  ok({"user", "add", "carol"});
  CliResult r = ok({"client", "add", "carol-laptop", "--role", "viewer", "--user", "carol"});
  EXPECT_NE(r.out.find("user: carol\n"), std::string::npos) << r.out;
  r = cli({"client", "add", "x", "--user", "ghost"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no user named 'ghost'"), std::string::npos) << r.err;
  ok({"client", "add", "ci"});
  EXPECT_EQ(ok_json({"user", "show", "carol"})["clients"].size(), 1u);
  r = ok({"user", "rm", "carol"});
  EXPECT_NE(r.out.find("and 1 client"), std::string::npos) << r.out;
  r = ok({"client", "list"});
  EXPECT_EQ(r.out.find("carol-laptop"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\tci\tviewer\t-\n"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace inhouse
