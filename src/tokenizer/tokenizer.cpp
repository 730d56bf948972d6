// tokenizer — owns the algorithm-independent half of Tokenizer: splitting special tokens out
// of the text (as llama.cpp's tokenizer_st_partition does), BOS/EOS/CLS/SEP rules, dispatch to
// the BPE/SPM/WPM encoders, token_to_piece/decode, and the UTF-8-safe IncrementalDecoder.
#include <algorithm>
#include <unordered_map>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

namespace inhouse::tokenizer {
namespace {

// A piece of the input: raw text to tokenize, or an already recognised special token.
struct Fragment {
  TokenId token;  // kNoToken for raw text
  size_t offset = 0, length = 0;
};

// The special tokens (CONTROL, USER_DEFINED, UNKNOWN) and a byte trie over their texts, used
// to find which of them occur in a text without one search per special token.
class SpecialTokens {
 public:
  explicit SpecialTokens(const Vocab& vocab) {
    for (TokenId id = 0; id < TokenId(vocab.size()); ++id)
      if (vocab.is_special(id) && !vocab.tokens[id].empty()) order_.push_back(id);
    // Longest first, as the reference: a longer special wins over one it contains.
    std::stable_sort(order_.begin(), order_.end(), [&](TokenId a, TokenId b) {
      return vocab.tokens[a].size() > vocab.tokens[b].size();
    });
    nodes_.push_back(-1);
    for (size_t i = 0; i < order_.size(); ++i) insert(vocab.tokens[order_[i]], int32_t(i));
  }

  // Splits `text` into raw fragments and special tokens. USER_DEFINED tokens are always split
  // out; CONTROL and UNKNOWN ones only with parse_special (reference behaviour).
  std::vector<Fragment> partition(const Vocab& vocab, std::string_view text, bool parse_special) const {
    std::vector<Fragment> fragments;
    if (text.empty()) return fragments;
    fragments.push_back({kNoToken, 0, text.size()});
    for (int32_t index : occurring(vocab, text, parse_special))
      fragments = split_out(fragments, text, order_[index], vocab.tokens[order_[index]]);
    return fragments;
  }

 private:
  void insert(const std::string& text, int32_t index) {
    int32_t node = 0;
    for (char c : text) {
      first_byte_[uint8_t(c)] |= node == 0;
      auto [it, fresh] = edges_.emplace(edge_key(node, c), int32_t(nodes_.size()));
      if (fresh) nodes_.push_back(-1);
      node = it->second;
    }
    if (nodes_[node] < 0) nodes_[node] = index;  // duplicate texts: the first (longest-sorted) wins
  }

  static uint64_t edge_key(int32_t node, char c) { return (uint64_t(uint32_t(node)) << 8) | uint8_t(c); }

  // Indexes (into order_) of the allowed specials that occur in `text`, in order_ order.
  std::vector<int32_t> occurring(const Vocab& vocab, std::string_view text, bool parse_special) const {
    std::vector<char> seen(order_.size(), 0);
    for (size_t i = 0; i < text.size(); ++i) {
      if (!first_byte_[uint8_t(text[i])]) continue;
      int32_t node = 0;
      for (size_t j = i; j < text.size(); ++j) {
        auto it = edges_.find(edge_key(node, text[j]));
        if (it == edges_.end()) break;
        node = it->second;
        int32_t index = nodes_[node];
        if (index >= 0 && (parse_special || vocab.token_types[order_[index]] == TokenType::USER_DEFINED))
          seen[index] = 1;
      }
    }
    std::vector<int32_t> found;
    for (size_t i = 0; i < seen.size(); ++i)
      if (seen[i]) found.push_back(int32_t(i));
    return found;
  }

  // Replaces every occurrence of `special` inside the raw fragments by the token, leftmost first.
  static std::vector<Fragment> split_out(const std::vector<Fragment>& in, std::string_view text, TokenId id,
                                         const std::string& special) {
    std::vector<Fragment> out;
    for (const Fragment& f : in) {
      if (f.token != kNoToken) {
        out.push_back(f);
        continue;
      }
      size_t pos = f.offset, end = f.offset + f.length;
      for (;;) {
        size_t hit = text.substr(pos, end - pos).find(special);
        if (hit == std::string_view::npos) break;
        if (hit > 0) out.push_back({kNoToken, pos, hit});
        out.push_back({id, 0, 0});
        pos += hit + special.size();
      }
      if (pos < end) out.push_back({kNoToken, pos, end - pos});
    }
    return out;
  }

  std::vector<TokenId> order_;
  std::vector<int32_t> nodes_;  // per trie node: index into order_ of the token ending here, or -1
  std::unordered_map<uint64_t, int32_t> edges_;  // (node, byte) -> child node
  bool first_byte_[256] = {};
};

struct State {
  SpecialTokens specials;
  std::shared_ptr<const void> bpe;  // BPE vocabs only

  explicit State(const Vocab& vocab)
      : specials(vocab), bpe(vocab.type == VocabType::BPE ? detail::make_bpe_state(vocab) : nullptr) {}
};

TokenId required(TokenId id, const char* what) {
  if (id == kNoToken) throw Error(std::string("the vocab asks for a ") + what + " token but defines none");
  return id;
}

void check_id(const Vocab& vocab, TokenId id) { (void)detail::checked_token(vocab, id); }

// SPM pieces of words start with the space the encoder prefixed, WPM pieces with the space of
// their word; decoding drops it for the first token after BOS/CLS so that text round-trips.
bool strips_first_space(const Vocab& vocab) {
  return (vocab.type == VocabType::SPM && vocab.add_space_prefix) || vocab.type == VocabType::WPM;
}

bool is_start_token(const Vocab& vocab, TokenId id) {
  return id != kNoToken && (id == vocab.bos || id == vocab.cls);
}

void strip_one_space(std::string& piece) {
  if (!piece.empty() && piece.front() == ' ') piece.erase(0, 1);
}

void encode_bpe(const Vocab& vocab, const State& st, std::string_view text, const std::vector<Fragment>& fragments,
                bool add_special, std::vector<TokenId>& out) {
  if (add_special && vocab.add_bos) out.push_back(required(vocab.bos, "BOS"));
  for (const Fragment& f : fragments) {
    if (f.token != kNoToken) out.push_back(f.token);
    else detail::bpe_encode(vocab, st.bpe.get(), text.substr(f.offset, f.length), out);
  }
  if (add_special && vocab.add_eos) out.push_back(required(vocab.eos, "EOS"));
}

// The space prefix applies to the first text and to every text right after a special token
// (reference behaviour), hence "previous was special" rather than "first".
void encode_spm(const Vocab& vocab, std::string_view text, const std::vector<Fragment>& fragments, bool add_special,
                std::vector<TokenId>& out) {
  if (add_special && vocab.add_bos) out.push_back(required(vocab.bos, "BOS"));
  bool after_special = true;
  for (const Fragment& f : fragments) {
    if (f.token != kNoToken) {
      out.push_back(f.token);
      after_special = true;
    } else {
      detail::spm_encode(vocab, text.substr(f.offset, f.length), after_special, out);
      after_special = false;
    }
  }
  if (add_special && vocab.add_eos) out.push_back(required(vocab.eos, "EOS"));
}

// BERT: [CLS] text [SEP] whenever special tokens are added.
void encode_wpm(const Vocab& vocab, std::string_view text, const std::vector<Fragment>& fragments, bool add_special,
                std::vector<TokenId>& out) {
  if (add_special) out.push_back(required(vocab.cls != kNoToken ? vocab.cls : vocab.bos, "CLS"));
  for (const Fragment& f : fragments) {
    if (f.token != kNoToken) out.push_back(f.token);
    else detail::wpm_encode(vocab, text.substr(f.offset, f.length), out);
  }
  if (add_special) out.push_back(required(vocab.sep, "SEP"));
}

// UTF-8 step at s[i] (Unicode's well-formedness table): > 0 length of a complete character;
// 0 when the rest of s is an unfinished but so far valid character; < 0 minus the length of
// the invalid bytes to replace by one U+FFFD ("maximal subpart" rule).
int utf8_step(std::string_view s, size_t i) {
  auto b = uint8_t(s[i]);
  if (b < 0x80) return 1;
  int n = 0;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) n = 2;
  else if (b >= 0xE0 && b <= 0xEF) n = 3, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
  else if (b >= 0xF0 && b <= 0xF4) n = 4, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
  else return -1;
  for (int k = 1; k < n; ++k) {
    if (i + k >= s.size()) return 0;
    auto c = uint8_t(s[i + k]);
    if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return -k;
  }
  return n;
}

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Moves the complete characters at the front of `pending` to the result (invalid bytes as
// U+FFFD); an unfinished character at the end stays in `pending` unless `final`.
std::string take_complete(std::string& pending, bool final) {
  std::string out;
  size_t i = 0;
  while (i < pending.size()) {
    int step = utf8_step(pending, i);
    if (step > 0) {
      out.append(pending, i, size_t(step));
      i += size_t(step);
    } else if (step < 0) {
      out += kReplacement;
      i += size_t(-step);
    } else if (final) {
      out += kReplacement;
      i = pending.size();
    } else {
      break;
    }
  }
  pending.erase(0, i);
  return out;
}

// Vocab::load guarantees these; a hand-built Vocab might not, and every look-up relies on them.
void validate(const Vocab& v) {
  if (v.tokens.empty()) throw Error("vocab has no tokens");
  if (v.token_types.size() != v.tokens.size()) throw Error("vocab token_types and tokens differ in length");
  for (TokenId id : {v.bos, v.eos, v.eot, v.unk, v.sep, v.pad, v.cls, v.mask, v.linefeed})
    if (id != kNoToken) check_id(v, id);
}

}  // namespace

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
  validate(vocab_);
  impl_ = std::make_shared<const State>(vocab_);
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const auto& st = *static_cast<const State*>(impl_.get());
  std::vector<Fragment> fragments = st.specials.partition(vocab_, text, parse_special);
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  switch (vocab_.type) {
    case VocabType::BPE: encode_bpe(vocab_, st, text, fragments, add_special, out); break;
    case VocabType::SPM: encode_spm(vocab_, text, fragments, add_special, out); break;
    case VocabType::WPM: encode_wpm(vocab_, text, fragments, add_special, out); break;
  }
  return out;
}

std::string Tokenizer::token_to_piece(TokenId id, bool special) const {
  check_id(vocab_, id);
  TokenType type = vocab_.token_types[id];
  bool control_like = type == TokenType::CONTROL || type == TokenType::UNKNOWN;
  if (control_like && !special) return "";
  // Special tokens are shown as written, whatever the algorithm.
  if (control_like || type == TokenType::USER_DEFINED) return vocab_.tokens[id];
  switch (vocab_.type) {
    case VocabType::BPE: return type == TokenType::NORMAL ? detail::bpe_token_to_piece(vocab_, id) : "";
    case VocabType::SPM: return detail::spm_token_to_piece(vocab_, id);
    case VocabType::WPM: return detail::wpm_token_to_piece(vocab_, id);
  }
  return "";
}

std::string Tokenizer::decode(const std::vector<TokenId>& ids, bool special) const {
  for (TokenId id : ids) check_id(vocab_, id);  // fail before doing any work
  std::string text;
  bool strip = strips_first_space(vocab_);
  for (TokenId id : ids) {
    std::string piece = token_to_piece(id, special);
    if (strip && !is_start_token(vocab_, id)) {
      strip_one_space(piece);
      strip = false;
    }
    text += piece;
  }
  return text;
}

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool special)
    : tokenizer_(tokenizer), special_(special) {}

std::string IncrementalDecoder::push(TokenId id) {
  std::string piece = tokenizer_.token_to_piece(id, special_);
  const Vocab& vocab = tokenizer_.vocab();
  if (first_ && !is_start_token(vocab, id)) {
    if (strips_first_space(vocab)) strip_one_space(piece);
    first_ = false;
  }
  pending_ += piece;
  return take_complete(pending_, false);
}

std::string IncrementalDecoder::flush() { return take_complete(pending_, true); }

namespace detail {

const std::string& checked_token(const Vocab& vocab, TokenId id) {
  if (id < 0 || size_t(id) >= vocab.size())
    throw Error("token id " + std::to_string(id) + " out of range (vocab size " + std::to_string(vocab.size()) + ")");
  return vocab.tokens[size_t(id)];
}

TokenType token_type_of(const Vocab& vocab, TokenId id) {
  return size_t(id) < vocab.token_types.size() ? vocab.token_types[size_t(id)] : TokenType::NORMAL;
}

}  // namespace detail
}  // namespace inhouse::tokenizer
