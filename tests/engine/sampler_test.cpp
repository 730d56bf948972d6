// Sampler and StopStrings behaviour: greedy, truncation rules, penalties, seeded determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "engine/engine.h"

namespace inhouse::engine {
namespace {

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}

TEST(Sampler, GreedyPicksFirstMaximum) {
  Sampler s(greedy());
  std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(s.sample(l.data(), l.size()), 1);
  EXPECT_EQ(argmax(l.data(), l.size()), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingParams p;
  p.top_k = 1;
  p.temperature = 5.0f;
  Sampler s(p);
  std::vector<float> l = {0.0f, 0.5f, 0.4f};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(l.data(), l.size()), 1);
}

TEST(Sampler, SameSeedSameTokens) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  p.seed = 42;
  std::vector<float> l(100);
  for (size_t i = 0; i < l.size(); ++i) l[i] = float(i % 7) * 0.3f;
  Sampler a(p), b(p);
  std::vector<int32_t> ta, tb;
  for (int i = 0; i < 200; ++i) {
    ta.push_back(a.sample(l.data(), l.size()));
    tb.push_back(b.sample(l.data(), l.size()));
  }
  EXPECT_EQ(ta, tb);
  p.seed = 43;
  Sampler c(p);
  std::vector<int32_t> tc;
  for (int i = 0; i < 200; ++i) tc.push_back(c.sample(l.data(), l.size()));
  EXPECT_NE(ta, tc);
}

TEST(Sampler, DistributionFollowsSoftmax) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  p.seed = 7;
  Sampler s(p);
  std::vector<float> l = {0.0f, std::log(3.0f)};  // p = 0.25, 0.75
  int ones = 0, n = 20000;
  for (int i = 0; i < n; ++i) ones += s.sample(l.data(), l.size());
  EXPECT_NEAR(double(ones) / n, 0.75, 0.02);
}

TEST(Sampler, TopPKeepsSmallestNucleus) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.min_p = 0;
  p.top_p = 0.5f;
  Sampler s(p);
  std::vector<float> l = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s.sample(l.data(), l.size()), 0);
  p.top_p = 0.8f;
  Sampler t(p);
  std::set<int32_t> seen;
  for (int i = 0; i < 300; ++i) seen.insert(t.sample(l.data(), l.size()));
  EXPECT_EQ(seen, (std::set<int32_t>{0, 1}));
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.2f;
  Sampler s(p);
  std::vector<float> l = {std::log(0.5f), std::log(0.4f), std::log(0.09f), std::log(0.01f)};
  std::set<int32_t> seen;
  for (int i = 0; i < 500; ++i) seen.insert(s.sample(l.data(), l.size()));
  EXPECT_EQ(seen, (std::set<int32_t>{0, 1}));
}

TEST(Sampler, RepeatPenaltyChangesGreedyChoice) {
  SamplingParams p = greedy();
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  std::vector<float> l = {1.0f, 1.5f, 0.2f};
  EXPECT_EQ(s.sample(l.data(), l.size()), 1);
  s.accept(1);
  EXPECT_EQ(s.sample(l.data(), l.size()), 0);  // 1.5 / 2 = 0.75 < 1.0
}

TEST(Sampler, FrequencyAndPresencePenalties) {
  SamplingParams p = greedy();
  p.frequency_penalty = 0.5f;
  Sampler s(p);
  std::vector<float> l = {1.0f, 1.8f};
  s.accept(1);
  EXPECT_EQ(s.sample(l.data(), l.size()), 1);  // 1.8 - 0.5 = 1.3
  s.accept(1);
  EXPECT_EQ(s.sample(l.data(), l.size()), 0);  // 1.8 - 1.0 = 0.8
  SamplingParams q = greedy();
  q.presence_penalty = 1.0f;
  Sampler t(q);
  t.accept(1);
  EXPECT_EQ(t.sample(l.data(), l.size()), 0);
}

TEST(Sampler, PenaltyWindow) {
  SamplingParams p = greedy();
  p.repeat_penalty = 10.0f;
  p.penalty_last_n = 1;
  Sampler s(p);
  std::vector<float> l = {1.0f, 2.0f};
  s.accept(1);
  s.accept(0);  // only the last token counts now
  EXPECT_EQ(s.sample(l.data(), l.size()), 1);
}

TEST(Sampler, RejectsBadParams) {
  SamplingParams p;
  p.temperature = -1;
  EXPECT_THROW(Sampler{p}, std::invalid_argument);
  p = SamplingParams();
  p.top_p = 1.5f;
  EXPECT_THROW(Sampler{p}, std::invalid_argument);
  p = SamplingParams();
  p.repeat_penalty = 0;
  EXPECT_THROW(Sampler{p}, std::invalid_argument);
  Sampler ok{SamplingParams()};
  EXPECT_THROW(ok.sample(nullptr, 0), std::invalid_argument);
}

// The sampler sorts only the prefix of the vocabulary its rules reach. This is the plain
// algorithm it replaced (sort everything, then truncate, then draw), to check that both pick
// the same tokens from the same seed.
int32_t full_sort_sample(const SamplingParams& p, std::vector<float> l, std::mt19937_64& rng) {
  struct C {
    int32_t id;
    float logit;
  };
  std::vector<C> c;
  for (size_t i = 0; i < l.size(); ++i) c.push_back({int32_t(i), l[i]});
  std::sort(c.begin(), c.end(), [](const C& a, const C& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); });
  if (p.top_k > 0 && size_t(p.top_k) < c.size()) c.resize(size_t(p.top_k));
  for (C& x : c) x.logit /= p.temperature;
  auto probs = [&] {
    std::vector<double> q(c.size());
    double sum = 0;
    for (size_t i = 0; i < c.size(); ++i) sum += q[i] = std::exp(double(c[i].logit) - double(c[0].logit));
    for (double& x : q) x /= sum;
    return q;
  };
  if (p.top_p < 1.0f) {
    const std::vector<double> q = probs();
    double cum = 0;
    for (size_t i = 0; i < c.size(); ++i)
      if ((cum += q[i]) >= p.top_p) {
        c.resize(i + 1);
        break;
      }
  }
  if (p.min_p > 0) {
    const float threshold = c[0].logit + std::log(p.min_p);
    size_t keep = 1;
    while (keep < c.size() && c[keep].logit >= threshold) ++keep;
    c.resize(keep);
  }
  const std::vector<double> q = probs();
  const double u = double(rng() >> 11) * (1.0 / 9007199254740992.0);
  double cum = 0;
  for (size_t i = 0; i < c.size(); ++i)
    if (u < (cum += q[i])) return c[i].id;
  return c.back().id;
}

TEST(Sampler, PartialSelectionPicksWhatAFullSortPicks) {
  // A large vocabulary with ties (logits rounded to 1/8) and a few clear favourites.
  std::mt19937 gen(3);
  std::normal_distribution<float> noise(0.0f, 2.0f);
  std::vector<float> l(8000);
  for (float& x : l) x = std::round(noise(gen) * 8.0f) / 8.0f;
  for (int i = 0; i < 10; ++i) l[size_t(i) * 797] = 9.0f - float(i) * 0.25f;
  struct Case {
    float temperature;
    int top_k;
    float top_p, min_p;
  };
  for (const Case& k : {Case{1.0f, 0, 1.0f, 0.0f}, Case{0.7f, 0, 0.9f, 0.0f}, Case{0.8f, 40, 0.95f, 0.05f},
                        Case{1.5f, 0, 1.0f, 0.01f}, Case{2.0f, 0, 0.999f, 0.0f}, Case{1.0f, 3000, 0.5f, 0.0f}}) {
    SamplingParams p;
    p.temperature = k.temperature;
    p.top_k = k.top_k;
    p.top_p = k.top_p;
    p.min_p = k.min_p;
    p.seed = 11;
    Sampler s(p);
    std::mt19937_64 rng(p.seed);
    for (int i = 0; i < 150; ++i)
      ASSERT_EQ(s.sample(l.data(), l.size()), full_sort_sample(p, l, rng))
          << "draw " << i << ", temperature " << k.temperature << ", top_k " << k.top_k << ", top_p " << k.top_p
          << ", min_p " << k.min_p;
  }
}

TEST(StopStrings, CutsAtStopAcrossPieces) {
  StopStrings s({"</s>", "\n\nUser:"});
  std::string out;
  for (const char* piece : {"Hello", " wor", "ld<", "/", "s>", "after"}) out += s.push(piece);
  EXPECT_EQ(out, "Hello world");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.flush(), "");
}

TEST(StopStrings, HoldsBackOnlyPossiblePrefixes) {
  StopStrings s({"STOP"});
  EXPECT_EQ(s.push("abcST"), "abc");
  EXPECT_EQ(s.push("x"), "STx");
  EXPECT_EQ(s.push("S"), "");
  EXPECT_EQ(s.flush(), "S");
  EXPECT_FALSE(s.stopped());
}

TEST(StopStrings, EarliestStopWins) {
  StopStrings s({"bb", "a"});
  EXPECT_EQ(s.push("xxbba"), "xx");
}

TEST(StopStrings, NoStopsPassesThrough) {
  StopStrings s({});
  EXPECT_EQ(s.push("anything"), "anything");
  StopStrings e({""});
  EXPECT_EQ(e.push("x"), "x");
}

}  // namespace
}  // namespace inhouse::engine
