// Ingestion end to end on a small vault in a temp folder: walking (hidden folders and unknown
// formats skipped), a bad file reported while the rest continue, content-hash sync (changed,
// new, deleted files), embeddings from a deterministic fake embedder and from the bundled
// bert-tiny model, the RAG prompt and summary pieces.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>

#include "kb/kb.h"

namespace inhouse::kb {
namespace {

namespace fs = std::filesystem;

const std::string kBert = std::string(INHOUSE_TEST_DATA) + "/models/bert-tiny-q8_0.gguf";

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// Bag of hashed words, L2-normalised: texts sharing words are close. Deterministic.
class FakeEmbedder final : public Embedder {
 public:
  std::string name() const override { return "fake"; }
  int dim() const override { return 16; }
  size_t max_tokens() const override { return 512; }
  size_t count_tokens(std::string_view t) const override { return approximate_tokens(t); }
  std::vector<float> embed(std::string_view text) override {
    ++calls;
    std::vector<float> v(16, 0.f);
    std::string word;
    auto flush = [&] {
      if (!word.empty()) v[std::hash<std::string>{}(word) % 16] += 1.f;
      word.clear();
    };
    for (char c : text) {
      if (std::isalnum(static_cast<unsigned char>(c))) word += char(std::tolower(static_cast<unsigned char>(c)));
      else flush();
    }
    flush();
    float n = 0;
    for (float x : v) n += x * x;
    n = n > 0 ? std::sqrt(n) : 1.f;
    for (float& x : v) x /= n;
    return v;
  }
  int calls = 0;
};

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("inhouse_ingest_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    vault_ = root_ / "vault";
    write_file(vault_ / "Gardening.md",
               "---\ntags: [home]\n---\n# Gardening\n\nTomatoes need full sun and deep watering. See [[Compost]].\n");
    write_file(vault_ / "notes/Compost.md", "# Compost\n\nCompost turns kitchen scraps into humus for the garden.\n");
    write_file(vault_ / "web/page.html",
               "<html><head><title>Bicycle repair</title></head><body><h1>Chains</h1><p>Oil the chain "
               "every 300 km.</p></body></html>");
    write_file(vault_ / "readme.txt", "Plain text about sourdough bread and its starter.\n");
    write_file(vault_ / "broken.md", std::string("bad utf-8 \xC3\x28 here\n"));
    write_file(vault_ / ".obsidian/workspace.md", "# hidden\n\nshould never be ingested\n");
    write_file(vault_ / "image.png", "\x89PNG");
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_, vault_;
};

TEST_F(IngestTest, WalksVaultReportsBadFileAndSearchesKeywords) {
  KnowledgeStore store = KnowledgeStore::open(root_ / "data");
  store.create("notes", "", 0);
  std::vector<IngestEvent> events;
  const IngestReport r = ingest_paths(store, "notes", {vault_}, nullptr, {}, [&](const IngestEvent& e) { events.push_back(e); });
  EXPECT_EQ(r.added, 4u);
  EXPECT_EQ(r.failed, 1u);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].path.find("broken.md"), std::string::npos);
  EXPECT_FALSE(r.problems[0].message.empty());
  ASSERT_EQ(events.size(), 5u);  // hidden folder and the .png are not even counted
  EXPECT_EQ(events.back().done, 5u);
  EXPECT_EQ(events.back().total, 5u);

  const KbInfo info = store.get("notes");
  EXPECT_EQ(info.documents, 4);
  ASSERT_EQ(info.roots.size(), 1u);

  const SearchResult s = store.search("notes", {.text = "chain", .embedding = {}, .k = 5, .mode = SearchMode::Hybrid});
  ASSERT_FALSE(s.hits.empty());
  EXPECT_EQ(s.hits[0].title, "Bicycle repair");
  EXPECT_EQ(s.mode_used, SearchMode::Keyword);
  EXPECT_FALSE(s.note.empty());  // says why it fell back

  const NoteLinks links = store.links("notes", "Compost");
  ASSERT_EQ(links.backlinks.size(), 1u);
  EXPECT_EQ(links.backlinks[0].from_title, "Gardening");
}

TEST_F(IngestTest, SyncReingestsOnlyChangedFilesAndDropsDeletedOnes) {
  KnowledgeStore store = KnowledgeStore::open(root_ / "data");
  store.create("notes", "", 0);
  ingest_paths(store, "notes", {vault_}, nullptr, {});

  IngestReport again = sync_kb(store, "notes", nullptr, {});
  EXPECT_EQ(again.unchanged, 4u);
  EXPECT_EQ(again.added + again.updated + again.removed, 0u);

  write_file(vault_ / "readme.txt", "Plain text about rye bread now.\n");
  write_file(vault_ / "new.md", "# New\n\nA new note about kayaks.\n");
  fs::remove(vault_ / "web/page.html");
  const IngestReport r = sync_kb(store, "notes", nullptr, {});
  EXPECT_EQ(r.updated, 1u);
  EXPECT_EQ(r.added, 1u);
  EXPECT_EQ(r.removed, 1u);
  EXPECT_EQ(r.unchanged, 2u);
  EXPECT_EQ(store.get("notes").documents, 4);
  EXPECT_TRUE(store.search("notes", {.text = "kayaks", .embedding = {}, .k = 5, .mode = SearchMode::Keyword}).hits.size() == 1);
  EXPECT_TRUE(store.search("notes", {.text = "sourdough", .embedding = {}, .k = 5, .mode = SearchMode::Keyword}).hits.empty());
  EXPECT_TRUE(store.search("notes", {.text = "chain", .embedding = {}, .k = 5, .mode = SearchMode::Keyword}).hits.empty());
}

TEST_F(IngestTest, EmbedsChunksWithTheirContextAndSearchesVectors) {
  KnowledgeStore store = KnowledgeStore::open(root_ / "data");
  FakeEmbedder fake;
  store.create("notes", fake.name(), fake.dim());
  const IngestReport r = ingest_paths(store, "notes", {vault_}, &fake, {});
  EXPECT_EQ(r.added, 4u);
  EXPECT_EQ(fake.calls, int(r.chunks));

  SearchQuery q{.text = "kitchen scraps humus", .embedding = fake.embed("kitchen scraps humus"), .k = 3,
                .mode = SearchMode::Vector};
  const SearchResult s = store.search("notes", q);
  ASSERT_FALSE(s.hits.empty());
  EXPECT_EQ(s.hits[0].title, "Compost");
  EXPECT_TRUE(s.hits[0].vector_rank.has_value());

  // A keyword-only embedder (none) on a kb with vectors is refused, not silently mixed.
  EXPECT_THROW(ingest_paths(store, "notes", {vault_}, nullptr, {}), Error);
}

TEST_F(IngestTest, BertTinyEmbeddingsAreStoredAndFound) {
  if (!fs::exists(kBert)) GTEST_SKIP() << "no " << kBert;
  std::unique_ptr<Embedder> bert = open_gguf_embedder(kBert, 1);
  EXPECT_EQ(bert->dim(), 64);
  KnowledgeStore store = KnowledgeStore::open(root_ / "data");
  store.create("notes", bert->name(), bert->dim());
  const IngestReport r = ingest_paths(store, "notes", {vault_ / "notes"}, bert.get(), {});
  EXPECT_EQ(r.added, 1u);
  const std::vector<float> e = bert->embed("Compost turns kitchen scraps into humus for the garden.");
  float norm = 0;
  for (float x : e) norm += x * x;
  EXPECT_NEAR(norm, 1.f, 1e-4);
  const SearchResult s = store.search("notes", {.text = "compost", .embedding = e, .k = 3, .mode = SearchMode::Hybrid});
  ASSERT_FALSE(s.hits.empty());
  EXPECT_EQ(s.mode_used, SearchMode::Hybrid);
  EXPECT_EQ(s.hits[0].title, "Compost");

  // A long text is truncated to the model's context, not refused.
  std::string longtext;
  for (int i = 0; i < 2000; ++i) longtext += "word ";
  EXPECT_EQ(bert->embed(longtext).size(), 64u);
}

TEST(ContentHash, IsBlake2b256) {
  EXPECT_EQ(content_hash(""), "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  EXPECT_NE(content_hash("a"), content_hash("b"));
}

TEST(ApproximateTokens, CountsWordsAndCjkCharacters) {
  EXPECT_EQ(approximate_tokens(""), 0u);
  EXPECT_EQ(approximate_tokens("hello  world\n"), 2u);
  EXPECT_EQ(approximate_tokens("我们使用 vector 数据库"), 8u);  // 4 + 1 + 3
  EXPECT_EQ(approximate_tokens(std::string("\xFF\xFE x")), 2u);  // invalid bytes still count, no crash
}

TEST(RagPrompt, NumbersSourcesAndTellsTheModelWhenToSayItDoesNotKnow) {
  std::vector<Source> sources = {
      {.number = 1, .path = "/a.md", .title = "A", .headings = {"H"}, .chunk_id = 1, .text = "alpha text", .linked = false},
      {.number = 2, .path = "/b.md", .title = "B", .headings = {}, .chunk_id = 2, .text = "beta text", .linked = true}};
  const RagPrompt p = build_rag_prompt("what is alpha?", sources);
  ASSERT_EQ(p.messages.size(), 2u);
  const std::string system = p.messages[0]["content"], user = p.messages[1]["content"];
  EXPECT_NE(system.find(std::string(kNoAnswer)), std::string::npos);
  EXPECT_NE(system.find("[1]"), std::string::npos);
  EXPECT_NE(user.find("[1] A > H\nalpha text"), std::string::npos);
  EXPECT_NE(user.find("[2] B (linked note)\nbeta text"), std::string::npos);
  EXPECT_NE(user.find("Question: what is alpha?"), std::string::npos);
}

TEST(CitedSources, FindsBracketedNumbersInOrderOnce) {
  EXPECT_EQ(cited_sources("Grind fine [2]. Steam milk [1, 3] and [2][4].", 3), (std::vector<int>{2, 1, 3}));
  EXPECT_TRUE(cited_sources("no citations, [a] [] [0] [99999999999] [1", 5).empty());
  EXPECT_EQ(cited_sources("[[1]] nested", 2), (std::vector<int>{1}));
}

TEST(SummaryPieces, PacksChunksUpToTheBudget) {
  std::vector<StoredChunk> chunks;
  for (int i = 0; i < 5; ++i) chunks.push_back({.id = i, .document_id = 1, .ordinal = i, .headings = {}, .text = "one two three"});
  const auto pieces = summary_pieces(chunks, 7, approximate_tokens);
  ASSERT_EQ(pieces.size(), 3u);  // 2 + 2 + 1 chunks of 3 tokens
  EXPECT_EQ(pieces[0], "one two three\n\none two three");
  EXPECT_TRUE(summary_pieces({}, 7, approximate_tokens).empty());
  const auto m = summary_messages("Note", "text", true);
  EXPECT_NE(std::string(m[1]["content"]).find("Partial summaries"), std::string::npos);
}

TEST_F(IngestTest, RetrievalPullsInLinkedNotes) {
  KnowledgeStore store = KnowledgeStore::open(root_ / "data");
  store.create("notes", "", 0);
  ingest_paths(store, "notes", {vault_}, nullptr, {});
  const SearchQuery q{.text = "tomatoes", .embedding = {}, .k = 1, .mode = SearchMode::Keyword};
  const auto without = retrieve_sources(store, "notes", q, false, 1000, approximate_tokens);
  ASSERT_EQ(without.size(), 1u);
  EXPECT_EQ(without[0].title, "Gardening");
  const auto with = retrieve_sources(store, "notes", q, true, 1000, approximate_tokens);
  ASSERT_EQ(with.size(), 2u);
  EXPECT_EQ(with[1].title, "Compost");
  EXPECT_TRUE(with[1].linked);
  EXPECT_EQ(with[1].number, 2);
  // The budget keeps at least the best source and drops what does not fit.
  EXPECT_EQ(retrieve_sources(store, "notes", q, true, 1, approximate_tokens).size(), 1u);
}

}  // namespace
}  // namespace inhouse::kb
