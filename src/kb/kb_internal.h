// kb/kb_internal.h — private to the kb module: the store's state shared by store.cpp and
// search.cpp, the FAISS-backed vector index (vector_index.cpp) and the text helpers behind the
// keyword index (ICU word segmentation, FTS5 query building, snippets).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "db/db.h"
#include "kb/kb.h"

namespace inhouse::kb::detail {

// ---- text (search.cpp) -----------------------------------------------------------------------

// A word of a UTF-8 text as ICU's word break iterator sees it, by byte offsets.
struct Word {
  size_t begin = 0, end = 0;
};

// The words of `text` (letters, numbers, kana, ideographs; no spaces or punctuation). ICU's
// dictionary splits Chinese/Japanese runs into words ("数据库", "语义"), which Latin-oriented
// tokenizers cannot.
std::vector<Word> words(std::string_view text);
// The words joined by single spaces: what the FTS5 table (tokenizer unicode61) indexes.
std::string segment(std::string_view text);
// Unicode case folding ("Straße" → "strasse"), for case-insensitive comparisons.
std::string fold(std::string_view text);
// The search terms of arbitrary user text: each distinct case-folded word, plus each run of
// words with nothing between them as a phrase ("w1 w2").
std::vector<std::string> fts_terms(std::string_view text);
// A MATCH expression: each term quoted ("..." with "" for a quote) and ORed, so user text is
// never FTS5 syntax. "" for no terms (the caller returns no hits).
std::string fts_match(const std::vector<std::string>& terms);
inline std::string fts_query(std::string_view text) { return fts_match(fts_terms(text)); }
// The name of a kb's FTS5 table: kb_fts_<id>.
inline std::string fts_table(int64_t kb_id) { return "kb_fts_" + std::to_string(kb_id); }
// An excerpt of `text` around the first word matching one of the query's words, every matching
// word marked [like this]; the start of the text when nothing matches.
std::string snippet(std::string_view text, std::string_view query);

// ---- vector index (vector_index.cpp) ---------------------------------------------------------

// Chunk vectors of one kb, keyed by chunk id: exact inner product (IndexFlatIP) while small,
// HNSW past options.hnsw_threshold. HNSW cannot remove vectors, so removed ids become
// tombstones filtered from results until a rebuild.
class VectorIndex {
 public:
  ~VectorIndex();
  // vectors: ids.size() * dim floats, L2-normalised.
  static std::unique_ptr<VectorIndex> build(int dim, const StoreOptions& options, const std::vector<int64_t>& ids,
                                            const std::vector<float>& vectors);
  // From serialize()'s bytes; throws std::runtime_error when they do not make a valid index of dim.
  static std::unique_ptr<VectorIndex> deserialize(const std::vector<uint8_t>& bytes, int dim,
                                                  const StoreOptions& options);
  std::vector<uint8_t> serialize() const;

  void add(const std::vector<int64_t>& ids, const std::vector<float>& vectors);
  void remove(const std::vector<int64_t>& ids);
  // Up to k (chunk id, inner product) pairs, best first. With `allowed` (chunk ids), only those
  // can be returned, and k of them whenever k of them are in the index: an exact scan over the
  // allowed vectors for a flat index or a small allowed set, else HNSW filtered during the graph
  // walk (IDSelector), falling back to the exact scan when the walk finds fewer than k.
  std::vector<std::pair<int64_t, float>> search(const float* query, size_t k,
                                                const std::vector<int64_t>* allowed = nullptr) const;

  bool is_hnsw() const { return hnsw_; }
  int64_t live() const;
  int64_t tombstones() const { return int64_t(tombstones_.size()); }
  // A rebuild pays when a flat index outgrew the threshold, tombstones are a quarter of HNSW, or
  // HNSW shrank under half the threshold.
  bool wants_rebuild() const;

 private:
  std::vector<std::pair<int64_t, float>> exact_search(const float* query, size_t k,
                                                      const std::vector<int64_t>& positions) const;
  VectorIndex() = default;
  struct Faiss;
  std::unique_ptr<Faiss> index_;
  int dim_ = 0;
  bool hnsw_ = false;
  StoreOptions options_;
  std::set<int64_t> tombstones_;
};

// 64-bit hash of a byte string (detects a truncated or damaged index file; not cryptographic).
uint64_t hash_bytes(const uint8_t* p, size_t n);

// ---- the store (store.cpp) -------------------------------------------------------------------

struct KbRow {
  int64_t id = 0;
  std::string name;
  int dim = 0;
  int64_t generation = 0;  // bumped by every committed write to the kb's documents
  int64_t chunks = 0;
  std::string tier = "hot";
  bool archived = false;   // cold: chunks and FTS rows are in the archive file
};

// A kb's vector index once loaded, and which database generation it reflects.
struct LoadedIndex {
  std::unique_ptr<VectorIndex> index;
  int64_t generation = 0;
  bool dirty = false;    // differs from the file on disk
  bool rebuilt = false;  // built from SQLite when loaded
};

// ---- versions and fields (versions.cpp) ------------------------------------------------------

// zstd; decompress throws std::runtime_error for bytes that are not one valid frame.
std::vector<uint8_t> compress(std::string_view bytes);
std::string decompress(const std::vector<uint8_t>& frame);
// Within the caller's transaction: copies the document's current version (row, body, chunks with
// embeddings, tags, aliases, links) into kb_document_versions, replaced at `now`.
void keep_version(db::Database& db, int64_t document_id, int64_t now);
// Within the caller's transaction: sets the fields of a JSON object patch (validated first).
void apply_fields(db::Database& db, int64_t document_id, const nlohmann::json& patch, bool only_new);
// Throws Error(Invalid) unless patch is an object of valid keys and values.
void check_fields(const nlohmann::json& patch);
// Whether a metadata value matches a `where` value (string/number/bool as text, list: any element).
bool metadata_matches(const nlohmann::json& value, const std::string& want);

}  // namespace inhouse::kb::detail

namespace inhouse::kb {

struct KnowledgeStore::Impl {
  std::filesystem::path data_dir;
  StoreOptions options;
  db::Database db;
  std::mutex mu;
  std::map<int64_t, detail::LoadedIndex> indexes;  // by kb id

  Impl(std::filesystem::path dir, const StoreOptions& opts, db::Database database)
      : data_dir(std::move(dir)), options(opts), db(std::move(database)) {}

  std::map<int64_t, int64_t> touched;  // kb id → last access written to kb_bases
  // Throws Error(NotFound). An access (restore): an archived kb is restored first and its last
  // access recorded; tier bookkeeping passes restore = false.
  detail::KbRow kb_row(const std::string& name, bool restore = true);
  // The kb's index, loaded (or rebuilt) when missing or behind the database.
  detail::LoadedIndex& index_of(const detail::KbRow& kb);
  void rebuild(const detail::KbRow& kb, detail::LoadedIndex& loaded);
  void save(int64_t kb_id, detail::LoadedIndex& loaded);
  std::filesystem::path index_path(int64_t kb_id) const;
  StoredChunk stored_chunk(int64_t chunk_id, std::string* path, std::string* title);

  // The public operations' bodies, for callers already holding mu.
  int64_t put_locked(const detail::KbRow& kb, const DocumentInput& doc);
  std::optional<DocumentInfo> find_document_locked(const detail::KbRow& kb, const std::string& path_or_title,
                                                   const std::optional<DocumentIds>& allowed);
  std::optional<DocumentIds> allowed_locked(const detail::KbRow& kb, const std::optional<DocumentIds>& documents,
                                            const std::map<std::string, std::string>& where);
  DocumentInfo document_locked(int64_t document_id);  // with tags and fields
  void require_document(const detail::KbRow& kb, int64_t document_id);  // Error(NotFound) unless in kb

  // Tiers (tier.cpp).
  std::filesystem::path archive_path(int64_t kb_id) const;
  void touch(int64_t kb_id);
  void archive(const detail::KbRow& kb);
  void unarchive(int64_t kb_id);
  void after_use(const detail::KbRow& kb);  // warm: save and drop the loaded index
  TierInfo tier_of(int64_t kb_id);
};

}  // namespace inhouse::kb
