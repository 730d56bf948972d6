// Organisation knowledge bases over HTTP: a matrix of roles x operations x resources (kb,
// folder override, document, "*", unlisted), checking that a user never sees a document it may
// not read — not in listings, search hits, snippets, answers' sources, link graphs, downloads
// or metrics — that writes and deletes need their permissions, that every call lands in the
// hash-chained audit log, and the admin API (admin only; a malformed policy changes nothing).
#include <gtest/gtest.h>

#include <set>

#include "access/access.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "test_server.h"

namespace inhouse {
namespace {

using nlohmann::json;
using test_util::body_of;
using test_util::expect_error;
using test_util::metrics_showing;

// admin: everything everywhere; editor: read+write on the handbook, drafts included;
// viewer: read on the handbook except its drafts folder; finance reports: admin only.
const char* kPolicy = R"({
  "roles": {"admin": ["read", "write", "delete"], "editor": ["read", "write"], "viewer": ["read"]},
  "resources": {
    "financial_reports": ["admin"],
    "handbook": ["admin", "editor", "viewer"],
    "handbook/drafts": ["admin", "editor"],
    "handbook/drafts/public.md": ["admin", "editor", "viewer"],
    "*": ["admin"]
  }
})";

struct Doc {
  const char* kb;
  const char* path;
  const char* text;
};

// Every document says "zebra", so every search and question reaches every document.
const Doc kDocs[] = {
    {"financial_reports", "q3.md", "# Q3 revenue\n\nThe zebra margin is 41 percent. See [[Welcome]].\n"},
    {"handbook", "welcome.md", "# Welcome\n\nThe zebra is our mascot. See [[Plan]] and [[Q3 revenue]].\n"},
    {"handbook", "drafts/plan.md", "# Plan\n\nA zebra reorganisation, not yet announced.\n"},
    {"handbook", "drafts/public.md", "# Public draft\n\nThe zebra picnic is on Friday.\n"},
    {"archive", "old.md", "# Old\n\nA zebra from the archive.\n"},
};

const std::vector<std::string> kUsers = {"alice", "eve", "victor", "nobody"};

// What each user may read, by "kb/path".
std::set<std::string> readable_by(const std::string& user) {
  if (user == "alice")
    return {"financial_reports/q3.md", "handbook/welcome.md", "handbook/drafts/plan.md", "handbook/drafts/public.md",
            "archive/old.md"};
  if (user == "eve") return {"handbook/welcome.md", "handbook/drafts/plan.md", "handbook/drafts/public.md"};
  if (user == "victor") return {"handbook/welcome.md", "handbook/drafts/public.md"};
  return {};
}

class OrgRoutesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server::ServerConfig c = test_util::base_config("org");
    c.models = {{"chat", test_util::kModels + "qwen2-tiny-chat-q4_0.gguf"}};  // keyword-only kbs
    c.ctx = 1024;
    {
      // Users, clients and the policy go in before the server starts, as `inhouse user add`,
      // `client add --user` and `role import` would put them.
      auto db = db::open_shared_sqlite(c.data_dir / "inhouse.db");
      access::AccessControl ac(*db);
      auth::ClientStore clients(*db);
      ac.add_user("alice", "Alice", "alice@example.com", {"admin"});
      ac.add_user("eve", "Eve", "", {});
      ac.add_group("writers", {"editor"});
      ac.add_member("writers", "eve");  // eve is an editor through her group
      ac.add_user("victor", "", "", {"viewer"});
      ac.add_user("nobody");
      for (const std::string& u : kUsers) keys_[u] = clients.add("app-" + u, "default", u).api_key;
      keys_["service"] = clients.add("svc", "viewer").api_key;  // no user: acts with its role
    }
    server_ = new test_util::RunningServer(c);
    // Documents go in through the API (personal mode: no policy yet, everyone unrestricted).
    for (const Doc& d : kDocs) {
      if (!created_.count(d.kb)) {
        ASSERT_EQ(post("alice", "/api/v1/kb", {{"name", d.kb}})->status, 201);
        created_.insert(d.kb);
      }
      auto r = post("alice", std::string("/api/v1/kb/") + d.kb + "/documents", {{"path", d.path}, {"content", d.text}});
      ASSERT_EQ(r->status, 201) << r->body;
    }
    auto r = put("alice", "/api/v1/admin/policy", kPolicy);
    ASSERT_EQ(r->status, 200) << r->body;
  }
  static void TearDownTestSuite() { delete server_; }

  static httplib::Headers auth(const std::string& who) {
    return {{"Authorization", "Bearer " + keys_.at(who)}};
  }
  static httplib::Result get(const std::string& who, const std::string& path) {
    auto c = server_->client();
    return c.Get(path, auth(who));
  }
  static httplib::Result post(const std::string& who, const std::string& path, const json& body) {
    auto c = server_->client();
    return c.Post(path, auth(who), body.dump(), "application/json");
  }
  static httplib::Result put(const std::string& who, const std::string& path, const std::string& body) {
    auto c = server_->client();
    return c.Put(path, auth(who), body, "application/json");
  }
  static httplib::Result del(const std::string& who, const std::string& path) {
    auto c = server_->client();
    return c.Delete(path, auth(who));
  }
  static std::string kb_of(const std::string& key) { return key.substr(0, key.find('/')); }
  static std::string doc_of(const std::string& key) { return key.substr(key.find('/') + 1); }

  static inline test_util::RunningServer* server_ = nullptr;
  static inline std::map<std::string, std::string> keys_;
  static inline std::set<std::string> created_;
};

// "upload:drafts/plan.md" → "handbook/drafts/plan.md".
std::string key_of(const std::string& kb, const std::string& stored_path) {
  const std::string p = stored_path.rfind("upload:", 0) == 0 ? stored_path.substr(7) : stored_path;
  return kb + "/" + p;
}

TEST_F(OrgRoutesTest, ListingsShowOnlyWhatEachUserMayRead) {
  for (const std::string& user : kUsers) {
    const std::set<std::string> may = readable_by(user);
    std::set<std::string> kbs_expected;
    for (const std::string& k : may) kbs_expected.insert(kb_of(k));
    auto r = get(user, "/api/v1/kb");
    ASSERT_EQ(r->status, 200) << r->body;
    std::set<std::string> kbs;
    const json items1 = body_of(r)["data"];
    for (const json& k : items1) kbs.insert(k["name"].get<std::string>());
    EXPECT_EQ(kbs, kbs_expected) << user << " " << r->body;

    for (const char* kb : {"financial_reports", "handbook", "archive"}) {
      r = get(user, std::string("/api/v1/kb/") + kb);
      if (!kbs_expected.count(kb)) {
        expect_error(r, 404, "no knowledge base");  // as if it did not exist
        continue;
      }
      ASSERT_EQ(r->status, 200) << r->body;
      std::set<std::string> files, files_expected;
      const json items2 = body_of(r)["files"];
      for (const json& f : items2) files.insert(key_of(kb, f["path"].get<std::string>()));
      for (const std::string& k : may)
        if (kb_of(k) == kb) files_expected.insert(k);
      EXPECT_EQ(files, files_expected) << user << " " << kb << " " << r->body;
      EXPECT_EQ(body_of(r)["documents"], files_expected.size()) << user << " " << kb;
    }
  }
}

TEST_F(OrgRoutesTest, SearchAndAskNeverReachAnUnreadableDocument) {
  for (const std::string& user : kUsers) {
    const std::set<std::string> may = readable_by(user);
    for (const char* kb : {"financial_reports", "handbook", "archive"}) {
      bool kb_visible = false;
      for (const std::string& k : may) kb_visible |= kb_of(k) == kb;
      auto r = post(user, std::string("/api/v1/kb/") + kb + "/search", {{"query", "zebra"}, {"k", 10}});
      if (!kb_visible) {
        expect_error(r, 404, "no knowledge base");
        expect_error(post(user, std::string("/api/v1/kb/") + kb + "/ask", {{"question", "zebra?"}}), 404, "no knowledge base");
        continue;
      }
      ASSERT_EQ(r->status, 200) << r->body;
      std::set<std::string> hits, expected;
      const json items3 = body_of(r)["hits"];
      for (const json& h : items3) {
        hits.insert(key_of(kb, h["path"].get<std::string>()));
        EXPECT_TRUE(may.count(key_of(kb, h["path"].get<std::string>()))) << user << " saw a snippet of " << h["path"];
      }
      for (const std::string& k : may)
        if (kb_of(k) == kb) expected.insert(k);
      EXPECT_EQ(hits, expected) << user << " " << kb;  // and still finds everything it may read

      r = post(user, std::string("/api/v1/kb/") + kb + "/ask",
               {{"question", "What about the zebra?"}, {"max_tokens", 3}, {"links", true}});
      ASSERT_EQ(r->status, 200) << r->body;
      const json items4 = body_of(r)["sources"];
      for (const json& s : items4)
        EXPECT_TRUE(may.count(key_of(kb, s["path"].get<std::string>()))) << user << " got source " << s["path"];
      EXPECT_EQ(body_of(r)["sources"].size(), expected.size()) << user << " " << kb;
    }
  }
}

TEST_F(OrgRoutesTest, LinkGraphsAndDownloadsHideUnreadableNotes) {
  // victor reads welcome.md, which links to [[Plan]] (a draft he may not read): the link shows
  // as dangling, and Plan's own links are not his to see.
  auto r = get("victor", "/api/v1/kb/handbook/links?note=Welcome");
  ASSERT_EQ(r->status, 200) << r->body;
  const json items5 = body_of(r)["outgoing"];
  for (const json& l : items5) {
    EXPECT_NE(l["to_path"], "upload:drafts/plan.md");
    if (l["target"] == "Plan") EXPECT_FALSE(l["resolved"].get<bool>());
  }
  expect_error(get("victor", "/api/v1/kb/handbook/links?note=Plan"), 404, "");
  r = get("eve", "/api/v1/kb/handbook/links?note=Plan");
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_EQ(body_of(r)["backlinks"].size(), 1u);  // from welcome.md

  r = get("victor", "/api/v1/kb/handbook/documents?path=welcome.md");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(body_of(r)["text"].get<std::string>().find("mascot"), std::string::npos);
  expect_error(get("victor", "/api/v1/kb/handbook/documents?path=drafts/plan.md"), 404, "no document");
  expect_error(get("victor", "/api/v1/kb/handbook/documents?path=Plan"), 404, "no document");  // not by title either
  EXPECT_EQ(get("eve", "/api/v1/kb/handbook/documents?path=drafts/plan.md")->status, 200);
  expect_error(get("eve", "/api/v1/kb/financial_reports/documents?path=q3.md"), 404, "no knowledge base");
}

TEST_F(OrgRoutesTest, WritesAndDeletesNeedTheirPermissions) {
  const json doc = {{"path", "drafts/new.md"}, {"content", "# New\n\nzebra\n"}};
  expect_error(post("victor", "/api/v1/kb/handbook/documents", doc), 403, "no 'write' permission");
  expect_error(post("nobody", "/api/v1/kb/handbook/documents", doc), 404, "no knowledge base");
  auto r = post("eve", "/api/v1/kb/handbook/documents", doc);
  ASSERT_EQ(r->status, 201) << r->body;
  // Uploads record their owner (privacy export/erasure find them by it).
  r = get("eve", "/api/v1/kb/handbook/documents?path=drafts/new.md");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["fields"]["owner"], "eve");

  auto c = server_->client();
  r = c.Patch("/api/v1/kb/handbook/documents?path=drafts/new.md", auth("victor"), R"({"fields": {"department": "hr"}})",
              "application/json");
  expect_error(r, 404, "no document");  // victor cannot read drafts at all
  r = c.Patch("/api/v1/kb/handbook/documents?path=drafts/new.md", auth("eve"), R"({"fields": {"department": "hr"}})",
              "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["fields"]["department"], "hr");

  // Versions: an update keeps the old text; history and diffs need read, a restore write.
  r = post("eve", "/api/v1/kb/handbook/documents", {{"path", "drafts/new.md"}, {"content", "# New\n\nzebra stripes\n"}});
  ASSERT_EQ(r->status, 201) << r->body;
  r = get("eve", "/api/v1/kb/handbook/documents/history?path=drafts/new.md");
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_EQ(body_of(r)["versions"].size(), 2u);
  EXPECT_EQ(body_of(r)["versions"][0]["version"], 2);
  r = get("eve", "/api/v1/kb/handbook/documents/diff?path=drafts/new.md");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->body.find("+zebra stripes"), std::string::npos) << r->body;
  expect_error(get("victor", "/api/v1/kb/handbook/documents/history?path=drafts/new.md"), 404, "no document");
  expect_error(post("victor", "/api/v1/kb/handbook/documents/restore", {{"path", "welcome.md"}, {"version", 1}}), 403,
               "no 'write' permission");
  r = post("eve", "/api/v1/kb/handbook/documents/restore", {{"path", "drafts/new.md"}, {"version", 1}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["version"], 3);
  r = get("eve", "/api/v1/kb/handbook/documents?path=drafts/new.md");
  EXPECT_EQ(body_of(r)["text"].get<std::string>().find("stripes"), std::string::npos);

  expect_error(del("eve", "/api/v1/kb/handbook/documents?path=drafts/new.md"), 403, "no 'delete' permission");
  expect_error(del("eve", "/api/v1/kb/handbook"), 403, "no 'delete' permission");
  expect_error(post("eve", "/api/v1/kb", {{"name", "eves_kb"}}), 403, "no 'write' permission");  // "*" is admin only
  EXPECT_EQ(del("alice", "/api/v1/kb/handbook/documents?path=drafts/new.md")->status, 200);
  // A service client without a user acts with its own role (viewer).
  r = post("service", "/api/v1/kb/handbook/search", {{"query", "zebra"}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["hits"].size(), 2u);
}

TEST_F(OrgRoutesTest, AdminApiIsForAdministratorsAndAudited) {
  expect_error(get("victor", "/api/v1/admin/users"), 403, "administrator");
  expect_error(get("eve", "/api/v1/admin/audit"), 403, "administrator");
  auto r = get("alice", "/api/v1/admin/users");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["data"].size(), kUsers.size());

  // A malformed policy is refused with the field named, and nothing changes.
  r = put("alice", "/api/v1/admin/policy", R"({"roles": {"viewer": ["read", "fly"]}, "resources": {}})");
  expect_error(r, 400, "fly");
  r = get("alice", "/api/v1/admin/policy");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(body_of(r), access::Policy::parse(kPolicy).to_json());

  r = post("alice", "/api/v1/admin/users", {{"name", "dora"}, {"roles", {"viewer"}}});
  ASSERT_EQ(r->status, 201) << r->body;
  r = post("alice", "/api/v1/admin/clients", {{"name", "dora-laptop"}, {"role", "default"}, {"user", "dora"}});
  ASSERT_EQ(r->status, 201) << r->body;
  keys_["dora"] = body_of(r)["api_key"];
  r = post("dora", "/api/v1/kb/handbook/search", {{"query", "zebra"}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["hits"].size(), 2u);  // a viewer, at once

  // Role grants and group membership, each answered with the changed user or group.
  r = post("alice", "/api/v1/admin/users/dora/roles", {{"role", "editor"}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["roles"], json({"editor", "viewer"}));
  EXPECT_EQ(del("alice", "/api/v1/admin/users/dora/roles/editor")->status, 200);
  expect_error(del("alice", "/api/v1/admin/users/dora/roles/editor"), 404, "has no role 'editor'");
  r = post("alice", "/api/v1/admin/groups/writers/members", {{"user", "dora"}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["members"], json({"dora", "eve"}));
  r = post("alice", "/api/v1/admin/groups/writers/roles", {{"role", "viewer"}});
  EXPECT_EQ(body_of(r)["roles"], json({"editor", "viewer"}));
  EXPECT_EQ(del("alice", "/api/v1/admin/groups/writers/roles/viewer")->status, 200);
  EXPECT_EQ(del("alice", "/api/v1/admin/groups/writers/members/dora")->status, 200);
  expect_error(post("alice", "/api/v1/admin/groups/nosuch/members", {{"user", "dora"}}), 404, "nosuch");

  // The audit log saw the denials and the changes, and its chain holds.
  r = get("alice", "/api/v1/admin/audit?action=access.change");
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("\"user:dora\""), std::string::npos);
  r = get("alice", "/api/v1/admin/audit?actor=victor");
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("\"denied\""), std::string::npos);
  r = get("alice", "/api/v1/admin/audit/verify");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(body_of(r)["ok"].get<bool>()) << r->body;
  const int entries = body_of(r)["entries"].get<int>();
  r = get("alice", "/api/v1/admin/audit");
  EXPECT_EQ(std::count(r->body.begin(), r->body.end(), '\n'), entries);  // every entry exported, one line each
  EXPECT_GE(entries, 20);  // setup, policy import, denials, user and client changes
}

TEST_F(OrgRoutesTest, EraseAUserAndTheirDocuments) {
  auto r = post("alice", "/api/v1/admin/users", {{"name", "mallory"}, {"email", "m@example.com"}, {"roles", {"editor"}}});
  ASSERT_EQ(r->status, 201) << r->body;
  r = post("alice", "/api/v1/admin/clients", {{"name", "mallory-cli"}, {"role", "default"}, {"user", "mallory"}});
  keys_["mallory"] = body_of(r)["api_key"];
  r = post("mallory", "/api/v1/kb/handbook/documents", {{"path", "drafts/mallory.md"}, {"content", "# M\n\nzebra notes of mallory\n"}});
  ASSERT_EQ(r->status, 201) << r->body;
  ASSERT_EQ(post("mallory", "/api/v1/kb/handbook/search", {{"query", "zebra"}})->status, 200);

  r = get("alice", "/api/v1/admin/privacy/export?user=mallory");
  ASSERT_EQ(r->status, 200) << r->body;
  json ex = body_of(r);
  EXPECT_EQ(ex["user"]["email"], "m@example.com");
  ASSERT_EQ(ex["documents"].size(), 1u);
  EXPECT_NE(ex["documents"][0]["text"].get<std::string>().find("zebra notes"), std::string::npos);
  EXPECT_GE(ex["audit"].size(), 2u);
  EXPECT_EQ(ex["clients"].size(), 1u);

  r = post("alice", "/api/v1/admin/privacy/erase", {{"user", "mallory"}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["documents"], 1);
  EXPECT_EQ(body_of(r)["clients"], 1);
  expect_error(post("mallory", "/api/v1/kb/handbook/search", {{"query", "zebra"}}), 401, "");  // key gone
  r = post("alice", "/api/v1/kb/handbook/search", {{"query", "notes"}});  // the purged document's word
  EXPECT_EQ(body_of(r)["hits"].size(), 0u);
  r = get("alice", "/api/v1/admin/audit");
  const size_t left = r->body.find("mallory");
  EXPECT_EQ(left, std::string::npos) << r->body.substr(left == std::string::npos ? 0 : left - std::min<size_t>(left, 300), 600);  // only the fact of erasure stays
  EXPECT_NE(r->body.find("privacy.erase"), std::string::npos);
  r = get("alice", "/api/v1/admin/audit/verify");
  EXPECT_TRUE(body_of(r)["ok"].get<bool>()) << r->body;
}

TEST_F(OrgRoutesTest, MetricsNameNoKnowledgeBaseOrDocument) {
  ASSERT_EQ(get("alice", "/api/v1/kb/financial_reports/documents?path=q3.md")->status, 200);
  ASSERT_EQ(get("alice", "/api/v1/admin/users/victor")->status, 200);
  auto r = metrics_showing([&] { return get("alice", "/metrics"); }, "/api/v1/admin/users");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  for (const char* secret : {"financial_reports", "q3", "handbook", "victor", "alice"})
    EXPECT_EQ(r->body.find(secret), std::string::npos) << secret;
  EXPECT_NE(r->body.find("/api/v1/kb/:name/documents"), std::string::npos);
  EXPECT_NE(r->body.find("/api/v1/admin/users"), std::string::npos);
}

}  // namespace
}  // namespace inhouse
