// SentencePiece (SPM, vocab model "llama") — owns encoding one raw-text fragment into ids and
// rendering one SPM token as bytes, compatible with llama.cpp's llm_tokenizer_spm:
// spaces become "▁", the text splits into UTF-8 characters, adjacent symbols merge greedily
// by highest vocab score, and symbols left outside the vocab fall back to byte tokens.
#include <algorithm>
#include <cstdint>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer_internal.h"

namespace inhouse::tokenizer::detail {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

// One symbol of the merge chain: a byte range of the escaped text, linked to its neighbours.
struct Symbol {
  int prev;
  int next;
  size_t offset;
  size_t n;  // 0 once merged into the symbol on its left
};

// A candidate merge of two neighbouring symbols. `size` records their combined length when
// queued, so entries made stale by later merges can be recognised and skipped.
struct Bigram {
  int left;
  int right;
  float score;
  size_t size;
};

// Highest score first; on equal scores the leftmost pair first (the reference's order).
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

// Length of the character a lead byte announces. Like the reference, invalid UTF-8 is not
// replaced: a stray byte is a one-byte symbol, a truncated sequence is clamped to the text
// end, and either falls back to byte tokens, so no input byte is lost or misread.
size_t utf8_char_len(unsigned char lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

// SentencePiece's whitespace escaping, plus the "▁" prefix for the first fragment.
// remove_extra_whitespaces is not applied: the reference ignores it for SPM too.
std::string escape_text(const Vocab& vocab, std::string_view text, bool is_first_fragment) {
  std::string out;
  out.reserve(text.size() + text.size() / 2 + 3);
  if (vocab.add_space_prefix && is_first_fragment) out += kSpaceMark;
  for (char c : text) {
    if (c == ' ') out += kSpaceMark;
    else out += c;
  }
  return out;
}

std::string byte_token_text(unsigned char b) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string{'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
}

class SpmSession {
 public:
  SpmSession(const Vocab& vocab, std::string text) : vocab_(vocab), text_(std::move(text)) {}

  void encode(std::vector<TokenId>& out) {
    split_chars();
    for (int i = 1; i < int(symbols_.size()); ++i) try_add_bigram(i - 1, i);
    merge_all();
    for (int i = 0; i != -1; i = symbols_[i].next) emit(symbols_[i], out);
  }

 private:
  void split_chars() {
    for (size_t offs = 0; offs < text_.size();) {
      size_t n = std::min(utf8_char_len(uint8_t(text_[offs])), text_.size() - offs);
      int index = int(symbols_.size());
      symbols_.push_back({index - 1, offs + n == text_.size() ? -1 : index + 1, offs, n});
      offs += n;
    }
  }

  void try_add_bigram(int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols_[left];
    size_t size = l.n + symbols_[right].n;
    auto it = vocab_.token_to_id.find(text_.substr(l.offset, size));
    if (it == vocab_.token_to_id.end()) return;
    size_t id = size_t(it->second);
    float score = id < vocab_.scores.size() ? vocab_.scores[id] : 0.0f;
    queue_.push({left, right, score, size});
  }

  // Repeatedly merge the best-scoring adjacent pair that still exists.
  void merge_all() {
    while (!queue_.empty()) {
      Bigram b = queue_.top();
      queue_.pop();
      Symbol& l = symbols_[b.left];
      Symbol& r = symbols_[b.right];
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale entry
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) symbols_[r.next].prev = b.left;
      try_add_bigram(l.prev, b.left);
      try_add_bigram(b.left, l.next);
    }
  }

  // Merged symbols are always vocab tokens; single characters may not be, and then go out
  // as byte tokens ("<0xXX>", else the one-byte token, else UNK).
  void emit(const Symbol& s, std::vector<TokenId>& out) const {
    std::string piece = text_.substr(s.offset, s.n);
    if (auto id = vocab_.find(piece)) {
      out.push_back(*id);
      return;
    }
    for (char c : piece) out.push_back(byte_token(uint8_t(c)));
  }

  TokenId byte_token(unsigned char b) const {
    if (auto id = vocab_.find(byte_token_text(b))) return *id;
    if (auto id = vocab_.find(std::string(1, char(b)))) return *id;
    if (vocab_.unk != kNoToken) return vocab_.unk;
    throw Error("SPM vocab has no byte token for 0x" + byte_token_text(b).substr(3, 2) + " and no UNK token");
  }

  const Vocab& vocab_;
  std::string text_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramLess> queue_;
};

// "<0xXX>" -> XX; -1 when the text is not a byte token.
int parse_byte_token(const std::string& text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return -1;
  int hi = hex(text[3]), lo = hex(text[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}


}  // namespace

void spm_encode(const Vocab& vocab, std::string_view text, bool is_first_fragment, std::vector<TokenId>& out) {
  // The reference makes no fragment of empty text, so it gets no space prefix either.
  if (text.empty()) return;
  SpmSession(vocab, escape_text(vocab, text, is_first_fragment)).encode(out);
}

// As the reference: normal pieces show "▁" as a space, byte tokens are their byte, control,
// unknown and user-defined tokens are their text (the caller hides them when asked), and
// unused/undefined tokens render as nothing.
std::string spm_token_to_piece(const Vocab& vocab, TokenId id) {
  const std::string& text = checked_token(vocab, id);
  switch (token_type_of(vocab, id)) {
    case TokenType::CONTROL:
    case TokenType::UNKNOWN:
    case TokenType::USER_DEFINED:
      return text;
    case TokenType::NORMAL:
      return unescape_spaces(text);
    case TokenType::BYTE: {
      int b = parse_byte_token(text);
      return b < 0 ? unescape_spaces(text) : std::string(1, char(b));
    }
    case TokenType::UNUSED:
    case TokenType::UNDEFINED:
      break;
  }
  return "";
}

}  // namespace inhouse::tokenizer::detail

namespace inhouse::tokenizer::detail {

std::string unescape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.substr(i, kSpaceMark.size()) == kSpaceMark) {
      out += ' ';
      i += kSpaceMark.size();
    } else {
      out += text[i++];
    }
  }
  return out;
}

}  // namespace inhouse::tokenizer::detail
