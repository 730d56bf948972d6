// bpe_pretokenizer — owns the pre-tokenizers of byte-level BPE vocabularies: which regex
// sequence each tokenizer.ggml.pre name stands for, and splitting text with them (PCRE2,
// UTF + UCP, JIT). Internal to the tokenizer module; PCRE2 types stay out of this header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace inhouse::tokenizer::detail {

// What a tokenizer.ggml.pre name means.
struct PreTokenizerSpec {
  std::string name;                   // the canonical name ("gpt-2", "llama3", ...)
  std::vector<std::string> patterns;  // applied one after another (see PreTokenizer::split)
  bool ignore_merges = false;         // llama3: a whole word that is a token skips the merges
};

// The spec for `pre`; throws Error for names this build does not know (listing the known ones).
PreTokenizerSpec pre_tokenizer_spec(std::string_view pre);
// Every name pre_tokenizer_spec accepts, for messages and tests.
std::vector<std::string> known_pre_tokenizers();

// Byte range of one piece of the text.
struct Span {
  uint32_t offset;
  uint32_t length;
};

// A compiled regex sequence. Split semantics (as the reference Split(..., Isolated) and
// llama.cpp's unicode_regex_split): each regex runs over each piece the previous one produced,
// that piece being its whole subject (lookarounds and $ stop at the piece's ends); both the
// matches and the text between them become pieces. Invalid UTF-8 never fails: such bytes match
// nothing and so end up in the pieces between matches. Thread-safe (per-thread match data).
class PreTokenizer {
 public:
  explicit PreTokenizer(const PreTokenizerSpec& spec);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Appends the pieces of `text` to `out` (cleared first). Throws Error if PCRE2 fails
  // (resource limits), never on bad input.
  void split(std::string_view text, std::vector<Span>& out) const;
  std::vector<std::string> split(std::string_view text) const;  // convenience for tests

  const PreTokenizerSpec& spec() const { return spec_; }

 private:
  struct Regex;
  PreTokenizerSpec spec_;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace inhouse::tokenizer::detail
