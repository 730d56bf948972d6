// SentencePiece (SPM) tests: detail::spm_encode against the llama-spm and phi-3 reference ids,
// and on small synthetic vocabs the rules themselves (score-ordered merges, ties, space
// prefix, byte fallback, UNK, invalid UTF-8), token_to_piece round trips, and one pass
// through Tokenizer::encode.
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer_test_util.h"

namespace inhouse::tokenizer::testing {
namespace {

const std::string kMark = "\xE2\x96\x81";  // U+2581

const Tokenizer* spm_fixture(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    auto path = vocab_path(name);
    it = cache.emplace(name, path ? std::make_unique<Tokenizer>(load_tokenizer(*path)) : nullptr).first;
  }
  return it->second.get();
}

std::vector<TokenId> spm(const Vocab& v, const std::string& text, bool first = true) {
  std::vector<TokenId> out;
  detail::spm_encode(v, text, first, out);
  return out;
}

std::string pieces(const Vocab& v, const std::vector<TokenId>& ids) {
  std::string s;
  for (TokenId id : ids) s += detail::spm_token_to_piece(v, id);
  return s;
}

std::string ids_line(const std::vector<TokenId>& ids) {
  std::string line;
  for (TokenId id : ids) (line += ' ') += std::to_string(id);
  return line;
}

// --- reference ids --------------------------------------------------------------------------

class SpmReference : public ::testing::TestWithParam<std::string> {};

TEST_P(SpmReference, EveryTestStringMatches) {
  auto path = vocab_path(GetParam());
  if (!path) GTEST_SKIP() << "no fixture for " << GetParam();
  const Vocab& v = spm_fixture(GetParam())->vocab();
  ASSERT_EQ(v.type, VocabType::SPM);
  auto tests = split_inp(read_file(*path + ".inp"));
  auto expected = split_lines(read_file(*path + ".out"));
  ASSERT_EQ(tests.size(), expected.size());
  for (size_t i = 0; i < tests.size(); ++i)
    EXPECT_EQ(ids_line(spm(v, tests[i])), expected[i]) << "test " << i << ": '" << tests[i] << "'";
}

// With byte fallback every input byte survives: the pieces give back " " + text exactly.
TEST_P(SpmReference, PiecesRoundTripEveryTestString) {
  auto path = vocab_path(GetParam());
  if (!path) GTEST_SKIP() << "no fixture for " << GetParam();
  const Vocab& v = spm_fixture(GetParam())->vocab();
  for (const std::string& text : split_inp(read_file(*path + ".inp"))) {
    if (text.empty()) continue;
    EXPECT_EQ(pieces(v, spm(v, text)), " " + text);
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, SpmReference, ::testing::Values("llama-spm", "phi-3"),
                         [](const auto& info) { return info.param == "phi-3" ? std::string("phi3") : "llama_spm"; });

// --- synthetic vocab: the rules --------------------------------------------------------------

// <unk>, <s>, </s>, the 256 byte tokens, then `pieces` (text, score) as NORMAL tokens.
Vocab synthetic_spm(const std::vector<std::pair<std::string, float>>& pieces, bool byte_tokens = true) {
  Vocab v;
  v.type = VocabType::SPM;
  v.model = "llama";
  v.add_space_prefix = true;
  auto add = [&v](const std::string& text, TokenType type, float score) {
    v.token_to_id.emplace(text, TokenId(v.tokens.size()));
    v.tokens.push_back(text);
    v.token_types.push_back(type);
    v.scores.push_back(score);
  };
  add("<unk>", TokenType::UNKNOWN, 0);
  add("<s>", TokenType::CONTROL, 0);
  add("</s>", TokenType::CONTROL, 0);
  v.unk = 0, v.bos = 1, v.eos = 2;
  if (byte_tokens) {
    static const char* hex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) add(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">", TokenType::BYTE, 0);
  }
  for (const auto& [text, score] : pieces) add(text, TokenType::NORMAL, score);
  return v;
}

TokenId id_of(const Vocab& v, const std::string& text) { return v.find(text).value(); }
TokenId byte_id(unsigned b) { return TokenId(3 + b); }

TEST(SpmRules, HigherScoreMergesFirst) {
  Vocab v = synthetic_spm({{"a", -5}, {"b", -5}, {"c", -5}, {"ab", -2}, {"bc", -1}});
  EXPECT_EQ(spm(v, "abc", false), (std::vector<TokenId>{id_of(v, "a"), id_of(v, "bc")}));
  Vocab w = synthetic_spm({{"a", -5}, {"b", -5}, {"c", -5}, {"ab", -1}, {"bc", -2}});
  EXPECT_EQ(spm(w, "abc", false), (std::vector<TokenId>{id_of(w, "ab"), id_of(w, "c")}));
}

TEST(SpmRules, EqualScoresMergeLeftmostFirst) {
  Vocab v = synthetic_spm({{"a", -5}, {"b", -5}, {"ab", -1}, {"ba", -1}});
  EXPECT_EQ(spm(v, "aba", false), (std::vector<TokenId>{id_of(v, "ab"), id_of(v, "a")}));
  EXPECT_EQ(spm(v, "bab", false), (std::vector<TokenId>{id_of(v, "ba"), id_of(v, "b")}));
}

TEST(SpmRules, MergesBuildOnMerges) {
  Vocab v = synthetic_spm({{"a", -5}, {"b", -5}, {"ab", -1}, {"abab", -3}, {kMark + "abab", -4}, {kMark, -6}});
  EXPECT_EQ(spm(v, "abab", false), (std::vector<TokenId>{id_of(v, "abab")}));
  EXPECT_EQ(spm(v, "abab", true), (std::vector<TokenId>{id_of(v, kMark + "abab")}));
}

TEST(SpmRules, SpacePrefixOnlyForFirstFragmentAndWhenEnabled) {
  Vocab v = synthetic_spm({{"a", -5}, {kMark, -6}, {kMark + "a", -1}});
  EXPECT_EQ(spm(v, "a", true), (std::vector<TokenId>{id_of(v, kMark + "a")}));
  EXPECT_EQ(spm(v, "a", false), (std::vector<TokenId>{id_of(v, "a")}));
  EXPECT_EQ(spm(v, "a a", false), (std::vector<TokenId>{id_of(v, "a"), id_of(v, kMark + "a")}));
  v.add_space_prefix = false;
  EXPECT_EQ(spm(v, "a", true), (std::vector<TokenId>{id_of(v, "a")}));
}

TEST(SpmRules, EmptyTextGivesNothing) {
  Vocab v = synthetic_spm({{kMark, -1}});
  EXPECT_TRUE(spm(v, "", true).empty());
}

TEST(SpmRules, ByteFallbackForCharactersOutsideTheVocab) {
  Vocab v = synthetic_spm({{"a", -5}});
  // "é" = C3 A9, "🦙" = F0 9F A6 99
  EXPECT_EQ(spm(v, "a\xC3\xA9", false), (std::vector<TokenId>{id_of(v, "a"), byte_id(0xC3), byte_id(0xA9)}));
  EXPECT_EQ(spm(v, "\xF0\x9F\xA6\x99", false),
            (std::vector<TokenId>{byte_id(0xF0), byte_id(0x9F), byte_id(0xA6), byte_id(0x99)}));
}

TEST(SpmRules, UnknownWithoutByteTokens) {
  Vocab v = synthetic_spm({{"a", -5}}, /*byte_tokens=*/false);
  EXPECT_EQ(spm(v, "a\xC3\xA9", false), (std::vector<TokenId>{id_of(v, "a"), v.unk, v.unk}));
}

// Invalid UTF-8 is not replaced (the reference's behaviour): bad bytes go out as byte tokens,
// and decoding gives the input back byte for byte.
TEST(SpmRules, InvalidUtf8BecomesByteTokens) {
  Vocab v = synthetic_spm({{"a", -5}, {"b", -5}});
  EXPECT_EQ(spm(v, "a\xFF", false), (std::vector<TokenId>{id_of(v, "a"), byte_id(0xFF)}));
  EXPECT_EQ(spm(v, "\x80" "a", false), (std::vector<TokenId>{byte_id(0x80), id_of(v, "a")}));
  // A lead byte announcing 3 bytes swallows the next two as one (unknown) symbol.
  EXPECT_EQ(spm(v, "\xE2" "ab", false), (std::vector<TokenId>{byte_id(0xE2), byte_id('a'), byte_id('b')}));
  for (std::string bad : {std::string("\xF0\x9F"), std::string("a\xE2"), std::string("\xC0\xAF\xFE"),
                          std::string("x\0y", 3)}) {
    auto ids = spm(v, bad, false);
    EXPECT_EQ(pieces(v, ids), bad);
  }
}

TEST(SpmPieces, RenderAsReferenceDoes) {
  Vocab v = synthetic_spm({{kMark + "ab", -1}, {"a" + kMark + "b", -1}});
  EXPECT_EQ(detail::spm_token_to_piece(v, id_of(v, kMark + "ab")), " ab");
  EXPECT_EQ(detail::spm_token_to_piece(v, id_of(v, "a" + kMark + "b")), "a b");
  EXPECT_EQ(detail::spm_token_to_piece(v, byte_id('A')), "A");
  EXPECT_EQ(detail::spm_token_to_piece(v, byte_id(0xE2)), "\xE2");
  EXPECT_EQ(detail::spm_token_to_piece(v, v.bos), "<s>");  // the caller hides control tokens
  EXPECT_EQ(detail::spm_token_to_piece(v, v.unk), "<unk>");
  EXPECT_THROW(detail::spm_token_to_piece(v, TokenId(v.size())), Error);
  EXPECT_THROW(detail::spm_token_to_piece(v, -1), Error);
}

TEST(SpmPieces, SyntheticRoundTrip) {
  Vocab v = synthetic_spm({{"a", -5}, {"b", -5}, {kMark, -6}, {kMark + "a", -1}, {"ab", -2}});
  for (std::string text : {"a b  ab", "  ", "ab\xC3\xA9 \xF0\x9F\xA6\x99\n", "\t"})
    EXPECT_EQ(pieces(v, spm(v, text, true)), " " + text);
}

// --- real vocab: a few concrete cases --------------------------------------------------------

TEST(SpmLlama, KnownPieces) {
  const Tokenizer* tok = spm_fixture("llama-spm");
  if (!tok) GTEST_SKIP() << "no llama-spm fixture";
  const Vocab& v = tok->vocab();
  EXPECT_EQ(spm(v, "Hello world"), (std::vector<TokenId>{15043, 3186}));
  EXPECT_EQ(spm(v, "Hello world", false), (std::vector<TokenId>{10994, 3186}));  // "Hello" without "▁"
  EXPECT_EQ(spm(v, " "), (std::vector<TokenId>{259}));
  EXPECT_EQ(spm(v, "\n"), (std::vector<TokenId>{29871, 13}));  // "▁", then the byte token <0x0A>
  EXPECT_EQ(detail::spm_token_to_piece(v, 13), "\n");
  EXPECT_EQ(detail::spm_token_to_piece(v, 15043), " Hello");
}

// Tokenizer::encode (the other module's dispatch) around spm_encode: BOS, and the space
// prefix again after a special token.
TEST(SpmLlama, ThroughTokenizerEncode) {
  const Tokenizer* tok = spm_fixture("llama-spm");
  if (!tok) GTEST_SKIP() << "no llama-spm fixture";
  EXPECT_EQ(tok->encode("Hello world", false, false), (std::vector<TokenId>{15043, 3186}));
  EXPECT_EQ(tok->encode("Hello world", true, false), (std::vector<TokenId>{1, 15043, 3186}));
  EXPECT_EQ(tok->encode("Hello</s>Hello", false, true), (std::vector<TokenId>{15043, 2, 15043}));
  EXPECT_EQ(tok->decode(tok->encode("Hello world", true, false), false), "Hello world");
}

}  // namespace
}  // namespace inhouse::tokenizer::testing
