// Tests for users, groups, the stored policy and the decisions: personal mode, inheritance and
// override, default deny, group roles, a roles × permissions × resources matrix, readable
// documents of a real kb::KnowledgeStore, and a policy change seen by a second process's
// AccessControl on the same file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "access/access.h"

namespace inhouse::access {
namespace {

namespace fs = std::filesystem;

const char* kPolicy = R"({
  "roles": {"admin": ["read", "write", "delete"], "editor": ["read", "write"], "viewer": ["read"],
            "finance": ["read", "write"], "auditor": ["read"]},
  "resources": {
    "*": ["admin", "editor", "viewer"],
    "finance": ["admin", "finance"],
    "finance/public": ["admin", "finance", "viewer"],
    "finance/public/salaries.md": ["admin"],
    "hr": [],
    "legal/contracts": ["auditor"]
  }})";

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("inhouse-access-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = db::open_shared_sqlite(dir_ / "inhouse.db");
    ac_ = std::make_unique<AccessControl>(*db_, 0);
  }
  void TearDown() override {
    ac_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }

  fs::path dir_;
  std::unique_ptr<db::SharedDatabase> db_;
  std::unique_ptr<AccessControl> ac_;
};

// ---- users and groups ------------------------------------------------------------------------

TEST_F(AccessTest, UsersAreAddedFoundListedAndRemoved) {
  const User a = ac_->add_user("alice", "Alice A.", "alice@example.com", {"viewer", "editor"});
  EXPECT_EQ(a.name, "alice");
  EXPECT_EQ(a.display_name, "Alice A.");
  EXPECT_EQ(a.email, "alice@example.com");
  EXPECT_GT(a.created_at, 0);
  EXPECT_EQ(a.roles, (std::vector<std::string>{"editor", "viewer"}));
  ac_->add_user("bob");
  ASSERT_EQ(ac_->users().size(), 2u);
  EXPECT_EQ(ac_->users()[0].name, "alice");
  EXPECT_FALSE(ac_->find_user("carol"));

  try {
    ac_->add_user("alice");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Error::Code::AlreadyExists);
  }
  for (const char* bad : {"", "has space", "semi;colon", "quote'"})
    EXPECT_THROW(ac_->add_user(bad), Error) << bad;
  EXPECT_THROW(ac_->add_user(std::string(65, 'x')), Error);
  EXPECT_THROW(ac_->add_user("c1", "", "not-an-email"), Error);
  EXPECT_THROW(ac_->add_user("c2", "", "a@b@c"), Error);
  EXPECT_THROW(ac_->add_user("c3", "line\nbreak"), Error);
  EXPECT_THROW(ac_->add_user("c4", "", "", {"bad role"}), Error);
  EXPECT_EQ(ac_->users().size(), 2u);  // nothing half-added

  EXPECT_TRUE(ac_->remove_user("bob"));
  EXPECT_FALSE(ac_->remove_user("bob"));
  EXPECT_EQ(ac_->users().size(), 1u);
}

TEST_F(AccessTest, RolesAreGrantedAndRevoked) {
  ac_->add_user("alice");
  ac_->grant_user_role("alice", "viewer");
  ac_->grant_user_role("alice", "viewer");  // twice is a no-op
  EXPECT_EQ(ac_->find_user("alice")->roles, (std::vector<std::string>{"viewer"}));
  EXPECT_TRUE(ac_->revoke_user_role("alice", "viewer"));
  EXPECT_FALSE(ac_->revoke_user_role("alice", "viewer"));
  EXPECT_THROW(ac_->grant_user_role("nobody", "viewer"), Error);
  EXPECT_THROW(ac_->grant_user_role("alice", "bad role"), Error);
}

TEST_F(AccessTest, EffectiveRolesUniteOwnAndGroupRoles) {
  ac_->add_user("bob", "", "", {"viewer"});
  ac_->add_group("fin-team", {"finance"});
  ac_->add_group("auditors");
  ac_->grant_group_role("auditors", "auditor");
  ac_->grant_group_role("auditors", "viewer");
  ac_->add_member("fin-team", "bob");
  ac_->add_member("auditors", "bob");
  EXPECT_EQ(ac_->effective_roles("bob"), (std::vector<std::string>{"auditor", "finance", "viewer"}));
  EXPECT_EQ(ac_->find_user("bob")->groups, (std::vector<std::string>{"auditors", "fin-team"}));
  EXPECT_EQ(ac_->find_group("fin-team")->members, (std::vector<std::string>{"bob"}));

  EXPECT_TRUE(ac_->remove_member("auditors", "bob"));
  EXPECT_FALSE(ac_->remove_member("auditors", "bob"));
  EXPECT_EQ(ac_->effective_roles("bob"), (std::vector<std::string>{"finance", "viewer"}));
  EXPECT_TRUE(ac_->revoke_group_role("fin-team", "finance"));
  EXPECT_EQ(ac_->effective_roles("bob"), (std::vector<std::string>{"viewer"}));

  EXPECT_THROW(ac_->add_member("fin-team", "ghost"), Error);
  EXPECT_THROW(ac_->add_member("ghosts", "bob"), Error);
  EXPECT_THROW(ac_->add_group("fin-team"), Error);
  EXPECT_THROW(ac_->effective_roles("ghost"), Error);
  EXPECT_EQ(ac_->groups().size(), 2u);
}

TEST_F(AccessTest, RemovingAUserOrGroupRemovesMemberships) {
  ac_->add_user("bob");
  ac_->add_group("team", {"viewer"});
  ac_->add_member("team", "bob");
  EXPECT_TRUE(ac_->remove_user("bob"));
  EXPECT_TRUE(ac_->find_group("team")->members.empty());
  ac_->add_user("bob");  // a new bob does not inherit the old one's groups
  EXPECT_TRUE(ac_->find_user("bob")->groups.empty());
  ac_->add_member("team", "bob");
  EXPECT_TRUE(ac_->remove_group("team"));
  EXPECT_FALSE(ac_->remove_group("team"));
  EXPECT_TRUE(ac_->effective_roles("bob").empty());
}

// ---- policy and modes ----------------------------------------------------------------------

TEST_F(AccessTest, PersonalModeAllowsEverythingUntilAPolicyIsImported) {
  EXPECT_FALSE(ac_->enabled());
  EXPECT_FALSE(ac_->policy());
  const Principal p = ac_->principal_for_user("anyone");
  EXPECT_TRUE(p.unrestricted);
  EXPECT_TRUE(p.admin);
  EXPECT_TRUE(ac_->allowed(p, Permission::Delete, "finance", "x.md"));
  EXPECT_TRUE(ac_->principal_for_roles({}).unrestricted);

  ac_->import_policy(Policy::parse(kPolicy));
  EXPECT_TRUE(ac_->enabled());
  const Principal q = ac_->principal_for_user("anyone");  // unknown user: no roles
  EXPECT_FALSE(q.unrestricted);
  EXPECT_FALSE(q.admin);
  EXPECT_FALSE(ac_->allowed(q, Permission::Read, "wiki"));
  // A principal made before the import keeps its snapshot: unrestricted.
  EXPECT_TRUE(ac_->allowed(p, Permission::Read, "hr"));
}

TEST_F(AccessTest, ImportReplacesThePolicyAndExportsTheSameJson) {
  ac_->import_policy(Policy::parse(kPolicy));
  EXPECT_EQ(ac_->policy()->to_json(), nlohmann::json::parse(kPolicy));
  const char* other = R"({"roles": {"viewer": ["read"]}, "resources": {"*": ["viewer"]}})";
  ac_->import_policy(Policy::parse(other));
  EXPECT_EQ(ac_->policy()->to_json(), nlohmann::json::parse(other));
}

TEST_F(AccessTest, AnInvalidPolicyChangesNothing) {
  ac_->import_policy(Policy::parse(kPolicy));
  Policy bad = Policy::parse(kPolicy);
  bad.resources["wiki"] = {"ghost"};  // built by hand, bypassing parse()
  EXPECT_THROW(ac_->import_policy(bad), PolicyError);
  Policy bad_key = Policy::parse(kPolicy);
  bad_key.resources["wiki/../x"] = {"viewer"};
  EXPECT_THROW(ac_->import_policy(bad_key), PolicyError);
  EXPECT_EQ(ac_->policy()->to_json(), nlohmann::json::parse(kPolicy));
}

TEST_F(AccessTest, AdminIsWhoeverHoldsTheAdminRoleDirectlyOrThroughAGroup) {
  ac_->import_policy(Policy::parse(kPolicy));
  ac_->add_user("root", "", "", {"admin"});
  ac_->add_user("op");
  ac_->add_group("ops", {"admin"});
  ac_->add_user("plain", "", "", {"viewer"});
  EXPECT_TRUE(ac_->principal_for_user("root").admin);
  EXPECT_FALSE(ac_->principal_for_user("op").admin);
  ac_->add_member("ops", "op");
  EXPECT_TRUE(ac_->principal_for_user("op").admin);
  EXPECT_FALSE(ac_->principal_for_user("plain").admin);
  EXPECT_TRUE(ac_->principal_for_roles({"admin"}).admin);
}

// ---- decisions -----------------------------------------------------------------------------

struct Row {
  const char* kb;
  const char* rel;
  // Permissions ("rwd" letters) per principal, in the order of kPrincipals.
  std::array<const char*, 7> expected;
};

TEST_F(AccessTest, MatrixOfRolesPermissionsAndResources) {
  ac_->import_policy(Policy::parse(kPolicy));
  const std::vector<std::pair<std::string, std::vector<std::string>>> principals = {
      {"admin", {"admin"}}, {"editor", {"editor"}}, {"viewer", {"viewer"}}, {"finance", {"finance"}},
      {"auditor", {"auditor"}}, {"none", {}}, {"ghost", {"undefined-role"}}};
  // clang-format off
  const std::vector<Row> rows = {
      //  kb          rel                        admin  editor viewer finance auditor none ghost
      {"wiki",      "",                         {"rwd", "rw", "r", "",   "",  "", ""}},  // unlisted kb → "*"
      {"wiki",      "notes/a.md",               {"rwd", "rw", "r", "",   "",  "", ""}},
      {"finance",   "",                         {"rwd", "",   "",  "rw", "",  "", ""}},  // kb overrides "*"
      {"finance",   "q1/report.md",             {"rwd", "",   "",  "rw", "",  "", ""}},  // inherited from the kb
      {"finance",   "public",                   {"rwd", "",   "r", "rw", "",  "", ""}},  // folder overrides kb
      {"finance",   "public/deep/x.md",         {"rwd", "",   "r", "rw", "",  "", ""}},  // inherited from folder
      {"finance",   "public/salaries.md",       {"rwd", "",   "",  "",   "",  "", ""}},  // document overrides folder
      {"finance",   "publicity.md",             {"rwd", "",   "",  "rw", "",  "", ""}},  // not in "public"
      {"hr",        "",                         {"",    "",   "",  "",   "",  "", ""}},  // explicit nobody
      {"hr",        "policies/leave.md",        {"",    "",   "",  "",   "",  "", ""}},
      {"legal",     "contracts/nda.md",         {"",    "",   "",  "",   "r", "", ""}},
      {"legal",     "other.md",                 {"rwd", "rw", "r", "",   "",  "", ""}},  // back to "*"
  };
  // clang-format on
  for (const Row& row : rows)
    for (size_t i = 0; i < principals.size(); ++i) {
      const Principal p = ac_->principal_for_roles(principals[i].second);
      const std::string want = row.expected[i];
      for (Permission perm : {Permission::Read, Permission::Write, Permission::Delete}) {
        const bool expect = want.find(permission_name(perm)[0]) != std::string::npos;
        EXPECT_EQ(ac_->allowed(p, perm, row.kb, row.rel), expect)
            << principals[i].first << " " << permission_name(perm) << " " << row.kb << "/" << row.rel;
        EXPECT_EQ(ac_->decide(p, perm, row.kb, row.rel).allowed, expect);
      }
    }
}

TEST_F(AccessTest, DefaultDenyWithoutAStarKey) {
  ac_->import_policy(Policy::parse(R"({"roles": {"viewer": ["read"]}, "resources": {"wiki": ["viewer"]}})"));
  const Principal v = ac_->principal_for_roles({"viewer"});
  EXPECT_TRUE(ac_->allowed(v, Permission::Read, "wiki", "a/b.md"));
  EXPECT_FALSE(ac_->allowed(v, Permission::Write, "wiki"));
  EXPECT_FALSE(ac_->allowed(v, Permission::Read, "other"));
  EXPECT_FALSE(ac_->allowed(v, Permission::Read, "other", "x.md"));
  const Decision d = ac_->decide(v, Permission::Read, "other");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.resource, "");
  EXPECT_NE(d.reason.find("default deny"), std::string::npos);
  EXPECT_FALSE(ac_->allowed(Principal{}, Permission::Read, "wiki"));  // an empty principal is nobody
}

TEST_F(AccessTest, DecisionsNameTheKeyThatDecided) {
  ac_->import_policy(Policy::parse(kPolicy));
  ac_->add_user("vic", "", "", {"viewer"});
  const Principal v = ac_->principal_for_user("vic");
  const Decision a = ac_->decide_resource(v, Permission::Read, "finance/public/q1.md");
  EXPECT_TRUE(a.allowed);
  EXPECT_EQ(a.resource, "finance/public");
  EXPECT_NE(a.reason.find("viewer"), std::string::npos) << a.reason;
  const Decision b = ac_->decide_resource(v, Permission::Read, "finance/public/salaries.md");
  EXPECT_FALSE(b.allowed);
  EXPECT_EQ(b.resource, "finance/public/salaries.md");
  EXPECT_EQ(ac_->decide_resource(v, Permission::Read, "*").resource, "*");
  EXPECT_EQ(ac_->decide_resource(v, Permission::Read, "wiki").resource, "*");
  EXPECT_THROW(ac_->decide_resource(v, Permission::Read, "bad kb"), Error);
}

TEST_F(AccessTest, KbVisibleWhenAnythingInsideIsReadable) {
  ac_->import_policy(Policy::parse(kPolicy));
  const Principal v = ac_->principal_for_roles({"viewer"});
  const Principal a = ac_->principal_for_roles({"auditor"});
  EXPECT_TRUE(ac_->can_see_kb(v, "finance"));  // through finance/public
  EXPECT_FALSE(ac_->can_see_kb(v, "hr"));
  EXPECT_TRUE(ac_->can_see_kb(a, "legal"));
  EXPECT_FALSE(ac_->can_see_kb(a, "wiki"));
}

// ---- readable documents of a real knowledge store ------------------------------------------

int64_t put(kb::KnowledgeStore& store, const std::string& kb, const std::string& path) {
  kb::DocumentInput doc;
  doc.path = path;
  doc.title = fs::path(path).stem().string();
  doc.format = kb::Format::Markdown;
  doc.content_hash = kb::content_hash(path);
  doc.chunks.push_back({{}, "text of " + path, 3, {}});
  return store.put_document(kb, doc);
}

TEST_F(AccessTest, ReadableDocumentsOfAKnowledgeStore) {
  kb::KnowledgeStore store = kb::KnowledgeStore::open(dir_);
  store.create("finance", "", 0);
  store.add_root("finance", "/vault/finance");
  const int64_t report = put(store, "finance", "/vault/finance/q1/report.md");
  const int64_t pub = put(store, "finance", "/vault/finance/public/press.md");
  const int64_t salaries = put(store, "finance", "/vault/finance/public/salaries.md");
  const int64_t upload = put(store, "finance", "public/upload.md");  // not under a root: its own path
  store.create("wiki", "", 0);
  put(store, "wiki", "/w/a.md");

  // Personal mode: everything.
  EXPECT_FALSE(ac_->readable_documents(ac_->principal_for_user("x"), store, "finance"));

  ac_->import_policy(Policy::parse(kPolicy));
  using Set = std::unordered_set<int64_t>;
  const auto viewer = ac_->readable_documents(ac_->principal_for_roles({"viewer"}), store, "finance");
  ASSERT_TRUE(viewer);
  EXPECT_EQ(*viewer, (Set{pub, upload}));
  const auto fin = ac_->readable_documents(ac_->principal_for_roles({"finance"}), store, "finance");
  ASSERT_TRUE(fin);
  EXPECT_EQ(*fin, (Set{report, pub, upload}));
  const auto admin = ac_->readable_documents(ac_->principal_for_roles({"admin"}), store, "finance");
  ASSERT_TRUE(admin);
  EXPECT_EQ(*admin, (Set{report, pub, salaries, upload}));
  EXPECT_EQ(*ac_->readable_documents(ac_->principal_for_roles({"editor"}), store, "finance"), Set{});

  // No key below "wiki": decided once for the whole kb.
  EXPECT_FALSE(ac_->readable_documents(ac_->principal_for_roles({"viewer"}), store, "wiki"));
  const auto none = ac_->readable_documents(ac_->principal_for_roles({"auditor"}), store, "wiki");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

// ---- several processes --------------------------------------------------------------------

TEST_F(AccessTest, APolicyImportedElsewhereIsSeenByASecondAccessControl) {
  auto other_db = db::open_shared_sqlite(dir_ / "inhouse.db");
  AccessControl other(*other_db, 0);
  AccessControl slow(*other_db, 3'600'000);  // rechecks hourly: keeps what it loaded
  EXPECT_FALSE(other.enabled());
  EXPECT_FALSE(slow.enabled());

  ac_->add_user("vic", "", "", {"viewer"});
  ac_->import_policy(Policy::parse(kPolicy));
  EXPECT_TRUE(other.enabled());
  EXPECT_FALSE(slow.enabled());
  const Principal v = other.principal_for_user("vic");
  EXPECT_TRUE(other.allowed(v, Permission::Read, "wiki"));

  ac_->import_policy(Policy::parse(R"({"roles": {"viewer": ["read"]}, "resources": {"hr": ["viewer"]}})"));
  const Principal v2 = other.principal_for_user("vic");
  EXPECT_FALSE(other.allowed(v2, Permission::Read, "wiki"));
  EXPECT_TRUE(other.allowed(v2, Permission::Read, "hr"));
  // Users and grants are in the shared tables too.
  other.grant_user_role("vic", "admin");
  EXPECT_TRUE(ac_->principal_for_user("vic").admin);
}

TEST_F(AccessTest, ConcurrentDecisionsWhileThePolicyChanges) {
  ac_->add_user("vic", "", "", {"viewer"});
  ac_->import_policy(Policy::parse(kPolicy));
  const Policy a = Policy::parse(kPolicy);
  const Policy b = Policy::parse(R"({"roles": {"viewer": ["read"]}, "resources": {"*": ["viewer"]}})");
  std::atomic<bool> stop{false};
  std::atomic<int> decisions{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      while (!stop) {
        const Principal p = ac_->principal_for_user("vic");
        // "wiki" is readable by viewers under both policies.
        if (ac_->allowed(p, Permission::Read, "wiki", "x.md")) ++decisions;
      }
    });
  for (int i = 0; i < 20; ++i) ac_->import_policy(i % 2 ? a : b);
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(decisions.load(), 0);
}

}  // namespace
}  // namespace inhouse::access
