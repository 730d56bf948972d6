// kb/chunker.cpp — cutting a note's sections into token-budgeted chunks. Units get finer only
// when they must: paragraphs, then sentences, then words, then (for one enormous "word") bytes at
// UTF-8 boundaries. Chunks are packed greedily from units; the next chunk starts with the last
// units of the previous one, as many as fit in the overlap budget.
#include <stdexcept>

#include "kb/kb.h"

namespace inhouse::kb {
namespace {

// Splits text after each occurrence of a separator, keeping separators attached to the piece
// before them, so joining the pieces gives the text back.
std::vector<std::string> split_keep(std::string_view text, const std::vector<std::string_view>& seps) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    size_t matched = 0;
    for (std::string_view s : seps)
      if (text.substr(i).starts_with(s)) {
        matched = s.size();
        break;
      }
    if (matched) {
      i += matched;
      out.emplace_back(text.substr(start, i - start));
      start = i;
    } else {
      ++i;
    }
  }
  if (start < text.size()) out.emplace_back(text.substr(start));
  return out;
}

// Byte pieces of at most max_tokens, cut at UTF-8 character starts.
std::vector<std::string> split_bytes(std::string_view text, size_t max_tokens, const TokenCounter& count) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.size();
    while (end > start + 1 && count(text.substr(start, end - start)) > max_tokens) {
      end = start + (end - start) / 2;
      while (end > start + 1 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    }
    out.emplace_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

// Units of at most max_tokens each, coarsest first.
void units_of(std::string_view text, int level, size_t max_tokens, const TokenCounter& count,
              std::vector<std::string>& out) {
  if (count(text) <= max_tokens) {
    out.emplace_back(text);
    return;
  }
  static const std::vector<std::vector<std::string_view>> kSeparators = {
      {"\n\n"},
      {"\n"},
      {". ", "! ", "? ", "。", "！", "？", "; ", "；"},
      {" ", "，", "、"},
  };
  if (level >= int(kSeparators.size())) {
    for (auto& piece : split_bytes(text, max_tokens, count)) out.push_back(std::move(piece));
    return;
  }
  const auto pieces = split_keep(text, kSeparators[size_t(level)]);
  if (pieces.size() <= 1) return units_of(text, level + 1, max_tokens, count, out);
  for (const auto& p : pieces) units_of(p, level + 1, max_tokens, count, out);
}

std::string join(const std::vector<std::string>& units, size_t b, size_t e) {
  std::string s;
  for (size_t i = b; i < e; ++i) s += units[i];
  return s;
}

std::string trim_copy(const std::string& s) {
  const size_t b = s.find_first_not_of(" \n\t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \n\t") - b + 1);
}

}  // namespace

std::string heading_trail(std::string_view title, const std::vector<std::string>& headings) {
  std::string out(title);
  for (const auto& h : headings)
    if (h != title) out += (out.empty() ? "" : " > ") + h;
  return out;
}

std::string Chunk::with_context(std::string_view title) const {
  const std::string trail = heading_trail(title, headings);
  return trail.empty() ? text : trail + "\n\n" + text;
}

std::vector<Chunk> chunk_note(const Note& note, const ChunkOptions& o, const TokenCounter& count) {
  if (o.max_tokens == 0) throw std::invalid_argument("max_tokens must be positive");
  if (o.overlap_tokens >= o.max_tokens) throw std::invalid_argument("overlap_tokens must be below max_tokens");
  std::vector<Chunk> chunks;
  for (const Section& section : note.sections) {
    std::vector<std::string> units;
    units_of(section.text, 0, o.max_tokens, count, units);
    // Per-unit counts make packing linear; the exact count of the joined text is checked once
    // per chunk (joining can merge tokens across a boundary, rarely adds any).
    std::vector<size_t> n(units.size());
    for (size_t i = 0; i < units.size(); ++i) n[i] = count(units[i]);
    size_t begin = 0;
    while (begin < units.size()) {
      size_t end = begin + 1, sum = n[begin];
      while (end < units.size() && sum + n[end] <= o.max_tokens) sum += n[end++];
      std::string text = trim_copy(join(units, begin, end));
      while (end > begin + 1 && count(text) > o.max_tokens) text = trim_copy(join(units, begin, --end));
      if (!text.empty()) chunks.push_back({section.headings, text, count(text)});
      if (end >= units.size()) break;
      // Overlap: step back over trailing units that fit the overlap budget, but always advance.
      size_t next = end, overlap = 0;
      while (next > begin + 1 && overlap + n[next - 1] <= o.overlap_tokens) overlap += n[--next];
      begin = next;
    }
  }
  return chunks;
}

}  // namespace inhouse::kb
