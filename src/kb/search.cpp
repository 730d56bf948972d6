// kb/search.cpp — keyword, vector and hybrid search over a kb, and the text helpers behind the
// keyword index.
//
// Keyword index: an FTS5 table with the unicode61 tokenizer over text pre-segmented by ICU's word
// break iterator (words joined by spaces). unicode61 alone treats a run of Chinese characters as
// one token, so "数据库" would never match inside "我们使用向量数据库进行语义搜索"; the trigram
// tokenizer would, but only for queries of 3+ characters, and most Chinese words have 2
// ("语义", "向量"). ICU's dictionary-based segmentation splits CJK runs into words and leaves
// other scripts as they are, so the same code path serves every language. The query goes
// through the same segmentation, and each word becomes a quoted FTS5 string, ORed: user text
// is never parsed as FTS5 syntax. Ranking: bm25 (score = -bm25, higher is better).
//
// Hybrid: reciprocal-rank fusion, score = Σ 1 / (60 + rank) over the vector and keyword lists
// (k = 60 as in Cormack et al. 2009: damps the head of each list so neither score scale
// dominates). Each list contributes its top max(k, 50) candidates.
//
// Filters (SearchQuery::documents, ::where) become a set of allowed document ids, applied inside
// both lists — the keyword query's WHERE, the vector index's selector — never after them, so a
// filter that hides most of the top of the index still leaves k hits when k exist.
#include <unicode/brkiter.h>
#include <unicode/ubrk.h>
#include <unicode/unistr.h>
#include <unicode/utext.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

#include "kb/kb_internal.h"

namespace inhouse::kb {
namespace detail {
namespace {

icu::BreakIterator& word_breaker() {
  // Creating a break iterator loads ICU's rules and dictionaries (milliseconds): one per thread.
  thread_local std::unique_ptr<icu::BreakIterator> it = [] {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::BreakIterator> bi(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), status));
    if (U_FAILURE(status) || !bi) throw std::runtime_error(std::string("kb: ICU word breaker: ") + u_errorName(status));
    return bi;
  }();
  return *it;
}

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Moves `pos` back (or forward) by up to n code points.
size_t back_chars(std::string_view s, size_t pos, size_t n) {
  while (pos > 0 && n > 0) {
    --pos;
    while (pos > 0 && is_continuation(s[pos])) --pos;
    --n;
  }
  return pos;
}

size_t forward_chars(std::string_view s, size_t pos, size_t n) {
  while (pos < s.size() && n > 0) {
    ++pos;
    while (pos < s.size() && is_continuation(s[pos])) ++pos;
    --n;
  }
  return pos;
}

void append_flat(std::string& out, std::string_view piece) {
  for (char c : piece) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
}

}  // namespace

std::vector<Word> words(std::string_view text) {
  std::vector<Word> out;
  if (text.empty() || text.size() > size_t(INT32_MAX)) return out;
  UErrorCode status = U_ZERO_ERROR;
  UText* ut = utext_openUTF8(nullptr, text.data(), int64_t(text.size()), &status);
  if (U_FAILURE(status)) return out;
  icu::BreakIterator& it = word_breaker();
  it.setText(ut, status);  // offsets are then byte offsets into the UTF-8 text
  if (U_SUCCESS(status)) {
    for (int32_t b = it.first(), e = it.next(); e != icu::BreakIterator::DONE; b = e, e = it.next())
      if (it.getRuleStatus() >= UBRK_WORD_NONE_LIMIT) out.push_back({size_t(b), size_t(e)});
  }
  utext_close(ut);
  return out;
}

std::string segment(std::string_view text) {
  std::string out;
  for (const Word& w : words(text)) {
    if (!out.empty()) out += ' ';
    out.append(text.substr(w.begin, w.end - w.begin));
  }
  return out;
}

std::string fold(std::string_view text) {
  std::string out;
  icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), int32_t(text.size()))).foldCase().toUTF8String(out);
  return out;
}

std::vector<std::string> fts_terms(std::string_view text) {
  // Runs become phrases because ICU's dictionary cuts some Chinese words into pieces
  // ("数据库" → 数据 库, "语义" → 语 义): the phrase "数据 库" ranks text with the whole word
  // above text with only one piece.
  constexpr size_t kMaxTerms = 64;  // a pasted page must not become a huge query
  const std::vector<Word> ws = words(text);
  std::vector<std::string> terms;
  std::set<std::string> seen;
  auto add = [&](std::string term) {
    if (terms.size() < kMaxTerms && seen.insert(term).second) terms.push_back(std::move(term));
  };
  for (size_t i = 0; i < ws.size();) {
    size_t j = i + 1;
    while (j < ws.size() && ws[j].begin == ws[j - 1].end) ++j;
    if (j - i > 1) {
      std::string phrase;
      for (size_t t = i; t < j; ++t) {
        if (t > i) phrase += ' ';
        phrase += fold(text.substr(ws[t].begin, ws[t].end - ws[t].begin));
      }
      add(phrase);
    }
    for (size_t t = i; t < j; ++t) add(fold(text.substr(ws[t].begin, ws[t].end - ws[t].begin)));
    i = j;
  }
  return terms;
}

std::string fts_match(const std::vector<std::string>& terms) {
  std::string out;
  for (const std::string& term : terms) {
    if (!out.empty()) out += " OR ";
    out += '"';
    for (char c : term) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    out += '"';
  }
  return out;
}

std::string snippet(std::string_view text, std::string_view query) {
  constexpr size_t kBefore = 40, kLength = 160;  // characters
  std::set<std::string> terms;
  for (const Word& w : words(query)) terms.insert(fold(query.substr(w.begin, w.end - w.begin)));
  std::vector<Word> matches;
  if (!terms.empty())
    for (const Word& w : words(text))
      if (terms.count(fold(text.substr(w.begin, w.end - w.begin)))) matches.push_back(w);

  const size_t start = matches.empty() ? 0 : back_chars(text, matches[0].begin, kBefore);
  size_t end = forward_chars(text, start, kLength);
  std::string out = start > 0 ? "…" : "";
  size_t pos = start;
  for (const Word& m : matches) {
    if (m.begin < pos) continue;
    if (m.begin >= end) break;
    end = std::max(end, m.end);
    if (m.begin == pos && pos > start && out.ends_with(']')) {
      out.pop_back();  // adjacent pieces of one word (数据|库) share one mark
    } else {
      append_flat(out, text.substr(pos, m.begin - pos));
      out += '[';
    }
    append_flat(out, text.substr(m.begin, m.end - m.begin));
    out += ']';
    pos = m.end;
  }
  append_flat(out, text.substr(pos, end - pos));
  if (end < text.size()) out += "…";
  return out;
}

}  // namespace detail

namespace {

using Ranked = std::vector<std::pair<int64_t, double>>;  // (chunk id, score), best first

// Drops single words found in more than half of the kb's chunks, unless nothing rarer is left.
// FTS5's bm25 clamps such a word's IDF, log((N - n + 0.5) / (n + 0.5)), to ~0, so it adds
// nothing to any score, but OR-ing it makes MATCH score most of the table (bench_kb, 100k
// chunks of Zipf text: keyword p50 104 → 23 ms, CPU per query 32 → 16 ms).
std::vector<std::string> without_common_words(db::Database& db, const detail::KbRow& kb,
                                              std::vector<std::string> terms) {
  if (kb.chunks < 8) return terms;
  const std::string vocab = "temp." + detail::fts_table(kb.id) + "_vocab";
  db.exec("CREATE VIRTUAL TABLE IF NOT EXISTS " + vocab + " USING fts5vocab(main, '" + detail::fts_table(kb.id) +
          "', 'row')");
  auto df = db.prepare("SELECT doc FROM " + vocab + " WHERE term = ?");
  std::vector<std::string> kept;
  std::string rarest_common;
  int64_t rarest_df = INT64_MAX;
  for (std::string& t : terms) {
    if (t.find(' ') != std::string::npos) {  // phrases are rarer than their words: keep
      kept.push_back(std::move(t));
      continue;
    }
    df.reset();
    df.bind(1, t);
    const int64_t n = df.step() ? df.column_int(0) : 0;
    if (n * 2 <= kb.chunks) {
      kept.push_back(std::move(t));
    } else if (n < rarest_df) {
      rarest_df = n;
      rarest_common = std::move(t);
    }
  }
  if (kept.empty() && !rarest_common.empty()) kept.push_back(rarest_common);
  return kept;
}

// A JSON array of ids: how an allow-list reaches SQL (json_each), whatever its size.
std::string json_ids(const DocumentIds& ids) {
  std::string out = "[";
  for (int64_t id : ids) {
    if (out.size() > 1) out += ',';
    out += std::to_string(id);
  }
  return out + "]";
}

// With `allowed`, the filter is part of the query (the chunk's document must be in the list), so
// LIMIT n counts only allowed chunks: n hits whenever n allowed chunks match.
Ranked keyword_list(db::Database& db, const detail::KbRow& kb, const std::string& text, size_t n,
                    const std::optional<DocumentIds>& allowed) {
  const std::string match = detail::fts_match(without_common_words(db, kb, detail::fts_terms(text)));
  if (match.empty()) return {};
  // Body matches weigh twice the title/heading context.
  const std::string table = detail::fts_table(kb.id);
  std::string sql = "SELECT rowid, bm25(" + table + ", 1.0, 0.5) AS r FROM " + table + " WHERE " + table + " MATCH ?1";
  if (allowed)
    sql += " AND (SELECT c.document_id FROM kb_chunks c WHERE c.id = " + table +
           ".rowid) IN (SELECT value FROM json_each(?3))";
  auto st = db.prepare(sql + " ORDER BY r LIMIT ?2");
  st.bind(1, match).bind(2, int64_t(n));
  if (allowed) st.bind(3, json_ids(*allowed));
  Ranked out;
  while (st.step()) out.emplace_back(st.column_int(0), -st.column_double(1));
  return out;
}

// The chunks of the allowed documents (those without vectors are simply not in the index).
// Only the (document_id, ordinal) index is read: testing `embedding IS NOT NULL` would load each
// embedding blob from its overflow pages (bench_kb, 10k x 384, half the documents allowed:
// 8.4 → 3.7 ms CPU per query).
std::vector<int64_t> allowed_vector_chunks(db::Database& db, const DocumentIds& allowed) {
  auto st = db.prepare("SELECT id FROM kb_chunks WHERE document_id IN (SELECT value FROM json_each(?))");
  st.bind(1, json_ids(allowed));
  std::vector<int64_t> ids;
  while (st.step()) ids.push_back(st.column_int(0));
  return ids;
}

std::vector<float> normalised_query(const std::vector<float>& v, int dim) {
  if (int(v.size()) != dim)
    throw Error(Error::Code::Invalid, "query embedding has " + std::to_string(v.size()) +
                                          " dimensions, the knowledge base has " + std::to_string(dim));
  double norm = 0;
  for (float x : v) {
    if (!std::isfinite(x)) throw Error(Error::Code::Invalid, "query embedding has a NaN or infinite value");
    norm += double(x) * x;
  }
  if (norm == 0) throw Error(Error::Code::Invalid, "query embedding is all zeros");
  std::vector<float> out(v);
  for (float& x : out) x = float(x / std::sqrt(norm));
  return out;
}

}  // namespace

std::optional<DocumentIds> KnowledgeStore::Impl::allowed_locked(const detail::KbRow& kb,
                                                                const std::optional<DocumentIds>& documents,
                                                                const std::map<std::string, std::string>& where) {
  if (where.empty()) return documents;
  // Custom fields first: a document with the field is judged by it alone, never by metadata.
  std::unordered_map<int64_t, std::map<std::string, std::string>> fields;
  auto f = db.prepare(
      "SELECT f.document_id, f.key, f.value FROM kb_document_fields f JOIN kb_documents d ON d.id = f.document_id "
      "WHERE d.kb_id = ?");
  f.bind(1, kb.id);
  while (f.step())
    if (where.count(f.column_text(1))) fields[f.column_int(0)][f.column_text(1)] = f.column_text(2);
  DocumentIds out;
  auto st = db.prepare("SELECT id, metadata FROM kb_documents WHERE kb_id = ?");
  st.bind(1, kb.id);
  while (st.step()) {
    const int64_t id = st.column_int(0);
    if (documents && !documents->count(id)) continue;
    const auto own = fields.find(id);
    nlohmann::json metadata;  // parsed only when a key is not a custom field
    bool ok = true;
    for (const auto& [key, want] : where) {
      if (own != fields.end() && own->second.count(key)) {
        ok = own->second.at(key) == want;
      } else {
        if (metadata.is_null()) {
          metadata = nlohmann::json::parse(st.column_text(1), nullptr, false);
          if (!metadata.is_object()) metadata = nlohmann::json::object();
        }
        const auto it = metadata.find(key);
        ok = it != metadata.end() && detail::metadata_matches(*it, want);
      }
      if (!ok) break;
    }
    if (ok) out.insert(id);
  }
  return out;
}

std::optional<DocumentIds> KnowledgeStore::allowed_documents(const std::string& kb_name,
                                                             const std::optional<DocumentIds>& documents,
                                                             const std::map<std::string, std::string>& where) {
  std::lock_guard lock(impl_->mu);
  return impl_->allowed_locked(impl_->kb_row(kb_name), documents, where);
}

SearchResult KnowledgeStore::search(const std::string& kb_name, const SearchQuery& query) {
  std::lock_guard lock(impl_->mu);
  const detail::KbRow kb = impl_->kb_row(kb_name);
  SearchResult result;
  result.mode_used = query.mode;
  const size_t k = std::min<size_t>(query.k, 1000);
  if (k == 0) return result;

  std::vector<float> qv;
  if (kb.dim > 0 && !query.embedding.empty()) qv = normalised_query(query.embedding, kb.dim);
  detail::VectorIndex* index = nullptr;
  if (query.mode != SearchMode::Keyword && !qv.empty()) {
    index = impl_->index_of(kb).index.get();
    if (index->live() == 0) index = nullptr;
  }
  if (query.mode != SearchMode::Keyword && !index) {
    result.mode_used = SearchMode::Keyword;
    result.note = "no embedding model: keyword search only";
  }
  const SearchMode mode = result.mode_used;
  const size_t n = mode == SearchMode::Hybrid ? std::max<size_t>(k, 50) : k;

  const std::optional<DocumentIds> allowed = impl_->allowed_locked(kb, query.documents, query.where);
  if (allowed && allowed->empty()) return result;
  Ranked vec, key;
  if (mode != SearchMode::Keyword) {
    std::vector<int64_t> chunk_ids;
    if (allowed) chunk_ids = allowed_vector_chunks(impl_->db, *allowed);
    for (auto [id, s] : index->search(qv.data(), n, allowed ? &chunk_ids : nullptr)) vec.emplace_back(id, s);
  }
  if (mode != SearchMode::Vector) key = keyword_list(impl_->db, kb, query.text, n, allowed);

  struct Fused {
    double score = 0;
    std::optional<int> vrank, krank;
  };
  std::unordered_map<int64_t, Fused> fused;
  std::vector<int64_t> order;
  auto take = [&](const Ranked& list, bool is_vector) {
    for (size_t i = 0; i < list.size(); ++i) {
      auto [it, fresh] = fused.try_emplace(list[i].first);
      if (fresh) order.push_back(list[i].first);
      const int rank = int(i) + 1;
      (is_vector ? it->second.vrank : it->second.krank) = rank;
      it->second.score += mode == SearchMode::Hybrid ? 1.0 / (60.0 + rank) : list[i].second;
    }
  };
  take(vec, true);
  take(key, false);
  if (mode == SearchMode::Hybrid) {
    auto best_rank = [&](int64_t id) {
      const Fused& f = fused[id];
      return std::min(f.vrank.value_or(INT32_MAX), f.krank.value_or(INT32_MAX));
    };
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      if (fused[a].score != fused[b].score) return fused[a].score > fused[b].score;
      return best_rank(a) < best_rank(b);
    });
  }
  if (order.size() > k) order.resize(k);

  for (int64_t id : order) {
    SearchHit hit;
    try {
      hit.chunk = impl_->stored_chunk(id, &hit.path, &hit.title);
    } catch (const Error&) {
      continue;  // vanished between the index and the table (cannot happen under the mutex)
    }
    const Fused& f = fused[id];
    hit.score = f.score;
    hit.vector_rank = f.vrank;
    hit.keyword_rank = f.krank;
    hit.snippet = detail::snippet(hit.chunk.text, query.text);
    result.hits.push_back(std::move(hit));
  }
  impl_->after_use(kb);
  return result;
}

}  // namespace inhouse::kb
