// kb/answer.cpp — what a chat model is asked when it answers from notes: the retrieved sources
// (plus notes linked from the best ones), numbered so the answer can cite them as [n], and the
// prompts that summarise a note piece by piece.
#include <set>

#include "kb/kb.h"

namespace inhouse::kb {
namespace {

constexpr size_t kLinkedFromTopHits = 3;  // whose outgoing links may add context

}  // namespace

std::vector<Source> retrieve_sources(KnowledgeStore& store, const std::string& kb, const SearchQuery& query,
                                     bool with_links, size_t max_context_tokens, const TokenCounter& count) {
  const SearchResult result = store.search(kb, query);
  std::vector<Source> sources;
  std::set<int64_t> seen;
  size_t used = 0;
  auto add = [&](const StoredChunk& c, const std::string& path, const std::string& title, bool linked) {
    if (!seen.insert(c.id).second) return true;
    const size_t tokens = count(c.text);
    if (!sources.empty() && used + tokens > max_context_tokens) return false;
    used += tokens;
    sources.push_back({.number = int(sources.size()) + 1, .path = path, .title = title, .headings = c.headings,
                       .chunk_id = c.id, .text = c.text, .linked = linked});
    return true;
  };
  for (const SearchHit& h : result.hits)
    if (!add(h.chunk, h.path, h.title, false)) return sources;
  if (!with_links) return sources;

  // Linked notes pass the same filter as hits: links() resolves names among the allowed
  // documents only, so a link to a hidden note is dangling here.
  const std::optional<DocumentIds> allowed = store.allowed_documents(kb, query.documents, query.where);
  std::set<std::string> linked_docs;
  for (size_t i = 0; i < result.hits.size() && i < kLinkedFromTopHits; ++i) {
    for (const NoteLink& l : store.links(kb, result.hits[i].path, allowed).outgoing) {
      if (!l.resolved || (allowed && !allowed->count(*l.resolved)) || !linked_docs.insert(l.to_path).second) continue;
      const std::vector<StoredChunk> chunks = store.chunks(kb, *l.resolved);
      if (!chunks.empty() && !add(chunks.front(), l.to_path, l.to_title, true)) return sources;
    }
  }
  return sources;
}

RagPrompt build_rag_prompt(const std::string& question, const std::vector<Source>& sources) {
  RagPrompt p;
  p.sources = sources;
  const std::string system =
      "You answer questions using only the numbered sources below, which come from the user's own notes. "
      "Cite the sources that support each statement as [1], [2], ... right after it. Do not use outside "
      "knowledge. If the sources do not contain the answer, reply exactly: " +
      std::string(kNoAnswer);
  std::string user = "Sources:\n";
  for (const Source& s : sources) {
    user += "\n[" + std::to_string(s.number) + "] " + heading_trail(s.title, s.headings) +
            (s.linked ? " (linked note)" : "") + "\n" + s.text + "\n";
  }
  user += "\nQuestion: " + question;
  p.messages = nlohmann::json::array({{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", user}}});
  return p;
}

std::vector<int> cited_sources(std::string_view answer, size_t n_sources) {
  std::vector<int> out;
  std::set<int> seen;
  for (size_t open = answer.find('['); open != std::string_view::npos; open = answer.find('[', open + 1)) {
    const size_t close = answer.find(']', open);
    if (close == std::string_view::npos) break;
    const std::string_view inside = answer.substr(open + 1, close - open - 1);
    if (inside.empty() || inside.find_first_not_of("0123456789, ") != std::string_view::npos) continue;
    int n = -1;
    for (size_t i = 0; i <= inside.size(); ++i) {
      const char c = i < inside.size() ? inside[i] : ',';
      if (c >= '0' && c <= '9') {
        n = (n < 0 ? 0 : n) * 10 + (c - '0');
        if (n > 1000000) n = 1000000;
      } else if (n >= 0) {
        if (n >= 1 && size_t(n) <= n_sources && seen.insert(n).second) out.push_back(n);
        n = -1;
      }
    }
  }
  return out;
}

std::vector<std::string> summary_pieces(const std::vector<StoredChunk>& chunks, size_t max_tokens,
                                        const TokenCounter& count) {
  std::vector<std::string> pieces;
  std::string piece;
  size_t tokens = 0;
  for (const StoredChunk& c : chunks) {
    const size_t n = count(c.text);
    if (!piece.empty() && tokens + n > max_tokens) {
      pieces.push_back(std::move(piece));
      piece.clear();
      tokens = 0;
    }
    if (!piece.empty()) piece += "\n\n";
    piece += c.text;
    tokens += n;
  }
  if (!piece.empty()) pieces.push_back(std::move(piece));
  return pieces;
}

nlohmann::json summary_messages(const std::string& title, const std::string& text, bool combine) {
  const std::string system =
      combine ? "You combine partial summaries of one note into a single concise summary: the main points "
                "as a short paragraph followed by at most five bullet points. Use only what the partial "
                "summaries say."
              : "You summarise notes. Write a concise summary of the text: its main points as a short "
                "paragraph followed by at most five bullet points. Use only what the text says.";
  const std::string user = (combine ? "Partial summaries of the note \"" : "Note \"") + title + "\":\n\n" + text;
  return nlohmann::json::array({{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", user}}});
}

}  // namespace inhouse::kb
