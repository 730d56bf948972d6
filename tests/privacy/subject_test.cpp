// Tests for data-subject requests and retention (privacy.h, subject.cpp) on one data directory:
// the shared tables in its SQLite file next to the knowledge bases.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "privacy/privacy.h"

namespace fs = std::filesystem;
namespace acl = inhouse::access;  // "access" is also POSIX access()
namespace audit = inhouse::audit;
namespace kb = inhouse::kb;
using inhouse::privacy::Stores;

namespace {

class Subject : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("inhouse-subject-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = inhouse::db::open_shared_sqlite(dir_ / "inhouse.db");
    access_ = std::make_unique<acl::AccessControl>(*db_, 0);
    clients_ = std::make_unique<inhouse::auth::ClientStore>(*db_);
    audit_ = std::make_unique<audit::AuditLog>(*db_);
    store_ = std::make_unique<kb::KnowledgeStore>(kb::KnowledgeStore::open(dir_));
    store_->create("hr", "", 0);
  }
  void TearDown() override {
    store_.reset();
    audit_.reset();
    clients_.reset();
    access_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }
  Stores stores() { return {*access_, *clients_, *audit_, *store_}; }

  int64_t put(const std::string& path, const std::string& text, const nlohmann::json& fields) {
    kb::DocumentInput d;
    d.path = path;
    d.title = fs::path(path).stem().string();
    d.content_hash = kb::content_hash(text);
    d.chunks.push_back({{}, text, 10, {}});
    d.fields = fields;
    return store_->put_document("hr", d);
  }
  void log(const std::string& actor, const std::string& resource) {
    audit::Event e;
    e.actor = actor;
    e.action = audit::kKbRead;
    e.resource = resource;
    e.source = "cli";
    audit_->append(e);
  }

  fs::path dir_;
  std::unique_ptr<inhouse::db::SharedDatabase> db_;
  std::unique_ptr<acl::AccessControl> access_;
  std::unique_ptr<inhouse::auth::ClientStore> clients_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<kb::KnowledgeStore> store_;
};

TEST_F(Subject, ExportsEverythingAboutTheUserAndNothingElse) {
  access_->add_user("alice", "Alice Zhang", "alice@example.com", {"viewer"});
  access_->add_user("bob", "Bob", "", {"viewer"});
  const auto client = clients_->add("alice-laptop", "viewer", "alice");
  clients_->add("bob-laptop", "viewer", "bob");
  put("/hr/alice-review.md", "Alice's annual review: exceeds expectations.", {{"owner", "alice"}});
  put("/hr/bob-review.md", "Bob's annual review.", {{"owner", "bob"}});
  log("alice", "kb:hr/handbook.md");
  log("bob", "kb:hr/bob-review.md");

  const nlohmann::json out = inhouse::privacy::export_user(stores(), "alice");
  EXPECT_EQ(out["user"]["email"], "alice@example.com");
  ASSERT_EQ(out["clients"].size(), 1u);
  EXPECT_EQ(out["clients"][0]["name"], "alice-laptop");
  ASSERT_EQ(out["documents"].size(), 1u);
  EXPECT_EQ(out["documents"][0]["path"], "/hr/alice-review.md");
  EXPECT_NE(out["documents"][0]["text"].get<std::string>().find("exceeds expectations"), std::string::npos);
  ASSERT_EQ(out["audit"].size(), 1u);
  EXPECT_EQ(out["audit"][0]["actor"], "alice");
  const std::string dumped = out.dump();
  EXPECT_EQ(dumped.find(client.secret), std::string::npos) << "the client secret must never be exported";
  EXPECT_EQ(dumped.find("bob"), std::string::npos) << dumped;

  const nlohmann::json nobody = inhouse::privacy::export_user(stores(), "carol");
  EXPECT_TRUE(nobody["user"].is_null());
  EXPECT_TRUE(nobody["documents"].empty());
}

TEST_F(Subject, ErasesTheUserAndKeepsOnlyTheFactOfErasure) {
  access_->add_user("alice", "Alice", "alice@example.com", {"viewer"});
  access_->add_group("finance", {"viewer"});
  access_->add_member("finance", "alice");
  access_->add_user("bob", "Bob");
  clients_->add("alice-laptop", "viewer", "alice");
  clients_->add("bob-laptop", "viewer", "bob");
  put("/hr/alice-review.md", "Alice's review.", {{"owner", "alice"}});
  put("/hr/handbook.md", "Everyone's handbook.", nlohmann::json::object());
  log("alice", "kb:hr/handbook.md");
  log("alice", "kb:hr/alice-review.md");
  log("bob", "kb:hr/handbook.md");

  const auto e = inhouse::privacy::erase_user(stores(), "alice", "admin", "10.0.0.7:5000");
  EXPECT_TRUE(e.user_existed);
  EXPECT_EQ(e.clients, 1);
  EXPECT_EQ(e.documents, 1);
  EXPECT_EQ(e.audit_entries, 2);

  EXPECT_FALSE(access_->find_user("alice").has_value());
  EXPECT_TRUE(access_->find_group("finance")->members.empty());
  EXPECT_TRUE(clients_->list_for_user("alice").empty());
  EXPECT_EQ(clients_->list().size(), 1u);
  EXPECT_FALSE(store_->find_document("hr", "/hr/alice-review.md").has_value());
  EXPECT_TRUE(store_->find_document("hr", "/hr/handbook.md").has_value());
  EXPECT_TRUE(audit_->verify().ok);
  const auto entries = audit_->list();
  ASSERT_EQ(entries.size(), 4u);  // 3 reads (2 erased) + the erasure itself
  EXPECT_EQ(entries.back().action, audit::kPrivacyErase);
  EXPECT_EQ(entries.back().actor, "admin");
  for (const auto& entry : entries) EXPECT_EQ(audit::to_json(entry).dump().find("alice"), std::string::npos);

  const nlohmann::json after = inhouse::privacy::export_user(stores(), "alice");
  EXPECT_TRUE(after["user"].is_null());
  EXPECT_TRUE(after["clients"].empty());
  EXPECT_TRUE(after["documents"].empty());
  EXPECT_TRUE(after["audit"].empty());

  EXPECT_THROW(inhouse::privacy::erase_user(stores(), "", "admin", "cli"), acl::Error);
}

TEST_F(Subject, RetentionPurgesExpiredDocumentsOnly) {
  put("/hr/old.md", "Old payroll.", {{"retention", "2020-01-01"}});
  put("/hr/current.md", "Current payroll.", {{"retention", "2030-01-01"}});
  put("/hr/forever.md", "No retention date.", nlohmann::json::object());
  const auto purged = inhouse::privacy::enforce_retention(*store_, *audit_, "2024-06-01");
  ASSERT_EQ(purged.size(), 1u);
  EXPECT_EQ(purged[0].document.path, "/hr/old.md");
  EXPECT_FALSE(store_->find_document("hr", "/hr/old.md").has_value());
  EXPECT_EQ(store_->documents("hr").size(), 2u);
  const auto entries = audit_->list();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].actor, "retention");
  EXPECT_TRUE(inhouse::privacy::enforce_retention(*store_, *audit_, "2024-06-01").empty());
  EXPECT_EQ(inhouse::privacy::today_utc().size(), 10u);
}

}  // namespace
