// kb/vector_index.cpp — a kb's chunk vectors in FAISS. Vectors are L2-normalised, so inner
// product is cosine similarity. IndexIDMap2 maps FAISS positions to chunk ids (and keeps a
// reverse map, which remove and the tombstone check use). Small collections use IndexFlatIP:
// exact, removable, no build cost. Past StoreOptions::hnsw_threshold vectors, IndexHNSWFlat
// (inner-product metric) keeps queries fast; it cannot remove vectors, so removed ids are
// tombstones that search skips (asking FAISS for k + tombstones results) until the store
// rebuilds the index from SQLite, which it does once tombstones reach a quarter of the live ones
// (or the index shrank under half the threshold: then it becomes flat again).
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "kb/kb_internal.h"

namespace inhouse::kb::detail {

struct VectorIndex::Faiss {
  std::unique_ptr<faiss::IndexIDMap2> map;
};

namespace {

constexpr char kMagic[8] = {'I', 'H', 'K', 'B', 'V', 'E', 'C', '1'};

faiss::IndexHNSWFlat* as_hnsw(faiss::IndexIDMap2& map) { return dynamic_cast<faiss::IndexHNSWFlat*>(map.index); }

}  // namespace

uint64_t hash_bytes(const uint8_t* p, size_t n) {
  // FNV-1a over 8-byte words with a final mix: fast enough for hundreds of MB.
  uint64_t h = 0xcbf29ce484222325ull ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

VectorIndex::~VectorIndex() = default;

std::unique_ptr<VectorIndex> VectorIndex::build(int dim, const StoreOptions& options, const std::vector<int64_t>& ids,
                                                const std::vector<float>& vectors) {
  std::unique_ptr<VectorIndex> vi(new VectorIndex());
  vi->dim_ = dim;
  vi->options_ = options;
  vi->hnsw_ = ids.size() > options.hnsw_threshold;
  faiss::Index* inner = nullptr;
  if (vi->hnsw_) {
    auto* h = new faiss::IndexHNSWFlat(dim, std::max(2, options.hnsw_m), faiss::METRIC_INNER_PRODUCT);
    h->hnsw.efConstruction = std::max(1, options.hnsw_ef_construction);
    h->hnsw.efSearch = std::max(1, options.hnsw_ef_search);
    inner = h;
  } else {
    inner = new faiss::IndexFlatIP(dim);
  }
  vi->index_ = std::make_unique<Faiss>();
  vi->index_->map = std::make_unique<faiss::IndexIDMap2>(inner);
  vi->index_->map->own_fields = true;
  vi->add(ids, vectors);
  return vi;
}

void VectorIndex::add(const std::vector<int64_t>& ids, const std::vector<float>& vectors) {
  if (ids.empty()) return;
  if (vectors.size() != ids.size() * size_t(dim_)) throw std::invalid_argument("vector index: size mismatch");
  index_->map->add_with_ids(faiss::Index::idx_t(ids.size()), vectors.data(), ids.data());
}

void VectorIndex::remove(const std::vector<int64_t>& ids) {
  if (ids.empty()) return;
  faiss::IndexIDMap2& map = *index_->map;
  if (!hnsw_) {
    faiss::IDSelectorBatch sel(ids.size(), ids.data());
    map.remove_ids(sel);
    return;
  }
  for (int64_t id : ids)
    if (map.rev_map.count(id)) tombstones_.insert(id);
}

int64_t VectorIndex::live() const { return int64_t(index_->map->ntotal) - int64_t(tombstones_.size()); }

bool VectorIndex::wants_rebuild() const {
  if (!hnsw_) return live() > int64_t(options_.hnsw_threshold);
  // Back to exact search once well under the threshold (half: no flapping around it).
  if (live() < int64_t(options_.hnsw_threshold / 2)) return true;
  return tombstones() > 0 && tombstones() * 4 >= live();
}

namespace {

// One query gains nothing from OpenMP threads, and their spinning costs 4-15x on a busy
// machine (bench_kb). omp_set_num_threads affects only the calling thread.
struct OneThread {
  int before = omp_get_max_threads();
  OneThread() { omp_set_num_threads(1); }
  ~OneThread() { omp_set_num_threads(before); }
};

// The flat vectors behind either kind of index (HNSW keeps its vectors in an IndexFlat too).
const faiss::IndexFlat* flat_storage(const faiss::IndexIDMap2& map) {
  if (auto* h = dynamic_cast<const faiss::IndexHNSWFlat*>(map.index)) return dynamic_cast<const faiss::IndexFlat*>(h->storage);
  return dynamic_cast<const faiss::IndexFlat*>(map.index);
}

}  // namespace

std::vector<std::pair<int64_t, float>> VectorIndex::exact_search(const float* query, size_t k,
                                                                 const std::vector<int64_t>& positions) const {
  const faiss::IndexIDMap2& map = *index_->map;
  const faiss::IndexFlat* flat = flat_storage(map);
  if (!flat) throw std::runtime_error("vector index: no flat storage");
  const float* xb = flat->get_xb();
  std::vector<std::pair<float, int64_t>> scored;
  scored.reserve(positions.size());
  for (int64_t p : positions)
    scored.emplace_back(faiss::fvec_inner_product(query, xb + size_t(p) * size_t(dim_), size_t(dim_)), p);
  const size_t n = std::min(k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + std::ptrdiff_t(n), scored.end(),
                    [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  std::vector<std::pair<int64_t, float>> out;
  for (size_t i = 0; i < n; ++i) out.emplace_back(map.id_map[size_t(scored[i].second)], scored[i].first);
  return out;
}

std::vector<std::pair<int64_t, float>> VectorIndex::search(const float* query, size_t k,
                                                           const std::vector<int64_t>* allowed) const {
  if (allowed) {
    // Chunk ids → index positions (ids not in the index, or tombstoned, cannot be returned).
    const faiss::IndexIDMap2& map = *index_->map;
    std::vector<int64_t> positions;
    positions.reserve(allowed->size());
    for (int64_t id : *allowed) {
      const auto it = map.rev_map.find(id);
      if (it != map.rev_map.end() && !tombstones_.count(id)) positions.push_back(it->second);
    }
    std::sort(positions.begin(), positions.end());
    positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
    if (positions.empty() || k == 0) return {};
    // A flat index is a scan anyway, so only the allowed rows are scanned; a small allow-list
    // is cheaper to scan than a graph walk that must step over most nodes.
    if (!hnsw_ || positions.size() <= options_.exact_filter_limit) return exact_search(query, k, positions);
    std::vector<uint8_t> bitmap((size_t(map.ntotal) + 7) / 8, 0);
    for (int64_t p : positions) bitmap[size_t(p) / 8] |= uint8_t(1u << (p % 8));
    faiss::IDSelectorBitmap selector(bitmap.size(), bitmap.data());
    faiss::SearchParametersHNSW params;
    params.sel = &selector;
    params.efSearch = std::max<int>(options_.hnsw_ef_search, int(k));
    const size_t want = std::min(k, positions.size());
    std::vector<float> scores(want);
    std::vector<faiss::Index::idx_t> labels(want);
    try {
      OneThread one_thread;
      map.index->search(1, query, faiss::Index::idx_t(want), scores.data(), labels.data(), &params);
    } catch (const faiss::FaissException&) {
      return exact_search(query, k, positions);
    }
    std::vector<std::pair<int64_t, float>> out;
    for (size_t i = 0; i < want; ++i) {
      const auto p = labels[i];  // a position: the inner index was asked directly
      if (p >= 0 && p < map.ntotal && (bitmap[size_t(p) / 8] >> (p % 8) & 1))
        out.emplace_back(map.id_map[size_t(p)], scores[i]);
    }
    // The walk can end before it met k allowed nodes (a selective filter): scan them exactly.
    if (out.size() < want) return exact_search(query, k, positions);
    return out;
  }
  faiss::IndexIDMap2& map = *index_->map;
  const size_t want = std::min<size_t>(k + tombstones_.size(), size_t(map.ntotal));
  if (want == 0) return {};
  if (auto* h = as_hnsw(map)) h->hnsw.efSearch = std::max<int>(options_.hnsw_ef_search, int(want));
  std::vector<float> scores(want);
  std::vector<faiss::Index::idx_t> labels(want);
  OneThread one_thread;
  map.search(1, query, faiss::Index::idx_t(want), scores.data(), labels.data());
  std::vector<std::pair<int64_t, float>> out;
  for (size_t i = 0; i < want && out.size() < k; ++i)
    if (labels[i] >= 0 && !tombstones_.count(labels[i])) out.emplace_back(labels[i], scores[i]);
  return out;
}

// File layout: magic, tombstone count (u64), tombstone ids (i64 each), then FAISS's own
// serialization of the IndexIDMap2. The store keeps a hash of all of it in SQLite.
std::vector<uint8_t> VectorIndex::serialize() const {
  faiss::VectorIOWriter w;
  w.data.insert(w.data.end(), kMagic, kMagic + sizeof kMagic);
  const uint64_t n = tombstones_.size();
  const auto* np = reinterpret_cast<const uint8_t*>(&n);
  w.data.insert(w.data.end(), np, np + 8);
  for (int64_t id : tombstones_) {
    const auto* ip = reinterpret_cast<const uint8_t*>(&id);
    w.data.insert(w.data.end(), ip, ip + 8);
  }
  faiss::write_index(index_->map.get(), &w);
  return std::move(w.data);
}

std::unique_ptr<VectorIndex> VectorIndex::deserialize(const std::vector<uint8_t>& bytes, int dim,
                                                      const StoreOptions& options) {
  if (bytes.size() < 16 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw std::runtime_error("vector index: not an index file");
  uint64_t n;
  std::memcpy(&n, bytes.data() + 8, 8);
  if (n > (bytes.size() - 16) / 8) throw std::runtime_error("vector index: bad tombstone count");
  std::unique_ptr<VectorIndex> vi(new VectorIndex());
  vi->dim_ = dim;
  vi->options_ = options;
  for (uint64_t i = 0; i < n; ++i) {
    int64_t id;
    std::memcpy(&id, bytes.data() + 16 + 8 * i, 8);
    vi->tombstones_.insert(id);
  }
  faiss::VectorIOReader r;
  r.data.assign(bytes.begin() + std::ptrdiff_t(16 + 8 * n), bytes.end());
  std::unique_ptr<faiss::Index> idx;
  try {
    idx.reset(faiss::read_index(&r));
  } catch (const faiss::FaissException& e) {
    throw std::runtime_error(std::string("vector index: ") + e.what());
  }
  auto* map = dynamic_cast<faiss::IndexIDMap2*>(idx.get());
  if (!map || map->d != dim || map->metric_type != faiss::METRIC_INNER_PRODUCT || !map->index ||
      size_t(map->ntotal) != map->id_map.size() || map->index->ntotal != map->ntotal)
    throw std::runtime_error("vector index: unexpected index type or dimension");
  vi->hnsw_ = as_hnsw(*map) != nullptr;
  if (!vi->hnsw_ && !dynamic_cast<faiss::IndexFlatIP*>(map->index))
    throw std::runtime_error("vector index: unexpected inner index");
  if (!vi->hnsw_ && !vi->tombstones_.empty()) throw std::runtime_error("vector index: tombstones in a flat index");
  for (int64_t id : vi->tombstones_)
    if (!map->rev_map.count(id)) throw std::runtime_error("vector index: tombstone of an unknown id");
  idx.release();
  vi->index_ = std::make_unique<Faiss>();
  vi->index_->map.reset(map);
  return vi;
}

}  // namespace inhouse::kb::detail
