// Tests for document versions (history, text, diff, restore), custom fields (set_fields, kept
// across re-ingests, validation), the privacy helpers (by owner, by retention date) and
// purge_document (nothing left in the database files), plus the `inhouse kb history|diff|
// restore|meta` and `kb search --where` commands.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/run_cli.h"
#include "kb/kb.h"
#include "kb/kb_test_util.h"

namespace fs = std::filesystem;
using namespace inhouse::kb;

namespace {

using inhouse::kb::test::TempDir;
using inhouse::kb::test::basis;

DocumentInput version_doc(const std::string& body, const std::vector<float>& embedding = {}) {
  DocumentInput d;
  d.path = "/notes/plan.md";
  d.title = "Plan";
  d.format = Format::Markdown;
  d.content_hash = content_hash(body);
  d.size = int64_t(body.size());
  d.body = body;
  d.metadata = {{"status", body.substr(0, 5)}};
  d.tags = {"plan"};
  d.chunks.push_back(ChunkInput{{"Plan"}, body, approximate_tokens(body), embedding});
  return d;
}

SearchQuery keyword(const std::string& text) {
  SearchQuery q;
  q.text = text;
  q.mode = SearchMode::Keyword;
  return q;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST(KbVersions, NoteBodyAndUnifiedDiff) {
  Note n;
  n.sections = {{{}, "intro"}, {{"A"}, "one"}, {{"A", "B"}, "two"}, {{"C"}, "three"}};
  EXPECT_EQ(note_body(n), "intro\n\n# A\n\none\n\n## B\n\ntwo\n\n# C\n\nthree\n");
  EXPECT_EQ(unified_diff("a\nb\n", "a\nb\n", "x", "y"), "");
  const std::string d = unified_diff("a\nb\nc\n", "a\nB\nc\nd\n", "v1", "v2");
  EXPECT_EQ(d.rfind("--- v1\n+++ v2\n@@", 0), 0u) << d;
  EXPECT_NE(d.find("\n-b\n"), std::string::npos) << d;
  EXPECT_NE(d.find("\n+B\n"), std::string::npos) << d;
  EXPECT_NE(d.find("\n+d\n"), std::string::npos) << d;
  EXPECT_NE(d.find("\n a\n"), std::string::npos) << d;  // context
  EXPECT_FALSE(unified_diff("", "new\n", "a", "b").empty());
}

TEST(KbVersions, PrepareDocumentFillsTheBody) {
  const DocumentInput d =
      prepare_document("/n/a.md", "# A\n\ntext\n\n## B\n\nmore\n", Format::Markdown, nullptr, IngestOptions{});
  EXPECT_EQ(d.body, "# A\n\ntext\n\n## B\n\nmore\n");
}

TEST(KbVersions, ReplaceKeepsHistoryDiffAndRestoreBringsVectorsBack) {
  TempDir dir;
  auto store = KnowledgeStore::open(dir.path());
  store.create("k", "m", 4);
  const int64_t id = store.put_document("k", version_doc("draft one\nkeep this line\n", basis(4, 0)));
  EXPECT_EQ(store.history("k", id).size(), 1u);
  EXPECT_EQ(store.put_document("k", version_doc("final two\nkeep this line\n", basis(4, 1))), id);
  // The same bytes again: no new version.
  store.put_document("k", version_doc("final two\nkeep this line\n", basis(4, 1)));

  auto h = store.history("k", id);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].version, 2);
  EXPECT_TRUE(h[0].current);
  EXPECT_EQ(h[0].replaced_at, 0);
  EXPECT_EQ(h[1].version, 1);
  EXPECT_FALSE(h[1].current);
  EXPECT_GT(h[1].replaced_at, 0);
  EXPECT_EQ(h[1].metadata["status"], "draft");
  EXPECT_EQ(h[1].chunks, 1);
  EXPECT_EQ(store.find_document("k", "Plan")->version, 2);

  EXPECT_EQ(store.version_text("k", id, 1), "draft one\nkeep this line\n");
  EXPECT_EQ(store.version_text("k", id, 2), "final two\nkeep this line\n");
  const std::string d = store.diff("k", id, 1, 2);
  EXPECT_NE(d.find("-draft one"), std::string::npos) << d;
  EXPECT_NE(d.find("+final two"), std::string::npos) << d;
  EXPECT_NE(d.find(" keep this line"), std::string::npos) << d;
  EXPECT_EQ(store.diff("k", id, 2, 2), "");

  // Old text is not searchable: only the current version is indexed.
  EXPECT_TRUE(store.search("k", keyword("draft")).hits.empty());
  EXPECT_EQ(store.restore_version("k", id, 1), 3);
  EXPECT_EQ(store.search("k", keyword("draft")).hits.size(), 1u);
  EXPECT_TRUE(store.search("k", keyword("final")).hits.empty());
  SearchQuery v;
  v.embedding = basis(4, 0);
  v.mode = SearchMode::Vector;
  v.k = 1;
  const auto r = store.search("k", v);  // the restored vector, without an embedding model
  ASSERT_EQ(r.hits.size(), 1u);
  EXPECT_NEAR(r.hits[0].score, 1.0, 1e-5);
  EXPECT_EQ(store.find_document("k", "Plan")->tags, std::vector<std::string>{"plan"});
  h = store.history("k", id);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].version, 3);
  EXPECT_EQ(h[1].version, 2);
  EXPECT_EQ(store.version_text("k", id, 3), store.version_text("k", id, 1));
  EXPECT_EQ(store.restore_version("k", id, 3), 3);  // already current

  // Survives reopening (history is in SQLite).
  store = KnowledgeStore::open(dir.path());
  EXPECT_EQ(store.history("k", id).size(), 3u);
  EXPECT_EQ(store.version_text("k", id, 2), "final two\nkeep this line\n");
}

TEST(KbVersions, WithoutBodyTheChunksAreTheText) {
  TempDir dir;
  auto store = KnowledgeStore::open(dir.path());
  store.create("k", "", 0);
  DocumentInput d = version_doc("alpha\n");
  d.body.clear();
  const int64_t id = store.put_document("k", d);
  DocumentInput d2 = version_doc("beta\n");
  d2.body.clear();
  store.put_document("k", d2);
  EXPECT_EQ(store.version_text("k", id, 1), "# Plan\n\nalpha\n");
  EXPECT_EQ(store.version_text("k", id, 2), "# Plan\n\nbeta\n");
}

TEST(KbVersions, BadRequestsAreErrors) {
  TempDir dir;
  auto store = KnowledgeStore::open(dir.path());
  store.create("k", "", 0);
  store.create("other", "", 0);
  const int64_t id = store.put_document("k", version_doc("x\n"));
  auto code = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return e.code();
    }
    return Error::Code::AlreadyExists;  // "no error"
  };
  EXPECT_EQ(code([&] { store.version_text("k", id, 7); }), Error::Code::NotFound);
  EXPECT_EQ(code([&] { store.restore_version("k", id, 7); }), Error::Code::NotFound);
  EXPECT_EQ(code([&] { store.history("other", id); }), Error::Code::NotFound);  // not in that kb
  EXPECT_EQ(code([&] { store.history("k", 12345); }), Error::Code::NotFound);
  EXPECT_EQ(code([&] { store.set_fields("k", id, nlohmann::json::array()); }), Error::Code::Invalid);
  EXPECT_EQ(code([&] { store.set_fields("k", id, {{"retention", "next year"}}); }), Error::Code::Invalid);
  EXPECT_EQ(code([&] { store.set_fields("k", id, {{"retention", "2024-13-01"}}); }), Error::Code::Invalid);
  EXPECT_EQ(code([&] { store.set_fields("k", id, {{"a", {{"nested", 1}}}}); }), Error::Code::Invalid);
  EXPECT_EQ(code([&] { store.set_fields("k", id, {{"", "x"}}); }), Error::Code::Invalid);
  // A rejected patch changes nothing, even its valid keys.
  EXPECT_EQ(code([&] { store.set_fields("k", id, {{"owner", "bob"}, {"retention", "soon"}}); }), Error::Code::Invalid);
  EXPECT_TRUE(store.find_document("k", "Plan")->fields.empty());
  EXPECT_EQ(code([&] { store.retention_expired("2024/01/01"); }), Error::Code::Invalid);
  DocumentInput bad = version_doc("y\n");
  bad.fields = {{"retention", "never"}};
  EXPECT_EQ(code([&] { store.put_document("k", bad); }), Error::Code::Invalid);
}

TEST(KbFields, KeptAcrossReingestAndFoundAcrossKbs) {
  TempDir dir;
  auto store = KnowledgeStore::open(dir.path());
  store.create("a", "", 0);
  store.create("b", "", 0);
  DocumentInput d = version_doc("one\n");
  d.fields = {{"owner", "alice"}};  // initial fields of an upload
  const int64_t id = store.put_document("a", d);
  store.set_fields("a", id, {{"department", "finance"}, {"retention", "2024-06-30"}, {"reviewed", true}, {"level", 3}});
  // A re-ingest with new content and other initial fields: existing fields win.
  DocumentInput d2 = version_doc("two\n");
  d2.fields = {{"owner", "mallory"}, {"project", "x"}};
  store.put_document("a", d2);
  const DocumentInfo info = *store.find_document("a", "Plan");
  EXPECT_EQ(info.fields, (nlohmann::json{{"owner", "alice"}, {"department", "finance"}, {"retention", "2024-06-30"},
                                         {"reviewed", "true"}, {"level", "3"}, {"project", "x"}}));
  store.set_fields("a", id, {{"project", nullptr}});
  EXPECT_FALSE(store.find_document("a", "Plan")->fields.contains("project"));

  DocumentInput other = version_doc("three\n");
  other.path = "/notes/other.md";
  other.fields = {{"owner", "alice"}, {"retention", "2030-01-01"}};
  store.put_document("b", other);

  const auto owned = store.documents_with_field("owner", "alice");
  ASSERT_EQ(owned.size(), 2u);
  EXPECT_EQ(owned[0].kb, "a");
  EXPECT_EQ(owned[1].kb, "b");
  EXPECT_EQ(owned[1].document.path, "/notes/other.md");
  EXPECT_TRUE(store.documents_with_field("owner", "bob").empty());

  const auto expired = store.retention_expired("2025-01-01");
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].kb, "a");
  EXPECT_EQ(expired[0].document.id, id);
  EXPECT_EQ(store.retention_expired("2024-06-30").size(), 0u);  // before, not on
  EXPECT_EQ(store.retention_expired("2031-01-01").size(), 2u);
}

TEST(KbVersions, RemoveDropsHistoryAndPurgeLeavesNoTrace) {
  TempDir dir;
  StoreOptions o;
  o.hnsw_threshold = 8;  // HNSW, whose deletes are tombstones until a rebuild
  auto store = KnowledgeStore::open(dir.path(), o);
  store.create("k", "m", 4);
  for (int i = 0; i < 12; ++i) {
    DocumentInput f = version_doc("filler " + std::to_string(i) + "\n", basis(4, i % 4));
    f.path = "/f" + std::to_string(i) + ".md";
    store.put_document("k", f);
  }
  const std::string marker = "zqxjvortexmarker";
  const int64_t id = store.put_document("k", version_doc(marker + " first\n", basis(4, 2)));
  store.put_document("k", version_doc(marker + " second\n", basis(4, 3)));
  store.set_fields("k", id, {{"owner", "carol"}});
  ASSERT_EQ(store.history("k", id).size(), 2u);
  ASSERT_EQ(store.vector_index_info("k").kind, "hnsw");
  store.flush();

  EXPECT_FALSE(store.purge_document("k", 99999));
  ASSERT_TRUE(store.purge_document("k", id));
  for (const DocumentInfo& d : store.documents("k")) EXPECT_NE(d.id, id);
  EXPECT_TRUE(store.search("k", keyword(marker)).hits.empty());
  EXPECT_TRUE(store.documents_with_field("owner", "carol").empty());
  const VectorIndexInfo vi = store.vector_index_info("k");
  EXPECT_EQ(vi.vectors, 12);
  EXPECT_EQ(vi.tombstones, 0);  // rebuilt: the vectors are gone, not hidden
  EXPECT_THROW(store.history("k", id), Error);
  // Neither the database, its WAL nor the index file still holds the text.
  for (const auto& e : fs::recursive_directory_iterator(dir.path()))
    if (e.is_regular_file()) EXPECT_EQ(slurp(e.path()).find(marker), std::string::npos) << e.path();

  // remove_document drops the history with the document: a new one starts at version 1.
  const int64_t again = store.put_document("k", version_doc("a\n", basis(4, 0)));
  store.put_document("k", version_doc("b\n", basis(4, 0)));
  ASSERT_TRUE(store.remove_document("k", "/notes/plan.md"));
  const int64_t fresh = store.put_document("k", version_doc("c\n", basis(4, 0)));
  EXPECT_NE(fresh, again);
  const auto h = store.history("k", fresh);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].version, 1);
}

// ---- CLI ---------------------------------------------------------------------------------------

TEST(KbVersionsCli, HistoryDiffRestoreMetaAndWhere) {
  using inhouse::test_util::run_cli;
  TempDir dir;
  const std::string data = (dir.path() / "data").string();
  const fs::path note = dir.path() / "notes" / "plan.md";
  fs::create_directories(note.parent_path());
  auto write = [&](const std::string& text) { std::ofstream(note) << text; };
  auto cli = [&](std::vector<std::string> args) {
    args.push_back("--data-dir");
    args.push_back(data);
    return run_cli(args);
  };
  auto created = cli({"kb", "create", "k"});
  ASSERT_EQ(created.status, 0) << created.err;
  write("# Plan\n\nWe hire two people.\n");
  ASSERT_EQ(cli({"kb", "add", "k", note.string()}).status, 0);
  write("# Plan\n\nWe hire three people.\n");
  ASSERT_EQ(cli({"kb", "sync", "k"}).status, 0);

  auto r = cli({"kb", "history", "k", "plan", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto h = nlohmann::json::parse(r.out);
  ASSERT_EQ(h["versions"].size(), 2u);
  EXPECT_EQ(h["versions"][0]["version"], 2);
  EXPECT_EQ(h["versions"][0]["current"], true);
  r = cli({"kb", "history", "k", "Plan"});
  EXPECT_NE(r.out.find("2"), std::string::npos);

  r = cli({"kb", "diff", "k", "Plan"});  // previous → current
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("-We hire two people."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("+We hire three people."), std::string::npos) << r.out;
  r = cli({"kb", "diff", "k", "Plan", "2", "1"});
  EXPECT_NE(r.out.find("+We hire two people."), std::string::npos) << r.out;

  r = cli({"kb", "restore", "k", "Plan", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = cli({"kb", "search", "k", "two", "--json"});
  EXPECT_EQ(nlohmann::json::parse(r.out)["hits"].size(), 1u);
  r = cli({"kb", "restore", "k", "Plan", "9"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("no version 9"), std::string::npos) << r.err;

  r = cli({"kb", "meta", "k", "Plan", "--set", "owner=alice", "--set", "retention=2030-01-01", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["fields"]["owner"], "alice");
  r = cli({"kb", "meta", "k", "Plan", "--set", "retention=soon"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("YYYY-MM-DD"), std::string::npos) << r.err;
  r = cli({"kb", "meta", "k", "Plan", "--set", "noequals"});
  EXPECT_NE(r.status, 0);

  r = cli({"kb", "search", "k", "people", "--where", "owner=alice", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["hits"].size(), 1u);
  r = cli({"kb", "search", "k", "people", "--where", "owner=bob", "--json"});
  EXPECT_EQ(nlohmann::json::parse(r.out)["hits"].size(), 0u);
  r = cli({"kb", "meta", "k", "Plan", "--unset", "owner", "--json"});
  EXPECT_FALSE(nlohmann::json::parse(r.out)["fields"].contains("owner"));
}
