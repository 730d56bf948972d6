// kb/search_json.cpp — search modes by name and a search result as JSON: the one shape both
// `inhouse kb search --json` and POST /api/v1/kb/NAME/search answer with.
#include "kb/kb.h"

namespace inhouse::kb {

const char* search_mode_name(SearchMode mode) {
  switch (mode) {
    case SearchMode::Vector: return "vector";
    case SearchMode::Keyword: return "keyword";
    case SearchMode::Hybrid: return "hybrid";
  }
  return "?";
}

std::optional<SearchMode> parse_search_mode(std::string_view name) {
  for (SearchMode m : {SearchMode::Vector, SearchMode::Keyword, SearchMode::Hybrid})
    if (name == search_mode_name(m)) return m;
  return std::nullopt;
}

nlohmann::json search_result_json(const std::string& kb, const SearchResult& r) {
  nlohmann::json hits = nlohmann::json::array();
  for (size_t i = 0; i < r.hits.size(); ++i) {
    const SearchHit& h = r.hits[i];
    hits.push_back({{"rank", i + 1}, {"score", h.score}, {"path", h.path}, {"title", h.title},
                    {"headings", h.chunk.headings}, {"snippet", h.snippet}, {"chunk_id", h.chunk.id},
                    {"vector_rank", h.vector_rank ? nlohmann::json(*h.vector_rank) : nlohmann::json(nullptr)},
                    {"keyword_rank", h.keyword_rank ? nlohmann::json(*h.keyword_rank) : nlohmann::json(nullptr)}});
  }
  return {{"kb", kb}, {"mode", search_mode_name(r.mode_used)}, {"note", r.note}, {"hits", hits}};
}

}  // namespace inhouse::kb
