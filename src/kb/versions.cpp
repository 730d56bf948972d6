// kb/versions.cpp — document versions and custom fields.
//
// Versions: put_document replacing a document with a different content hash first copies the
// current one into kb_document_versions, in the same transaction: its row (title, format, hash,
// size, metadata), its body text, and everything the index needs to bring it back without an
// embedding model — chunks with headings, text, token counts and embeddings, plus tags, aliases
// and links — as CBOR, each blob zstd-compressed. Restoring is put_document of that snapshot, so
// the version it replaces joins the history in turn and version numbers only grow.
//
// Fields: custom string key/values per document (owner, department, sensitivity, retention),
// kept in kb_document_fields apart from the file's own metadata so re-ingesting never touches
// them. `where` filters (search.cpp) check a custom field first, then the metadata.
#include <zstd.h>

#include <dtl/dtl.hpp>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <sstream>

#include "kb/kb_internal.h"

namespace inhouse::kb {

using nlohmann::json;

namespace detail {

std::vector<uint8_t> compress(std::string_view bytes) {
  std::vector<uint8_t> out(ZSTD_compressBound(bytes.size()));
  const size_t n = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), 3);
  if (ZSTD_isError(n)) throw std::runtime_error(std::string("kb: zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

std::string decompress(const std::vector<uint8_t>& frame) {
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (1ull << 32))
    throw std::runtime_error("kb: damaged compressed data");
  std::string out(size_t(size), '\0');
  const size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != size) throw std::runtime_error("kb: damaged compressed data");
  return out;
}

namespace {

std::string field_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();  // a number
}

bool is_date(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  const int month = std::stoi(s.substr(5, 2)), day = std::stoi(s.substr(8, 2));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

}  // namespace

void check_fields(const json& patch) {
  if (!patch.is_object()) throw Error(Error::Code::Invalid, "fields must be a JSON object");
  for (const auto& [key, value] : patch.items()) {
    if (key.empty() || key.size() > 64 ||
        std::any_of(key.begin(), key.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == '='; }))
      throw Error(Error::Code::Invalid, "invalid field name '" + key.substr(0, 80) + "': 1-64 bytes, no '=' or control characters");
    if (value.is_null()) continue;
    if (!value.is_string() && !value.is_number() && !value.is_boolean())
      throw Error(Error::Code::Invalid, "field '" + key + "': a value must be a string, number, boolean or null");
    const std::string text = field_text(value);
    if (text.size() > 4096) throw Error(Error::Code::Invalid, "field '" + key + "': value longer than 4096 bytes");
    if (key == "retention" && !is_date(text))
      throw Error(Error::Code::Invalid, "field 'retention' must be a date YYYY-MM-DD, not '" + text.substr(0, 80) + "'");
  }
}

void apply_fields(db::Database& db, int64_t document_id, const json& patch, bool only_new) {
  auto set = db.prepare(std::string(only_new ? "INSERT OR IGNORE" : "INSERT OR REPLACE") +
                        " INTO kb_document_fields(document_id, key, value) VALUES(?, ?, ?)");
  auto unset = db.prepare("DELETE FROM kb_document_fields WHERE document_id = ? AND key = ?");
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      if (only_new) continue;
      unset.reset();
      unset.bind(1, document_id).bind(2, key).run();
    } else {
      set.reset();
      set.bind(1, document_id).bind(2, key).bind(3, field_text(value)).run();
    }
  }
}

bool metadata_matches(const json& value, const std::string& want) {
  if (value.is_array())
    return std::any_of(value.begin(), value.end(),
                       [&](const json& e) { return !e.is_array() && metadata_matches(e, want); });
  if (value.is_string() || value.is_boolean() || value.is_number()) return field_text(value) == want;
  return false;
}

void keep_version(db::Database& db, int64_t document_id, int64_t now) {
  json contents = {{"tags", json::array()}, {"aliases", json::array()}, {"links", json::array()},
                   {"chunks", json::array()}};
  auto tags = db.prepare("SELECT tag FROM kb_tags WHERE document_id = ? ORDER BY ordinal");
  tags.bind(1, document_id);
  while (tags.step()) contents["tags"].push_back(tags.column_text(0));
  auto aliases = db.prepare("SELECT alias FROM kb_aliases WHERE document_id = ? ORDER BY rowid");
  aliases.bind(1, document_id);
  while (aliases.step()) contents["aliases"].push_back(aliases.column_text(0));
  auto links = db.prepare("SELECT target, heading, alias FROM kb_links WHERE document_id = ? ORDER BY ordinal");
  links.bind(1, document_id);
  while (links.step())
    contents["links"].push_back(json::array({links.column_text(0), links.column_text(1), links.column_text(2)}));
  auto chunks = db.prepare("SELECT headings, text, tokens, embedding FROM kb_chunks WHERE document_id = ? ORDER BY ordinal");
  chunks.bind(1, document_id);
  int64_t n_chunks = 0;
  while (chunks.step()) {
    json c = {{"headings", json::parse(chunks.column_text(0), nullptr, false)},
              {"text", chunks.column_text(1)},
              {"tokens", chunks.column_int(2)}};
    if (!c["headings"].is_array()) c["headings"] = json::array();
    if (!chunks.column_is_null(3)) c["embedding"] = json::binary(chunks.column_blob(3));
    contents["chunks"].push_back(std::move(c));
    ++n_chunks;
  }
  const std::vector<uint8_t> cbor = json::to_cbor(contents);
  const std::vector<uint8_t> packed = compress(std::string_view(reinterpret_cast<const char*>(cbor.data()), cbor.size()));

  auto doc = db.prepare(
      "SELECT version, title, format, content_hash, size, metadata, body, ingested_at FROM kb_documents WHERE id = ?");
  doc.bind(1, document_id);
  if (!doc.step()) throw Error(Error::Code::NotFound, "no document " + std::to_string(document_id));
  auto ins = db.prepare(
      "INSERT OR REPLACE INTO kb_document_versions(document_id, version, title, format, content_hash, size, metadata, "
      "chunk_count, body, contents, created_at, replaced_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  ins.bind(1, document_id)
      .bind(2, doc.column_int(0))
      .bind(3, doc.column_text(1))
      .bind(4, doc.column_text(2))
      .bind(5, doc.column_text(3))
      .bind(6, doc.column_int(4))
      .bind(7, doc.column_text(5))
      .bind(8, n_chunks);
  if (doc.column_is_null(6)) {
    ins.bind_null(9);
  } else {
    const std::vector<uint8_t> body = doc.column_blob(6);
    ins.bind_blob(9, body.data(), body.size());
  }
  ins.bind_blob(10, packed.data(), packed.size()).bind(11, doc.column_int(7)).bind(12, now).run();
}

}  // namespace detail

namespace {

Format parse_format(const std::string& s) {
  if (s == "markdown") return Format::Markdown;
  if (s == "html") return Format::Html;
  if (s == "pdf") return Format::Pdf;
  return Format::Text;
}

// The body of a document stored without one: its chunks' texts under their headings (chunks
// overlap, so repeated sentences are possible; only documents not made by prepare_document).
std::string body_from_chunks(const std::vector<std::pair<std::vector<std::string>, std::string>>& chunks) {
  Note note;
  for (const auto& [headings, text] : chunks) note.sections.push_back(Section{headings, text});
  return note_body(note);
}

json version_contents(const std::vector<uint8_t>& packed) {
  const std::string cbor = detail::decompress(packed);
  json j = json::from_cbor(cbor, true, false);
  if (!j.is_object() || !j["chunks"].is_array()) throw std::runtime_error("kb: damaged document version");
  return j;
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    const size_t end = nl == std::string_view::npos ? text.size() : nl;
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace

std::string note_body(const Note& note) {
  std::string out;
  std::vector<std::string> previous;
  for (const Section& s : note.sections) {
    size_t same = 0;
    while (same < previous.size() && same < s.headings.size() && previous[same] == s.headings[same]) ++same;
    for (size_t i = same; i < s.headings.size(); ++i) {
      if (!out.empty()) out += '\n';
      out += std::string(std::min<size_t>(i + 1, 6), '#') + " " + s.headings[i] + "\n";
    }
    if (!s.text.empty()) {
      if (!out.empty()) out += '\n';
      out += s.text;
      if (!s.text.ends_with('\n')) out += '\n';
    }
    previous = s.headings;
  }
  return out;
}

std::string unified_diff(std::string_view from, std::string_view to, const std::string& from_label,
                         const std::string& to_label) {
  if (from == to) return "";
  const std::vector<std::string> a = split_lines(from), b = split_lines(to);
  dtl::Diff<std::string> d(a, b);
  d.onHuge();  // bounded memory on long documents
  d.compose();
  d.composeUnifiedHunks();
  std::ostringstream out;
  out << "--- " << from_label << "\n+++ " << to_label << "\n";
  d.printUnifiedFormat(out);
  return out.str();
}

// ---- KnowledgeStore: versions ----------------------------------------------------------------

std::vector<DocumentVersion> KnowledgeStore::history(const std::string& kb_name, int64_t document_id) {
  std::lock_guard lock(impl_->mu);
  impl_->require_document(impl_->kb_row(kb_name), document_id);
  db::Database& db = impl_->db;
  std::vector<DocumentVersion> out;
  auto cur = db.prepare(
      "SELECT version, title, content_hash, format, size, (SELECT count(*) FROM kb_chunks c WHERE c.document_id = d.id), "
      "ingested_at, metadata FROM kb_documents d WHERE id = ?");
  cur.bind(1, document_id);
  auto read = [](db::Statement& st, DocumentVersion& v) {
    v.version = st.column_int(0);
    v.title = st.column_text(1);
    v.content_hash = st.column_text(2);
    v.format = parse_format(st.column_text(3));
    v.size = st.column_int(4);
    v.chunks = st.column_int(5);
    v.created_at = st.column_int(6);
    v.metadata = json::parse(st.column_text(7), nullptr, false);
    if (!v.metadata.is_object()) v.metadata = json::object();
  };
  if (cur.step()) {
    DocumentVersion v;
    read(cur, v);
    v.current = true;
    out.push_back(std::move(v));
  }
  auto old = db.prepare(
      "SELECT version, title, content_hash, format, size, chunk_count, created_at, metadata, replaced_at "
      "FROM kb_document_versions WHERE document_id = ? ORDER BY version DESC");
  old.bind(1, document_id);
  while (old.step()) {
    DocumentVersion v;
    read(old, v);
    v.replaced_at = old.column_int(8);
    out.push_back(std::move(v));
  }
  return out;
}

std::string KnowledgeStore::version_text(const std::string& kb_name, int64_t document_id, int64_t version) {
  std::lock_guard lock(impl_->mu);
  impl_->require_document(impl_->kb_row(kb_name), document_id);
  db::Database& db = impl_->db;
  auto cur = db.prepare("SELECT version, body FROM kb_documents WHERE id = ?");
  cur.bind(1, document_id);
  cur.step();
  std::vector<std::pair<std::vector<std::string>, std::string>> chunks;
  if (cur.column_int(0) == version) {
    if (!cur.column_is_null(1)) return detail::decompress(cur.column_blob(1));
    auto st = db.prepare("SELECT headings, text FROM kb_chunks WHERE document_id = ? ORDER BY ordinal");
    st.bind(1, document_id);
    while (st.step()) {
      json h = json::parse(st.column_text(0), nullptr, false);
      chunks.emplace_back(h.is_array() ? h.get<std::vector<std::string>>() : std::vector<std::string>{},
                          st.column_text(1));
    }
    return body_from_chunks(chunks);
  }
  auto old = db.prepare("SELECT body, contents FROM kb_document_versions WHERE document_id = ? AND version = ?");
  old.bind(1, document_id).bind(2, version);
  if (!old.step())
    throw Error(Error::Code::NotFound, "document " + std::to_string(document_id) + " has no version " +
                                           std::to_string(version));
  if (!old.column_is_null(0)) return detail::decompress(old.column_blob(0));
  const json contents = version_contents(old.column_blob(1));
  for (const json& c : contents["chunks"])
    chunks.emplace_back(c.value("headings", std::vector<std::string>{}), c.value("text", std::string()));
  return body_from_chunks(chunks);
}

std::string KnowledgeStore::diff(const std::string& kb_name, int64_t document_id, int64_t from, int64_t to) {
  const std::string a = version_text(kb_name, document_id, from);
  const std::string b = version_text(kb_name, document_id, to);
  return unified_diff(a, b, "version " + std::to_string(from), "version " + std::to_string(to));
}

int64_t KnowledgeStore::restore_version(const std::string& kb_name, int64_t document_id, int64_t version) {
  std::lock_guard lock(impl_->mu);
  const detail::KbRow kb = impl_->kb_row(kb_name);
  impl_->require_document(kb, document_id);
  db::Database& db = impl_->db;
  auto cur = db.prepare("SELECT version, path FROM kb_documents WHERE id = ?");
  cur.bind(1, document_id);
  cur.step();
  if (cur.column_int(0) == version) return version;  // already current
  DocumentInput doc;
  doc.path = cur.column_text(1);
  auto old = db.prepare(
      "SELECT title, format, content_hash, size, metadata, body, contents FROM kb_document_versions "
      "WHERE document_id = ? AND version = ?");
  old.bind(1, document_id).bind(2, version);
  if (!old.step())
    throw Error(Error::Code::NotFound, "document " + std::to_string(document_id) + " has no version " +
                                           std::to_string(version));
  doc.title = old.column_text(0);
  doc.format = parse_format(old.column_text(1));
  doc.content_hash = old.column_text(2);
  doc.size = old.column_int(3);
  doc.metadata = json::parse(old.column_text(4), nullptr, false);
  if (!doc.metadata.is_object()) doc.metadata = json::object();
  if (!old.column_is_null(5)) doc.body = detail::decompress(old.column_blob(5));
  const json contents = version_contents(old.column_blob(6));
  doc.tags = contents.value("tags", std::vector<std::string>{});
  doc.aliases = contents.value("aliases", std::vector<std::string>{});
  for (const json& l : contents.value("links", json::array()))
    if (l.is_array() && l.size() == 3) doc.links.push_back(Link{l[0], l[1], l[2]});
  for (const json& c : contents["chunks"]) {
    ChunkInput in;
    in.headings = c.value("headings", std::vector<std::string>{});
    in.text = c.value("text", std::string());
    in.tokens = c.value("tokens", size_t(0));
    if (c.contains("embedding") && c["embedding"].is_binary()) {
      const auto& bytes = c["embedding"].get_binary();
      in.embedding.resize(bytes.size() / sizeof(float));
      std::memcpy(in.embedding.data(), bytes.data(), in.embedding.size() * sizeof(float));
    }
    doc.chunks.push_back(std::move(in));
  }
  impl_->put_locked(kb, doc);
  return impl_->document_locked(document_id).version;
}

// ---- KnowledgeStore: fields ------------------------------------------------------------------

void KnowledgeStore::set_fields(const std::string& kb_name, int64_t document_id, const json& patch) {
  std::lock_guard lock(impl_->mu);
  impl_->require_document(impl_->kb_row(kb_name), document_id);
  detail::check_fields(patch);
  db::Transaction tx(impl_->db);
  detail::apply_fields(impl_->db, document_id, patch, false);
  tx.commit();
}

namespace {

constexpr const char* kDocumentsByField =
    "SELECT b.name, d.id FROM kb_document_fields f JOIN kb_documents d ON d.id = f.document_id "
    "JOIN kb_bases b ON b.id = d.kb_id ";

}  // namespace

std::vector<DocumentRef> KnowledgeStore::documents_with_field(const std::string& key, const std::string& value) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->db.prepare(std::string(kDocumentsByField) + "WHERE f.key = ? AND f.value = ? ORDER BY b.name, d.path");
  st.bind(1, key).bind(2, value);
  std::vector<std::pair<std::string, int64_t>> ids;
  while (st.step()) ids.emplace_back(st.column_text(0), st.column_int(1));
  std::vector<DocumentRef> out;
  for (const auto& [kb, id] : ids) out.push_back({kb, impl_->document_locked(id)});
  return out;
}

std::vector<DocumentRef> KnowledgeStore::retention_expired(const std::string& date) {
  detail::check_fields(json{{"retention", date}});
  std::lock_guard lock(impl_->mu);
  // set_fields admits only YYYY-MM-DD, so text order is date order.
  auto st = impl_->db.prepare(std::string(kDocumentsByField) +
                              "WHERE f.key = 'retention' AND f.value < ? ORDER BY b.name, d.path");
  st.bind(1, date);
  std::vector<std::pair<std::string, int64_t>> ids;
  while (st.step()) ids.emplace_back(st.column_text(0), st.column_int(1));
  std::vector<DocumentRef> out;
  for (const auto& [kb, id] : ids) out.push_back({kb, impl_->document_locked(id)});
  return out;
}

}  // namespace inhouse::kb
