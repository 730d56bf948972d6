// Model behaviour beyond the goldens: batched prefill equals token-by-token decode, results do
// not depend on the thread count, the cache can be rewound, tied output weights, and every
// misuse (bad token, overflow, bad position) is a clear Error.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "model/model.h"

namespace inhouse::model {
namespace {

namespace fs = std::filesystem;

std::string data_model(const std::string& name) {
  return (fs::path(INHOUSE_TEST_DATA) / "models" / (name + ".gguf")).string();
}

double max_rel_diff(const float* a, const float* b, size_t n) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < n; ++i) {
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    ref = std::max(ref, double(std::fabs(b[i])));
  }
  return diff / ref;
}

const std::vector<int32_t> kPrompt = {1, 15, 200, 37, 450, 3, 99, 17, 250};

class EveryDataModel : public ::testing::TestWithParam<const char*> {};

TEST_P(EveryDataModel, BatchedPrefillEqualsTokenByTokenDecode) {
  Model m = Model::open(data_model(GetParam()), {.threads = 2});
  const size_t nv = size_t(m.n_vocab());
  KvCache batch_cache = m.new_cache();
  const std::vector<float> batch = m.forward(batch_cache, kPrompt, 0);
  EXPECT_EQ(batch_cache.size(), int64_t(kPrompt.size()));
  KvCache step_cache = m.new_cache();
  for (size_t i = 0; i < kPrompt.size(); ++i) {
    const std::vector<float> step = m.forward(step_cache, std::span(&kPrompt[i], 1), int64_t(i));
    ASSERT_EQ(step.size(), nv);
    EXPECT_LT(max_rel_diff(step.data(), batch.data() + i * nv, nv), 1e-5) << "position " << i;
  }
}

TEST_P(EveryDataModel, ThreadCountDoesNotChangeResults) {
  Model m = Model::open(data_model(GetParam()), {.threads = 1});
  KvCache c1 = m.new_cache();
  const auto one = m.forward(c1, kPrompt, 0);
  m.set_threads(5);
  EXPECT_EQ(m.threads(), 5);
  KvCache c5 = m.new_cache();
  EXPECT_EQ(m.forward(c5, kPrompt, 0), one);
}

TEST_P(EveryDataModel, LastOnlyIsTheLastRow) {
  Model m = Model::open(data_model(GetParam()), {.threads = 2});
  KvCache a = m.new_cache(), b = m.new_cache();
  const auto all = m.forward(a, kPrompt, 0);
  const auto last = m.forward(b, kPrompt, 0, /*last_only=*/true);
  ASSERT_EQ(last.size(), size_t(m.n_vocab()));
  EXPECT_TRUE(std::equal(last.begin(), last.end(), all.end() - m.n_vocab()));
}

INSTANTIATE_TEST_SUITE_P(TestData, EveryDataModel,
                         ::testing::Values("stories260k-f32", "llama-tiny-q8_0", "qwen2-tiny-q4_k_m"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST(Forward, RewindOverwritesTheCache) {
  Model m = Model::open(data_model("stories260k-f32"), {.threads = 2});
  KvCache cache = m.new_cache();
  m.forward(cache, kPrompt, 0);
  const std::vector<int32_t> tail = {7, 8, 9};
  const auto rewound = m.forward(cache, tail, 3);  // replaces positions 3..
  EXPECT_EQ(cache.size(), 6);

  std::vector<int32_t> fresh_prompt(kPrompt.begin(), kPrompt.begin() + 3);
  fresh_prompt.insert(fresh_prompt.end(), tail.begin(), tail.end());
  KvCache fresh_cache = m.new_cache();
  const auto fresh = m.forward(fresh_cache, fresh_prompt, 0);
  const size_t nv = size_t(m.n_vocab());
  EXPECT_LT(max_rel_diff(rewound.data(), fresh.data() + 3 * nv, 3 * nv), 1e-5);
}

TEST(Forward, ContextOverflowIsAnError) {
  Model m = Model::open(data_model("stories260k-f32"), {.threads = 1});
  KvCache small = m.new_cache(8);
  m.forward(small, std::span(kPrompt.data(), 6), 0);
  try {
    m.forward(small, std::span(kPrompt.data(), 3), 6);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("context overflow"), std::string::npos) << e.what();
  }
  // The default cache is the training context (128 for stories260k).
  EXPECT_EQ(m.hparams().n_ctx_train, 128);
  KvCache full = m.new_cache();
  std::vector<int32_t> long_prompt(129, 1);
  EXPECT_THROW(m.forward(full, long_prompt, 0), Error);
  EXPECT_NO_THROW(m.forward(full, std::span(long_prompt.data(), 128), 0));
}

TEST(Forward, RejectsBadTokensPositionsAndForeignCaches) {
  Model m = Model::open(data_model("stories260k-f32"), {.threads = 1});
  KvCache cache = m.new_cache();
  const std::vector<int32_t> bad_low = {1, -1}, bad_high = {1, int32_t(m.n_vocab())};
  EXPECT_THROW(m.forward(cache, bad_low, 0), Error);
  EXPECT_THROW(m.forward(cache, bad_high, 0), Error);
  EXPECT_THROW(m.forward(cache, {}, 0), Error);
  EXPECT_THROW(m.forward(cache, kPrompt, 1), Error);  // position 0 not filled yet
  Model other = Model::open(data_model("llama-tiny-q8_0"), {.threads = 1});
  KvCache foreign = other.new_cache();
  EXPECT_THROW(m.forward(foreign, kPrompt, 0), Error);
}

TEST(Forward, HyperParametersFromTheFile) {
  Model m = Model::open(data_model("qwen2-tiny-q4_0"), {.threads = 1});
  const Hparams& hp = m.hparams();
  EXPECT_EQ(hp.arch, "qwen2");
  EXPECT_EQ(hp.n_embd, 256);
  EXPECT_EQ(hp.n_head, 8);
  EXPECT_EQ(hp.n_head_kv, 2);
  EXPECT_EQ(hp.head_dim_k, 32);
  EXPECT_EQ(hp.n_vocab, 512);
  EXPECT_EQ(hp.rope_freq_base, 1e6f);
  EXPECT_EQ(hp.rope_style, tensor::RopeStyle::Neox);
  Model s = Model::open(data_model("stories260k-f32"), {.threads = 1});
  EXPECT_EQ(s.hparams().rope_style, tensor::RopeStyle::Normal);
  EXPECT_EQ(s.hparams().rope_freq_base, 10000.0f);  // absent from the file: llama's default
  EXPECT_EQ(s.hparams().n_rot, 8);
}

TEST(Greedy, ArgmaxTakesTheFirstMaximum) {
  const float v[] = {0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(argmax(v), 1);
}

}  // namespace
}  // namespace inhouse::model
