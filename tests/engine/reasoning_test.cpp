// ReasoningSplitter: R1-style <think> blocks split from the answer, whatever the token cuts.
#include <gtest/gtest.h>

#include "engine/engine.h"

namespace inhouse::engine {
namespace {

// Feeds text in pieces of `step` bytes and collects both channels.
ReasoningSplitter::Delta feed(ReasoningSplitter s, const std::string& text, size_t step) {
  ReasoningSplitter::Delta all;
  for (size_t i = 0; i < text.size(); i += step) {
    auto d = s.push(text.substr(i, step));
    all.reasoning += d.reasoning;
    all.content += d.content;
  }
  auto d = s.flush();
  all.reasoning += d.reasoning;
  all.content += d.content;
  return all;
}

TEST(ReasoningSplitter, SplitsThinkBlockAtAnyCut) {
  std::string text = "<think>\nLet me add 2 and 2.\n</think>\n\nThe answer is 4.";
  for (size_t step = 1; step <= text.size(); ++step) {
    auto d = feed(ReasoningSplitter(), text, step);
    EXPECT_EQ(d.reasoning, "Let me add 2 and 2.\n") << step;
    EXPECT_EQ(d.content, "The answer is 4.") << step;
  }
}

TEST(ReasoningSplitter, NoThinkBlockIsAllContent) {
  for (size_t step : {1, 3, 100}) {
    auto d = feed(ReasoningSplitter(), "Hello <think> is just text here", step);
    EXPECT_EQ(d.reasoning, "");
    EXPECT_EQ(d.content, "Hello <think> is just text here");
  }
}

TEST(ReasoningSplitter, StartsInReasoningWhenPromptOpenedIt) {
  auto d = feed(ReasoningSplitter(true), "thinking...</think>answer", 2);
  EXPECT_EQ(d.reasoning, "thinking...");
  EXPECT_EQ(d.content, "answer");
}

TEST(ReasoningSplitter, UnclosedReasoningFlushes) {
  auto d = feed(ReasoningSplitter(), "<think>still thinking </thi", 4);
  EXPECT_EQ(d.reasoning, "still thinking </thi");
  EXPECT_EQ(d.content, "");
}

TEST(ReasoningSplitter, ShortOutputThatLooksLikeTagStart) {
  auto d = feed(ReasoningSplitter(), "<th", 1);
  EXPECT_EQ(d.content, "<th");
}

TEST(ReasoningSplitter, PromptOpensReasoning) {
  EXPECT_TRUE(prompt_opens_reasoning("<｜Assistant｜><think>\n"));
  EXPECT_TRUE(prompt_opens_reasoning("x<think>"));
  EXPECT_FALSE(prompt_opens_reasoning("<｜Assistant｜>"));
  EXPECT_FALSE(prompt_opens_reasoning("<think>done</think>"));
}

}  // namespace
}  // namespace inhouse::engine
