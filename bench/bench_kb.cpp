// bench_kb — knowledge-store search latency, ANN recall and insert throughput.
//
// Data: N chunks (10k, 100k) in documents of 20 chunks; each chunk is 40 words drawn (Zipf) from
// a synthetic 5,000-word list; embeddings are random unit vectors of dim 384 (or
// $INHOUSE_BENCH_KB_DIM), the worst case for HNSW: no cluster structure. Queries: 200 per benchmark; vector queries are stored vectors
// plus noise (cosine ~0.7 to their source), keyword queries two words, hybrid both.
//
// Each benchmark runs once (Iterations(1)) and times every query by hand: counters p50_us and
// p99_us are per-query latencies through KnowledgeStore::search (index + SQLite hydration +
// snippets). recall@10 compares HNSW's top 10 with exact search (IndexFlatIP) on the same
// vectors. BM_Insert reports chunks/s of put_document (SQLite + FTS5 + embeddings, one
// transaction per document, synchronous=FULL) with the flat index; BM_HnswBuild the time to
// build HNSW over all vectors from SQLite.
//
// BM_Filtered<kind>/N/P: the same queries restricted to a random P% of the documents (an
// access-control allow-list, SearchQuery::documents); compare p50_us with BM_Search's.
//
//   build-*/bench/bench_kb --benchmark_filter='/10000'      # one size
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "kb/kb.h"

namespace fs = std::filesystem;
using namespace inhouse::kb;

namespace {

// INHOUSE_BENCH_KB_DIM overrides (e.g. 64: HNSW builds ~6x faster on a busy 2-core machine).
const int kDim = [] {
  const char* e = std::getenv("INHOUSE_BENCH_KB_DIM");
  return e && std::atoi(e) > 0 ? std::atoi(e) : 384;
}();
constexpr int kChunksPerDoc = 20;
constexpr int kWordsPerChunk = 40;
constexpr int kQueries = 200;

StoreOptions hnsw_options() {
  StoreOptions o;
  o.hnsw_threshold = 0;  // always HNSW
  return o;              // M, efConstruction, efSearch: the store's defaults
}

StoreOptions flat_options() {
  StoreOptions o;
  o.hnsw_threshold = size_t(1) << 40;  // never HNSW
  return o;
}

std::vector<std::string> word_list() {
  static const char* syl[] = {"ka", "lo", "mi", "ter", "san", "vo", "ri", "pel", "du", "nex",
                              "ra", "qua", "zen", "bo", "li", "mar", "tis", "ok", "fe", "gun"};
  std::vector<std::string> words;
  std::mt19937 rng(7);
  std::set<std::string> seen;
  while (words.size() < 5000) {
    std::string w;
    for (int n = 2 + int(rng() % 3); n > 0; --n) w += syl[rng() % 20];
    if (seen.insert(w).second) words.push_back(w);
  }
  return words;
}

std::vector<float> random_unit(std::mt19937& rng) {
  std::normal_distribution<float> nd;
  std::vector<float> v(kDim);
  double n = 0;
  for (float& x : v) n += double(x = nd(rng)) * x;
  for (float& x : v) x = float(x / std::sqrt(n));
  return v;
}

struct Dataset {
  fs::path dir;
  std::vector<std::string> words;
  std::vector<std::vector<float>> query_vectors;
  std::vector<std::string> query_texts;
  std::unique_ptr<KnowledgeStore> flat, hnsw;
  std::vector<std::vector<int64_t>> exact_top10;  // per query, from the flat index
  double insert_seconds = 0, hnsw_build_seconds = 0;
  ~Dataset() {
    flat.reset();
    hnsw.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

std::map<int, std::unique_ptr<Dataset>>& datasets() {
  static std::map<int, std::unique_ptr<Dataset>> d;
  return d;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Inserts n chunks (timed), then opens the same data directory twice: flat and HNSW indexes.
Dataset& dataset(int n) {
  auto& slot = datasets()[n];
  if (slot) return *slot;
  slot = std::make_unique<Dataset>();
  Dataset& d = *slot;
  d.dir = fs::temp_directory_path() / ("inhouse-bench-kb-" + std::to_string(::getpid()) + "-" + std::to_string(n));
  fs::remove_all(d.dir);
  d.words = word_list();
  std::mt19937 rng(n);
  // Zipf-ish word choice: index = floor(5000^u) - 1 for uniform u.
  std::uniform_real_distribution<double> u(0, 1);
  auto word = [&] { return d.words[size_t(std::pow(double(d.words.size()), u(rng))) - 1]; };
  std::vector<std::vector<float>> vectors;
  vectors.reserve(size_t(n));
  {
    auto store = KnowledgeStore::open(d.dir, flat_options());
    store.create("bench", "random-384", kDim);
    const auto t = std::chrono::steady_clock::now();
    for (int doc = 0; doc * kChunksPerDoc < n; ++doc) {
      DocumentInput in;
      in.path = "/bench/doc" + std::to_string(doc) + ".md";
      in.title = word() + " " + word();
      for (int c = 0; c < kChunksPerDoc && doc * kChunksPerDoc + c < n; ++c) {
        ChunkInput ch;
        for (int w = 0; w < kWordsPerChunk; ++w) ch.text += (w ? " " : "") + word();
        ch.embedding = random_unit(rng);
        vectors.push_back(ch.embedding);
        in.chunks.push_back(std::move(ch));
      }
      store.put_document("bench", in);
    }
    store.flush();
    d.insert_seconds = seconds_since(t);
  }
  std::normal_distribution<float> noise(0, 1.0f / std::sqrt(float(kDim)));
  for (int q = 0; q < kQueries; ++q) {
    std::vector<float> v = vectors[rng() % vectors.size()];
    double norm = 0;
    for (float& x : v) norm += double(x += noise(rng)) * x;
    for (float& x : v) x = float(x / std::sqrt(norm));
    d.query_vectors.push_back(std::move(v));
    d.query_texts.push_back(word() + " " + word());
  }
  fs::remove(d.dir / "kb" / "1.faiss");
  d.flat = std::make_unique<KnowledgeStore>(KnowledgeStore::open(d.dir, flat_options()));
  d.flat->vector_index_info("bench");  // builds the flat index
  for (const auto& q : d.query_vectors) {
    SearchQuery s;
    s.embedding = q;
    s.mode = SearchMode::Vector;
    std::vector<int64_t> ids;
    for (const auto& h : d.flat->search("bench", s).hits) ids.push_back(h.chunk.id);
    d.exact_top10.push_back(ids);
  }
  return d;
}

// The same data with an HNSW index (built on first use, timed).
Dataset& dataset_with_hnsw(int n) {
  Dataset& d = dataset(n);
  if (d.hnsw) return d;
  // The flat store saved nothing yet (its index is dirty): remove the file so the HNSW store
  // builds its own.
  fs::remove(d.dir / "kb" / "1.faiss");
  d.hnsw = std::make_unique<KnowledgeStore>(KnowledgeStore::open(d.dir, hnsw_options()));
  const auto t = std::chrono::steady_clock::now();
  const auto info = d.hnsw->vector_index_info("bench");
  d.hnsw_build_seconds = seconds_since(t);
  if (info.kind != "hnsw" || info.vectors != n) std::abort();
  d.hnsw->flush();  // BM_HnswEfSearch loads this file with other efSearch settings
  return d;
}

double recall_at_10(const Dataset& d, size_t q, const SearchResult& r) {
  const auto& exact = d.exact_top10[q];
  size_t found = 0;
  for (const auto& h : r.hits) found += size_t(std::count(exact.begin(), exact.end(), h.chunk.id));
  return double(found) / double(exact.size());
}

void report(benchmark::State& state, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
}

void BM_Insert(benchmark::State& state) {
  const int n = int(state.range(0));
  for (auto _ : state) {
    datasets().erase(n);
    Dataset& d = dataset(n);
    state.SetIterationTime(d.insert_seconds);
    state.counters["chunks_per_s"] = n / d.insert_seconds;
  }
}

void BM_HnswBuild(benchmark::State& state) {
  Dataset& d = dataset_with_hnsw(int(state.range(0)));
  for (auto _ : state) state.SetIterationTime(d.hnsw_build_seconds);
}

enum class Kind { VectorFlat, VectorHnsw, Keyword, HybridFlat, HybridHnsw };

bool uses_hnsw(Kind kind) { return kind == Kind::VectorHnsw || kind == Kind::HybridHnsw; }

// Query q of the dataset as `kind` searches it (top 10).
SearchQuery bench_query(const Dataset& d, Kind kind, int q) {
  const bool vector_only = kind == Kind::VectorFlat || kind == Kind::VectorHnsw;
  SearchQuery s;
  if (kind != Kind::Keyword) s.embedding = d.query_vectors[size_t(q)];
  if (!vector_only) s.text = d.query_texts[size_t(q)];
  s.mode = kind == Kind::Keyword ? SearchMode::Keyword : vector_only ? SearchMode::Vector : SearchMode::Hybrid;
  return s;
}

// One timed pass: queries 0..kQueries-1 (query(q)) in order, each search timed on its own, then
// seen(q, query, result); reports the latency percentiles and sets the iteration time.
template <class Query, class Seen>
void timed_queries(benchmark::State& state, KnowledgeStore& store, Query&& query, Seen&& seen) {
  std::vector<double> us;
  const auto all = std::chrono::steady_clock::now();
  for (int q = 0; q < kQueries; ++q) {
    const SearchQuery s = query(q);
    const auto t = std::chrono::steady_clock::now();
    const SearchResult r = store.search("bench", s);
    us.push_back(seconds_since(t) * 1e6);
    seen(q, s, r);
  }
  state.SetIterationTime(seconds_since(all));
  report(state, us);
}

template <Kind kind>
void BM_Search(benchmark::State& state) {
  Dataset& d = uses_hnsw(kind) ? dataset_with_hnsw(int(state.range(0))) : dataset(int(state.range(0)));
  KnowledgeStore& store = uses_hnsw(kind) ? *d.hnsw : *d.flat;
  for (auto _ : state) {
    double recall = 0;
    timed_queries(state, store, [&](int q) { return bench_query(d, kind, q); },
                  [&](int q, const SearchQuery&, const SearchResult& r) {
                    benchmark::DoNotOptimize(r);
                    if (kind == Kind::VectorHnsw) recall += recall_at_10(d, size_t(q), r);
                  });
    if (kind == Kind::VectorHnsw) state.counters["recall_at_10"] = recall / kQueries;
  }
}

// Vector search on the same HNSW graph (loaded from the saved file) with efSearch = range(1).
void BM_HnswEfSearch(benchmark::State& state) {
  Dataset& d = dataset_with_hnsw(int(state.range(0)));
  StoreOptions o = hnsw_options();
  o.hnsw_ef_search = int(state.range(1));
  auto store = KnowledgeStore::open(d.dir, o);
  const auto info = store.vector_index_info("bench");
  if (info.kind != "hnsw" || info.rebuilt) std::abort();
  for (auto _ : state) {
    double recall = 0;
    timed_queries(state, store, [&](int q) { return bench_query(d, Kind::VectorHnsw, q); },
                  [&](int q, const SearchQuery&, const SearchResult& r) { recall += recall_at_10(d, size_t(q), r); });
    state.counters["recall_at_10"] = recall / kQueries;
  }
}

// Searches with an allow-list of range(1) percent of the documents (random, fixed per size).
template <Kind kind>
void BM_Filtered(benchmark::State& state) {
  const int n = int(state.range(0));
  Dataset& d = uses_hnsw(kind) ? dataset_with_hnsw(n) : dataset(n);
  KnowledgeStore& store = uses_hnsw(kind) ? *d.hnsw : *d.flat;
  std::vector<int64_t> ids;
  for (const DocumentInfo& doc : store.documents("bench")) ids.push_back(doc.id);
  std::mt19937 rng(11);
  std::shuffle(ids.begin(), ids.end(), rng);
  ids.resize(std::max<size_t>(1, ids.size() * size_t(state.range(1)) / 100));
  const DocumentIds allowed(ids.begin(), ids.end());
  for (auto _ : state) {
    size_t short_results = 0;
    auto query = [&](int q) {
      SearchQuery s = bench_query(d, kind, q);
      s.documents = allowed;
      return s;
    };
    timed_queries(state, store, query, [&](int, const SearchQuery& s, const SearchResult& r) {
      for (const auto& h : r.hits)
        if (!allowed.count(h.chunk.document_id)) std::abort();  // a leak
      if (kind != Kind::Keyword && r.hits.size() < s.k) ++short_results;
    });
    state.counters["short_results"] = double(short_results);  // vector kinds: must be 0
  }
}

#define KB_FILTER_BENCH(b) \
  BENCHMARK(b)->ArgsProduct({{10000, 100000}, {1, 10, 50, 90}})->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond)

#define KB_BENCH(b) BENCHMARK(b)->Arg(10000)->Arg(100000)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond)
KB_BENCH(BM_Insert);
KB_BENCH(BM_Search<Kind::VectorFlat>);
KB_BENCH(BM_Search<Kind::Keyword>);
KB_BENCH(BM_Search<Kind::HybridFlat>);
KB_BENCH(BM_HnswBuild);
KB_BENCH(BM_Search<Kind::VectorHnsw>);
KB_BENCH(BM_Search<Kind::HybridHnsw>);
BENCHMARK(BM_HnswEfSearch)
    ->ArgsProduct({{10000, 100000}, {32, 64, 128, 256, 512}})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

KB_FILTER_BENCH(BM_Filtered<Kind::VectorFlat>);
KB_FILTER_BENCH(BM_Filtered<Kind::VectorHnsw>);
KB_FILTER_BENCH(BM_Filtered<Kind::Keyword>);
KB_FILTER_BENCH(BM_Filtered<Kind::HybridHnsw>);

}  // namespace

BENCHMARK_MAIN();
