// tokenizer — owns turning text into token ids and back, exactly as the reference
// implementations do for the vocabularies GGUF files carry: byte-level BPE (with the
// pre-tokenizer named by tokenizer.ggml.pre), SentencePiece (SPM) and WordPiece (WPM);
// special/control tokens; BOS/EOS rules; incremental UTF-8-safe decoding.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/gguf.h"

namespace inhouse::tokenizer {

using TokenId = int32_t;
constexpr TokenId kNoToken = -1;

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class VocabType { SPM, BPE, WPM };

// Values of tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6,
};

// The vocabulary as the GGUF file describes it (tokenizer.ggml.*). Copies what it needs,
// so it outlives the file.
struct Vocab {
  VocabType type = VocabType::BPE;
  std::string model;  // tokenizer.ggml.model: "gpt2", "llama", "bert", ...
  std::string pre;    // tokenizer.ggml.pre: "deepseek-v3", "qwen2", ... ("default" if absent)

  std::vector<std::string> tokens;
  std::vector<float> scores;          // empty when the file has none
  std::vector<TokenType> token_types;
  std::unordered_map<std::string, TokenId> token_to_id;
  // BPE merges: "left right" -> rank (lower merges first).
  std::unordered_map<std::string, int32_t> merge_ranks;

  TokenId bos = kNoToken, eos = kNoToken, eot = kNoToken, unk = kNoToken, sep = kNoToken,
          pad = kNoToken, cls = kNoToken, mask = kNoToken, linefeed = kNoToken;
  bool add_bos = false, add_eos = false;
  bool add_space_prefix = false;       // SPM: prepend "▁"/" " to the text
  bool remove_extra_whitespaces = false;

  static Vocab load(const gguf::GgufFile& file);  // throws Error naming the missing/bad key
  size_t size() const { return tokens.size(); }
  std::optional<TokenId> find(std::string_view text) const;
  bool is_control(TokenId id) const;   // CONTROL
  bool is_special(TokenId id) const;   // CONTROL, USER_DEFINED or UNKNOWN
};

class Tokenizer {
 public:
  explicit Tokenizer(Vocab vocab);
  static Tokenizer from_gguf(const gguf::GgufFile& file) { return Tokenizer(Vocab::load(file)); }

  const Vocab& vocab() const { return vocab_; }

  // add_special: add BOS/EOS as the vocab says. parse_special: text like "<|im_end|>" becomes
  // its control token instead of being tokenized as characters.
  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes one token stands for (may be part of a UTF-8 character).
  // special=false renders control tokens as empty.
  std::string token_to_piece(TokenId id, bool special = true) const;
  std::string decode(const std::vector<TokenId>& ids, bool special = true) const;

 private:
  Vocab vocab_;
  std::shared_ptr<const void> impl_;  // algorithm state (compiled regexes, caches)
};

// Feeds tokens one at a time and returns only complete UTF-8 characters; bytes of an
// unfinished character wait for the next token. flush() returns what is left
// (invalid bytes replaced by U+FFFD).
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool special = true);
  std::string push(TokenId id);
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  bool special_;
  std::string pending_;
  bool first_ = true;
};

}  // namespace inhouse::tokenizer
