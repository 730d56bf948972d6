// kb — owns knowledge bases: turning notes and documents into searchable pieces. So far:
// parsing Markdown notes (Obsidian / Logseq vaults: YAML front matter, headings, [[wikilinks]]
// and [[link|alias]], #tags, Logseq `key:: value` properties and bullet blocks) into a Note, and
// cutting a Note into chunks that fit an embedding model's token budget, with overlap and the
// heading path kept as context. Storage, indexes and search come next (issue 6).
#pragma once

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace inhouse::kb {

// A note that cannot be parsed (e.g. malformed front matter); what() says where.
class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// [[target#heading|alias]]; embeds (![[...]]) are links too.
struct Link {
  std::string target;
  std::string heading;  // empty when the link names the whole note
  std::string alias;    // empty when none
  bool operator==(const Link&) const = default;
};

struct Section {
  std::vector<std::string> headings;  // heading path, outermost first; empty before the first heading
  std::string text;                   // the body: paragraphs separated by blank lines, links as their display text
};

struct Note {
  std::string title;          // front matter `title`, else the first level-1 heading, else the file stem
  nlohmann::json metadata;    // front matter and Logseq page properties (an object)
  std::vector<std::string> tags;  // from #tags, front matter `tags` and Logseq `tags::`, without '#', unique, in order
  std::vector<Link> links;        // outgoing links in order of first appearance, unique
  std::vector<std::string> aliases;  // front matter `aliases` / Logseq `alias::`: other names links may use
  std::vector<Section> sections;
};

// Parses one Markdown note. `file_stem` is the note's file name without extension (the title of
// last resort and what other notes' [[links]] usually name). Throws ParseError.
Note parse_markdown(std::string_view text, std::string_view file_stem);

// ---- chunking --------------------------------------------------------------------------------

struct Chunk {
  std::vector<std::string> headings;  // the section's heading path
  std::string text;
  size_t tokens = 0;                  // of text, as the counter measured it
  // "Title > Heading > Subheading\n\n" + text: what an embedding model should see.
  std::string with_context(std::string_view title) const;
};

struct ChunkOptions {
  size_t max_tokens = 256;     // a chunk's text never exceeds this (a single word longer than it is cut)
  size_t overlap_tokens = 32;  // a chunk repeats up to this much of the end of the previous one
};

using TokenCounter = std::function<size_t(std::string_view)>;

// Cuts each section at paragraph, then sentence, then word boundaries into chunks of at most
// max_tokens; consecutive chunks of one section overlap by up to overlap_tokens. Sections are
// never merged, so every chunk has exactly one heading path. Throws std::invalid_argument when
// overlap_tokens >= max_tokens or max_tokens is 0.
std::vector<Chunk> chunk_note(const Note& note, const ChunkOptions& options, const TokenCounter& count);

}  // namespace inhouse::kb
