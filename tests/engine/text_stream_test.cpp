// TokenTextStream: decoding + stop strings + reasoning split over real token ids of a bundled
// vocabulary, checked against decoding the whole sequence at once.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "gguf/gguf.h"

namespace inhouse::engine {
namespace {

tokenizer::Tokenizer tiny_tokenizer() {
  return tokenizer::Tokenizer::from_gguf(
      gguf::GgufFile::open(std::string(INHOUSE_TEST_DATA) + "/models/llama-tiny-q8_0.gguf"));
}

TokenTextStream::Delta feed(TokenTextStream& s, const std::vector<int32_t>& ids) {
  TokenTextStream::Delta all;
  for (int32_t id : ids) {
    auto d = s.push(id);
    all.reasoning += d.reasoning;
    all.content += d.content;
  }
  auto d = s.finish();
  all.reasoning += d.reasoning;
  all.content += d.content;
  return all;
}

TEST(TokenTextStream, PlainTextIsTheDecodedIds) {
  const auto tok = tiny_tokenizer();
  const auto ids = tok.encode("Hello world, how are you?", false, false);
  TokenTextStream s(tok, {});
  auto d = feed(s, ids);
  EXPECT_EQ(d.content, tok.decode(ids, false));
  EXPECT_EQ(d.reasoning, "");
  EXPECT_FALSE(s.stopped());
}

TEST(TokenTextStream, StopsAtStopStringAndIgnoresTheRest) {
  const auto tok = tiny_tokenizer();
  const auto ids = tok.encode("Hello world, how are you?", false, false);
  TokenTextStream s(tok, {.stop = {"how"}});
  auto d = feed(s, ids);
  EXPECT_EQ(d.content, "Hello world, ");
  EXPECT_TRUE(s.stopped());
}

TEST(TokenTextStream, SplitsReasoning) {
  const auto tok = tiny_tokenizer();
  const auto ids = tok.encode("I think so.</think>Yes.", false, false);
  TokenTextStream s(tok, {.stop = {}, .split_reasoning = true, .start_in_reasoning = true});
  auto d = feed(s, ids);
  EXPECT_EQ(d.reasoning, "I think so.");
  EXPECT_EQ(d.content, "Yes.");

  TokenTextStream off(tok, {});
  EXPECT_EQ(feed(off, ids).content, "I think so.</think>Yes.");
}

}  // namespace
}  // namespace inhouse::engine
