// WordPiece (WPM) tests: detail::wpm_encode against the bert-bge reference ids, and the BERT
// rules on the real vocab and on small synthetic vocabs (accents, case, CJK, punctuation,
// control characters, unknown and over-long words, "▁"/continuation pieces, invalid UTF-8),
// token_to_piece, and one pass through Tokenizer::encode ([CLS] ... [SEP]).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer_test_util.h"

namespace inhouse::tokenizer::testing {
namespace {

const std::string kMark = "\xE2\x96\x81";  // U+2581

const Tokenizer* bge() {
  static std::unique_ptr<Tokenizer> tok = [] {
    auto path = vocab_path("bert-bge");
    return path ? std::make_unique<Tokenizer>(load_tokenizer(*path)) : nullptr;
  }();
  return tok.get();
}

#define REQUIRE_BGE(v)                                      \
  if (!bge()) GTEST_SKIP() << "no bert-bge vocab fixture";  \
  const Vocab& v = bge()->vocab()

std::vector<TokenId> wpm(const Vocab& v, const std::string& text) {
  std::vector<TokenId> out;
  detail::wpm_encode(v, text, out);
  return out;
}

std::string pieces(const Vocab& v, const std::vector<TokenId>& ids) {
  std::string s;
  for (TokenId id : ids) s += detail::wpm_token_to_piece(v, id);
  return s;
}

std::string ids_line(const std::vector<TokenId>& ids) {
  std::string line;
  for (TokenId id : ids) (line += ' ') += std::to_string(id);
  return line;
}

using Ids = std::vector<TokenId>;
const TokenId kUnk = 100;

// --- reference ids --------------------------------------------------------------------------

TEST(WpmReference, EveryTestStringMatches) {
  auto path = vocab_path("bert-bge");
  if (!path) GTEST_SKIP() << "no bert-bge fixture";
  REQUIRE_BGE(v);
  ASSERT_EQ(v.type, VocabType::WPM);
  auto tests = split_inp(read_file(*path + ".inp"));
  auto expected = split_lines(read_file(*path + ".out"));
  ASSERT_EQ(tests.size(), expected.size());
  for (size_t i = 0; i < tests.size(); ++i)
    EXPECT_EQ(ids_line(wpm(v, tests[i])), expected[i]) << "test " << i << ": '" << tests[i] << "'";
}

// --- the BERT rules on the real vocab --------------------------------------------------------

TEST(WpmBge, LowercaseAndAccentsStripped) {
  REQUIRE_BGE(v);
  EXPECT_EQ(wpm(v, "Hello WORLD"), (Ids{7592, 2088}));
  EXPECT_EQ(wpm(v, "F\xC3\xBChrer"), (Ids{11865, 17875}));         // "Führer" precomposed
  EXPECT_EQ(wpm(v, "Fu\xCC\x88hrer"), (Ids{11865, 17875}));        // u + combining diaeresis
  EXPECT_EQ(wpm(v, "CAF\xC3\x89"), wpm(v, "cafe"));                 // "CAFÉ"
  EXPECT_EQ(wpm(v, "\xC4\xB0"), (Ids{1045}));                       // "İ" -> "i"
  EXPECT_EQ(wpm(v, "\xCE\xA3"), (Ids{1173}));                       // "Σ" -> "σ", no final-sigma rule
}

TEST(WpmBge, PunctuationIsolated) {
  REQUIRE_BGE(v);
  EXPECT_EQ(wpm(v, "hello,world!"), (Ids{7592, 1010, 2088, 999}));
  EXPECT_EQ(wpm(v, "!!"), (Ids{999, 999}));
  // ASCII symbols count as punctuation; other symbols (✅ U+2705, So) join their word.
  EXPECT_EQ(wpm(v, "a$b"), wpm(v, "a $ b"));
  EXPECT_EQ(wpm(v, "hello\xE2\x9C\x85"), (Ids{kUnk}));
}

TEST(WpmBge, CjkCharactersAreWords) {
  REQUIRE_BGE(v);
  // 我 is in the vocab, 想 is not: each is its own word, so only 想 is [UNK].
  EXPECT_EQ(wpm(v, "\xE6\x88\x91\xE6\x83\xB3"), (Ids{1855, kUnk}));
  EXPECT_EQ(wpm(v, "apple\xE6\x88\x91" "apple"), (Ids{6207, 1855, 6207}));
}

TEST(WpmBge, WhitespaceAndControlCharacters) {
  REQUIRE_BGE(v);
  EXPECT_TRUE(wpm(v, " \t\r\n\xC2\xA0\xE3\x80\x80").empty());         // incl. NBSP, ideographic space
  EXPECT_EQ(wpm(v, "hel\x01lo"), (Ids{7592}));                          // C0 control dropped
  EXPECT_EQ(wpm(v, "hel\xE2\x80\x8Dlo"), (Ids{7592}));                  // ZWJ (Cf) dropped
  EXPECT_EQ(wpm(v, std::string("hel\0lo", 6)), (Ids{7592}));            // NUL dropped
  EXPECT_EQ(wpm(v, "hello\xE2\x80\xA8world"), (Ids{7592, 2088}));       // line separator splits
}

TEST(WpmBge, UnknownAndOverlongWords) {
  REQUIRE_BGE(v);
  EXPECT_EQ(wpm(v, "\xF0\x9F\xA6\x99"), (Ids{kUnk}));  // 🦙
  EXPECT_EQ(wpm(v, "a " + std::string(101, 'a') + " a"), (Ids{1037, kUnk, 1037}));
  auto hundred = wpm(v, std::string(100, 'a'));
  EXPECT_GT(hundred.size(), 1u);
  EXPECT_EQ(std::count(hundred.begin(), hundred.end(), kUnk), 0);
}

// Invalid UTF-8 becomes U+FFFD, which BERT's cleaning drops: the valid rest is tokenized.
TEST(WpmBge, InvalidUtf8Dropped) {
  REQUIRE_BGE(v);
  EXPECT_EQ(wpm(v, "hello\xFF world"), (Ids{7592, 2088}));
  EXPECT_EQ(wpm(v, "hel\xC3lo"), (Ids{7592}));
  EXPECT_EQ(wpm(v, "\xE6\x88"), Ids{});
  EXPECT_EQ(wpm(v, "\xF0\x9F\xA6"), Ids{});
  EXPECT_EQ(wpm(v, "\xED\xA0\x80 hello"), (Ids{7592}));  // encoded surrogate
  EXPECT_EQ(wpm(v, "\xEF\xBF\xBD"), Ids{});              // a real U+FFFD is dropped too
}

TEST(WpmBge, PiecesJoinContinuations) {
  REQUIRE_BGE(v);
  EXPECT_EQ(pieces(v, wpm(v, "Hello, world! Führer")), " hello , world ! fuhrer");
  EXPECT_EQ(detail::wpm_token_to_piece(v, 101), "[CLS]");
  EXPECT_EQ(detail::wpm_token_to_piece(v, kUnk), "[UNK]");
  EXPECT_THROW(detail::wpm_token_to_piece(v, TokenId(v.size())), Error);
}

TEST(WpmBge, ThroughTokenizerEncode) {
  if (!bge()) GTEST_SKIP() << "no bert-bge vocab fixture";
  const Tokenizer& tok = *bge();
  EXPECT_EQ(tok.encode("Hello world", false, false), (Ids{7592, 2088}));
  EXPECT_EQ(tok.encode("Hello world", true, false), (Ids{101, 7592, 2088, 102}));
  EXPECT_EQ(tok.encode("Hello [SEP] world", false, true), (Ids{7592, 102, 2088}));
  EXPECT_EQ(tok.decode(tok.encode("Hello, world", true, false), false), "hello , world");
}

// --- synthetic vocab: greedy longest match and the piece convention --------------------------

Vocab synthetic_wpm(const std::vector<std::string>& normal) {
  Vocab v;
  v.type = VocabType::WPM;
  v.model = "bert";
  auto add = [&v](const std::string& text, TokenType type) {
    v.token_to_id.emplace(text, TokenId(v.tokens.size()));
    v.tokens.push_back(text);
    v.token_types.push_back(type);
  };
  add("[PAD]", TokenType::CONTROL);
  add("[UNK]", TokenType::CONTROL);
  v.pad = 0, v.unk = 1;
  for (const std::string& t : normal) add(t, TokenType::NORMAL);
  return v;
}

TokenId id_of(const Vocab& v, const std::string& text) { return v.find(text).value(); }

TEST(WpmRules, GreedyLongestMatchFirst) {
  Vocab v = synthetic_wpm({kMark + "un", kMark + "una", "aff", "ffable", "able", "a"});
  // Longest first: "▁una" then "ffable", not "▁un" "aff" "able".
  EXPECT_EQ(wpm(v, "unaffable"), (Ids{id_of(v, kMark + "una"), id_of(v, "ffable")}));
}

TEST(WpmRules, WordWithUnmatchedRestIsOneUnk) {
  Vocab v = synthetic_wpm({kMark + "un", "aff"});
  EXPECT_EQ(wpm(v, "unaffx un"), (Ids{v.unk, id_of(v, kMark + "un")}));
  EXPECT_EQ(wpm(v, "aff"), (Ids{v.unk}));  // "aff" is a continuation piece only
}

// A continuation must not match a word-start piece ("▁b" is not "##▁b").
TEST(WpmRules, ContinuationNeverMatchesWordStart) {
  Vocab v = synthetic_wpm({kMark + "a", kMark + "b", "b"});
  EXPECT_EQ(wpm(v, "ab"), (Ids{id_of(v, kMark + "a"), id_of(v, "b")}));
  EXPECT_EQ(wpm(v, "a" + kMark + "b"), (Ids{v.unk}));
}

TEST(WpmRules, NoUnkTokenIsAnError) {
  Vocab v = synthetic_wpm({kMark + "a"});
  v.unk = kNoToken;
  EXPECT_EQ(wpm(v, "a"), (Ids{id_of(v, kMark + "a")}));
  EXPECT_THROW(wpm(v, "b"), Error);
}

}  // namespace
}  // namespace inhouse::tokenizer::testing
