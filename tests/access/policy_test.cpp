// Tests for the policy JSON: the issue's form round-trips, and every malformed policy is
// rejected with a PolicyError whose message names the offending field.
#include <gtest/gtest.h>

#include "access/access.h"

namespace inhouse::access {
namespace {

using nlohmann::json;

const char* kIssueExample =
    R"({"roles": {"admin": ["read","write","delete"], "viewer": ["read"]}, "resources": {"financial_reports": ["admin"]}})";

TEST(Policy, ParsesTheIssueFormAndExportsItUnchanged) {
  const Policy p = Policy::parse(kIssueExample);
  ASSERT_EQ(p.roles.size(), 2u);
  EXPECT_EQ(p.roles.at("admin"), (std::vector<Permission>{Permission::Read, Permission::Write, Permission::Delete}));
  EXPECT_EQ(p.roles.at("viewer"), (std::vector<Permission>{Permission::Read}));
  EXPECT_EQ(p.resources.at("financial_reports"), (std::vector<std::string>{"admin"}));
  EXPECT_EQ(p.to_json(), json::parse(kIssueExample));
  EXPECT_EQ(Policy::parse(p.to_json().dump()).to_json(), p.to_json());
}

TEST(Policy, AcceptsFoldersDocumentsStarAndEmptyRoleLists) {
  const Policy p = Policy::parse(R"({"roles": {"viewer": ["read"], "none": []},
    "resources": {"*": ["viewer"], "kb": [], "kb/folder": ["viewer", "none"], "kb/a b/c.d-e_f.md": ["viewer"],
                  "kb/中文/报告.md": ["viewer"]}})");
  EXPECT_EQ(p.resources.size(), 5u);
  EXPECT_TRUE(p.resources.at("kb").empty());  // an explicit "nobody" overriding "*"
  EXPECT_TRUE(p.roles.at("none").empty());
}

struct Bad {
  const char* json;
  const char* message;  // a piece of what() that names the problem
};

class MalformedPolicy : public ::testing::TestWithParam<Bad> {};

TEST_P(MalformedPolicy, IsRejectedNamingTheField) {
  try {
    Policy::parse(GetParam().json);
    FAIL() << "accepted: " << GetParam().json;
  } catch (const PolicyError& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().message), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << GetParam().message;
    EXPECT_EQ(e.code(), Error::Code::Invalid);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedPolicy,
    ::testing::Values(
        Bad{"", "not valid JSON"}, Bad{"{\"roles\": {", "not valid JSON"}, Bad{"nonsense", "not valid JSON"},
        Bad{"[]", "must be a JSON object"}, Bad{"\"roles\"", "must be a JSON object"}, Bad{"null", "must be a JSON object"},
        Bad{R"({"roles": {}, "resources": {}, "users": {}})", R"(unknown top-level key "users")"},
        Bad{R"({"resources": {}})", R"(missing "roles")"}, Bad{R"({"roles": {}})", R"(missing "resources")"},
        Bad{R"({"roles": [], "resources": {}})", R"("roles" must be an object)"},
        Bad{R"({"roles": {}, "resources": []})", R"("resources" must be an object)"},
        Bad{R"({"roles": {"bad role": ["read"]}, "resources": {}})", R"(role name "bad role" is invalid)"},
        Bad{R"({"roles": {"": ["read"]}, "resources": {}})", R"(role name "" is invalid)"},
        Bad{R"({"roles": {"a": "read"}, "resources": {}})", R"(roles."a" must be an array)"},
        Bad{R"({"roles": {"a": ["read", "execute"]}, "resources": {}})", R"(roles."a"[1]: "execute" is not a permission)"},
        Bad{R"({"roles": {"a": ["READ"]}, "resources": {}})", R"(roles."a"[0]: "READ" is not a permission)"},
        Bad{R"({"roles": {"a": [1]}, "resources": {}})", R"(roles."a"[0]: 1 is not a permission)"},
        Bad{R"({"roles": {"a": ["read", "write", "read"]}, "resources": {}})", R"(roles."a"[2]: "read" is listed twice)"},
        Bad{R"({"roles": {"a": ["read"]}, "resources": {"kb": ["ghost"]}})", R"(resources."kb"[0]: role "ghost" is not defined)"},
        Bad{R"({"roles": {"a": ["read"]}, "resources": {"kb": "a"}})", R"(resources."kb" must be an array of role names)"},
        Bad{R"({"roles": {"a": ["read"]}, "resources": {"kb": [["a"]]}})", R"(resources."kb"[0]: ["a"] is not a role name)"},
        Bad{R"({"roles": {"a": ["read"]}, "resources": {"kb": ["a", "a"]}})", R"(resources."kb"[1]: role "a" is listed twice)"},
        Bad{R"({"roles": {"a": []}, "resources": {"": ["a"]}})", R"(resource key "" empty)"},
        Bad{R"({"roles": {"a": []}, "resources": {"bad kb": ["a"]}})", R"(resource key "bad kb" starts with "bad kb")"},
        Bad{R"({"roles": {"a": []}, "resources": {"/abs/path": ["a"]}})", R"(resource key "/abs/path" starts with "")"},
        Bad{R"({"roles": {"a": []}, "resources": {"*/x": ["a"]}})", R"(resource key "*/x")"},
        Bad{R"({"roles": {"a": []}, "resources": {"kb/": ["a"]}})", R"(resource key "kb/" ends with '/')"},
        Bad{R"({"roles": {"a": []}, "resources": {"kb/x/": ["a"]}})", R"(ends with '/')"},
        Bad{R"({"roles": {"a": []}, "resources": {"kb//x": ["a"]}})", R"(empty path segment)"},
        Bad{R"({"roles": {"a": []}, "resources": {"kb/../other": ["a"]}})", R"("." or ".." segment)"},
        Bad{R"({"roles": {"a": []}, "resources": {"kb/./x": ["a"]}})", R"("." or ".." segment)"},
        Bad{R"({"roles": {"a": []}, "resources": {"kb/a\tb": ["a"]}})", R"(control character)"},
        Bad{R"({"roles": {}, "roles": {}, "resources": {}})", R"(duplicate key "roles")"},
        Bad{R"({"roles": {"a": ["read"], "a": ["write"]}, "resources": {}})", R"(duplicate key "roles"."a")"},
        Bad{R"({"roles": {"a": []}, "resources": {"kb": ["a"], "kb": []}})", R"(duplicate key "resources"."kb")"}));

TEST(Policy, OverlongResourceKeyIsRejected) {
  const std::string key = "kb/" + std::string(5000, 'x');
  EXPECT_THROW(Policy::parse(R"({"roles": {}, "resources": {")" + key + R"(": []}})"), PolicyError);
  EXPECT_FALSE(valid_resource_key(key));
  EXPECT_TRUE(valid_resource_key("*"));
  EXPECT_TRUE(valid_resource_key("kb/a/b.md"));
}

TEST(Policy, PermissionNamesRoundTrip) {
  for (Permission p : {Permission::Read, Permission::Write, Permission::Delete})
    EXPECT_EQ(parse_permission(permission_name(p)), p);
  EXPECT_FALSE(parse_permission("admin"));
}

TEST(DocumentResourcePath, RelativeToTheLongestRootElseTheStoredPath) {
  kb::KbInfo info;
  info.roots = {"/vault", "/vault/finance/", "/single/file.md"};
  EXPECT_EQ(document_resource_path(info, "/vault/notes/a.md"), "notes/a.md");
  EXPECT_EQ(document_resource_path(info, "/vault/finance/q1/report.md"), "q1/report.md");
  EXPECT_EQ(document_resource_path(info, "/single/file.md"), "file.md");
  EXPECT_EQ(document_resource_path(info, "/vaultish/x.md"), "vaultish/x.md");  // not under /vault
  EXPECT_EQ(document_resource_path(info, "upload.md"), "upload.md");
  kb::KbInfo none;
  EXPECT_EQ(document_resource_path(none, "/home/a/b.md"), "home/a/b.md");
}

}  // namespace
}  // namespace inhouse::access
