// Byte-level BPE internals: pre-tokenizer split semantics per tokenizer.ggml.pre, the byte
// mapping, merge order, llama3's ignore_merges, unknown pre-tokenizers.
#include <gtest/gtest.h>

#include <random>

#include "tokenizer/bpe_pretokenizer.h"
#include "tokenizer_test_util.h"

namespace inhouse::tokenizer::testing {
namespace {

using detail::known_pre_tokenizers;
using detail::pre_tokenizer_spec;
using detail::PreTokenizer;
using Pieces = std::vector<std::string>;

Pieces split(const std::string& pre, const std::string& text) {
  return PreTokenizer(pre_tokenizer_spec(pre)).split(text);
}

std::vector<TokenId> ids_of(const Vocab& v, const Pieces& texts) {
  std::vector<TokenId> ids;
  for (const auto& t : texts) ids.push_back(*v.find(t));
  return ids;
}

TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(split("gpt-2", "Hello world's  end!!\n"), (Pieces{"Hello", " world", "'s", " ", " end", "!!", "\n"}));
  EXPECT_EQ(split("gpt-2", "x 12 ab3"), (Pieces{"x", " 12", " ab", "3"}));
}

TEST(PreTokenizer, DeepseekV3AppliesItsRegexesInSequence) {
  // \p{N}{1,3} first, then CJK/kana runs, then the word pattern on every piece.
  EXPECT_EQ(split("deepseek-v3", "abc 12345 你好世界ok"), (Pieces{"abc", " ", "123", "45", " ", "你好世界", "ok"}));
  EXPECT_EQ(split("deepseek-v3", "see.Hello, world"), (Pieces{"see", ".Hello", ",", " world"}));
  EXPECT_EQ(split("deepseek-v3", "ひらがなカタカナ漢字"), (Pieces{"ひらがなカタカナ漢字"}));
}

TEST(PreTokenizer, Qwen2SplitsSingleDigitsAndContractionsAnyCase) {
  EXPECT_EQ(split("qwen2", "I'm 2024"), (Pieces{"I", "'m", " ", "2", "0", "2", "4"}));
  EXPECT_EQ(split("qwen2", "I'M"), (Pieces{"I", "'M"}));
  EXPECT_EQ(split("qwen2", "a\n\n  b"), (Pieces{"a", "\n\n", " ", " b"}));
}

TEST(PreTokenizer, Llama3GroupsDigitsByThree) {
  EXPECT_EQ(split("llama-bpe", "12345 abc"), (Pieces{"123", "45", " abc"}));
  EXPECT_EQ(split("llama3", "x!!\n\ny"), (Pieces{"x", "!!\n\n", "y"}));
}

TEST(PreTokenizer, DeepseekLlmTrailingWhitespace) {
  EXPECT_EQ(split("deepseek-llm", "hello   "), (Pieces{"hello", "   "}));
  EXPECT_EQ(split("deepseek-llm", "x  y\nz"), (Pieces{"x", " ", " y", "\n", "z"}));
}

TEST(PreTokenizer, NextLineIsWhitespace) {
  // U+0085 is White_Space for the reference engines (PCRE2's \s lacks it).
  EXPECT_EQ(split("gpt-2", "a \xC2\x85" "b"), (Pieces{"a", " ", "\xC2\x85", "b"}));
}

TEST(PreTokenizer, InvalidUtf8BecomesItsOwnPieces) {
  EXPECT_EQ(split("gpt-2", "ab\xFF" "cd"), (Pieces{"ab", "\xFF", "cd"}));
}

TEST(PreTokenizer, PiecesAlwaysCoverTheInput) {
  std::mt19937 rng(7);
  const std::string alphabet[] = {"a", "Z", " ", "  ", "\n", "\r", "\t", "1", "23", "'s", "!", ".", "你", "ー", "é",
                                  "\xC2\x85", "\xFF", "\x80", "\xE4\xBD", "🦙", "\xCC\x81"};
  for (const std::string& pre : known_pre_tokenizers()) {
    PreTokenizer p(pre_tokenizer_spec(pre));
    for (int round = 0; round < 200; ++round) {
      std::string text;
      for (int k = int(rng() % 24); k > 0; --k) text += alphabet[rng() % std::size(alphabet)];
      std::string joined;
      Pieces pieces = p.split(text);
      for (const auto& piece : pieces) {
        EXPECT_FALSE(piece.empty()) << pre;
        joined += piece;
      }
      ASSERT_EQ(joined, text) << pre;
    }
  }
}

TEST(PreTokenizer, UnknownNameIsAClearError) {
  try {
    pre_tokenizer_spec("no-such-pre");
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-pre"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("deepseek-v3"), std::string::npos);  // lists the known ones
  }
  EXPECT_THROW(Tokenizer(synthetic_bpe("no-such-pre", {})), Error);
}

TEST(Bpe, EveryByteIsOneTokenAndDecodesBack) {
  Vocab v = synthetic_bpe("gpt-2", {});
  Tokenizer tok(v);
  for (int b = 0; b < 256; ++b) {
    std::string text(1, char(b));
    EXPECT_EQ(tok.encode(text, false, false), std::vector<TokenId>{TokenId(b)}) << b;
    EXPECT_EQ(tok.token_to_piece(TokenId(b)), text) << b;
  }
}

TEST(Bpe, MergesApplyLowestRankFirstThenLeftmost) {
  Vocab ab_first = synthetic_bpe("gpt-2", {{"a", "b"}, {"b", "c"}});
  EXPECT_EQ(Tokenizer(ab_first).encode("abc", false, false), ids_of(ab_first, {"ab", "c"}));
  Vocab bc_first = synthetic_bpe("gpt-2", {{"b", "c"}, {"a", "b"}});
  EXPECT_EQ(Tokenizer(bc_first).encode("abc", false, false), ids_of(bc_first, {"a", "bc"}));

  Vocab aa = synthetic_bpe("gpt-2", {{"a", "a"}});
  EXPECT_EQ(Tokenizer(aa).encode("aaa", false, false), ids_of(aa, {"aa", "a"}));
  Vocab aaaa = synthetic_bpe("gpt-2", {{"a", "a"}, {"aa", "aa"}});
  EXPECT_EQ(Tokenizer(aaaa).encode("aaaaa", false, false), ids_of(aaaa, {"aaaa", "a"}));
}

TEST(Bpe, SpaceIsMappedBeforeMerging) {
  const std::string space = byte_char(' ');  // "Ġ"
  Vocab v = synthetic_bpe("gpt-2", {{space, "h"}, {space + "h", "i"}});
  EXPECT_EQ(Tokenizer(v).encode("hi hi", false, false), ids_of(v, {"h", "i", space + "hi"}));
}

TEST(Bpe, Llama3TakesWholeWordTokensWithoutMerging) {
  // "abc" is a token, but the merges alone would give a + bc.
  auto specials = std::vector<std::pair<std::string, TokenType>>{{"abc", TokenType::NORMAL}};
  Vocab llama = synthetic_bpe("llama-bpe", {{"b", "c"}}, specials);
  EXPECT_EQ(Tokenizer(llama).encode("abc", false, false), ids_of(llama, {"abc"}));
  Vocab gpt2 = synthetic_bpe("gpt-2", {{"b", "c"}}, specials);
  EXPECT_EQ(Tokenizer(gpt2).encode("abc", false, false), ids_of(gpt2, {"a", "bc"}));
}

TEST(Bpe, MergeResultMissingFromVocabFallsBackToBytes) {
  // "x y" merges to "xy", which is not a token; "xy z" gives the token "xyz".
  Vocab v = synthetic_bpe("gpt-2", {{"xy", "z"}});
  v.merge_ranks = {{"x y", 0}, {"xy z", 1}};
  Tokenizer tok(v);
  EXPECT_EQ(tok.encode("xyz", false, false), ids_of(v, {"xyz"}));
  EXPECT_EQ(tok.encode("xy", false, false), ids_of(v, {"x", "y"}));
}

TEST(Bpe, EveryKnownPreTokenizerBuilds) {
  for (const std::string& pre : known_pre_tokenizers()) {
    Vocab v = synthetic_bpe(pre, {{"a", "b"}});
    Tokenizer tok(v);
    std::string text = "ab 12345 xyz\n你好!";
    EXPECT_EQ(tok.decode(tok.encode(text, false, false)), text) << pre;
  }
}

}  // namespace
}  // namespace inhouse::tokenizer::testing
