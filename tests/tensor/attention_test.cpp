// Attention over a KV cache (attention.cpp): f32 rows give softmax(scale q·K)·V exactly (up to
// float sums); f16 rows round as ggml does (q and probabilities to f16) and stay within f16
// precision of the float result; keys and values may share rows (MLA); results depend only on
// the inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tensor/tensor.h"
#include "tensor_test_util.h"

namespace inhouse::tensor {
namespace {

using testing::random_floats;

// softmax(scale * q·K) · V in double.
std::vector<double> reference(const std::vector<float>& q, const std::vector<float>& k,
                              int64_t k_stride, const std::vector<float>& v, int64_t v_stride,
                              int64_t n_kv, int64_t dk, int64_t dv, float scale) {
  std::vector<double> s(static_cast<size_t>(n_kv)), out(static_cast<size_t>(dv), 0.0);
  double max = -INFINITY, sum = 0;
  for (int64_t j = 0; j < n_kv; ++j) {
    double dot = 0;
    for (int64_t i = 0; i < dk; ++i) dot += double(q[size_t(i)]) * k[size_t(j * k_stride + i)];
    s[size_t(j)] = scale * dot;
    max = std::max(max, s[size_t(j)]);
  }
  for (double& x : s) sum += (x = std::exp(x - max));
  for (int64_t j = 0; j < n_kv; ++j)
    for (int64_t i = 0; i < dv; ++i) out[size_t(i)] += s[size_t(j)] / sum * v[size_t(j * v_stride + i)];
  return out;
}

std::vector<uint16_t> to_f16(const std::vector<float>& x) {
  std::vector<uint16_t> y(x.size());
  store_kv_row(TensorType::F16, x.data(), y.data(), int64_t(x.size()));
  return y;
}

std::vector<float> f16_values(const std::vector<float>& x) {
  std::vector<float> y;
  for (uint16_t h : to_f16(x)) y.push_back(fp16_to_fp32(h));
  return y;
}

struct Case {
  int64_t n_kv, dk, dv, k_stride, v_stride;
};

class CachedAttention : public ::testing::TestWithParam<Case> {};

TEST_P(CachedAttention, F32RowsMatchTheReference) {
  const Case c = GetParam();
  std::mt19937 rng(7);
  const auto q = random_floats(size_t(c.dk), rng), k = random_floats(size_t(c.n_kv * c.k_stride), rng);
  const auto v = random_floats(size_t(c.n_kv * c.v_stride), rng);
  std::vector<float> out(size_t(c.dv)), scratch(size_t(attention_scratch_floats(c.n_kv, c.dk)));
  cached_attention_head(TensorType::F32, q.data(), k.data(), c.k_stride, v.data(), c.v_stride, c.n_kv,
                        c.dk, c.dv, 0.3f, out.data(), scratch.data());
  const auto want = reference(q, k, c.k_stride, v, c.v_stride, c.n_kv, c.dk, c.dv, 0.3f);
  for (int64_t i = 0; i < c.dv; ++i) EXPECT_NEAR(out[size_t(i)], want[size_t(i)], 1e-5) << i;
}

TEST_P(CachedAttention, F16RowsRoundLikeGgml) {
  const Case c = GetParam();
  std::mt19937 rng(11);
  const auto q = random_floats(size_t(c.dk), rng), k = random_floats(size_t(c.n_kv * c.k_stride), rng);
  const auto v = random_floats(size_t(c.n_kv * c.v_stride), rng);
  const auto k16 = to_f16(k), v16 = to_f16(v);
  std::vector<float> out(size_t(c.dv)), scratch(size_t(attention_scratch_floats(c.n_kv, c.dk)));
  cached_attention_head(TensorType::F16, q.data(), k16.data(), c.k_stride, v16.data(), c.v_stride,
                        c.n_kv, c.dk, c.dv, 0.3f, out.data(), scratch.data());

  // The same in double from the f16 values, with q and the probabilities rounded to f16.
  const auto qh = f16_values(q), kh = f16_values(k), vh = f16_values(v);
  std::vector<double> p(static_cast<size_t>(c.n_kv));
  double max = -INFINITY, sum = 0;
  for (int64_t j = 0; j < c.n_kv; ++j) {
    double dot = 0;
    for (int64_t i = 0; i < c.dk; ++i) dot += double(qh[size_t(i)]) * kh[size_t(j * c.k_stride + i)];
    max = std::max(max, p[size_t(j)] = 0.3 * dot);
  }
  for (double& x : p) sum += (x = std::exp(x - max));
  for (double& x : p) x = fp16_to_fp32(fp32_to_fp16(float(x / sum)));
  for (int64_t i = 0; i < c.dv; ++i) {
    double want = 0;
    for (int64_t j = 0; j < c.n_kv; ++j) want += p[size_t(j)] * vh[size_t(j * c.v_stride + i)];
    EXPECT_NEAR(out[size_t(i)], want, 2e-5) << i;
  }
  // ... and within f16 precision of the float result.
  const auto exact = reference(q, k, c.k_stride, v, c.v_stride, c.n_kv, c.dk, c.dv, 0.3f);
  for (int64_t i = 0; i < c.dv; ++i) EXPECT_NEAR(out[size_t(i)], exact[size_t(i)], 5e-3) << i;
}

INSTANTIATE_TEST_SUITE_P(Shapes, CachedAttention,
                         ::testing::Values(Case{1, 8, 8, 8, 8},          // one position
                                           Case{37, 64, 64, 128, 128},   // GQA: rows wider than a head
                                           Case{20, 13, 5, 13, 5},       // odd sizes, lane tails
                                           Case{50, 288, 256, 288, 288}));  // MLA: v inside k's rows

// MLA reads values from the first kv elements of the key rows.
TEST(CachedAttention, KeysAndValuesMayShareRows) {
  std::mt19937 rng(3);
  const int64_t n_kv = 9, w = 40, kv = 32;
  const auto q = random_floats(size_t(w), rng), rows = random_floats(size_t(n_kv * w), rng);
  const auto rows16 = to_f16(rows);
  std::vector<float> shared(static_cast<size_t>(kv));
  std::vector<float> scratch(static_cast<size_t>(attention_scratch_floats(n_kv, w)));
  cached_attention_head(TensorType::F16, q.data(), rows16.data(), w, rows16.data(), w, n_kv, w, kv,
                        0.2f, shared.data(), scratch.data());
  // The same values copied out to their own rows.
  std::vector<uint16_t> values(size_t(n_kv * kv));
  for (int64_t j = 0; j < n_kv; ++j)
    std::copy_n(rows16.begin() + j * w, kv, values.begin() + j * kv);
  std::vector<float> separate(static_cast<size_t>(kv));
  cached_attention_head(TensorType::F16, q.data(), rows16.data(), w, values.data(), kv, n_kv, w, kv,
                        0.2f, separate.data(), scratch.data());
  EXPECT_EQ(shared, separate);
}

// A group of query heads over shared rows gives each head exactly what it gets alone, for both
// row types, with padded query and output strides.
TEST(CachedAttention, HeadsTogetherEqualEachHeadAlone) {
  std::mt19937 rng(5);
  const int64_t n_kv = 45, hk = 24, hv = 20, k_stride = 2 * hk, v_stride = 3 * hv;
  const int64_t n_heads = 5, q_stride = hk + 3, out_stride = hv + 7;
  const auto q = random_floats(size_t(n_heads * q_stride), rng);
  const auto k = random_floats(size_t(n_kv * k_stride), rng), v = random_floats(size_t(n_kv * v_stride), rng);
  const auto k16 = to_f16(k), v16 = to_f16(v);
  for (TensorType type : {TensorType::F32, TensorType::F16}) {
    const void* kp = type == TensorType::F32 ? static_cast<const void*>(k.data()) : k16.data();
    const void* vp = type == TensorType::F32 ? static_cast<const void*>(v.data()) : v16.data();
    std::vector<float> together(size_t(n_heads * out_stride), -1.0f);
    std::vector<float> scratch(size_t(n_heads * attention_scratch_floats(n_kv, hk)));
    cached_attention_heads(type, q.data(), q_stride, n_heads, kp, k_stride, vp, v_stride, n_kv, hk,
                           hv, 0.3f, together.data(), out_stride, scratch.data());
    for (int64_t h = 0; h < n_heads; ++h) {
      std::vector<float> alone(static_cast<size_t>(hv));
      cached_attention_head(type, q.data() + h * q_stride, kp, k_stride, vp, v_stride, n_kv, hk, hv,
                            0.3f, alone.data(), scratch.data());
      for (int64_t i = 0; i < hv; ++i)
        ASSERT_EQ(together[size_t(h * out_stride + i)], alone[size_t(i)]) << "head " << h << " i " << i;
      for (int64_t i = hv; i < out_stride && h + 1 < n_heads; ++i)
        EXPECT_EQ(together[size_t(h * out_stride + i)], -1.0f) << "padding written, head " << h;
    }
  }
}

TEST(KvRows, StoreRoundsToNearestHalfOrCopiesFloats) {
  const std::vector<float> x = {1.0f, -2.5f, 1.0f + 1.0f / 4096, 65504.0f, 1e-8f};
  std::vector<uint16_t> h(x.size());
  store_kv_row(TensorType::F16, x.data(), h.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(h[i], fp32_to_fp16(x[i])) << i;
  EXPECT_EQ(fp16_to_fp32(h[2]), 1.0f);  // ties to even
  std::vector<float> f(x.size());
  store_kv_row(TensorType::F32, x.data(), f.data(), int64_t(x.size()));
  EXPECT_EQ(f, x);
  EXPECT_TRUE(is_kv_type(TensorType::F16));
  EXPECT_TRUE(is_kv_type(TensorType::F32));
  EXPECT_FALSE(is_kv_type(TensorType::Q8_0));
}

}  // namespace
}  // namespace inhouse::tensor
