// Tokenizer behaviour beyond the reference matrix: special tokens, BOS/EOS rules, decoding,
// incremental decoding, invalid UTF-8, out-of-range ids, concurrency.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <thread>

#include "tokenizer_test_util.h"

namespace inhouse::tokenizer::testing {
namespace {

// Vocabs load once per test binary (the big ones take a noticeable fraction of a second).
const Tokenizer* fixture_tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    auto path = vocab_path(name);
    it = cache.emplace(name, path ? std::make_unique<Tokenizer>(load_tokenizer(*path)) : nullptr).first;
  }
  return it->second.get();
}

#define REQUIRE_VOCAB(var, name)                                     \
  const Tokenizer* var = fixture_tokenizer(name);                    \
  if (!var) GTEST_SKIP() << "vocab fixture " << name << " not found"

const TokenId kDsBos = 0, kDsEos = 1, kDsUser = 128803, kDsAssistant = 128804, kDsFimHole = 128800;
const std::string kDsEosText = "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
const std::string kDsBosText = "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
const std::string kDsUserText = "<\xEF\xBD\x9CUser\xEF\xBD\x9C>";
const std::string kDsAssistantText = "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>";
const std::string kDsFimHoleText = "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>";

bool contains(const std::vector<TokenId>& ids, TokenId id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    auto b = uint8_t(s[i]);
    size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((uint8_t(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

const std::vector<std::string> kRoundTripTexts = {
    "Hello, world!",
    " leading space and trailing  ",
    "深度求索（DeepSeek）发布了R1模型，数学推理能力达到了o1水平！",
    "emoji 🦙🚀😶‍🌫️ and accents: café, naïve, Ærøskøbing",
    "code:\n\tfor (int i = 0; i < 10; ++i) {\n\t\tprintf(\"%d\\n\", i);\n\t}\n",
    "numbers 1234567890 3.14159 1e-9",
    "\n\n\n   \t \r\n",
    "Привет мир — ελληνικά — العربية — हिन्दी — 日本語のテキスト",
};

// --- special tokens -------------------------------------------------------------------------

TEST(SpecialTokens, ControlTokensAreParsedOnlyWithParseSpecial) {
  REQUIRE_VOCAB(tok, "deepseek-v3");
  std::string text = "Hi" + kDsEosText + "there";
  std::vector<TokenId> expected = tok->encode("Hi", false, false);
  expected.push_back(kDsEos);
  for (TokenId id : tok->encode("there", false, false)) expected.push_back(id);
  EXPECT_EQ(tok->encode(text, false, true), expected);

  auto plain = tok->encode(text, false, false);
  EXPECT_FALSE(contains(plain, kDsEos));
  EXPECT_EQ(tok->decode(plain), text);  // tokenised as ordinary characters
}

TEST(SpecialTokens, UserDefinedTokensAreAlwaysSplitOut) {
  REQUIRE_VOCAB(tok, "deepseek-v3");
  std::string text = kDsUserText + "Hello" + kDsAssistantText;
  for (bool parse_special : {false, true}) {
    auto ids = tok->encode(text, false, parse_special);
    ASSERT_GE(ids.size(), 3u);
    EXPECT_EQ(ids.front(), kDsUser) << parse_special;
    EXPECT_EQ(ids.back(), kDsAssistant) << parse_special;
  }
}

TEST(SpecialTokens, FimTokensCountAsControl) {
  REQUIRE_VOCAB(tok, "deepseek-v3");
  // Typed USER_DEFINED in the file; the reference treats them as control tokens.
  EXPECT_TRUE(tok->vocab().is_control(kDsFimHole));
  EXPECT_FALSE(contains(tok->encode(kDsFimHoleText, false, false), kDsFimHole));
  EXPECT_EQ(tok->encode(kDsFimHoleText, false, true), std::vector<TokenId>{kDsFimHole});
}

TEST(SpecialTokens, QwenChatMarkup) {
  REQUIRE_VOCAB(tok, "qwen3");
  auto im_start = tok->vocab().find("<|im_start|>"), im_end = tok->vocab().find("<|im_end|>");
  ASSERT_TRUE(im_start && im_end);
  auto ids = tok->encode("<|im_start|>user\nHi<|im_end|>", true, true);
  EXPECT_EQ(ids.front(), *im_start);  // qwen adds no BOS
  EXPECT_EQ(ids.back(), *im_end);
  EXPECT_FALSE(contains(tok->encode("<|im_start|>user", false, false), *im_start));
}

TEST(SpecialTokens, LongestSpecialWinsAndSplitsAreLeftToRight) {
  Vocab v = synthetic_bpe("gpt-2", {}, {{"<a>", TokenType::CONTROL}, {"<a><b>", TokenType::CONTROL},
                                        {"<b>", TokenType::CONTROL}});
  TokenId a = *v.find("<a>"), ab = *v.find("<a><b>"), b = *v.find("<b>");
  Tokenizer tok(v);
  EXPECT_EQ(tok.encode("<a><b><a><b>", false, true), (std::vector<TokenId>{ab, ab}));
  EXPECT_EQ(tok.encode("<a><a><b><b>", false, true), (std::vector<TokenId>{a, ab, b}));
  auto mixed = tok.encode("x<b>y", false, true);
  ASSERT_EQ(mixed.size(), 3u);
  EXPECT_EQ(mixed[1], b);
}

TEST(SpecialTokens, PieceRendering) {
  REQUIRE_VOCAB(tok, "deepseek-v3");
  EXPECT_EQ(tok->token_to_piece(kDsEos, true), kDsEosText);
  EXPECT_EQ(tok->token_to_piece(kDsEos, false), "");
  // USER_DEFINED tokens are text, shown either way.
  EXPECT_EQ(tok->token_to_piece(kDsUser, false), kDsUserText);
}

// --- BOS / EOS ------------------------------------------------------------------------------

TEST(BosEos, AddedAsTheVocabSays) {
  REQUIRE_VOCAB(tok, "deepseek-v3");  // add_bos = true, add_eos = false
  auto ids = tok->encode("Hello", true, false);
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids.front(), kDsBos);
  EXPECT_NE(ids.back(), kDsEos);
  EXPECT_EQ(std::vector<TokenId>(ids.begin() + 1, ids.end()), tok->encode("Hello", false, false));
  EXPECT_EQ(tok->encode("", true, false), std::vector<TokenId>{kDsBos});
  EXPECT_TRUE(tok->encode("", false, false).empty());
}

TEST(BosEos, Gpt2AddsNothing) {
  REQUIRE_VOCAB(tok, "gpt-2");
  EXPECT_EQ(tok->encode("Hello world", true, true), tok->encode("Hello world", false, false));
}

TEST(BosEos, EosAndMissingIds) {
  Vocab v = synthetic_bpe("gpt-2", {}, {{"<s>", TokenType::CONTROL}, {"</s>", TokenType::CONTROL}});
  v.bos = *v.find("<s>");
  v.eos = *v.find("</s>");
  v.add_bos = v.add_eos = true;
  Tokenizer tok(v);
  auto ids = tok.encode("a", true, false);
  EXPECT_EQ(ids, (std::vector<TokenId>{v.bos, *v.find("a"), v.eos}));

  v.bos = kNoToken;
  Tokenizer no_bos(v);
  EXPECT_THROW(no_bos.encode("a", true, false), Error);
  EXPECT_NO_THROW(no_bos.encode("a", false, false));
}

// --- decoding -------------------------------------------------------------------------------

TEST(Decode, RoundTripsText) {
  for (const char* name : {"deepseek-v3", "gpt-2", "qwen3", "deepseek-llm", "falcon", "mpt"}) {
    const Tokenizer* tok = fixture_tokenizer(name);
    if (!tok) continue;
    for (const std::string& text : kRoundTripTexts) {
      // deepseek-llm maps a few characters to user-defined tokens; still a round trip.
      EXPECT_EQ(tok->decode(tok->encode(text, false, false)), text) << name << ": " << text;
      EXPECT_EQ(tok->decode(tok->encode(text, true, true), false), text) << name << ": " << text;
    }
  }
}

TEST(Decode, SpecialTokensShownOnlyWhenAsked) {
  REQUIRE_VOCAB(tok, "deepseek-v3");
  auto ids = tok->encode("Hi", true, false);
  EXPECT_EQ(tok->decode(ids, true), kDsBosText + "Hi");
  EXPECT_EQ(tok->decode(ids, false), "Hi");
}

TEST(Decode, OutOfRangeIdsAreErrors) {
  REQUIRE_VOCAB(tok, "deepseek-v3");
  TokenId n = TokenId(tok->vocab().size());
  EXPECT_THROW(tok->decode({-1}), Error);
  EXPECT_THROW(tok->decode({5, n}), Error);
  EXPECT_THROW(tok->token_to_piece(n), Error);
  EXPECT_THROW(tok->token_to_piece(kNoToken), Error);
  IncrementalDecoder dec(*tok);
  EXPECT_THROW(dec.push(n + 100), Error);
  EXPECT_NO_THROW(tok->token_to_piece(n - 1));
}

// --- incremental decoding -------------------------------------------------------------------

TEST(IncrementalDecoding, NeverSplitsCharacters) {
  for (const char* name : {"deepseek-v3", "gpt-2", "qwen3"}) {
    const Tokenizer* tok = fixture_tokenizer(name);
    if (!tok) continue;
    std::string text = "你好🦙世界, naïve 😶‍🌫️ ok 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ";
    auto ids = tok->encode(text, false, false);
    bool some_piece_is_partial = false;
    IncrementalDecoder dec(*tok);
    std::string joined;
    for (TokenId id : ids) {
      some_piece_is_partial |= !valid_utf8(tok->token_to_piece(id));
      std::string chunk = dec.push(id);
      EXPECT_TRUE(valid_utf8(chunk)) << name << " token " << id;
      joined += chunk;
    }
    joined += dec.flush();
    EXPECT_EQ(joined, text) << name;
    EXPECT_TRUE(some_piece_is_partial) << name << ": the test text should split a character across tokens";
  }
}

TEST(IncrementalDecoding, HoldsPartialCharacterUntilComplete) {
  REQUIRE_VOCAB(tok, "gpt-2");
  // "🦙" is F0 9F A6 99: in GPT-2 it spans several byte-level tokens.
  auto ids = tok->encode("\xF0\x9F\xA6\x99", false, false);
  ASSERT_GT(ids.size(), 1u);
  IncrementalDecoder dec(*tok);
  for (size_t i = 0; i + 1 < ids.size(); ++i) EXPECT_EQ(dec.push(ids[i]), "");
  EXPECT_EQ(dec.push(ids.back()), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(dec.flush(), "");
}

TEST(IncrementalDecoding, FlushReplacesInvalidLeftovers) {
  REQUIRE_VOCAB(tok, "gpt-2");
  auto lead = tok->encode("\xE4", false, false);  // first byte of a 3-byte character, alone
  ASSERT_EQ(lead.size(), 1u);
  IncrementalDecoder dec(*tok);
  EXPECT_EQ(dec.push(*tok->vocab().find("a")), "a");
  EXPECT_EQ(dec.push(lead[0]), "");
  EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(dec.flush(), "");

  // A stray continuation byte can never complete: replaced at once, text after it kept.
  auto stray = tok->encode("\x80", false, false);
  ASSERT_EQ(stray.size(), 1u);
  EXPECT_EQ(dec.push(stray[0]), "\xEF\xBF\xBD");
  EXPECT_EQ(dec.push(*tok->vocab().find("b")), "b");
}

TEST(IncrementalDecoding, MatchesDecodeForSpecialsOnAndOff) {
  REQUIRE_VOCAB(tok, "deepseek-v3");
  auto ids = tok->encode(kDsUserText + "写一首诗" + kDsAssistantText + kDsEosText, true, true);
  for (bool special : {true, false}) {
    IncrementalDecoder dec(*tok, special);
    std::string joined;
    for (TokenId id : ids) joined += dec.push(id);
    joined += dec.flush();
    EXPECT_EQ(joined, tok->decode(ids, special));
  }
}

// --- bad input ------------------------------------------------------------------------------

TEST(InvalidUtf8, ByteLevelBpeKeepsTheBytes) {
  for (const char* name : {"deepseek-v3", "gpt-2", "qwen3", "deepseek-llm", "deepseek-coder", "falcon", "starcoder",
                           "refact", "mpt"}) {
    const Tokenizer* tok = fixture_tokenizer(name);
    if (!tok) continue;
    // (Bytes F5-FF, C0, C1 are left out: deepseek-llm/coder map them to user-defined tokens
    // whose piece is the character, not the byte.)
    for (std::string text : {std::string("abc\xF4\xF0 def"), std::string("\xC3"), std::string("\xE4\xBD"),
                             std::string("ok\x80\x80 \xED\xA0\x80 \xF4\x90\x80\x80 end"),
                             std::string("\xF0\x9F\xA6 split emoji"), std::string("nul\0byte", 8)}) {
      std::vector<TokenId> ids;
      ASSERT_NO_THROW(ids = tok->encode(text, false, false)) << name;
      EXPECT_EQ(tok->decode(ids), text) << name;
    }
  }
}

TEST(InvalidUtf8, NoVocabCrashes) {
  // Every algorithm gets bad bytes; each must either tokenize or throw Error, never crash.
  for (const char* name : {"llama-spm", "phi-3", "bert-bge", "deepseek-v3", "qwen3", "gpt-2", "deepseek-llm",
                           "deepseek-coder", "falcon", "starcoder", "refact", "mpt"}) {
    const Tokenizer* tok = fixture_tokenizer(name);
    if (!tok) continue;
    try {
      tok->encode("a\xFF\xC3(\xE2\x82 b\xFE\xC0\xF0\x9F", true, true);
    } catch (const Error&) {
    }
  }
}

// --- robustness -----------------------------------------------------------------------------

TEST(Robustness, LongRunsStayFast) {
  REQUIRE_VOCAB(tok, "deepseek-v3");
  for (const std::string& text : {std::string(200000, ' '), std::string(100000, '\n'), std::string(50000, 'a'),
                                  [] { std::string s; for (int i = 0; i < 30000; ++i) s += "中"; return s; }()}) {
    auto ids = tok->encode(text, false, false);
    EXPECT_EQ(tok->decode(ids), text);
  }
  const Tokenizer* llm = fixture_tokenizer("deepseek-llm");  // has the \s+$ pattern
  if (llm) {
    std::string spaces = std::string(100000, ' ') + "x";
    EXPECT_EQ(llm->decode(llm->encode(spaces, false, false)), spaces);
  }
}

TEST(Robustness, ConcurrentEncodeGivesSameIds) {
  REQUIRE_VOCAB(tok, "deepseek-v3");
  std::string text;
  for (const auto& t : kRoundTripTexts) text += t;
  auto expected = tok->encode(text, true, true);
  std::vector<std::vector<TokenId>> results(4);
  std::vector<std::thread> threads;
  for (auto& r : results)
    threads.emplace_back([&, out = &r] {
      for (int i = 0; i < 20; ++i) *out = tok->encode(text, true, true);
    });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, expected);
}

TEST(Robustness, AlternatingTokenizersInOneThread) {
  // Each thread caches word ids; the cache must never answer for the wrong vocab.
  REQUIRE_VOCAB(gpt2, "gpt-2");
  REQUIRE_VOCAB(ds, "deepseek-v3");
  std::string text = "the same words in both vocabs, the same words again";
  auto a = gpt2->encode(text, false, false), b = ds->encode(text, false, false);
  ASSERT_NE(a, b);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(gpt2->encode(text, false, false), a);
    EXPECT_EQ(ds->encode(text, false, false), b);
  }
  {
    Tokenizer temporary = *gpt2;  // a state that is freed; a later one may reuse its address
    EXPECT_EQ(temporary.encode(text, false, false), a);
  }
  Vocab other = synthetic_bpe("gpt-2", {});
  EXPECT_EQ(Tokenizer(other).encode("the", false, false), (std::vector<TokenId>{*other.find("t"), *other.find("h"),
                                                                                *other.find("e")}));
}

TEST(Robustness, CopiedTokenizerWorks) {
  REQUIRE_VOCAB(tok, "gpt-2");
  Tokenizer copy = *tok;
  Tokenizer moved = std::move(copy);
  EXPECT_EQ(moved.encode("Hello there", false, false), tok->encode("Hello there", false, false));
}

}  // namespace
}  // namespace inhouse::tokenizer::testing
