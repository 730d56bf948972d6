// Float ops against straightforward formulas, and the thread pool's coverage of ranges.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <numeric>

#include "tensor/tensor.h"
#include "tensor_test_util.h"

namespace inhouse::tensor {
namespace {

using testing::random_floats;

TEST(Ops, RmsNorm) {
  std::mt19937 rng(5);
  for (int64_t n : {1, 7, 64, 257}) {
    auto x = random_floats(size_t(n), rng), w = random_floats(size_t(n), rng);
    std::vector<float> out(static_cast<size_t>(n));
    rms_norm(x.data(), w.data(), out.data(), n, 1e-5f);
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const double scale = 1.0 / std::sqrt(ss / double(n) + 1e-5);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(out[size_t(i)], x[size_t(i)] * scale * w[size_t(i)], 1e-5);
    rms_norm(x.data(), nullptr, x.data(), n, 1e-5f);  // in place, no weight
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(x[size_t(i)] * w[size_t(i)], out[size_t(i)], 1e-5);
  }
}

TEST(Ops, LayerNorm) {
  const float x[] = {1, 2, 3, 4}, w[] = {1, 1, 2, 2}, b[] = {0, 1, 0, 1};
  float out[4];
  layer_norm(x, w, b, out, 4, 0.0f);
  const float s = 1.0f / std::sqrt(1.25f);  // variance of 1..4 is 1.25
  EXPECT_NEAR(out[0], -1.5f * s, 1e-6);
  EXPECT_NEAR(out[1], -0.5f * s + 1, 1e-6);
  EXPECT_NEAR(out[2], 2 * 0.5f * s, 1e-6);
  EXPECT_NEAR(out[3], 2 * 1.5f * s + 1, 1e-6);
}

TEST(Ops, SoftmaxSiluGelu) {
  float x[] = {1000.0f, 1001.0f, 999.0f};  // large values: must subtract the max
  softmax(x, 3);
  const double e = std::exp(1.0), z = 1 + e + 1 / e;
  EXPECT_NEAR(x[0], 1 / z, 1e-6);
  EXPECT_NEAR(x[1], e / z, 1e-6);
  EXPECT_NEAR(x[2], 1 / e / z, 1e-6);

  float s[] = {0.0f, 1.0f, -2.0f};
  silu(s, 3);
  EXPECT_FLOAT_EQ(s[0], 0.0f);
  EXPECT_NEAR(s[1], 1 / (1 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(s[2], -2 / (1 + std::exp(2.0)), 1e-6);

  float g[] = {0.0f, 1.0f, -1.0f, 3.0f};
  gelu(g, 4);
  EXPECT_FLOAT_EQ(g[0], 0.0f);
  EXPECT_NEAR(g[1], 0.841192, 1e-5);  // tanh approximation
  EXPECT_NEAR(g[2], -0.158808, 1e-5);
  EXPECT_NEAR(g[3], 2.996363, 1e-5);
}

TEST(Ops, RopeNormalRotatesAdjacentPairs) {
  // Two heads of 6 dims, 4 rotated: pair 0 turns by pos, pair 1 by pos * 100^-1... base 100.
  std::vector<float> x = {1, 0, 0, 1, 5, 6, 2, 3, 4, 5, 7, 8};
  RopeParams p;
  p.n_rot = 4;
  p.freq_base = 100.0f;
  rope(x.data(), 2, 6, 6, 3, p);
  const double t0 = 3.0, t1 = 3.0 / 10.0;  // 100^(-2/4) = 0.1
  EXPECT_NEAR(x[0], std::cos(t0), 1e-6);
  EXPECT_NEAR(x[1], std::sin(t0), 1e-6);
  EXPECT_NEAR(x[2], -std::sin(t1), 1e-6);
  EXPECT_NEAR(x[3], std::cos(t1), 1e-6);
  EXPECT_EQ(x[4], 5);  // not rotated
  EXPECT_EQ(x[5], 6);
  EXPECT_NEAR(x[6], 2 * std::cos(t0) - 3 * std::sin(t0), 1e-5);
  EXPECT_NEAR(x[7], 2 * std::sin(t0) + 3 * std::cos(t0), 1e-5);
}

TEST(Ops, RopeNeoxRotatesHalves) {
  std::mt19937 rng(6);
  auto a = random_floats(8, rng);
  // Neox on (a0..a3 | a4..a7) equals normal style on the interleaved order (a0,a4,a1,a5,...).
  std::vector<float> inter = {a[0], a[4], a[1], a[5], a[2], a[6], a[3], a[7]};
  RopeParams p;
  p.n_rot = 8;
  p.freq_base = 1e6f;
  p.freq_scale = 0.5f;
  rope(inter.data(), 1, 8, 8, 17, p);
  p.style = RopeStyle::Neox;
  rope(a.data(), 1, 8, 8, 17, p);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(a[size_t(i)], inter[size_t(2 * i)], 1e-6);
    EXPECT_NEAR(a[size_t(i + 4)], inter[size_t(2 * i + 1)], 1e-6);
  }
  EXPECT_THROW(rope(a.data(), 1, 6, 8, 1, p), Error);  // n_rot > head_dim
}

TEST(Ops, RopeFreqFactorsDivideTheAngle) {
  std::vector<float> x = {1, 0, 1, 0}, y = x;
  const float factors[] = {1.0f, 4.0f};
  RopeParams p;
  p.n_rot = 4;
  p.freq_base = 100.0f;
  p.freq_factors = factors;
  rope(x.data(), 1, 4, 4, 8, p);
  p.freq_factors = nullptr;
  rope(y.data(), 1, 4, 4, 2, p);  // 8 / 4 = 2 for the second pair
  EXPECT_NEAR(x[2], y[2], 1e-6);
  EXPECT_NEAR(x[3], y[3], 1e-6);
}

TEST(Ops, AttentionHead) {
  std::mt19937 rng(7);
  const int64_t n_kv = 5, dk = 4, dv = 3, ks = 6, vs = 7;
  auto q = random_floats(dk, rng), k = random_floats(size_t(n_kv * ks), rng),
       v = random_floats(size_t(n_kv * vs), rng);
  std::vector<float> out(dv), scores(n_kv);
  attention_head(q.data(), k.data(), ks, v.data(), vs, n_kv, dk, dv, 0.5f, out.data(), scores.data());
  std::vector<double> p(n_kv);
  double z = 0;
  for (int64_t i = 0; i < n_kv; ++i) {
    double s = 0;
    for (int64_t d = 0; d < dk; ++d) s += q[size_t(d)] * k[size_t(i * ks + d)];
    p[size_t(i)] = std::exp(0.5 * s);
    z += p[size_t(i)];
  }
  for (int64_t d = 0; d < dv; ++d) {
    double want = 0;
    for (int64_t i = 0; i < n_kv; ++i) want += p[size_t(i)] / z * v[size_t(i * vs + d)];
    EXPECT_NEAR(out[size_t(d)], want, 1e-5);
  }
}

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 5, 100}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (int rep = 0; rep < 3; ++rep)
        pool.parallel_for(n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
        });
      for (auto& h : hits) EXPECT_EQ(h.load(), 3);
    }
  }
}

// With a grain, every call gets one chunk [k * grain, min(n, (k + 1) * grain)), each exactly
// once, whichever thread takes it (one thread alone runs [0, n) in one call); many
// back-to-back jobs (as in a decode step) all complete.
TEST(ThreadPool, HandsOutChunksOfTheGrain) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 7, 100, 1000}) {
      for (int64_t grain : {1, 3, 16, 999, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> bad{0};
        for (int rep = 0; rep < 50; ++rep)
          pool.parallel_for(n, [&](int64_t b, int64_t e) {
            const bool whole = threads == 1 && b == 0 && e == n;
            if (!whole && (b % grain != 0 || e != std::min(n, b + grain))) bad++;
            for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
          }, grain);
        EXPECT_EQ(bad.load(), 0) << threads << " threads, n " << n << ", grain " << grain;
        for (auto& h : hits) ASSERT_EQ(h.load(), 50) << threads << " threads, n " << n << ", grain " << grain;
      }
    }
  }
}

}  // namespace
}  // namespace inhouse::tensor
