// Tests for filtered retrieval (access control): document allow-lists and `where` metadata
// filters in keyword, vector and hybrid search (randomised against brute force, flat and HNSW
// indexes), link graphs and RAG sources that hide documents outside an allow-list.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>

#include "kb/kb.h"
#include "kb/kb_test_util.h"

namespace fs = std::filesystem;
using namespace inhouse::kb;

namespace {

using inhouse::kb::test::TempDir;
using inhouse::kb::test::basis;

std::vector<float> random_unit(int dim, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  std::vector<float> v(static_cast<size_t>(dim));
  double n = 0;
  for (float& x : v) {
    x = nd(rng);
    n += double(x) * x;
  }
  for (float& x : v) x = float(x / std::sqrt(n));
  return v;
}

DocumentInput simple_doc(const std::string& path, const std::string& title, const std::string& text) {
  DocumentInput d;
  d.path = path;
  d.title = title;
  d.format = Format::Markdown;
  d.content_hash = "h-" + path + text;
  d.size = int64_t(text.size());
  d.chunks.push_back(ChunkInput{{}, text, approximate_tokens(text), {}});
  return d;
}

struct Corpus {
  static constexpr int kDim = 16, kDocs = 240, kChunksPerDoc = 2;
  std::vector<int64_t> doc_ids;
  std::map<int64_t, std::vector<float>> chunk_vectors;  // by chunk id
  std::map<int64_t, int64_t> chunk_doc;                 // chunk id → document id
};

Corpus fill(KnowledgeStore& store, std::mt19937& rng) {
  Corpus c;
  store.create("k", "test-model", Corpus::kDim);
  for (int d = 0; d < Corpus::kDocs; ++d) {
    DocumentInput in;
    in.path = "/n/" + std::to_string(d) + ".md";
    in.title = "Note " + std::to_string(d);
    in.content_hash = "h" + std::to_string(d);
    for (int i = 0; i < Corpus::kChunksPerDoc; ++i) {
      // Every chunk has "alpha"; "group<g>" narrows it.
      const std::string text = "alpha text group" + std::to_string(d % 7) + " piece" + std::to_string(i);
      in.chunks.push_back(ChunkInput{{}, text, 4, random_unit(Corpus::kDim, rng)});
    }
    const int64_t id = store.put_document("k", in);
    c.doc_ids.push_back(id);
    const auto chunks = store.chunks("k", id);
    for (size_t i = 0; i < chunks.size(); ++i) {
      c.chunk_vectors[chunks[i].id] = in.chunks[i].embedding;
      c.chunk_doc[chunks[i].id] = id;
    }
  }
  return c;
}

// Brute force: the k allowed chunks with the highest inner product.
std::vector<int64_t> exact_top(const Corpus& c, const DocumentIds& allowed, const std::vector<float>& q, size_t k) {
  std::vector<std::pair<float, int64_t>> scored;
  for (const auto& [id, v] : c.chunk_vectors) {
    if (!allowed.count(c.chunk_doc.at(id))) continue;
    float s = 0;
    for (size_t i = 0; i < v.size(); ++i) s += v[i] * q[i];
    scored.emplace_back(s, id);
  }
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<int64_t> out;
  for (size_t i = 0; i < scored.size() && i < k; ++i) out.push_back(scored[i].second);
  return out;
}

void check_random_filters(const StoreOptions& options, bool exact_expected) {
  TempDir dir;
  std::mt19937 rng(7);
  auto store = KnowledgeStore::open(dir.path(), options);
  const Corpus c = fill(store, rng);
  const bool hnsw = store.vector_index_info("k").kind == "hnsw";
  EXPECT_EQ(hnsw, !exact_expected);
  for (int trial = 0; trial < 40; ++trial) {
    // Allow-lists from a single document up to nearly all of them.
    const size_t sizes[] = {1, 3, 10, 40, 120, 230};
    const size_t n_allowed = sizes[size_t(trial) % 6];
    std::vector<int64_t> shuffled = c.doc_ids;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    DocumentIds allowed(shuffled.begin(), shuffled.begin() + std::ptrdiff_t(n_allowed));
    const std::vector<float> q = random_unit(Corpus::kDim, rng);
    const size_t k = trial % 2 ? 10 : 25;
    const size_t expect_n = std::min(k, allowed.size() * Corpus::kChunksPerDoc);

    for (SearchMode mode : {SearchMode::Vector, SearchMode::Keyword, SearchMode::Hybrid}) {
      SearchQuery query;
      query.text = "alpha";
      query.embedding = q;
      query.k = k;
      query.mode = mode;
      query.documents = allowed;
      const SearchResult r = store.search("k", query);
      SCOPED_TRACE(std::string(search_mode_name(mode)) + " trial " + std::to_string(trial));
      for (const SearchHit& h : r.hits) ASSERT_TRUE(allowed.count(h.chunk.document_id)) << h.path << " leaked";
      EXPECT_EQ(r.hits.size(), expect_n);  // still k hits when k exist
      if (mode == SearchMode::Vector) {
        const std::vector<int64_t> want = exact_top(c, allowed, q, k);
        size_t found = 0;
        for (const SearchHit& h : r.hits) found += std::count(want.begin(), want.end(), h.chunk.id);
        if (exact_expected)
          EXPECT_EQ(found, want.size());
        else
          EXPECT_GE(double(found), 0.9 * double(want.size()));
      }
    }
  }
  // An empty allow-list: nothing, in every mode.
  SearchQuery none;
  none.text = "alpha";
  none.documents = DocumentIds{};
  EXPECT_TRUE(store.search("k", none).hits.empty());
  // An allow-list naming documents of nothing (ids that do not exist): nothing.
  none.documents = DocumentIds{999999};
  EXPECT_TRUE(store.search("k", none).hits.empty());
}

}  // namespace

TEST(KbFilter, RandomAllowListsNeverLeakAndStillFindKFlat) {
  check_random_filters(StoreOptions{}, true);
}

TEST(KbFilter, RandomAllowListsNeverLeakAndStillFindKHnsw) {
  StoreOptions o;
  o.hnsw_threshold = 64;  // 480 vectors: HNSW
  o.hnsw_ef_search = 64;
  o.exact_filter_limit = 16;  // allow-lists of 1 or 3 documents scan, larger ones walk the graph
  check_random_filters(o, false);
}

TEST(KbFilter, UnfilteredSearchIsUnchanged) {
  TempDir dir;
  std::mt19937 rng(3);
  auto store = KnowledgeStore::open(dir.path());
  const Corpus c = fill(store, rng);
  const std::vector<float> q = random_unit(Corpus::kDim, rng);
  SearchQuery plain;
  plain.embedding = q;
  plain.mode = SearchMode::Vector;
  plain.k = 10;
  SearchQuery all = plain;
  all.documents = DocumentIds(c.doc_ids.begin(), c.doc_ids.end());
  const SearchResult a = store.search("k", plain), b = store.search("k", all);
  ASSERT_EQ(a.hits.size(), b.hits.size());
  for (size_t i = 0; i < a.hits.size(); ++i) EXPECT_EQ(a.hits[i].chunk.id, b.hits[i].chunk.id);
}

TEST(KbFilter, WhereMatchesFieldsThenMetadata) {
  TempDir dir;
  auto store = KnowledgeStore::open(dir.path());
  store.create("k", "", 0);
  auto put = [&](const std::string& name, nlohmann::json metadata) {
    DocumentInput d = simple_doc("/" + name + ".md", name, "quarterly report " + name);
    d.metadata = std::move(metadata);
    return store.put_document("k", d);
  };
  const int64_t fin = put("fin", {{"department", "finance"}, {"tags", {"q1", "budget"}}, {"year", 2024}, {"public", false}});
  const int64_t hr = put("hr", {{"department", "hr"}, {"year", 2023}, {"public", true}});
  const int64_t moved = put("moved", {{"department", "finance"}});
  const int64_t bare = put("bare", nlohmann::json::object());
  // A custom field wins over the metadata key of the same name.
  store.set_fields("k", moved, {{"department", "legal"}});
  store.set_fields("k", bare, {{"department", "finance"}});

  auto hits = [&](std::map<std::string, std::string> where, std::optional<DocumentIds> docs = std::nullopt) {
    SearchQuery q;
    q.text = "quarterly report";
    q.mode = SearchMode::Keyword;
    q.where = std::move(where);
    q.documents = std::move(docs);
    std::set<int64_t> out;
    for (const auto& h : store.search("k", q).hits) out.insert(h.chunk.document_id);
    return out;
  };
  EXPECT_EQ(hits({{"department", "finance"}}), (std::set<int64_t>{fin, bare}));
  EXPECT_EQ(hits({{"department", "legal"}}), (std::set<int64_t>{moved}));
  EXPECT_EQ(hits({{"tags", "budget"}}), (std::set<int64_t>{fin}));  // a list contains it
  EXPECT_EQ(hits({{"year", "2023"}}), (std::set<int64_t>{hr}));      // numbers as text
  EXPECT_EQ(hits({{"public", "true"}}), (std::set<int64_t>{hr}));    // bools as text
  EXPECT_EQ(hits({{"department", "finance"}, {"year", "2024"}}), (std::set<int64_t>{fin}));  // all must match
  EXPECT_TRUE(hits({{"department", "nobody"}}).empty());
  EXPECT_TRUE(hits({{"no-such-key", "x"}}).empty());
  // where and an allow-list together: the intersection.
  EXPECT_EQ(hits({{"department", "finance"}}, DocumentIds{bare, hr}), (std::set<int64_t>{bare}));
  // The same sets through allowed_documents and the documents() overload.
  const auto allowed = store.allowed_documents("k", std::nullopt, {{"department", "finance"}});
  ASSERT_TRUE(allowed);
  EXPECT_EQ(std::set<int64_t>(allowed->begin(), allowed->end()), (std::set<int64_t>{fin, bare}));
  EXPECT_FALSE(store.allowed_documents("k", std::nullopt, {}));
  EXPECT_EQ(store.documents("k", allowed).size(), 2u);
  EXPECT_EQ(store.documents("k", std::nullopt).size(), 4u);
}

TEST(KbFilter, LinksHideDocumentsOutsideTheAllowList) {
  TempDir dir;
  auto store = KnowledgeStore::open(dir.path());
  store.create("k", "", 0);
  DocumentInput a = simple_doc("/a.md", "Alpha", "see beta");
  a.links = {Link{"Beta", "", ""}};
  DocumentInput b = simple_doc("/b.md", "Beta", "salaries");
  DocumentInput c = simple_doc("/c.md", "Gamma", "see alpha");
  c.links = {Link{"Alpha", "", ""}};
  const int64_t ia = store.put_document("k", a);
  const int64_t ib = store.put_document("k", b);
  store.put_document("k", c);

  const NoteLinks all = store.links("k", "Alpha");
  ASSERT_EQ(all.outgoing.size(), 1u);
  EXPECT_EQ(all.outgoing[0].resolved, ib);
  EXPECT_EQ(all.backlinks.size(), 1u);

  const NoteLinks only_a = store.links("k", "Alpha", DocumentIds{ia});
  ASSERT_EQ(only_a.outgoing.size(), 1u);  // the link text is part of Alpha...
  EXPECT_FALSE(only_a.outgoing[0].resolved);  // ...but Beta's existence is not shown
  EXPECT_TRUE(only_a.outgoing[0].to_path.empty());
  EXPECT_TRUE(only_a.backlinks.empty());  // Gamma is hidden
  // A hidden note is as absent as a missing one, by title or by path.
  EXPECT_THROW(store.links("k", "Beta", DocumentIds{ia}), Error);
  EXPECT_THROW(store.links("k", "/b.md", DocumentIds{ia}), Error);
  // Beta may see Alpha's link to it only when Alpha is allowed too.
  EXPECT_EQ(store.links("k", "Beta", DocumentIds{ib}).backlinks.size(), 0u);
  EXPECT_EQ(store.links("k", "Beta", DocumentIds{ia, ib}).backlinks.size(), 1u);
}

TEST(KbFilter, RetrieveSourcesSkipsLinkedNotesOutsideTheFilter) {
  TempDir dir;
  auto store = KnowledgeStore::open(dir.path());
  store.create("k", "", 0);
  DocumentInput a = simple_doc("/a.md", "Budget", "the budget is described in the secret plan");
  a.links = {Link{"Secret plan", "", ""}, Link{"Public plan", "", ""}};
  const int64_t ia = store.put_document("k", a);
  const int64_t secret = store.put_document("k", simple_doc("/s.md", "Secret plan", "layoffs in march"));
  const int64_t pub = store.put_document("k", simple_doc("/p.md", "Public plan", "new office in may"));

  SearchQuery q;
  q.text = "budget";
  q.mode = SearchMode::Keyword;
  auto linked = [&](const SearchQuery& query) {
    std::set<std::string> out;
    for (const Source& s : retrieve_sources(store, "k", query, true, 4096, approximate_tokens))
      if (s.linked) out.insert(s.path);
    return out;
  };
  EXPECT_EQ(linked(q), (std::set<std::string>{"/s.md", "/p.md"}));
  q.documents = DocumentIds{ia, pub};
  EXPECT_EQ(linked(q), (std::set<std::string>{"/p.md"}));
  // The same through a where filter.
  store.set_fields("k", ia, {{"sensitivity", "low"}});
  store.set_fields("k", pub, {{"sensitivity", "low"}});
  store.set_fields("k", secret, {{"sensitivity", "high"}});
  q.documents.reset();
  q.where = {{"sensitivity", "low"}};
  EXPECT_EQ(linked(q), (std::set<std::string>{"/p.md"}));
}
