// kb/tier.cpp — storage tiers per knowledge base, chosen by last access.
//
// hot: the vector index stays in memory once loaded (the default).
// warm: the index is read from its file when a search needs it and dropped from memory after
//   (saved first when dirty), so an idle kb costs no memory.
// cold: the kb's chunks (text, embeddings) and FTS rows move into data_dir/kb/<id>.cold.zst
//   (zstd of CBOR) and out of SQLite; documents, versions and fields stay. The first access
//   restores them (the kb becomes warm). Chunk ids are kept, and the generation is not bumped,
//   so the .faiss file stays valid across the round trip.
//
// Crash safety. Archiving: the archive is written to a temp file, fsynced, renamed and the
// folder fsynced BEFORE the transaction that deletes the rows and marks the kb archived; a crash
// in between leaves an archive of a kb not marked archived, which open() deletes (the rows are
// still in SQLite). Restoring: one transaction inserts the rows and clears the mark BEFORE the
// archive is unlinked; a crash in between leaves the same harmless orphan. A write between
// reading the rows and the delete transaction (another process) is detected by the generation
// and the archive is abandoned.
#include <fcntl.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <iterator>

#include "kb/kb_internal.h"

namespace fs = std::filesystem;

namespace inhouse::kb {

using nlohmann::json;

namespace {

constexpr int64_t kTouchEvery = 60;  // seconds between writes of a kb's last_access

void fsync_file(const fs::path& p, bool directory) {
  const int fd = ::open(p.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

const char* tier_name(Tier t) {
  switch (t) {
    case Tier::Hot: return "hot";
    case Tier::Warm: return "warm";
    case Tier::Cold: return "cold";
  }
  return "hot";
}

std::optional<Tier> parse_tier(std::string_view name) {
  if (name == "hot") return Tier::Hot;
  if (name == "warm") return Tier::Warm;
  if (name == "cold") return Tier::Cold;
  return std::nullopt;
}

fs::path KnowledgeStore::Impl::archive_path(int64_t kb_id) const {
  return data_dir / "kb" / (std::to_string(kb_id) + ".cold.zst");
}

void KnowledgeStore::Impl::touch(int64_t kb_id) {
  const int64_t now = std::time(nullptr);
  int64_t& written = touched[kb_id];
  if (now - written < kTouchEvery) return;
  db.prepare("UPDATE kb_bases SET last_access = max(last_access, ?) WHERE id = ?").bind(1, now).bind(2, kb_id).run();
  written = now;
}

void KnowledgeStore::Impl::archive(const detail::KbRow& kb) {
  if (kb.archived) return;
  // The index file must match the rows it will be restored with.
  auto it = indexes.find(kb.id);
  if (it != indexes.end() && it->second.index && it->second.dirty && it->second.generation == kb.generation)
    save(kb.id, it->second);
  indexes.erase(kb.id);

  json chunks = json::array(), fts = json::array();
  auto c = db.prepare(
      "SELECT c.id, c.document_id, c.ordinal, c.headings, c.text, c.tokens, c.embedding FROM kb_chunks c "
      "JOIN kb_documents d ON d.id = c.document_id WHERE d.kb_id = ? ORDER BY c.id");
  c.bind(1, kb.id);
  while (c.step())
    chunks.push_back(json::array({c.column_int(0), c.column_int(1), c.column_int(2), c.column_text(3), c.column_text(4),
                                  c.column_int(5),
                                  c.column_is_null(6) ? json(nullptr) : json::binary(c.column_blob(6))}));
  auto f = db.prepare("SELECT rowid, body, context FROM " + detail::fts_table(kb.id));
  while (f.step()) fts.push_back(json::array({f.column_int(0), f.column_text(1), f.column_text(2)}));
  const std::vector<uint8_t> cbor = json::to_cbor(json{{"kb", kb.id}, {"generation", kb.generation},
                                                        {"chunks", std::move(chunks)}, {"fts", std::move(fts)}});
  const std::vector<uint8_t> packed =
      detail::compress(std::string_view(reinterpret_cast<const char*>(cbor.data()), cbor.size()));

  const fs::path p = archive_path(kb.id);
  const fs::path tmp = p.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(packed.data()), std::streamsize(packed.size()));
    out.close();
    if (!out) throw db::Error("kb: cannot write " + tmp.string(), 0);
  }
  fsync_file(tmp, false);
  fs::rename(tmp, p);
  fsync_file(p.parent_path(), true);

  db::Transaction tx(db);
  auto check = db.prepare("SELECT generation, archived FROM kb_bases WHERE id = ?");
  check.bind(1, kb.id);
  if (!check.step() || check.column_int(0) != kb.generation || check.column_int(1) != 0) {
    std::error_code ec;
    fs::remove(p, ec);  // written to meanwhile (or archived by another process): not this time
    return;
  }
  db.exec("DELETE FROM " + detail::fts_table(kb.id));
  db.prepare("DELETE FROM kb_chunks WHERE document_id IN (SELECT id FROM kb_documents WHERE kb_id = ?)")
      .bind(1, kb.id)
      .run();
  db.prepare("UPDATE kb_bases SET tier = 'cold', archived = 1 WHERE id = ?").bind(1, kb.id).run();
  tx.commit();
}

void KnowledgeStore::Impl::unarchive(int64_t kb_id) {
  const fs::path p = archive_path(kb_id);
  std::ifstream in(p, std::ios::binary);
  if (!in) throw db::Error("kb: knowledge base " + std::to_string(kb_id) + " is archived but " + p.string() + " is missing", 0);
  const std::vector<uint8_t> packed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string cbor = detail::decompress(packed);
  const json a = json::from_cbor(cbor, true, false);
  if (!a.is_object() || a.value("kb", int64_t(-1)) != kb_id || !a["chunks"].is_array() || !a["fts"].is_array())
    throw db::Error("kb: damaged archive " + p.string(), 0);
  {
    db::Transaction tx(db);
    auto check = db.prepare("SELECT archived FROM kb_bases WHERE id = ?");
    check.bind(1, kb_id);
    if (check.step() && check.column_int(0) == 1) {  // else another process restored it first
      auto chunk = db.prepare(
          "INSERT INTO kb_chunks(id, document_id, ordinal, headings, text, tokens, embedding) VALUES(?, ?, ?, ?, ?, ?, ?)");
      for (const json& c : a["chunks"]) {
        chunk.reset();
        chunk.bind(1, c[0].get<int64_t>()).bind(2, c[1].get<int64_t>()).bind(3, c[2].get<int64_t>());
        chunk.bind(4, c[3].get<std::string>()).bind(5, c[4].get<std::string>()).bind(6, c[5].get<int64_t>());
        if (c[6].is_binary())
          chunk.bind_blob(7, c[6].get_binary().data(), c[6].get_binary().size());
        else
          chunk.bind_null(7);
        chunk.run();
      }
      auto fts = db.prepare("INSERT INTO " + detail::fts_table(kb_id) + "(rowid, body, context) VALUES(?, ?, ?)");
      for (const json& r : a["fts"]) {
        fts.reset();
        fts.bind(1, r[0].get<int64_t>()).bind(2, r[1].get<std::string>()).bind(3, r[2].get<std::string>()).run();
      }
      db.prepare("UPDATE kb_bases SET tier = 'warm', archived = 0 WHERE id = ?").bind(1, kb_id).run();
    }
    tx.commit();
  }
  std::error_code ec;
  fs::remove(p, ec);
  fsync_file(p.parent_path(), true);
}

void KnowledgeStore::Impl::after_use(const detail::KbRow& kb) {
  if (kb.tier != "warm") return;
  auto it = indexes.find(kb.id);
  if (it == indexes.end()) return;
  if (it->second.index && it->second.dirty) save(kb.id, it->second);
  indexes.erase(it);
}

// ---- KnowledgeStore ----------------------------------------------------------------------------

TierInfo KnowledgeStore::Impl::tier_of(int64_t kb_id) {
  auto st = db.prepare("SELECT name, tier, last_access, archived, created_at FROM kb_bases WHERE id = ?");
  st.bind(1, kb_id);
  if (!st.step()) throw Error(Error::Code::NotFound, "no knowledge base " + std::to_string(kb_id));
  TierInfo t;
  t.kb = st.column_text(0);
  t.tier = parse_tier(st.column_text(1)).value_or(Tier::Hot);
  t.last_access = std::max(st.column_int(2), touched.count(kb_id) ? touched[kb_id] : 0);
  if (t.last_access == 0) t.last_access = st.column_int(4);
  t.archived = st.column_int(3) != 0;
  auto it = indexes.find(kb_id);
  t.index_loaded = it != indexes.end() && it->second.index != nullptr;
  std::error_code ec;
  if (t.archived) t.archive_bytes = int64_t(fs::file_size(archive_path(kb_id), ec));
  if (ec) t.archive_bytes = 0;
  return t;
}

void KnowledgeStore::set_tier(const std::string& kb_name, Tier tier) {
  std::lock_guard lock(impl_->mu);
  const detail::KbRow kb = impl_->kb_row(kb_name, false);
  if (tier == Tier::Cold) {
    impl_->archive(kb);
    return;
  }
  if (kb.archived) impl_->unarchive(kb.id);
  impl_->db.prepare("UPDATE kb_bases SET tier = ? WHERE id = ?").bind(1, tier_name(tier)).bind(2, kb.id).run();
  if (tier == Tier::Warm) impl_->after_use(impl_->kb_row(kb_name, false));
}

TierInfo KnowledgeStore::tier_info(const std::string& kb_name) {
  std::lock_guard lock(impl_->mu);
  return impl_->tier_of(impl_->kb_row(kb_name, false).id);
}

std::vector<TierInfo> KnowledgeStore::tier_info() {
  std::lock_guard lock(impl_->mu);
  std::vector<int64_t> ids;
  for (auto st = impl_->db.prepare("SELECT id FROM kb_bases ORDER BY name"); st.step();) ids.push_back(st.column_int(0));
  std::vector<TierInfo> out;
  for (int64_t id : ids) out.push_back(impl_->tier_of(id));
  return out;
}

std::vector<TierInfo> KnowledgeStore::apply_tier_policy(int64_t warm_after_s, int64_t cold_after_s, int64_t now) {
  std::vector<TierInfo> changed;
  for (const TierInfo& t : tier_info()) {
    const int64_t idle = now - t.last_access;
    std::optional<Tier> to;
    if (cold_after_s > 0 && idle >= cold_after_s && !t.archived)
      to = Tier::Cold;
    else if (warm_after_s > 0 && idle >= warm_after_s && t.tier == Tier::Hot)
      to = Tier::Warm;
    if (!to) continue;
    set_tier(t.kb, *to);
    changed.push_back(tier_info(t.kb));
  }
  return changed;
}

}  // namespace inhouse::kb
