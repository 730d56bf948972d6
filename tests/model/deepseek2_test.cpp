// deepseek2 (MLA + MoE): golden logits from llama.cpp for every deepseek2-tiny-* file (shared
// fixtures; the q8_0 copy in tests/data always), both KV cache layouts (expanded per-head K/V,
// latent), how Auto chooses between them and what each costs, files with split
// attn_k_b/attn_v_b, clear load errors, and synthetic variants of the architecture (no q_lora,
// softmax gating, no shared experts, group-limited routing, no YaRN, other head counts) against
// a naive double-precision reference that expands every head's K/V (plain multi-head attention,
// no absorption, no cache) and follows the HF DeepSeek-V3 definition of YaRN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>
#include <set>

#include "golden_util.h"
#include "gguf_edit.h"
#include "model/model.h"

namespace inhouse::model {
namespace {

namespace fs = std::filesystem;
using gguf::GgufFile;
using gguf::GgufWriter;
using gguf::TensorType;

using testing::GoldenCase;
using testing::is_float_model;
using testing::percentile;
using testing::read_golden;
using testing::relative_error;

// The fixtures README's tolerances with its deepseek2 rule: MoE routing flips on near ties, so
// at least 85% of positions must be within the per-position bound (0.02 for float types, the
// 90th-percentile bound 0.04 for quantised ones); float types keep median <= 0.005 and the
// first 16 greedy tokens exact.
void check_golden(Model& model, const fs::path& golden, const std::string& name) {
  std::vector<double> errors;
  for (const GoldenCase& c : read_golden(golden)) {
    std::vector<float> logits;
    const auto ids = greedy(model, c.prompt, int(c.greedy.size()), &logits);
    ASSERT_EQ(logits.size(), c.prompt.size() * size_t(model.n_vocab()));
    for (size_t p = 0; p < c.prompt.size(); ++p)
      errors.push_back(relative_error(logits.data() + p * size_t(model.n_vocab()), c.logits[p]));
    size_t same = 0;
    while (same < ids.size() && ids[same] == c.greedy[same]) ++same;
    if (is_float_model(name)) {
      EXPECT_GE(same, 16u) << name << ": greedy diverges at step " << same;
    }
  }
  const double bound = is_float_model(name) ? 0.02 : 0.04;
  const double within =
      double(std::count_if(errors.begin(), errors.end(), [&](double e) { return e <= bound; })) /
      double(errors.size());
  std::cout << "  " << name << ": median " << percentile(errors, 0.5) << ", p90 "
            << percentile(errors, 0.9) << ", max " << percentile(errors, 1.0) << ", "
            << within * 100 << "% of positions <= " << bound << "\n";
  EXPECT_GE(within, 0.85) << name;
  if (is_float_model(name)) {
    EXPECT_LE(percentile(errors, 0.5), 0.005) << name;
  }
}

fs::path data_dir() { return fs::path(INHOUSE_TEST_DATA) / "models"; }

TEST(Deepseek2Golden, DataCopyMatchesReference) {
  Model m = Model::open((data_dir() / "deepseek2-tiny-q8_0.gguf").string(), {.threads = 2});
  check_golden(m, data_dir() / "golden" / "deepseek2-tiny-q8_0.json", "deepseek2-tiny-q8_0");
}

class Deepseek2SharedGolden : public ::testing::TestWithParam<const char*> {};
// The default (Auto) layout is Expanded for these tiny models: llama.cpp's own rounding points.
TEST_P(Deepseek2SharedGolden, MatchesReference) {
  const fs::path dir = fs::path(INHOUSE_SHARED_FIXTURES) / "models";
  const std::string name = GetParam();
  if (!fs::exists(dir / (name + ".gguf"))) GTEST_SKIP() << "shared fixtures not found at " << dir;
  Model m = Model::open((dir / (name + ".gguf")).string(), {.threads = 2});
  check_golden(m, dir / "golden" / (name + ".json"), name);
}

// Diagnostic, not run by default (--gtest_also_run_disabled_tests): the latent layout's numbers
// against the same goldens. It rounds at other points than llama.cpp did, which flips MoE
// routing on near ties in these random models, so quantised files can miss the 85% rule.
TEST_P(Deepseek2SharedGolden, DISABLED_LatentLayoutNumbers) {
  const fs::path dir = fs::path(INHOUSE_SHARED_FIXTURES) / "models";
  const std::string name = GetParam();
  if (!fs::exists(dir / (name + ".gguf"))) GTEST_SKIP() << "shared fixtures not found at " << dir;
  Model m = Model::open((dir / (name + ".gguf")).string(),
                        {.threads = 2, .mla_cache = MlaCache::Latent});
  check_golden(m, dir / "golden" / (name + ".json"), name + " (latent)");
}
INSTANTIATE_TEST_SUITE_P(SharedFixtures, Deepseek2SharedGolden,
                         ::testing::Values("deepseek2-tiny-f16", "deepseek2-tiny-q8_0",
                                           "deepseek2-tiny-q6_k", "deepseek2-tiny-q5_k_m",
                                           "deepseek2-tiny-q4_k_m", "deepseek2-tiny-q4_0"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

// ---- the bundled file: cache, hyper-parameters, split tensors, errors -----------------------

using testing::load_error;
using testing::rebuild;

class Deepseek2File : public ::testing::Test {
 protected:
  GgufFile file = GgufFile::open((data_dir() / "deepseek2-tiny-q8_0.gguf").string());
};

TEST_F(Deepseek2File, HyperParametersAndLatentCache) {
  Model m = Model::open((data_dir() / "deepseek2-tiny-q8_0.gguf").string(),
                        {.threads = 2, .mla_cache = MlaCache::Latent});
  const Hparams& hp = m.hparams();
  EXPECT_EQ(hp.arch, "deepseek2");
  EXPECT_EQ(hp.n_head, 4);
  EXPECT_EQ(hp.head_dim_k, 64);  // 32 nope + 32 rope
  EXPECT_EQ(hp.head_dim_v, 32);
  EXPECT_EQ(hp.n_rot, 32);
  EXPECT_FLOAT_EQ(hp.rope_freq_scale, 0.25f);
  // YaRN: attention logits scaled by mscale^2 / sqrt(64), mscale = 1 + 0.1 ln 4.
  const float mscale = 1.0f + 0.1f * std::log(4.0f);
  EXPECT_NEAR(hp.attn_scale, mscale * mscale / 8.0f, 1e-6);
  // The cache keeps the 256-wide latent and the 32-wide shared rope key per position, no values.
  EXPECT_EQ(hp.kv_lora, 256);
  const KvCache cache = m.new_cache(16);
  EXPECT_EQ(cache.k_width(), 256 + 32);
  EXPECT_EQ(cache.v_width(), 0);
}

TEST_F(Deepseek2File, ExpandedCacheHoldsEveryHeadsKeysAndValues) {
  Model m = Model::open((data_dir() / "deepseek2-tiny-q8_0.gguf").string(),
                        {.threads = 2, .mla_cache = MlaCache::Expanded});
  KvCache cache = m.new_cache(16);
  EXPECT_EQ(cache.k_width(), 4 * 64);  // 4 heads x (32 nope + 32 rope)
  EXPECT_EQ(cache.v_width(), 4 * 32);
  EXPECT_EQ(cache.capacity(), 0);  // grows with use, not allocated for n_ctx up front
  const std::vector<int32_t> prompt = {1, 15, 200, 37};
  m.forward(cache, prompt, 0);
  EXPECT_GE(cache.capacity(), 4);
  // Every head's key ends in the same roped shared key k_pe.
  for (int64_t layer = 0; layer < 3; ++layer) {
    const auto* k = static_cast<const uint16_t*>(cache.k(layer, 3));
    for (int64_t h = 1; h < 4; ++h)
      for (int64_t i = 32; i < 64; ++i) ASSERT_EQ(k[h * 64 + i], k[i]) << layer << " " << h << " " << i;
  }
}

// The layer count and widths the memory table in the report uses.
Hparams mla_shape(int64_t n_layer, int64_t n_head, int64_t kv_lora, int64_t nope, int64_t rope,
                  int64_t nv) {
  Hparams hp;
  hp.arch = "deepseek2";
  hp.n_layer = n_layer;
  hp.n_head = n_head;
  hp.kv_lora = kv_lora;
  hp.head_dim_k = nope + rope;
  hp.n_rot = rope;
  hp.head_dim_v = nv;
  return hp;
}

TEST(MlaCacheLayout, BytesPerPositionOfEachLayout) {
  using tensor::TensorType;
  // DeepSeek-V3 / R1: 61 layers, 128 heads, kv_lora 512, nope 128, rope 64, v 128.
  const Hparams v3 = mla_shape(61, 128, 512, 128, 64, 128);
  EXPECT_EQ(mla_cache_bytes_per_position(v3, MlaCache::Latent, TensorType::F16), 61 * 576 * 2);
  EXPECT_EQ(mla_cache_bytes_per_position(v3, MlaCache::Expanded, TensorType::F16),
            61 * 128 * (192 + 128) * 2);  // 4.77 MiB a position: 71x the latent
  EXPECT_EQ(mla_cache_bytes_per_position(v3, MlaCache::Expanded, TensorType::F32),
            2 * mla_cache_bytes_per_position(v3, MlaCache::Expanded, TensorType::F16));
  // DeepSeek-V2-Lite: 27 layers, 16 heads, same head sizes: 8.9x.
  const Hparams lite = mla_shape(27, 16, 512, 128, 64, 128);
  EXPECT_EQ(mla_cache_bytes_per_position(lite, MlaCache::Latent, TensorType::F16), 27 * 576 * 2);
  EXPECT_EQ(mla_cache_bytes_per_position(lite, MlaCache::Expanded, TensorType::F16), 27 * 16 * 320 * 2);
  EXPECT_THROW(mla_cache_bytes_per_position(v3, MlaCache::Auto, TensorType::F16), Error);
  EXPECT_THROW(mla_cache_bytes_per_position(Hparams{}, MlaCache::Latent, TensorType::F16), Error);
  EXPECT_THROW(mla_cache_bytes_per_position(v3, MlaCache::Latent, TensorType::Q8_0), Error);

  // The caches a model makes take what the function says.
  for (MlaCache layout : {MlaCache::Latent, MlaCache::Expanded})
    for (TensorType type : {TensorType::F16, TensorType::F32}) {
      Model m = Model::open((data_dir() / "deepseek2-tiny-q8_0.gguf").string(),
                            {.threads = 1, .kv_type = type, .mla_cache = layout});
      EXPECT_EQ(m.new_cache(8).bytes_per_position(),
                mla_cache_bytes_per_position(m.hparams(), layout, type));
    }
}

TEST(MlaCacheLayout, AutoExpandsOnlyWhileTheCacheIsSmall) {
  using tensor::TensorType;
  const Hparams v3 = mla_shape(61, 128, 512, 128, 64, 128);
  const int64_t per_position = 61 * 128 * 320 * 2;
  const int64_t fits = kMlaExpandedAutoLimit / per_position;  // 53 positions in 256 MiB
  EXPECT_EQ(fits, 53);
  EXPECT_EQ(choose_mla_cache(v3, MlaCache::Auto, fits, TensorType::F16), MlaCache::Expanded);
  EXPECT_EQ(choose_mla_cache(v3, MlaCache::Auto, fits + 1, TensorType::F16), MlaCache::Latent);
  EXPECT_EQ(choose_mla_cache(v3, MlaCache::Auto, 4096, TensorType::F16), MlaCache::Latent);
  // F32 rows double the bytes, so about half the positions fit.
  EXPECT_EQ(choose_mla_cache(v3, MlaCache::Auto, 26, TensorType::F32), MlaCache::Expanded);
  EXPECT_EQ(choose_mla_cache(v3, MlaCache::Auto, 27, TensorType::F32), MlaCache::Latent);
  // An explicit choice is kept whatever the size.
  EXPECT_EQ(choose_mla_cache(v3, MlaCache::Expanded, 163840, TensorType::F16), MlaCache::Expanded);
  EXPECT_EQ(choose_mla_cache(v3, MlaCache::Latent, 1, TensorType::F16), MlaCache::Latent);
  // Another limit moves the boundary.
  EXPECT_EQ(choose_mla_cache(v3, MlaCache::Auto, 2, TensorType::F16, 2 * per_position), MlaCache::Expanded);
  EXPECT_EQ(choose_mla_cache(v3, MlaCache::Auto, 3, TensorType::F16, 2 * per_position), MlaCache::Latent);

  // The tiny model: its training context expands (2304 bytes a position); a context of
  // 200000 positions (440 MiB expanded) gets the latent.
  Model m = Model::open((data_dir() / "deepseek2-tiny-q8_0.gguf").string(), {.threads = 1});
  EXPECT_EQ(choose_mla_cache(m.hparams(), MlaCache::Auto, m.hparams().n_ctx_train, TensorType::F16),
            MlaCache::Expanded);
  EXPECT_GT(m.new_cache().v_width(), 0);
  const KvCache big = m.new_cache(200000);
  EXPECT_EQ(big.v_width(), 0);
  EXPECT_EQ(big.k_width(), 256 + 32);
  EXPECT_EQ(big.capacity(), 0);
}

// Relative RMS difference of two logit rows.
double row_difference(const float* a, const float* b, size_t n) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < n; ++i) {
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    norm += double(b[i]) * b[i];
  }
  return std::sqrt(diff / norm);
}

// Both layouts compute the same function; on the bundled q8_0 file they differ by where they
// round (the expanded layout quantises the latent to Q8_0 blocks for the attn_kv_b matmul; the
// latent one multiplies the absorbed queries in float), which this random model amplifies to a
// few percent, more where MoE routing flips on a near tie. (Exact agreement on float weights:
// Synthetic/Deepseek2Variants and LayoutsAgreeOnFloatWeights below.)
TEST_F(Deepseek2File, LayoutsAgreeOnShortPrompts) {
  const std::string path = (data_dir() / "deepseek2-tiny-q8_0.gguf").string();
  const std::vector<int32_t> prompt = {1, 15, 200, 37, 450, 3};
  for (tensor::TensorType type : {tensor::TensorType::F32, tensor::TensorType::F16}) {
    Model latent = Model::open(path, {.threads = 2, .kv_type = type, .mla_cache = MlaCache::Latent});
    Model expanded = Model::open(path, {.threads = 2, .kv_type = type, .mla_cache = MlaCache::Expanded});
    KvCache cl = latent.new_cache(), ce = expanded.new_cache();
    const auto a = latent.forward(cl, prompt, 0), b = expanded.forward(ce, prompt, 0);
    const size_t nv = size_t(latent.n_vocab());
    std::vector<double> diffs;
    for (size_t t = 0; t < prompt.size(); ++t)
      diffs.push_back(row_difference(a.data() + t * nv, b.data() + t * nv, nv));
    EXPECT_LT(percentile(diffs, 0.5), 0.04);
    EXPECT_LT(percentile(diffs, 1.0), 0.6);  // a routing flip, not a wrong attention
    EXPECT_GT(percentile(diffs, 1.0), 0.0);  // they do round differently
  }
}

// A forward pass at an earlier position overwrites the cache from there (rewinding), in both
// layouts: the result equals a fresh cache fed the new sequence.
TEST_F(Deepseek2File, RewindingOverwritesEitherLayout) {
  const std::string path = (data_dir() / "deepseek2-tiny-q8_0.gguf").string();
  for (MlaCache layout : {MlaCache::Latent, MlaCache::Expanded}) {
    Model m = Model::open(path, {.threads = 2, .mla_cache = layout});
    const std::vector<int32_t> first = {1, 15, 200, 37, 450, 3}, fresh = {1, 15, 200, 99, 7};
    KvCache cache = m.new_cache();
    m.forward(cache, first, 0);
    const auto rewound = m.forward(cache, std::span(fresh).subspan(3), 3);
    EXPECT_EQ(cache.size(), 5);
    KvCache clean = m.new_cache();
    const auto all = m.forward(clean, fresh, 0);
    const size_t nv = size_t(m.n_vocab());
    ASSERT_EQ(rewound.size(), 2 * nv);
    for (size_t j = 0; j < rewound.size(); ++j)
      ASSERT_EQ(rewound[j], all[3 * nv + j]) << "layout " << int(layout) << " element " << j;
  }
}

TEST_F(Deepseek2File, BatchedPrefillEqualsTokenByTokenDecode) {
  Model m = Model::open((data_dir() / "deepseek2-tiny-q8_0.gguf").string(), {.threads = 2});
  const std::vector<int32_t> prompt = {1, 15, 200, 37, 450, 3, 99, 17, 250};
  const size_t nv = size_t(m.n_vocab());
  KvCache batch_cache = m.new_cache();
  const std::vector<float> batch = m.forward(batch_cache, prompt, 0);
  KvCache step_cache = m.new_cache();
  for (size_t i = 0; i < prompt.size(); ++i) {
    const auto step = m.forward(step_cache, std::span(&prompt[i], 1), int64_t(i));
    for (size_t j = 0; j < nv; ++j) ASSERT_NEAR(step[j], batch[i * nv + j], 1e-4) << "position " << i;
  }
  m.set_threads(3);
  KvCache c3 = m.new_cache();
  EXPECT_EQ(m.forward(c3, prompt, 0), batch);
}

// Files converted for absorbed MLA carry W_k^T and W_v per head (attn_k_b, attn_v_b) instead of
// attn_kv_b. Rebuild the bundled model that way (in f32) and check it against the same golden.
TEST_F(Deepseek2File, SplitKvBTensorsMatchTheReference) {
  const int64_t H = 4, nope = 32, nv = 32, kv = 256;
  std::set<std::string> drop;
  std::map<std::string, std::vector<float>> k_b, v_b;
  for (int il = 0; il < 3; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    const gguf::TensorInfo* t = file.find_tensor(p + "attn_kv_b.weight");
    ASSERT_NE(t, nullptr);
    const size_t row_bytes = size_t(t->n_bytes / uint64_t(H * (nope + nv)));
    std::vector<float> w(size_t(H * (nope + nv) * kv));
    for (int64_t r = 0; r < H * (nope + nv); ++r)
      tensor::dequantize_row(t->type, t->data + size_t(r) * row_bytes, w.data() + r * kv, kv);
    auto& kb = k_b[p + "attn_k_b.weight"];
    auto& vb = v_b[p + "attn_v_b.weight"];
    kb.resize(size_t(H * kv * nope));
    vb.resize(size_t(H * nv * kv));
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < nope; ++i)
        for (int64_t j = 0; j < kv; ++j)  // k_b[h][j][i] = W_k^h[i][j]
          kb[size_t((h * kv + j) * nope + i)] = w[size_t((h * (nope + nv) + i) * kv + j)];
      std::copy_n(w.begin() + (h * (nope + nv) + nope) * kv, nv * kv, vb.begin() + h * nv * kv);
    }
    drop.insert(p + "attn_kv_b.weight");
  }
  const auto bytes = rebuild(file, drop, [&](GgufWriter& w) {
    for (const auto& [name, data] : k_b)
      w.add_tensor(name, TensorType::F32, {nope, kv, H}, data.data(), data.size() * 4);
    for (const auto& [name, data] : v_b)
      w.add_tensor(name, TensorType::F32, {kv, nv, H}, data.data(), data.size() * 4);
  });
  Model m = Model::load(GgufFile::parse(bytes.data(), bytes.size()), {.threads = 2});
  check_golden(m, data_dir() / "golden" / "deepseek2-tiny-q8_0.json", "deepseek2-tiny-q8_0 (split k_b/v_b)");
}

TEST_F(Deepseek2File, MissingOrBadKeysAndTensorsAreNamed) {
  EXPECT_EQ(load_error(rebuild(file, {})), "no error");
  for (const char* name : {"blk.1.attn_kv_b.weight", "blk.2.ffn_up_exps.weight",
                           "blk.0.attn_q_a_norm.weight", "blk.1.ffn_gate_inp.weight",
                           "deepseek2.attention.kv_lora_rank", "deepseek2.expert_count",
                           "deepseek2.rope.dimension_count"}) {
    const std::string msg = load_error(rebuild(file, {name}));
    EXPECT_NE(msg.find(std::string("'") + name + "'"), std::string::npos) << name << ": " << msg;
  }
  auto with = [&](const std::string& key, gguf::Value v) {
    return load_error(rebuild(file, {key}, [&](GgufWriter& w) { w.set(key, v); }));
  };
  EXPECT_NE(with("deepseek2.rope.scaling.type", gguf::Value::from_string("longrope")).find("rope.scaling.type"),
            std::string::npos);
  EXPECT_NE(with("deepseek2.expert_gating_func", gguf::Value::from_uint(gguf::ValueType::UINT32, 7))
                .find("expert_gating_func"),
            std::string::npos);
  // A stacked expert tensor of the wrong shape names the tensor and both shapes.
  const std::string msg = with("deepseek2.expert_feed_forward_length",
                               gguf::Value::from_uint(gguf::ValueType::UINT32, 128));
  EXPECT_NE(msg.find("ffn_gate_exps"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[256, 128, 8]"), std::string::npos) << msg;
}

// ---- YaRN kernel ----------------------------------------------------------------------------

TEST(RopeYarn, WithoutExtensionItIsPlainRope) {
  std::vector<float> a(64), b;
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(float(i) * 0.37f);
  b = a;
  tensor::RopeParams plain{.n_rot = 16, .freq_base = 500.0f, .freq_scale = 0.5f};
  tensor::YarnParams yarn{.n_rot = 16, .freq_base = 500.0f, .freq_scale = 0.5f};
  tensor::rope(a.data(), 2, 32, 32, 7, plain);
  tensor::rope_yarn(b.data(), 2, 32, 32, 7, yarn);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6) << i;
}

TEST(RopeYarn, RampBlendsExtrapolationAndInterpolation) {
  // n_rot 32, base 10000, original context 1024: the pairs turning 32 times (beta_fast) and once
  // (beta_slow) over 1024 positions are 32 ln(1024 / (turns 2 pi)) / (2 ln 10000) = 2.83, 8.85.
  const auto corr = tensor::yarn_corr_dims(32, 1024, 10000.0f, 32.0f, 1.0f);
  EXPECT_EQ(corr.low, 2.0f);
  EXPECT_EQ(corr.high, 9.0f);
  const float fs = 0.25f, pos = 3.0f;
  tensor::YarnParams p{.n_rot = 32, .freq_scale = fs, .ext_factor = 1.0f, .attn_factor = 1.0f,
                       .n_ctx_orig = 1024};
  const float mag = 1.0f + 0.1f * std::log(4.0f);
  for (int pair : {1, 5, 12}) {
    std::vector<float> x(32, 0.0f);
    x[size_t(2 * pair)] = 1.0f;  // rotating (1, 0) gives (cos, sin) * magnitude
    tensor::rope_yarn(x.data(), 1, 32, 32, int64_t(pos), p);
    const double extrap = pos * std::pow(10000.0, -2.0 * pair / 32.0);
    const double ramp = 1.0 - std::clamp((pair - 2.0) / 7.0, 0.0, 1.0);  // 1: keep extrapolation
    const double theta = extrap * fs * (1 - ramp) + extrap * ramp;
    EXPECT_NEAR(x[size_t(2 * pair)], std::cos(theta) * mag, 1e-5) << pair;
    EXPECT_NEAR(x[size_t(2 * pair + 1)], std::sin(theta) * mag, 1e-5) << pair;
  }
}

// ---- synthetic variants against a naive reference -------------------------------------------

struct Spec {
  std::string name;
  int64_t d = 48, n_layer = 3, n_head = 3, q_lora = 24, kv_lora = 32, nope = 16, rope = 8, nv = 12;
  int64_t n_dense = 1, n_ff = 40, n_expert = 6, n_used = 2, n_shared = 1, n_ff_exp = 20;
  int64_t groups = 0, groups_used = 0;  // 0: keys absent
  int gating = 2;
  bool norm = true, bias = true, split_kv_b = false, tied_output = false;
  float scale = 2.5f;
  std::string scaling = "yarn";
  float factor = 4.0f, log_mul = 0.1f;
  int64_t orig_ctx = 64, vocab = 64, ctx = 256;
  float base = 10000.0f, eps = 1e-6f;
};

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Random f32 weights for a spec, kept for the reference and written as a GGUF file.
class Synthetic {
 public:
  explicit Synthetic(const Spec& s) : s_(s), rng_(1234) { make(); }
  const Tensor& t(const std::string& name) const { return tensors_.at(name); }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  std::vector<uint8_t> gguf() const;

 private:
  void add(const std::string& name, std::vector<int64_t> shape, float scale, float offset = 0.0f) {
    int64_t n = 1;
    for (int64_t v : shape) n *= v;
    Tensor t{shape, std::vector<float>(size_t(n))};
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (float& v : t.data) v = offset + scale * dist(rng_);
    order_.push_back(name);
    tensors_[name] = std::move(t);
  }
  void matrix(const std::string& name, int64_t n_in, int64_t n_out) {
    add(name, {n_in, n_out}, 1.0f / std::sqrt(float(n_in)));
  }
  void make();

  Spec s_;
  std::mt19937 rng_;
  std::vector<std::string> order_;
  std::map<std::string, Tensor> tensors_;
};

void Synthetic::make() {
  const int64_t H = s_.n_head, dk = s_.nope + s_.rope;
  add("token_embd.weight", {s_.d, s_.vocab}, 1.0f);
  add("output_norm.weight", {s_.d}, 0.1f, 1.0f);
  if (!s_.tied_output) matrix("output.weight", s_.d, s_.vocab);
  for (int64_t il = 0; il < s_.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    add(p + "attn_norm.weight", {s_.d}, 0.1f, 1.0f);
    if (s_.q_lora > 0) {
      matrix(p + "attn_q_a.weight", s_.d, s_.q_lora);
      add(p + "attn_q_a_norm.weight", {s_.q_lora}, 0.1f, 1.0f);
      matrix(p + "attn_q_b.weight", s_.q_lora, H * dk);
    } else {
      matrix(p + "attn_q.weight", s_.d, H * dk);
    }
    matrix(p + "attn_kv_a_mqa.weight", s_.d, s_.kv_lora + s_.rope);
    add(p + "attn_kv_a_norm.weight", {s_.kv_lora}, 0.1f, 1.0f);
    matrix(p + "attn_kv_b.weight", s_.kv_lora, H * (s_.nope + s_.nv));
    matrix(p + "attn_output.weight", H * s_.nv, s_.d);
    add(p + "ffn_norm.weight", {s_.d}, 0.1f, 1.0f);
    if (il < s_.n_dense) {
      matrix(p + "ffn_gate.weight", s_.d, s_.n_ff);
      matrix(p + "ffn_up.weight", s_.d, s_.n_ff);
      matrix(p + "ffn_down.weight", s_.n_ff, s_.d);
      continue;
    }
    add(p + "ffn_gate_inp.weight", {s_.d, s_.n_expert}, 1.0f / std::sqrt(float(s_.d)));
    if (s_.bias) add(p + "exp_probs_b.bias", {s_.n_expert}, 0.1f);
    const float in_scale = 1.0f / std::sqrt(float(s_.d)), ff_scale = 1.0f / std::sqrt(float(s_.n_ff_exp));
    add(p + "ffn_gate_exps.weight", {s_.d, s_.n_ff_exp, s_.n_expert}, in_scale);
    add(p + "ffn_up_exps.weight", {s_.d, s_.n_ff_exp, s_.n_expert}, in_scale);
    add(p + "ffn_down_exps.weight", {s_.n_ff_exp, s_.d, s_.n_expert}, ff_scale);
    if (s_.n_shared > 0) {
      const int64_t f = s_.n_ff_exp * s_.n_shared;
      matrix(p + "ffn_gate_shexp.weight", s_.d, f);
      matrix(p + "ffn_up_shexp.weight", s_.d, f);
      matrix(p + "ffn_down_shexp.weight", f, s_.d);
    }
  }
}

std::vector<uint8_t> Synthetic::gguf() const {
  GgufWriter w;
  const std::string a = "deepseek2.";
  auto u32 = [&](const std::string& k, int64_t v) { w.set_u32(a + k, uint32_t(v)); };
  w.set_string("general.architecture", "deepseek2");
  u32("context_length", s_.ctx);
  u32("embedding_length", s_.d);
  u32("block_count", s_.n_layer);
  u32("feed_forward_length", s_.n_ff);
  u32("attention.head_count", s_.n_head);
  u32("attention.head_count_kv", s_.n_head);
  w.set_f32(a + "rope.freq_base", s_.base);
  w.set_f32(a + "attention.layer_norm_rms_epsilon", s_.eps);
  u32("leading_dense_block_count", s_.n_dense);
  u32("vocab_size", s_.vocab);
  if (s_.q_lora > 0) u32("attention.q_lora_rank", s_.q_lora);
  u32("attention.kv_lora_rank", s_.kv_lora);
  u32("attention.key_length", s_.nope + s_.rope);
  u32("attention.value_length", s_.nv);
  u32("rope.dimension_count", s_.rope);
  u32("expert_feed_forward_length", s_.n_ff_exp);
  u32("expert_count", s_.n_expert);
  u32("expert_used_count", s_.n_used);
  u32("expert_shared_count", s_.n_shared);
  if (s_.groups > 0) {
    u32("expert_group_count", s_.groups);
    u32("expert_group_used_count", s_.groups_used);
  }
  w.set_f32(a + "expert_weights_scale", s_.scale);
  w.set_bool(a + "expert_weights_norm", s_.norm);
  u32("expert_gating_func", s_.gating);
  if (s_.scaling != "none") {
    w.set_string(a + "rope.scaling.type", s_.scaling);
    w.set_f32(a + "rope.scaling.factor", s_.factor);
    u32("rope.scaling.original_context_length", s_.orig_ctx);
    w.set_f32(a + "rope.scaling.yarn_log_multiplier", s_.log_mul);
  }
  for (const std::string& name : order_) {
    const Tensor& t = tensors_.at(name);
    const bool split = s_.split_kv_b && name.find("attn_kv_b") != std::string::npos;
    if (!split) {
      w.add_tensor(name, TensorType::F32, t.shape, t.data.data(), t.data.size() * 4);
      continue;
    }
    // Per head: k_b = W_k^h transposed (kv_lora rows of nope), v_b = W_v^h (nv rows of kv_lora).
    const std::string p = name.substr(0, name.find("attn_kv_b"));
    const int64_t H = s_.n_head, kv = s_.kv_lora, nope = s_.nope, nv = s_.nv;
    std::vector<float> kb(size_t(H * kv * nope)), vb(size_t(H * nv * kv));
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < nope; ++i)
        for (int64_t j = 0; j < kv; ++j)
          kb[size_t((h * kv + j) * nope + i)] = t.data[size_t((h * (nope + nv) + i) * kv + j)];
      std::copy_n(t.data.begin() + (h * (nope + nv) + nope) * kv, nv * kv, vb.begin() + h * nv * kv);
    }
    w.add_tensor(p + "attn_k_b.weight", TensorType::F32, {nope, kv, H}, kb.data(), kb.size() * 4);
    w.add_tensor(p + "attn_v_b.weight", TensorType::F32, {kv, nv, H}, vb.data(), vb.size() * 4);
  }
  return w.to_bytes();
}

using Vec = std::vector<double>;

// y = W x for a GGUF matrix [n_in, n_out] (optionally one slice of a stack).
Vec matvec(const Tensor& w, const Vec& x, int64_t slice = 0) {
  const int64_t n_in = w.shape[0], n_out = w.shape[1];
  Vec y(size_t(n_out), 0.0);
  const float* base = w.data.data() + slice * n_in * n_out;
  for (int64_t o = 0; o < n_out; ++o)
    for (int64_t i = 0; i < n_in; ++i) y[size_t(o)] += double(base[o * n_in + i]) * x[size_t(i)];
  return y;
}

Vec rmsnorm(const Vec& x, const Tensor& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double s = 1.0 / std::sqrt(ss / double(x.size()) + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * w.data[i];
  return y;
}

Vec swiglu(const Tensor& gate, const Tensor& up, const Tensor& down, const Vec& x, int64_t e = 0) {
  Vec g = matvec(gate, x, e), u = matvec(up, x, e);
  for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
  return matvec(down, g, e);
}

// The naive model: every position's full K and V per head, HF's YaRN inverse frequencies with
// adjacent-pair rotation, softmax scale (0.1 * mscale_all_dim * ln(factor) + 1)^2 / sqrt(dk).
class Reference {
 public:
  Reference(const Spec& s, const Synthetic& w) : s_(s), w_(w) {
    const int64_t half = s.rope / 2;
    const bool yarn = s.scaling == "yarn";
    auto corr = [&](double turns) {
      return double(s.rope) * std::log(double(s.orig_ctx) / (turns * 2 * std::numbers::pi)) /
             (2 * std::log(double(s.base)));
    };
    const double low = std::max(0.0, std::floor(corr(32))), high = std::min(double(s.rope - 1), std::ceil(corr(1)));
    for (int64_t i = 0; i < half; ++i) {
      const double extra = std::pow(double(s.base), -2.0 * double(i) / double(s.rope));
      if (!yarn) {
        inv_freq_.push_back(extra);
        continue;
      }
      const double ramp = std::clamp((double(i) - low) / std::max(0.001, high - low), 0.0, 1.0);
      const double keep_extra = 1.0 - ramp;
      inv_freq_.push_back(extra / s.factor * (1 - keep_extra) + extra * keep_extra);
    }
    const double mscale = yarn ? 1.0 + double(s.log_mul) * std::log(double(s.factor)) : 1.0;
    kq_scale_ = mscale * mscale / std::sqrt(double(s.nope + s.rope));
  }

  std::vector<std::vector<double>> logits(const std::vector<int32_t>& tokens) const;

 private:
  void rope(double* v, int64_t pos) const {
    for (size_t i = 0; i < inv_freq_.size(); ++i) {
      const double th = double(pos) * inv_freq_[i], c = std::cos(th), sn = std::sin(th);
      const double a = v[2 * i], b = v[2 * i + 1];
      v[2 * i] = a * c - b * sn;
      v[2 * i + 1] = a * sn + b * c;
    }
  }
  Vec moe(const std::string& p, const Vec& x) const;

  const Spec& s_;
  const Synthetic& w_;
  std::vector<double> inv_freq_;
  double kq_scale_ = 0;
};

Vec Reference::moe(const std::string& p, const Vec& x) const {
  const int64_t E = s_.n_expert;
  Vec probs = matvec(w_.t(p + "ffn_gate_inp.weight"), x);
  if (s_.gating == 1) {
    const double mx = *std::max_element(probs.begin(), probs.end());
    double sum = 0;
    for (double& v : probs) sum += (v = std::exp(v - mx));
    for (double& v : probs) v /= sum;
  } else if (s_.gating == 2) {
    for (double& v : probs) v = 1.0 / (1.0 + std::exp(-v));
  }
  Vec sel = probs;
  if (s_.bias)
    for (int64_t e = 0; e < E; ++e) sel[size_t(e)] += w_.t(p + "exp_probs_b.bias").data[size_t(e)];
  if (s_.groups > 1) {
    const int64_t per = E / s_.groups;
    std::vector<std::pair<double, int64_t>> score;
    for (int64_t g = 0; g < s_.groups; ++g) {
      Vec v(sel.begin() + g * per, sel.begin() + (g + 1) * per);
      std::sort(v.rbegin(), v.rend());
      score.push_back({-(v[0] + (per > 1 ? v[1] : 0.0)), g});
    }
    std::sort(score.begin(), score.end());
    std::set<int64_t> keep;
    for (int64_t g = 0; g < s_.groups_used; ++g) keep.insert(score[size_t(g)].second);
    for (int64_t e = 0; e < E; ++e)
      if (!keep.count(e / per)) sel[size_t(e)] = -1e300;
  }
  std::vector<int64_t> idx(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) idx[size_t(e)] = e;
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return sel[size_t(a)] > sel[size_t(b)]; });
  idx.resize(size_t(s_.n_used));
  Vec wts;
  for (int64_t e : idx) wts.push_back(probs[size_t(e)]);
  if (s_.gating == 3) {
    const double mx = *std::max_element(wts.begin(), wts.end());
    double sum = 0;
    for (double& v : wts) sum += (v = std::exp(v - mx));
    for (double& v : wts) v /= sum;
  }
  if (s_.norm) {
    double sum = 0;
    for (double v : wts) sum += v;
    for (double& v : wts) v /= sum;
  }
  if (s_.scale != 0.0f)
    for (double& v : wts) v *= s_.scale;
  Vec out(x.size(), 0.0);
  for (size_t k = 0; k < idx.size(); ++k) {
    const Vec y = swiglu(w_.t(p + "ffn_gate_exps.weight"), w_.t(p + "ffn_up_exps.weight"),
                         w_.t(p + "ffn_down_exps.weight"), x, idx[k]);
    for (size_t i = 0; i < out.size(); ++i) out[i] += wts[k] * y[i];
  }
  if (s_.n_shared > 0) {
    const Vec y = swiglu(w_.t(p + "ffn_gate_shexp.weight"), w_.t(p + "ffn_up_shexp.weight"),
                         w_.t(p + "ffn_down_shexp.weight"), x);
    for (size_t i = 0; i < out.size(); ++i) out[i] += y[i];
  }
  return out;
}

std::vector<std::vector<double>> Reference::logits(const std::vector<int32_t>& tokens) const {
  const int64_t n = int64_t(tokens.size()), d = s_.d, H = s_.n_head, dk = s_.nope + s_.rope;
  std::vector<Vec> x(static_cast<size_t>(n));
  const Tensor& emb = w_.t("token_embd.weight");
  for (int64_t t = 0; t < n; ++t)
    x[size_t(t)].assign(emb.data.begin() + tokens[size_t(t)] * d, emb.data.begin() + (tokens[size_t(t)] + 1) * d);
  for (int64_t il = 0; il < s_.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    std::vector<Vec> q(static_cast<size_t>(n)), k(q.size()), v(q.size());
    for (int64_t t = 0; t < n; ++t) {
      const Vec h = rmsnorm(x[size_t(t)], w_.t(p + "attn_norm.weight"), s_.eps);
      q[size_t(t)] = s_.q_lora > 0 ? matvec(w_.t(p + "attn_q_b.weight"),
                                            rmsnorm(matvec(w_.t(p + "attn_q_a.weight"), h),
                                                    w_.t(p + "attn_q_a_norm.weight"), s_.eps))
                                   : matvec(w_.t(p + "attn_q.weight"), h);
      for (int64_t hh = 0; hh < H; ++hh) rope(q[size_t(t)].data() + hh * dk + s_.nope, t);
      Vec kva = matvec(w_.t(p + "attn_kv_a_mqa.weight"), h);
      Vec c(kva.begin(), kva.begin() + s_.kv_lora), kpe(kva.begin() + s_.kv_lora, kva.end());
      rope(kpe.data(), t);
      const Vec kvb = matvec(w_.t(p + "attn_kv_b.weight"), rmsnorm(c, w_.t(p + "attn_kv_a_norm.weight"), s_.eps));
      for (int64_t hh = 0; hh < H; ++hh) {
        const auto head = kvb.begin() + hh * (s_.nope + s_.nv);
        k[size_t(t)].insert(k[size_t(t)].end(), head, head + s_.nope);
        k[size_t(t)].insert(k[size_t(t)].end(), kpe.begin(), kpe.end());
        v[size_t(t)].insert(v[size_t(t)].end(), head + s_.nope, head + s_.nope + s_.nv);
      }
    }
    for (int64_t t = 0; t < n; ++t) {
      Vec heads(size_t(H * s_.nv), 0.0);
      for (int64_t hh = 0; hh < H; ++hh) {
        Vec sc(size_t(t + 1));
        for (int64_t u = 0; u <= t; ++u) {
          double dot = 0;
          for (int64_t i = 0; i < dk; ++i) dot += q[size_t(t)][size_t(hh * dk + i)] * k[size_t(u)][size_t(hh * dk + i)];
          sc[size_t(u)] = dot * kq_scale_;
        }
        const double mx = *std::max_element(sc.begin(), sc.end());
        double sum = 0;
        for (double& s : sc) sum += (s = std::exp(s - mx));
        for (int64_t u = 0; u <= t; ++u)
          for (int64_t i = 0; i < s_.nv; ++i)
            heads[size_t(hh * s_.nv + i)] += sc[size_t(u)] / sum * v[size_t(u)][size_t(hh * s_.nv + i)];
      }
      const Vec o = matvec(w_.t(p + "attn_output.weight"), heads);
      for (int64_t i = 0; i < d; ++i) x[size_t(t)][size_t(i)] += o[size_t(i)];
    }
    for (int64_t t = 0; t < n; ++t) {
      const Vec h = rmsnorm(x[size_t(t)], w_.t(p + "ffn_norm.weight"), s_.eps);
      const Vec f = il < s_.n_dense ? swiglu(w_.t(p + "ffn_gate.weight"), w_.t(p + "ffn_up.weight"),
                                             w_.t(p + "ffn_down.weight"), h)
                                    : moe(p, h);
      for (int64_t i = 0; i < d; ++i) x[size_t(t)][size_t(i)] += f[size_t(i)];
    }
  }
  std::vector<Vec> out;
  const Tensor& head = w_.t(w_.has("output.weight") ? "output.weight" : "token_embd.weight");
  for (int64_t t = 0; t < n; ++t) out.push_back(matvec(head, rmsnorm(x[size_t(t)], w_.t("output_norm.weight"), s_.eps)));
  return out;
}

std::vector<Spec> variants() {
  std::vector<Spec> v;
  Spec v3;  // V3 layout: q_lora, sigmoid + bias, normalised and scaled, group-limited routing
  v3.name = "v3_groups";
  v3.groups = 3;
  v3.groups_used = 2;
  v.push_back(v3);
  Spec lite;  // V2-Lite layout: one q projection, softmax gating, 2 shared experts, no YaRN
  lite.name = "lite_softmax";
  lite.q_lora = 0;
  lite.n_head = 4;
  lite.gating = 1;
  lite.bias = false;
  lite.norm = false;
  lite.scale = 1.0f;
  lite.n_shared = 2;
  lite.scaling = "none";
  lite.tied_output = true;
  v.push_back(lite);
  Spec split;  // no shared experts, no dense layer, split k_b/v_b, V2-style log multiplier
  split.name = "no_shared_split";
  split.n_head = 2;
  split.n_dense = 0;
  split.n_shared = 0;
  split.split_kv_b = true;
  split.log_mul = 0.0707f;
  split.factor = 40.0f;
  split.n_used = 3;
  split.norm = false;
  split.scale = 0.0f;
  split.gating = 3;
  v.push_back(split);
  return v;
}

// RMS(ours - ref) / RMS(ref) over one row.
double rms_relative(const float* ours, const Vec& ref) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    diff += std::pow(ours[i] - ref[i], 2);
    norm += ref[i] * ref[i];
  }
  return std::sqrt(diff / norm);
}

class Deepseek2Variants : public ::testing::TestWithParam<Spec> {};

// One cache layout against the reference: an f32 cache to 1e-4, the default f16 cache to 3e-3,
// and token-by-token decoding equal to the batched prefill.
void check_against_reference(const Spec& s, const std::vector<uint8_t>& bytes,
                             const std::vector<int32_t>& prompt,
                             const std::vector<std::vector<double>>& ref, MlaCache layout) {
  // An f32 cache: the naive reference rounds nothing.
  Model m = Model::load(GgufFile::parse(bytes.data(), bytes.size()),
                        {.threads = 2, .kv_type = TensorType::F32, .mla_cache = layout});
  KvCache cache = m.new_cache();
  if (layout == MlaCache::Latent) EXPECT_EQ(cache.k_width(), s.kv_lora + s.rope);
  else EXPECT_EQ(cache.k_width(), s.n_head * (s.nope + s.rope));
  const auto ours = m.forward(cache, prompt, 0);
  const size_t nv = size_t(s.vocab);
  for (size_t t = 0; t < prompt.size(); ++t)
    EXPECT_LT(rms_relative(ours.data() + t * nv, ref[t]), 1e-4) << s.name << " position " << t;
  // The default f16 cache rounds the cached rows, the queries and the probabilities to f16
  // (11-bit mantissas): within a few f16 ulps of the reference.
  Model m16 = Model::load(GgufFile::parse(bytes.data(), bytes.size()),
                          {.threads = 2, .mla_cache = layout});
  KvCache cache16 = m16.new_cache();
  const auto ours16 = m16.forward(cache16, prompt, 0);
  for (size_t t = 0; t < prompt.size(); ++t)
    EXPECT_LT(rms_relative(ours16.data() + t * nv, ref[t]), 3e-3) << s.name << " position " << t;
  // Decoding one token at a time through the cache gives the same rows.
  KvCache step_cache = m.new_cache();
  for (size_t t = 0; t < prompt.size(); ++t) {
    const auto step = m.forward(step_cache, std::span(&prompt[t], 1), int64_t(t));
    for (size_t i = 0; i < nv; ++i) ASSERT_NEAR(step[i], ours[t * nv + i], 1e-4) << s.name << " position " << t;
  }
}

TEST_P(Deepseek2Variants, MatchesNaiveReference) {
  const Spec& s = GetParam();
  const Synthetic w(s);
  const auto bytes = w.gguf();
  const std::vector<int32_t> prompt = {1, 7, 33, 60, 2, 19, 41, 5, 12, 63, 30, 8};
  const auto ref = Reference(s, w).logits(prompt);
  {
    SCOPED_TRACE("latent cache");
    check_against_reference(s, bytes, prompt, ref, MlaCache::Latent);
  }
  {
    SCOPED_TRACE("expanded cache");
    check_against_reference(s, bytes, prompt, ref, MlaCache::Expanded);
  }
}

// On float weights nothing is quantised: with an f32 cache the layouts differ only by float
// summation order, with the f16 cache by rounding different values (latent vs per-head K/V) to f16.
TEST(Deepseek2Layouts, AgreeOnFloatWeights) {
  const Spec s = variants().front();
  const auto bytes = Synthetic(s).gguf();
  const std::vector<int32_t> prompt = {3, 9, 27, 17, 51, 2, 40, 11};
  for (TensorType type : {TensorType::F32, TensorType::F16}) {
    std::vector<float> logits[2];
    for (MlaCache layout : {MlaCache::Latent, MlaCache::Expanded}) {
      Model m = Model::load(GgufFile::parse(bytes.data(), bytes.size()),
                            {.threads = 2, .kv_type = type, .mla_cache = layout});
      KvCache cache = m.new_cache();
      logits[layout == MlaCache::Expanded] = m.forward(cache, prompt, 0);
    }
    const size_t nv = size_t(s.vocab);
    for (size_t t = 0; t < prompt.size(); ++t)
      EXPECT_LT(row_difference(logits[0].data() + t * nv, logits[1].data() + t * nv, nv),
                type == TensorType::F32 ? 1e-5 : 3e-3)
          << "position " << t << (type == TensorType::F32 ? " f32" : " f16");
  }
}

INSTANTIATE_TEST_SUITE_P(Synthetic, Deepseek2Variants, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace inhouse::model
