// kb/store.cpp — knowledge bases, documents, chunks, links in SQLite, and the lifecycle of each
// kb's FAISS index file.
//
// SQLite is the source of truth: every chunk's embedding is stored in kb_chunks as a float32
// blob. put_document is one transaction (synchronous=FULL, set by db::Database), so an
// acknowledged document is on disk with all its chunks, FTS rows and vectors. The FAISS file
// data_dir/kb/<id>.faiss is a cache: kb_bases.generation is bumped by every write in the same
// transaction, and kb_bases.index_generation / index_size / index_hash record what the file
// held when it was last written (file first, then the record, each via temp file + rename). A
// file whose record does not match the kb's generation, size or hash — missing, stale after a
// crash, truncated, garbage — is rebuilt from the embeddings in SQLite on first use.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>

#include "kb/kb_internal.h"

namespace fs = std::filesystem;

namespace inhouse::kb {

using detail::KbRow;
using detail::LoadedIndex;

namespace {

const std::vector<std::string> kMigrations = {
    R"sql(
CREATE TABLE kb_bases (
  id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: names index files
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  embed_model TEXT NOT NULL DEFAULT '',
  dim INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  generation INTEGER NOT NULL DEFAULT 0,         -- bumped by every write to its documents
  index_generation INTEGER NOT NULL DEFAULT -1,  -- the generation the .faiss file reflects
  index_size INTEGER NOT NULL DEFAULT 0,         -- its size in bytes
  index_hash INTEGER NOT NULL DEFAULT 0          -- detail::hash_bytes of its contents
);
CREATE TABLE kb_roots (
  kb_id INTEGER NOT NULL REFERENCES kb_bases(id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  PRIMARY KEY (kb_id, path)
);
CREATE TABLE kb_documents (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kb_id INTEGER NOT NULL REFERENCES kb_bases(id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  title TEXT NOT NULL,
  format TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  size INTEGER NOT NULL,
  ingested_at INTEGER NOT NULL,
  metadata TEXT NOT NULL DEFAULT '{}',  -- JSON object
  title_key TEXT NOT NULL,              -- case-folded title, for link resolution
  stem_key TEXT NOT NULL,               -- case-folded file stem of path
  UNIQUE (kb_id, path)
);
CREATE INDEX kb_documents_title ON kb_documents(kb_id, title_key);
CREATE INDEX kb_documents_stem ON kb_documents(kb_id, stem_key);
CREATE TABLE kb_chunks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: FAISS ids and tombstones stay unambiguous
  document_id INTEGER NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  headings TEXT NOT NULL,  -- JSON array
  text TEXT NOT NULL,
  tokens INTEGER NOT NULL,
  embedding BLOB           -- dim float32, L2-normalised; NULL in kbs without vectors
);
CREATE INDEX kb_chunks_document ON kb_chunks(document_id, ordinal);
CREATE TABLE kb_tags (
  document_id INTEGER NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  tag TEXT NOT NULL,
  PRIMARY KEY (document_id, tag)
);
CREATE INDEX kb_tags_tag ON kb_tags(tag);
CREATE TABLE kb_aliases (
  document_id INTEGER NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
  alias TEXT NOT NULL,
  alias_key TEXT NOT NULL,
  PRIMARY KEY (document_id, alias_key)
);
CREATE INDEX kb_aliases_key ON kb_aliases(alias_key);
CREATE TABLE kb_links (
  document_id INTEGER NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  target TEXT NOT NULL,
  heading TEXT NOT NULL,
  alias TEXT NOT NULL,
  target_key TEXT NOT NULL,       -- case-folded target
  target_stem_key TEXT NOT NULL   -- case-folded last path component without a document extension
);
CREATE INDEX kb_links_document ON kb_links(document_id, ordinal);
CREATE INDEX kb_links_target ON kb_links(target_key);
CREATE INDEX kb_links_target_stem ON kb_links(target_stem_key);
-- Each kb has an FTS5 table kb_fts_<id> (see fts_table_sql).
)sql",
    // v2: chunks per kb, kept by put_document/remove_document (keyword search needs it per query).
    R"sql(
ALTER TABLE kb_bases ADD COLUMN chunk_count INTEGER NOT NULL DEFAULT 0;
UPDATE kb_bases SET chunk_count = (SELECT count(*) FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id
                                   WHERE d.kb_id = kb_bases.id);
)sql",
    // v3: document versions (see versions.cpp) and custom fields.
    R"sql(
ALTER TABLE kb_documents ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE kb_documents ADD COLUMN body BLOB;  -- zstd of DocumentInput::body; NULL when none
CREATE TABLE kb_document_versions (
  document_id INTEGER NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  title TEXT NOT NULL,
  format TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  size INTEGER NOT NULL,
  metadata TEXT NOT NULL,
  chunk_count INTEGER NOT NULL,
  body BLOB,              -- zstd of the body text; NULL when the version had none
  contents BLOB NOT NULL, -- zstd of CBOR {tags, aliases, links, chunks: [{headings, text, tokens, embedding}]}
  created_at INTEGER NOT NULL,
  replaced_at INTEGER NOT NULL,
  PRIMARY KEY (document_id, version)
);
CREATE TABLE kb_document_fields (
  document_id INTEGER NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (document_id, key)
);
CREATE INDEX kb_document_fields_key ON kb_document_fields(key, value);
)sql",
    // v4: storage tiers (see tier.cpp).
    R"sql(
ALTER TABLE kb_bases ADD COLUMN tier TEXT NOT NULL DEFAULT 'hot';
ALTER TABLE kb_bases ADD COLUMN last_access INTEGER NOT NULL DEFAULT 0;
ALTER TABLE kb_bases ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;  -- 1: chunks in data_dir/kb/<id>.cold.zst
)sql"};

// The keyword index of one kb: rowid = kb_chunks.id; body = the chunk's text, context = title
// and headings, both segmented into space-separated words by ICU (see search.cpp for why). One
// table per kb rather than a shared one with a kb column: filtering a shared table reads every
// matching row (3x slower at 10k chunks), and BM25's statistics should be the kb's own.
std::string fts_table_sql(int64_t kb_id) {
  return "CREATE VIRTUAL TABLE " + detail::fts_table(kb_id) +
         " USING fts5(body, context, tokenize = 'unicode61 remove_diacritics 2')";
}

constexpr int kMaxDim = 65536;

void validate_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
  if (!ok)
    throw Error(Error::Code::Invalid,
                "invalid knowledge base name '" + name.substr(0, 80) + "': use 1-64 of A-Z a-z 0-9 _ . -");
}

const char* format_text(Format f) {
  switch (f) {
    case Format::Markdown: return "markdown";
    case Format::Html: return "html";
    case Format::Pdf: return "pdf";
    case Format::Text: return "text";
  }
  return "text";
}

Format format_from_text(const std::string& s) {
  if (s == "markdown") return Format::Markdown;
  if (s == "html") return Format::Html;
  if (s == "pdf") return Format::Pdf;
  return Format::Text;
}

// The name a [[link]] to this path would use: its file stem.
std::string path_stem_key(const std::string& path) { return detail::fold(fs::path(path).stem().string()); }

// A link target's last path component without a document extension ("dir/Note.md" → "note").
std::string link_stem_key(const std::string& target) {
  std::string t = target.substr(target.find_last_of('/') == std::string::npos ? 0 : target.find_last_of('/') + 1);
  for (const char* ext : {".md", ".markdown", ".html", ".htm", ".pdf", ".txt"}) {
    const std::string e = ext;
    if (t.size() > e.size() && detail::fold(t.substr(t.size() - e.size())) == e) {
      t.resize(t.size() - e.size());
      break;
    }
  }
  return detail::fold(t);
}

std::string json_text(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

nlohmann::json parse_json(const std::string& s, nlohmann::json fallback) {
  auto j = nlohmann::json::parse(s, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

// The chunk's embedding checked against the kb's dimension and L2-normalised.
std::vector<float> checked_embedding(const ChunkInput& c, int dim, size_t index) {
  const std::string which = "chunk " + std::to_string(index) + ": ";
  if (dim == 0) {
    if (!c.embedding.empty())
      throw Error(Error::Code::Invalid, which + "embedding given but the knowledge base has no vectors");
    return {};
  }
  if (int(c.embedding.size()) != dim)
    throw Error(Error::Code::Invalid, which + "embedding has " + std::to_string(c.embedding.size()) +
                                          " dimensions, the knowledge base has " + std::to_string(dim));
  double norm = 0;
  for (float x : c.embedding) {
    if (!std::isfinite(x)) throw Error(Error::Code::Invalid, which + "embedding has a NaN or infinite value");
    norm += double(x) * x;
  }
  if (norm == 0) throw Error(Error::Code::Invalid, which + "embedding is all zeros");
  std::vector<float> v(c.embedding);
  for (float& x : v) x = float(x / std::sqrt(norm));
  return v;
}

std::string context_text(const std::string& title, const std::vector<std::string>& headings) {
  std::string s = title;
  for (const auto& h : headings) s += "\n" + h;
  return s;
}

void fsync_path(const fs::path& p, bool directory) {
  const int fd = ::open(p.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

DocumentInfo read_document(db::Statement& st) {
  // Columns as selected by kDocumentColumns.
  DocumentInfo d;
  d.id = st.column_int(0);
  d.path = st.column_text(1);
  d.title = st.column_text(2);
  d.format = format_from_text(st.column_text(3));
  d.content_hash = st.column_text(4);
  d.size = st.column_int(5);
  d.ingested_at = st.column_int(6);
  d.metadata = parse_json(st.column_text(7), nlohmann::json::object());
  d.chunks = st.column_int(8);
  d.version = st.column_int(9);
  return d;
}

constexpr const char* kDocumentColumns =
    "SELECT d.id, d.path, d.title, d.format, d.content_hash, d.size, d.ingested_at, d.metadata, "
    "(SELECT count(*) FROM kb_chunks c WHERE c.document_id = d.id), d.version FROM kb_documents d ";

// Tags and custom fields.
void add_tags(db::Database& db, DocumentInfo& d) {
  auto st = db.prepare("SELECT tag FROM kb_tags WHERE document_id = ? ORDER BY ordinal");
  st.bind(1, d.id);
  while (st.step()) d.tags.push_back(st.column_text(0));
  auto fields = db.prepare("SELECT key, value FROM kb_document_fields WHERE document_id = ? ORDER BY key");
  fields.bind(1, d.id);
  while (fields.step()) d.fields[fields.column_text(0)] = fields.column_text(1);
}

struct Resolved {
  int64_t id;
  std::string path, title;
};

// The document of kb a link target names: title first, then file stem, then alias; among the
// `allowed` documents only when given.
std::optional<Resolved> resolve(db::Database& db, int64_t kb_id, const std::string& key, const std::string& stem_key,
                                const std::optional<DocumentIds>& allowed = std::nullopt) {
  auto st = db.prepare(
      "SELECT d.id, d.path, d.title FROM kb_documents d WHERE d.kb_id = ?1 AND (d.title_key = ?2 OR "
      "d.stem_key = ?2 OR EXISTS (SELECT 1 FROM kb_aliases a WHERE a.document_id = d.id AND a.alias_key = ?2)) "
      "ORDER BY d.title_key = ?2 DESC, d.stem_key = ?2 DESC, d.id");
  for (const std::string& k : {key, stem_key}) {
    if (k.empty()) continue;
    st.reset();
    st.bind(1, kb_id).bind(2, k);
    while (st.step())
      if (!allowed || allowed->count(st.column_int(0))) return Resolved{st.column_int(0), st.column_text(1), st.column_text(2)};
  }
  return std::nullopt;
}

// Ids of the chunks of a document that have vectors.
std::vector<int64_t> vector_chunk_ids(db::Database& db, int64_t document_id) {
  auto st = db.prepare("SELECT id FROM kb_chunks WHERE document_id = ? AND embedding IS NOT NULL");
  st.bind(1, document_id);
  std::vector<int64_t> ids;
  while (st.step()) ids.push_back(st.column_int(0));
  return ids;
}

// Deletes a document's chunks, FTS rows, tags, aliases and links (not the document row).
// Returns how many chunks it deleted.
int64_t delete_contents(db::Database& db, int64_t kb_id, int64_t document_id) {
  db.prepare("DELETE FROM " + detail::fts_table(kb_id) +
             " WHERE rowid IN (SELECT id FROM kb_chunks WHERE document_id = ?)")
      .bind(1, document_id)
      .run();
  db.prepare("DELETE FROM kb_chunks WHERE document_id = ?").bind(1, document_id).run();
  const int64_t chunks = db.changes();
  for (const char* table : {"kb_tags", "kb_aliases", "kb_links"})
    db.prepare(std::string("DELETE FROM ") + table + " WHERE document_id = ?").bind(1, document_id).run();
  return chunks;
}

std::optional<KbInfo> kb_info(db::Database& db, const std::string& name) {
  auto st = db.prepare(
      "SELECT id, name, description, embed_model, dim, created_at, "
      "(SELECT count(*) FROM kb_documents d WHERE d.kb_id = b.id), chunk_count "
      "FROM kb_bases b WHERE name = ?");
  st.bind(1, name);
  if (!st.step()) return std::nullopt;
  KbInfo info;
  info.id = st.column_int(0);
  info.name = st.column_text(1);
  info.description = st.column_text(2);
  info.embed_model = st.column_text(3);
  info.dim = int(st.column_int(4));
  info.created_at = st.column_int(5);
  info.documents = st.column_int(6);
  info.chunks = st.column_int(7);
  auto roots = db.prepare("SELECT path FROM kb_roots WHERE kb_id = ? ORDER BY path");
  roots.bind(1, info.id);
  while (roots.step()) info.roots.push_back(roots.column_text(0));
  return info;
}


// Records a committed change of the kb's documents: generation + 1, chunk count + delta.
int64_t bump_generation(db::Database& db, int64_t kb_id, int64_t chunk_delta) {
  db.prepare("UPDATE kb_bases SET generation = generation + 1, chunk_count = chunk_count + ? WHERE id = ?")
      .bind(1, chunk_delta)
      .bind(2, kb_id)
      .run();
  auto st = db.prepare("SELECT generation FROM kb_bases WHERE id = ?");
  st.bind(1, kb_id);
  st.step();
  return st.column_int(0);
}

}  // namespace

// ---- Impl ------------------------------------------------------------------------------------

KbRow KnowledgeStore::Impl::kb_row(const std::string& name, bool restore) {
  auto read = [&] {
    auto st = db.prepare("SELECT id, name, dim, generation, chunk_count, tier, archived FROM kb_bases WHERE name = ?");
    st.bind(1, name);
    if (!st.step()) throw Error(Error::Code::NotFound, "no knowledge base named '" + name.substr(0, 80) + "'");
    return KbRow{st.column_int(0), st.column_text(1), int(st.column_int(2)), st.column_int(3), st.column_int(4),
                 st.column_text(5), st.column_int(6) != 0};
  };
  KbRow kb = read();
  if (!restore) return kb;
  if (kb.archived) {
    unarchive(kb.id);
    kb = read();
  }
  touch(kb.id);
  return kb;
}

fs::path KnowledgeStore::Impl::index_path(int64_t kb_id) const {
  return data_dir / "kb" / (std::to_string(kb_id) + ".faiss");
}

LoadedIndex& KnowledgeStore::Impl::index_of(const KbRow& kb) {
  LoadedIndex& li = indexes[kb.id];
  if (li.index && li.generation == kb.generation) {
    if (li.index->wants_rebuild()) rebuild(kb, li);
    return li;
  }
  li = LoadedIndex{};
  auto rec = db.prepare(
      "SELECT index_generation, index_size, index_hash, (SELECT count(*) FROM kb_chunks c JOIN kb_documents d "
      "ON d.id = c.document_id WHERE d.kb_id = ?1 AND c.embedding IS NOT NULL) FROM kb_bases WHERE id = ?1");
  rec.bind(1, kb.id);
  rec.step();
  const int64_t file_generation = rec.column_int(0), file_size = rec.column_int(1);
  const uint64_t file_hash = uint64_t(rec.column_int(2));
  const int64_t vectors = rec.column_int(3);
  if (file_generation == kb.generation) {
    std::error_code ec;
    const fs::path p = index_path(kb.id);
    if (fs::is_regular_file(p, ec) && int64_t(fs::file_size(p, ec)) == file_size && !ec) {
      std::vector<uint8_t> bytes(static_cast<size_t>(file_size));
      std::ifstream in(p, std::ios::binary);
      if (in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size())) &&
          detail::hash_bytes(bytes.data(), bytes.size()) == file_hash) {
        try {
          auto index = detail::VectorIndex::deserialize(bytes, kb.dim, options);
          if (index->live() == vectors) {
            li.index = std::move(index);
            li.generation = kb.generation;
            if (li.index->wants_rebuild()) rebuild(kb, li);
            return li;
          }
        } catch (const std::exception&) {
          // fall through to the rebuild
        }
      }
    }
  }
  rebuild(kb, li);
  li.rebuilt = true;
  return li;
}

void KnowledgeStore::Impl::rebuild(const KbRow& kb, LoadedIndex& li) {
  auto st = db.prepare(
      "SELECT c.id, c.embedding FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id "
      "WHERE d.kb_id = ? AND c.embedding IS NOT NULL ORDER BY c.id");
  st.bind(1, kb.id);
  std::vector<int64_t> ids;
  std::vector<float> vectors;
  const size_t bytes = size_t(kb.dim) * sizeof(float);
  while (st.step()) {
    const std::vector<uint8_t> blob = st.column_blob(1);
    if (blob.size() != bytes) continue;  // cannot happen: put_document checks the dimension
    ids.push_back(st.column_int(0));
    const size_t at = vectors.size();
    vectors.resize(at + size_t(kb.dim));
    std::memcpy(vectors.data() + at, blob.data(), bytes);
  }
  li.index = detail::VectorIndex::build(kb.dim, options, ids, vectors);
  li.generation = kb.generation;
  li.dirty = true;
}

void KnowledgeStore::Impl::save(int64_t kb_id, LoadedIndex& li) {
  const std::vector<uint8_t> bytes = li.index->serialize();
  const fs::path p = index_path(kb_id);
  // Per process: the CLI and a running server may save the same kb's index at once.
  const fs::path tmp = p.string() + ".tmp." + std::to_string(::getpid());
  fs::create_directories(p.parent_path());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    out.close();
    if (!out) throw db::Error("kb: cannot write " + tmp.string(), 0);
  }
  fsync_path(tmp, false);
  fs::rename(tmp, p);
  fsync_path(p.parent_path(), true);
  db.prepare("UPDATE kb_bases SET index_generation = ?, index_size = ?, index_hash = ? WHERE id = ?")
      .bind(1, li.generation)
      .bind(2, int64_t(bytes.size()))
      .bind(3, int64_t(detail::hash_bytes(bytes.data(), bytes.size())))
      .bind(4, kb_id)
      .run();
  li.dirty = false;
}

StoredChunk KnowledgeStore::Impl::stored_chunk(int64_t chunk_id, std::string* path, std::string* title) {
  auto st = db.prepare(
      "SELECT c.id, c.document_id, c.ordinal, c.headings, c.text, d.path, d.title FROM kb_chunks c "
      "JOIN kb_documents d ON d.id = c.document_id WHERE c.id = ?");
  st.bind(1, chunk_id);
  if (!st.step()) throw Error(Error::Code::NotFound, "no chunk " + std::to_string(chunk_id));
  StoredChunk c;
  c.id = st.column_int(0);
  c.document_id = st.column_int(1);
  c.ordinal = int(st.column_int(2));
  c.headings = parse_json(st.column_text(3), nlohmann::json::array()).get<std::vector<std::string>>();
  c.text = st.column_text(4);
  if (path) *path = st.column_text(5);
  if (title) *title = st.column_text(6);
  return c;
}

// ---- KnowledgeStore --------------------------------------------------------------------------

KnowledgeStore::KnowledgeStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KnowledgeStore::KnowledgeStore(KnowledgeStore&&) noexcept = default;
KnowledgeStore& KnowledgeStore::operator=(KnowledgeStore&& other) noexcept {
  if (this != &other) {
    if (impl_) try {
        flush();
      } catch (...) {
      }
    impl_ = std::move(other.impl_);
  }
  return *this;
}

KnowledgeStore::~KnowledgeStore() {
  if (!impl_) return;
  try {
    flush();
  } catch (...) {
    // the index is a cache: the next open rebuilds it
  }
}

KnowledgeStore KnowledgeStore::open(const fs::path& data_dir, const StoreOptions& options) {
  std::error_code ec;
  fs::create_directories(data_dir / "kb", ec);
  if (ec) throw db::Error("kb: cannot create " + (data_dir / "kb").string() + ": " + ec.message(), 0);
  db::Database db = db::Database::open(data_dir / "inhouse.db");
  db.migrate("kb", kMigrations);
  // Index files of knowledge bases that are gone (removed, then crashed before the unlink), and
  // temp files of processes that died while saving (<id>.faiss.tmp.<pid>).
  std::set<std::string> live;
  for (auto st = db.prepare("SELECT id FROM kb_bases"); st.step();) live.insert(std::to_string(st.column_int(0)));
  // Archives (<id>.cold.zst) of kbs not marked archived: left by a crash between writing one and
  // deleting the rows, or between restoring the rows and unlinking it (tier.cpp); the rows in
  // SQLite are the truth then.
  std::set<std::string> archived;
  for (auto st = db.prepare("SELECT id FROM kb_bases WHERE archived = 1"); st.step();)
    archived.insert(std::to_string(st.column_int(0)));
  for (const auto& e : fs::directory_iterator(data_dir / "kb", ec)) {
    const std::string name = e.path().filename().string();
    const bool is_archive = name.find(".cold.zst") != std::string::npos;
    const size_t dot = is_archive ? name.find(".cold.zst") : name.find(".faiss");
    if (dot == std::string::npos) continue;
    const size_t tmp = name.find(".tmp.", dot);
    const bool dead_writer = tmp != std::string::npos && ::kill(std::atoi(name.c_str() + tmp + 5), 0) != 0 && errno == ESRCH;
    const bool orphan = is_archive && tmp == std::string::npos && !archived.count(name.substr(0, dot));
    if (!live.count(name.substr(0, dot)) || dead_writer || orphan) fs::remove(e.path(), ec);
  }
  return KnowledgeStore(std::make_unique<Impl>(data_dir, options, std::move(db)));
}

KbInfo KnowledgeStore::create(const std::string& name, const std::string& embed_model, int dim,
                              const std::string& description) {
  std::lock_guard lock(impl_->mu);
  validate_name(name);
  if (dim < 0 || dim > kMaxDim)
    throw Error(Error::Code::Invalid, "vector dimension " + std::to_string(dim) + " out of range 0.." +
                                          std::to_string(kMaxDim));
  {
    db::Transaction tx(impl_->db);
    auto exists = impl_->db.prepare("SELECT 1 FROM kb_bases WHERE name = ?");
    exists.bind(1, name);
    if (exists.step()) throw Error(Error::Code::AlreadyExists, "knowledge base '" + name + "' already exists");
    impl_->db.prepare("INSERT INTO kb_bases(name, description, embed_model, dim, created_at) VALUES(?, ?, ?, ?, ?)")
        .bind(1, name)
        .bind(2, description)
        .bind(3, embed_model)
        .bind(4, int64_t(dim))
        .bind(5, int64_t(std::time(nullptr)))
        .run();
    impl_->db.exec(fts_table_sql(impl_->db.last_insert_id()));
    tx.commit();
  }
  return *kb_info(impl_->db, name);
}

std::optional<KbInfo> KnowledgeStore::find(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  return kb_info(impl_->db, name);
}

KbInfo KnowledgeStore::get(const std::string& name) {
  auto info = find(name);
  if (!info) throw Error(Error::Code::NotFound, "no knowledge base named '" + name.substr(0, 80) + "'");
  return *info;
}

std::vector<KbInfo> KnowledgeStore::list() {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> names;
  for (auto st = impl_->db.prepare("SELECT name FROM kb_bases ORDER BY name"); st.step();)
    names.push_back(st.column_text(0));
  std::vector<KbInfo> out;
  for (const auto& n : names) out.push_back(*kb_info(impl_->db, n));
  return out;
}

void KnowledgeStore::remove(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  const KbRow kb = impl_->kb_row(name, false);
  {
    db::Transaction tx(impl_->db);
    impl_->db.exec("DROP TABLE IF EXISTS temp." + detail::fts_table(kb.id) + "_vocab");
    impl_->db.exec("DROP TABLE IF EXISTS " + detail::fts_table(kb.id));
    impl_->db.prepare("DELETE FROM kb_bases WHERE id = ?").bind(1, kb.id).run();  // cascades
    tx.commit();
  }
  impl_->indexes.erase(kb.id);
  std::error_code ec;
  fs::remove(impl_->index_path(kb.id), ec);
  fs::remove(impl_->archive_path(kb.id), ec);
}

void KnowledgeStore::add_root(const std::string& kb_name, const std::string& root) {
  std::lock_guard lock(impl_->mu);
  const KbRow kb = impl_->kb_row(kb_name);
  if (root.empty()) throw Error(Error::Code::Invalid, "empty root path");
  impl_->db.prepare("INSERT OR IGNORE INTO kb_roots(kb_id, path) VALUES(?, ?)").bind(1, kb.id).bind(2, root).run();
}

int64_t KnowledgeStore::put_document(const std::string& kb_name, const DocumentInput& doc) {
  std::lock_guard lock(impl_->mu);
  return impl_->put_locked(impl_->kb_row(kb_name), doc);
}

int64_t KnowledgeStore::Impl::put_locked(const KbRow& kb, const DocumentInput& doc) {
  if (doc.path.empty()) throw Error(Error::Code::Invalid, "document path is empty");
  if (!doc.fields.is_null()) detail::check_fields(doc.fields);
  std::vector<int64_t> new_ids;
  std::vector<float> vectors;
  std::vector<std::vector<float>> embeddings;
  for (size_t i = 0; i < doc.chunks.size(); ++i) embeddings.push_back(checked_embedding(doc.chunks[i], kb.dim, i));
  // Load the index first so this write can be applied to it instead of making it stale.
  if (kb.dim > 0) index_of(kb);

  std::vector<int64_t> old_ids;
  int64_t doc_id = 0, generation = 0, removed_chunks = 0;
  {
    db::Transaction tx(db);
    auto find = db.prepare("SELECT id, content_hash, version FROM kb_documents WHERE kb_id = ? AND path = ?");
    find.bind(1, kb.id).bind(2, doc.path);
    const int64_t now = std::time(nullptr);
    const std::vector<uint8_t> body = doc.body.empty() ? std::vector<uint8_t>{} : detail::compress(doc.body);
    if (find.step()) {
      doc_id = find.column_int(0);
      // Changed content: the replaced version joins the history. The same bytes again (a
      // re-upload, a forced re-ingest) refresh the current version in place.
      int64_t version = find.column_int(2);
      if (find.column_text(1) != doc.content_hash) {
        detail::keep_version(db, doc_id, now);
        ++version;
      }
      old_ids = vector_chunk_ids(db, doc_id);
      removed_chunks = delete_contents(db, kb.id, doc_id);
      auto update = db.prepare(
          "UPDATE kb_documents SET title = ?, format = ?, content_hash = ?, size = ?, ingested_at = ?, "
          "metadata = ?, title_key = ?, stem_key = ?, version = ?, body = ? WHERE id = ?");
      update.bind(1, doc.title)
          .bind(2, format_text(doc.format))
          .bind(3, doc.content_hash)
          .bind(4, doc.size)
          .bind(5, now)
          .bind(6, json_text(doc.metadata))
          .bind(7, detail::fold(doc.title))
          .bind(8, path_stem_key(doc.path))
          .bind(9, version)
          .bind(11, doc_id);
      if (body.empty())
        update.bind_null(10);
      else
        update.bind_blob(10, body.data(), body.size());
      update.run();
    } else {
      db.prepare(
            "INSERT INTO kb_documents(kb_id, path, title, format, content_hash, size, ingested_at, metadata, "
            "title_key, stem_key) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .bind(1, kb.id)
          .bind(2, doc.path)
          .bind(3, doc.title)
          .bind(4, format_text(doc.format))
          .bind(5, doc.content_hash)
          .bind(6, doc.size)
          .bind(7, now)
          .bind(8, json_text(doc.metadata))
          .bind(9, detail::fold(doc.title))
          .bind(10, path_stem_key(doc.path))
          .run();
      doc_id = db.last_insert_id();
      if (!body.empty())
        db.prepare("UPDATE kb_documents SET body = ? WHERE id = ?").bind_blob(1, body.data(), body.size()).bind(2, doc_id).run();
    }
    if (doc.fields.is_object() && !doc.fields.empty()) detail::apply_fields(db, doc_id, doc.fields, true);

    auto chunk = db.prepare(
        "INSERT INTO kb_chunks(document_id, ordinal, headings, text, tokens, embedding) VALUES(?, ?, ?, ?, ?, ?)");
    auto fts = db.prepare("INSERT INTO " + detail::fts_table(kb.id) + "(rowid, body, context) VALUES(?, ?, ?)");
    for (size_t i = 0; i < doc.chunks.size(); ++i) {
      const ChunkInput& c = doc.chunks[i];
      chunk.reset();
      chunk.bind(1, doc_id).bind(2, int64_t(i)).bind(3, json_text(c.headings)).bind(4, c.text);
      chunk.bind(5, int64_t(c.tokens));
      if (embeddings[i].empty())
        chunk.bind_null(6);
      else
        chunk.bind_blob(6, embeddings[i].data(), embeddings[i].size() * sizeof(float));
      chunk.run();
      const int64_t chunk_id = db.last_insert_id();
      fts.reset();
      fts.bind(1, chunk_id)
          .bind(2, detail::segment(c.text))
          .bind(3, detail::segment(context_text(doc.title, c.headings)))
          .run();
      if (!embeddings[i].empty()) {
        new_ids.push_back(chunk_id);
        vectors.insert(vectors.end(), embeddings[i].begin(), embeddings[i].end());
      }
    }

    auto tag = db.prepare("INSERT OR IGNORE INTO kb_tags(document_id, ordinal, tag) VALUES(?, ?, ?)");
    for (size_t i = 0; i < doc.tags.size(); ++i) {
      tag.reset();
      tag.bind(1, doc_id).bind(2, int64_t(i)).bind(3, doc.tags[i]).run();
    }
    auto alias = db.prepare("INSERT OR IGNORE INTO kb_aliases(document_id, alias, alias_key) VALUES(?, ?, ?)");
    for (const auto& a : doc.aliases) {
      alias.reset();
      alias.bind(1, doc_id).bind(2, a).bind(3, detail::fold(a)).run();
    }
    auto link = db.prepare(
        "INSERT INTO kb_links(document_id, ordinal, target, heading, alias, target_key, target_stem_key) "
        "VALUES(?, ?, ?, ?, ?, ?, ?)");
    for (size_t i = 0; i < doc.links.size(); ++i) {
      const Link& l = doc.links[i];
      link.reset();
      link.bind(1, doc_id).bind(2, int64_t(i)).bind(3, l.target).bind(4, l.heading).bind(5, l.alias);
      link.bind(6, detail::fold(l.target)).bind(7, link_stem_key(l.target)).run();
    }
    generation = bump_generation(db, kb.id, int64_t(doc.chunks.size()) - removed_chunks);
    tx.commit();
  }

  // Committed: bring the loaded index along. If it was behind (another process wrote) or FAISS
  // fails, drop it; the next use rebuilds it from SQLite.
  auto it = indexes.find(kb.id);
  if (it != indexes.end() && it->second.index) {
    LoadedIndex& li = it->second;
    if (li.generation != generation - 1) {
      indexes.erase(it);
    } else {
      try {
        li.index->remove(old_ids);
        li.index->add(new_ids, vectors);
        li.generation = generation;
        li.dirty = true;
      } catch (const std::exception&) {
        indexes.erase(it);
      }
    }
  }
  return doc_id;
}

bool KnowledgeStore::remove_document(const std::string& kb_name, const std::string& path) {
  std::lock_guard lock(impl_->mu);
  const KbRow kb = impl_->kb_row(kb_name);
  if (kb.dim > 0) impl_->index_of(kb);
  db::Database& db = impl_->db;
  std::vector<int64_t> old_ids;
  int64_t generation = 0;
  {
    db::Transaction tx(db);
    auto find = db.prepare("SELECT id FROM kb_documents WHERE kb_id = ? AND path = ?");
    find.bind(1, kb.id).bind(2, path);
    if (!find.step()) return false;
    const int64_t doc_id = find.column_int(0);
    old_ids = vector_chunk_ids(db, doc_id);
    const int64_t removed_chunks = delete_contents(db, kb.id, doc_id);
    db.prepare("DELETE FROM kb_documents WHERE id = ?").bind(1, doc_id).run();
    generation = bump_generation(db, kb.id, -removed_chunks);
    tx.commit();
  }
  auto it = impl_->indexes.find(kb.id);
  if (it != impl_->indexes.end() && it->second.index) {
    if (it->second.generation != generation - 1) {
      impl_->indexes.erase(it);
    } else {
      try {
        it->second.index->remove(old_ids);
        it->second.generation = generation;
        it->second.dirty = true;
      } catch (const std::exception&) {
        impl_->indexes.erase(it);
      }
    }
  }
  return true;
}

bool KnowledgeStore::purge_document(const std::string& kb_name, int64_t document_id) {
  std::lock_guard lock(impl_->mu);
  const KbRow kb = impl_->kb_row(kb_name);
  db::Database& db = impl_->db;
  {
    auto find = db.prepare("SELECT 1 FROM kb_documents WHERE id = ? AND kb_id = ?");
    find.bind(1, document_id).bind(2, kb.id);
    if (!find.step()) return false;
  }  // finalised: an open statement would keep a read transaction that blocks the checkpoint
  // secure_delete overwrites the freed pages (the text would otherwise linger in free pages).
  db.exec("PRAGMA secure_delete = ON");
  struct SecureDeleteOff {
    db::Database& db;
    ~SecureDeleteOff() {
      try {
        db.exec("PRAGMA secure_delete = OFF");
      } catch (...) {
      }
    }
  } off{db};
  {
    db::Transaction tx(db);
    const int64_t removed_chunks = delete_contents(db, kb.id, document_id);
    db.prepare("DELETE FROM kb_documents WHERE id = ?").bind(1, document_id).run();  // versions, fields cascade
    // FTS5 keeps a deleted row's tokens in older index segments until they are merged.
    const std::string fts = detail::fts_table(kb.id);
    db.exec("INSERT INTO " + fts + "(" + fts + ") VALUES('optimize')");
    bump_generation(db, kb.id, -removed_chunks);
    tx.commit();
  }
  // HNSW would keep the vectors as tombstones, in memory and in the file: rebuild, save now.
  impl_->indexes.erase(kb.id);
  if (kb.dim > 0) {
    const KbRow now = impl_->kb_row(kb_name);
    impl_->save(kb.id, impl_->index_of(now));
  }
  try {
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");  // old page images in the WAL
  } catch (const db::Error&) {
    // busy with another reader: the WAL is overwritten by later checkpoints
  }
  return true;
}

std::vector<DocumentInfo> KnowledgeStore::documents(const std::string& kb_name) {
  return documents(kb_name, std::nullopt);
}

std::vector<DocumentInfo> KnowledgeStore::documents(const std::string& kb_name, const std::optional<DocumentIds>& allowed) {
  std::lock_guard lock(impl_->mu);
  const KbRow kb = impl_->kb_row(kb_name);
  auto st = impl_->db.prepare(std::string(kDocumentColumns) + "WHERE d.kb_id = ? ORDER BY d.path");
  st.bind(1, kb.id);
  std::vector<DocumentInfo> out;
  while (st.step())
    if (!allowed || allowed->count(st.column_int(0))) out.push_back(read_document(st));
  for (auto& d : out) add_tags(impl_->db, d);
  return out;
}

DocumentInfo KnowledgeStore::Impl::document_locked(int64_t document_id) {
  auto st = db.prepare(std::string(kDocumentColumns) + "WHERE d.id = ?");
  st.bind(1, document_id);
  if (!st.step()) throw Error(Error::Code::NotFound, "no document " + std::to_string(document_id));
  DocumentInfo d = read_document(st);
  add_tags(db, d);
  return d;
}

void KnowledgeStore::Impl::require_document(const KbRow& kb, int64_t document_id) {
  auto doc = db.prepare("SELECT 1 FROM kb_documents WHERE id = ? AND kb_id = ?");
  doc.bind(1, document_id).bind(2, kb.id);
  if (!doc.step())
    throw Error(Error::Code::NotFound, "no document " + std::to_string(document_id) + " in '" + kb.name + "'");
}

std::optional<DocumentInfo> KnowledgeStore::Impl::find_document_locked(const KbRow& kb, const std::string& path_or_title,
                                                                       const std::optional<DocumentIds>& allowed) {
  int64_t id = 0;
  auto by_path = db.prepare("SELECT id FROM kb_documents WHERE kb_id = ? AND path = ?");
  by_path.bind(1, kb.id).bind(2, path_or_title);
  if (by_path.step() && (!allowed || allowed->count(by_path.column_int(0)))) {
    id = by_path.column_int(0);
  } else if (auto r = resolve(db, kb.id, detail::fold(path_or_title), link_stem_key(path_or_title), allowed)) {
    id = r->id;
  } else {
    return std::nullopt;
  }
  return document_locked(id);
}

std::optional<DocumentInfo> KnowledgeStore::find_document(const std::string& kb_name, const std::string& path_or_title) {
  std::lock_guard lock(impl_->mu);
  return impl_->find_document_locked(impl_->kb_row(kb_name), path_or_title, std::nullopt);
}

std::vector<StoredChunk> KnowledgeStore::chunks(const std::string& kb_name, int64_t document_id) {
  std::lock_guard lock(impl_->mu);
  impl_->require_document(impl_->kb_row(kb_name), document_id);
  auto st = impl_->db.prepare("SELECT id FROM kb_chunks WHERE document_id = ? ORDER BY ordinal");
  st.bind(1, document_id);
  std::vector<int64_t> ids;
  while (st.step()) ids.push_back(st.column_int(0));
  std::vector<StoredChunk> out;
  for (int64_t id : ids) out.push_back(impl_->stored_chunk(id, nullptr, nullptr));
  return out;
}

NoteLinks KnowledgeStore::links(const std::string& kb_name, const std::string& note) {
  return links(kb_name, note, std::nullopt);
}

NoteLinks KnowledgeStore::links(const std::string& kb_name, const std::string& note,
                                const std::optional<DocumentIds>& allowed) {
  std::lock_guard lock(impl_->mu);
  const KbRow kb = impl_->kb_row(kb_name);
  const auto doc = impl_->find_document_locked(kb, note, allowed);
  if (!doc) throw Error(Error::Code::NotFound, "no note '" + note.substr(0, 200) + "' in '" + kb_name + "'");
  db::Database& db = impl_->db;
  NoteLinks out;

  auto fill = [&](NoteLink& nl, db::Statement& st) {  // columns: target, heading, alias, target_key, stem key
    nl.link = Link{st.column_text(0), st.column_text(1), st.column_text(2)};
    if (auto r = resolve(db, kb.id, st.column_text(3), st.column_text(4), allowed)) {
      nl.resolved = r->id;
      nl.to_path = r->path;
      nl.to_title = r->title;
    }
  };
  auto outgoing = db.prepare(
      "SELECT target, heading, alias, target_key, target_stem_key FROM kb_links WHERE document_id = ? ORDER BY ordinal");
  outgoing.bind(1, doc->id);
  while (outgoing.step()) {
    NoteLink nl{doc->path, doc->title, {}, std::nullopt, "", ""};
    fill(nl, outgoing);
    out.outgoing.push_back(std::move(nl));
  }

  // Backlinks: links elsewhere in the kb whose target names this note and resolves to it.
  std::set<std::string> keys = {detail::fold(doc->title), path_stem_key(doc->path)};
  auto aliases = db.prepare("SELECT alias_key FROM kb_aliases WHERE document_id = ?");
  aliases.bind(1, doc->id);
  while (aliases.step()) keys.insert(aliases.column_text(0));
  auto incoming = db.prepare(
      "SELECT l.target, l.heading, l.alias, l.target_key, l.target_stem_key, s.path, s.title, l.rowid, s.id "
      "FROM kb_links l JOIN kb_documents s ON s.id = l.document_id "
      "WHERE s.kb_id = ?1 AND s.id != ?2 AND (l.target_key = ?3 OR l.target_stem_key = ?3) ORDER BY s.path, l.ordinal");
  std::set<int64_t> seen;
  for (const std::string& key : keys) {
    if (key.empty()) continue;
    incoming.reset();
    incoming.bind(1, kb.id).bind(2, doc->id).bind(3, key);
    while (incoming.step()) {
      if (!seen.insert(incoming.column_int(7)).second) continue;
      if (allowed && !allowed->count(incoming.column_int(8))) continue;
      NoteLink nl{incoming.column_text(5), incoming.column_text(6), {}, std::nullopt, "", ""};
      fill(nl, incoming);
      if (nl.resolved == doc->id) out.backlinks.push_back(std::move(nl));
    }
  }
  std::stable_sort(out.backlinks.begin(), out.backlinks.end(),
                   [](const NoteLink& a, const NoteLink& b) { return a.from_path < b.from_path; });
  return out;
}

void KnowledgeStore::flush() {
  std::lock_guard lock(impl_->mu);
  for (auto& [kb_id, li] : impl_->indexes)
    if (li.index && li.dirty) impl_->save(kb_id, li);
}

VectorIndexInfo KnowledgeStore::vector_index_info(const std::string& kb_name) {
  std::lock_guard lock(impl_->mu);
  const KbRow kb = impl_->kb_row(kb_name);
  VectorIndexInfo info;
  if (kb.dim == 0) return info;
  const LoadedIndex& li = impl_->index_of(kb);
  info.kind = li.index->is_hnsw() ? "hnsw" : "flat";
  info.vectors = li.index->live();
  info.tombstones = li.index->tombstones();
  info.rebuilt = li.rebuilt;
  return info;
}

}  // namespace inhouse::kb
