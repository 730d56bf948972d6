// WordPiece (WPM, vocab model "bert") — owns encoding one raw-text fragment into ids and
// rendering one WPM token as text. Follows the Hugging Face BERT tokenizer (BertNormalizer,
// BertPreTokenizer, WordPiece), which produced the reference ids, on the vocab as llama.cpp's
// converter stores it: word-initial pieces carry a "▁" prefix, "##" continuation pieces are
// stored without their "##".
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer_internal.h"

namespace inhouse::tokenizer::detail {
namespace {

constexpr std::string_view kWordStart = "\xE2\x96\x81";  // U+2581
// WordPiece's max_input_chars_per_word: longer words are [UNK] without trying to split them.
constexpr size_t kMaxWordChars = 100;

struct Word {
  std::string text;        // UTF-8
  std::vector<size_t> at;  // byte offset of each character, then text.size()
};

// Invalid UTF-8 becomes U+FFFD (one per maximal ill-formed subpart, ICU's rule); the BERT
// cleaning step then drops U+FFFD like any other replacement character.
icu::UnicodeString decode_utf8(std::string_view s) {
  icu::UnicodeString out;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  int64_t i = 0, n = int64_t(s.size());
  while (i < n) {
    UChar32 c;
    U8_NEXT(p, i, n, c);
    out.append(c < 0 ? UChar32(0xFFFD) : c);
  }
  return out;
}

// CJK ideographs, each of which BERT treats as a word. The ranges are the Hugging Face
// (Rust) ones, including its 0x2B920 start of the Extension E/F block.
bool is_cjk(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_tab_or_newline(UChar32 c) { return c == '\t' || c == '\n' || c == '\r'; }

// BERT's clean_text drops NUL, U+FFFD and every "other" (C*) character except \t \n \r.
bool is_dropped(UChar32 c) {
  if (c == 0 || c == 0xFFFD) return true;
  if (is_tab_or_newline(c)) return false;
  switch (u_charType(c)) {
    case U_CONTROL_CHAR: case U_FORMAT_CHAR: case U_PRIVATE_USE_CHAR: case U_SURROGATE: case U_UNASSIGNED:
      return true;
    default:
      return false;
  }
}

bool is_space(UChar32 c) { return is_tab_or_newline(c) || u_isUWhiteSpace(c); }

// ASCII symbols such as $ + < = > ^ ` | ~ count as punctuation for BERT, as does Unicode P*.
bool is_punct(UChar32 c) {
  bool ascii_punct = (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return ascii_punct || u_ispunct(c);
}

// BertNormalizer's clean_text and handle_chinese_chars: whitespace becomes ' ', CJK gets
// spaces around it.
icu::UnicodeString clean(const icu::UnicodeString& in) {
  icu::UnicodeString out;
  for (int32_t i = 0; i < in.length(); i = in.moveIndex32(i, 1)) {
    UChar32 c = in.char32At(i);
    if (is_dropped(c)) continue;
    if (is_space(c)) out.append(UChar32(' '));
    else if (is_cjk(c)) out.append(UChar32(' ')).append(c).append(UChar32(' '));
    else out.append(c);
  }
  return out;
}

// strip_accents (NFD, then drop non-spacing marks) followed by lowercase, in the Hugging Face
// order. Per-character simple lowercasing suffices: the one character whose full lowercase
// differs (U+0130) has already been decomposed by NFD.
icu::UnicodeString strip_accents_lower(const icu::UnicodeString& in) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(status);
  if (U_FAILURE(status)) throw Error(std::string("ICU NFD normaliser unavailable: ") + u_errorName(status));
  icu::UnicodeString decomposed = nfd->normalize(in, status);
  if (U_FAILURE(status)) throw Error(std::string("ICU NFD normalisation failed: ") + u_errorName(status));
  icu::UnicodeString out;
  for (int32_t i = 0; i < decomposed.length(); i = decomposed.moveIndex32(i, 1)) {
    UChar32 c = decomposed.char32At(i);
    if (u_charType(c) != U_NON_SPACING_MARK) out.append(u_tolower(c));
  }
  return out;
}

void append_utf8(Word& w, UChar32 c) {
  w.at.push_back(w.text.size());
  char buf[U8_MAX_LENGTH];
  int32_t n = 0;
  U8_APPEND_UNSAFE(buf, n, c);
  w.text.append(buf, size_t(n));
}

// BertPreTokenizer: split on whitespace and isolate each punctuation character.
std::vector<Word> split_words(const icu::UnicodeString& text) {
  std::vector<Word> words(1);
  auto finish = [&words] {
    if (!words.back().text.empty()) words.emplace_back();
  };
  for (int32_t i = 0; i < text.length(); i = text.moveIndex32(i, 1)) {
    UChar32 c = text.char32At(i);
    if (is_space(c)) {
      finish();
    } else if (is_punct(c)) {
      finish();
      append_utf8(words.back(), c);
      words.emplace_back();
    } else {
      append_utf8(words.back(), c);
    }
  }
  if (words.back().text.empty()) words.pop_back();
  for (Word& w : words) w.at.push_back(w.text.size());
  return words;
}

TokenId unk_token(const Vocab& vocab) {
  if (vocab.unk == kNoToken) throw Error("WordPiece vocab has no [UNK] token");
  return vocab.unk;
}

// The piece text[from..to) as the vocab stores it: "▁" + text for a word start; a
// continuation ("##" piece) is the bare text and must not be a word-start token.
std::optional<TokenId> find_piece(const Vocab& vocab, const Word& w, size_t from, size_t to) {
  std::string_view piece = std::string_view(w.text).substr(w.at[from], w.at[to] - w.at[from]);
  if (from == 0) return vocab.find(std::string(kWordStart).append(piece));
  if (piece.substr(0, kWordStart.size()) == kWordStart) return std::nullopt;
  return vocab.find(piece);
}

// Greedy longest-match-first; a word with any unmatched remainder is one [UNK].
void wordpiece(const Vocab& vocab, const Word& w, std::vector<TokenId>& out) {
  size_t n_chars = w.at.size() - 1;
  if (n_chars > kMaxWordChars) {
    out.push_back(unk_token(vocab));
    return;
  }
  size_t mark = out.size();
  for (size_t start = 0; start < n_chars;) {
    size_t end = n_chars;
    std::optional<TokenId> id;
    for (; end > start; --end)
      if ((id = find_piece(vocab, w, start, end))) break;
    if (!id) {
      out.resize(mark);
      out.push_back(unk_token(vocab));
      return;
    }
    out.push_back(*id);
    start = end;
  }
}


}  // namespace

void wpm_encode(const Vocab& vocab, std::string_view text, std::vector<TokenId>& out) {
  icu::UnicodeString normalised = strip_accents_lower(clean(decode_utf8(text)));
  for (const Word& w : split_words(normalised)) wordpiece(vocab, w, out);
}

// As the reference: a word-start piece "▁word" renders as " word", a continuation piece as
// its bare text (so it joins the previous piece); control and unknown tokens are their text
// (the caller hides them when asked); unused/undefined tokens render as nothing.
std::string wpm_token_to_piece(const Vocab& vocab, TokenId id) {
  const std::string& text = checked_token(vocab, id);
  switch (token_type_of(vocab, id)) {
    case TokenType::CONTROL:
    case TokenType::UNKNOWN:
    case TokenType::USER_DEFINED:
      return text;
    case TokenType::NORMAL:
    case TokenType::BYTE:
      return unescape_spaces(text);
    case TokenType::UNUSED:
    case TokenType::UNDEFINED:
      break;
  }
  return "";
}

}  // namespace inhouse::tokenizer::detail
