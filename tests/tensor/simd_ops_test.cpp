// The SIMD float row operations (silu, mul, add, axpy, dot_f32, rms_norm, softmax) of every
// compiled target this CPU runs against the SCALAR target's reference loops, on sizes that are
// not multiples of any vector width, and on extreme inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "tensor/kernels_internal.h"
#include "tensor/tensor.h"
#include "tensor_test_util.h"

namespace inhouse::tensor {
namespace {

using testing::random_floats;

struct TargetGuard {
  ~TargetGuard() { set_simd_target(""); }
};

constexpr int64_t kSizes[] = {1, 3, 7, 15, 16, 17, 31, 33, 64, 100, 1536, 8960 + 5};

// Runs op (which writes `out`) on SCALAR and on every other target; outputs must agree to a
// few float ulps relative to the row's magnitude.
template <class Op>
void expect_targets_agree(const char* what, Op op, double rel = 2e-6) {
  TargetGuard guard;
  for (int64_t n : kSizes) {
    set_simd_target("SCALAR");
    const std::vector<float> want = op(n);
    double scale = 1e-30;
    for (float v : want) scale = std::max(scale, double(std::fabs(v)));
    for (const auto& target : simd_targets()) {
      set_simd_target(target);
      const std::vector<float> got = op(n);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], rel * scale + 1e-6 * std::fabs(want[i]))
            << what << " " << target << " n=" << n << " i=" << i;
    }
  }
}

std::vector<float> inputs(int64_t n, uint32_t seed, float scale = 4.0f) {
  std::mt19937 rng(seed + uint32_t(n));
  return random_floats(size_t(n), rng, scale);
}

TEST(SimdOps, SiluMatchesScalar) {
  expect_targets_agree("silu", [](int64_t n) {
    auto x = inputs(n, 1, 10.0f);
    silu(x.data(), n);
    return x;
  });
}

TEST(SimdOps, SiluHandlesExtremeInputs) {
  TargetGuard guard;
  for (const auto& target : simd_targets()) {
    set_simd_target(target);
    std::vector<float> x(37, -200.0f);
    for (size_t i = 0; i < x.size(); i += 2) x[i] = 200.0f;
    silu(x.data(), int64_t(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_TRUE(std::isfinite(x[i])) << target << " i=" << i;
      EXPECT_NEAR(x[i], i % 2 == 0 ? 200.0f : 0.0f, 1e-4) << target << " i=" << i;
    }
  }
}

// Rows of a flattened batch must equal the rows alone whatever the vector width: an element's
// result may not depend on whether it falls in a full vector or the tail.
TEST(SimdOps, ElementwiseResultsDoNotDependOnPosition) {
  TargetGuard guard;
  for (const auto& target : simd_targets()) {
    set_simd_target(target);
    const auto x = inputs(64, 20, 8.0f), v = inputs(64, 21);
    for (int64_t offset : {0, 1, 5, 13}) {
      auto a = x, b = x;
      silu(a.data(), 64);
      silu(b.data() + offset, 64 - offset);
      auto ya = v, yb = v;
      axpy(ya.data(), x.data(), 0.3f, 64);
      axpy(yb.data() + offset, x.data() + offset, 0.3f, 64 - offset);
      for (int64_t i = offset; i < 64; ++i) {
        ASSERT_EQ(a[size_t(i)], b[size_t(i)]) << target << " silu offset " << offset << " i=" << i;
        ASSERT_EQ(ya[size_t(i)], yb[size_t(i)]) << target << " axpy offset " << offset << " i=" << i;
      }
    }
  }
}

TEST(SimdOps, MulAddAxpyMatchScalar) {
  expect_targets_agree("mul", [](int64_t n) {
    auto y = inputs(n, 2), x = inputs(n, 3);
    mul(y.data(), x.data(), n);
    return y;
  });
  expect_targets_agree("add", [](int64_t n) {
    auto y = inputs(n, 4), x = inputs(n, 5);
    add(y.data(), x.data(), n);
    return y;
  });
  expect_targets_agree("axpy", [](int64_t n) {
    auto y = inputs(n, 6), x = inputs(n, 7);
    axpy(y.data(), x.data(), -0.75f, n);
    return y;
  });
}

TEST(SimdOps, DotF32MatchesScalar) {
  expect_targets_agree(
      "dot_f32",
      [](int64_t n) {
        const auto a = inputs(n, 8), b = inputs(n, 9);
        // Relative to Σ|a·b| (the sum itself may cancel).
        double mag = 0;
        for (int64_t i = 0; i < n; ++i) mag += std::fabs(double(a[size_t(i)]) * b[size_t(i)]);
        return std::vector<float>{dot_f32(a.data(), b.data(), n), float(mag)};
      },
      1e-6);
}

TEST(SimdOps, RmsNormMatchesScalarWithAndWithoutWeight) {
  for (bool weighted : {false, true}) {
    expect_targets_agree("rms_norm", [weighted](int64_t n) {
      const auto x = inputs(n, 10), w = inputs(n, 11);
      std::vector<float> out(x.size());
      rms_norm(x.data(), weighted ? w.data() : nullptr, out.data(), n, 1e-6f);
      return out;
    });
  }
  // In place (out aliases x).
  expect_targets_agree("rms_norm in place", [](int64_t n) {
    auto x = inputs(n, 12);
    rms_norm(x.data(), nullptr, x.data(), n, 1e-6f);
    return x;
  });
}

TEST(SimdOps, SoftmaxMatchesScalarAndSumsToOne) {
  expect_targets_agree("softmax", [](int64_t n) {
    auto x = inputs(n, 13, 20.0f);
    x[0] += 1000.0f;  // large values: the max must be subtracted
    softmax(x.data(), n);
    return x;
  });
  TargetGuard guard;
  for (const auto& target : simd_targets()) {
    set_simd_target(target);
    auto x = inputs(1001, 14, 30.0f);
    softmax(x.data(), 1001);
    double sum = 0;
    for (float v : x) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-5) << target;
  }
}


// Attention over f16 KV rows converts with the CPU's f16 instructions on SIMD targets; the sums
// keep the portable loop's order, so every target gives SCALAR's output bit for bit, including
// for subnormal and large f16 values.
TEST(SimdOps, F16AttentionMatchesScalarExactly) {
  TargetGuard guard;
  for (int64_t head_dim : {1, 7, 8, 13, 64, 128}) {
    for (int64_t n_kv : {1, 5, 33, 300}) {  // 300: more than one block of rows
      auto q = inputs(head_dim, 20, 2.0f);
      auto kv = inputs(n_kv * head_dim * 2, 21, 3.0f);
      const float special[] = {3e-6f, -6e-8f, 60000.0f};  // f16 subnormal, smallest, near max
      for (size_t i = 0; i < std::min(kv.size(), std::size(special)); ++i) kv[i] = special[i];
      std::vector<uint16_t> rows(kv.size());
      store_kv_row(TensorType::F16, kv.data(), rows.data(), int64_t(kv.size()));
      const uint16_t* k = rows.data();
      const uint16_t* v = rows.data() + n_kv * head_dim;
      auto run = [&] {
        std::vector<float> out(static_cast<size_t>(head_dim));
        std::vector<float> scratch(static_cast<size_t>(attention_scratch_floats(n_kv, head_dim)));
        cached_attention_head(TensorType::F16, q.data(), k, head_dim, v, head_dim, n_kv, head_dim,
                              head_dim, 0.125f, out.data(), scratch.data());
        return out;
      };
      set_simd_target("SCALAR");
      const auto want = run();
      for (const auto& target : simd_targets()) {
        set_simd_target(target);
        EXPECT_EQ(run(), want) << target << " head_dim=" << head_dim << " n_kv=" << n_kv;
      }
    }
  }
}

// The many-row, many-head f16 kernels equal the one-row ones called row after row, head after
// head, bit for bit, on every target: strided rows and heads, head counts around the 4/2/1-head
// passes, row counts around the 4/8/16-row tiles, widths around the vector sizes. Head 1's query is zero and row 2's keys negative, so
// a dot of only -0 products occurs (it must come out +0, as the lane-order sum from 0.0f).
TEST(SimdOps, F16HeadKernelsEqualPerHead) {
  TargetGuard guard;
  for (const auto& target : simd_targets()) {
    set_simd_target(target);
    for (int64_t n : {1, 8, 13, 32, 128, 130, 576}) {
      for (int64_t n_heads : {1, 2, 3, 6, 7, 9}) {
        for (int64_t n_rows : {1, 3, 4, 9, 16, 23}) {
          const int64_t stride = n + 3, q_stride = n + 1, out_stride = n_rows + 2;
          auto q = inputs(n_heads * q_stride, 40, 2.0f), a = inputs(n_heads * out_stride, 41, 1.0f);
          auto y0 = inputs(n_heads * q_stride, 42, 1.0f), raw = inputs(n_rows * stride, 43, 3.0f);
          if (n_heads > 1) std::fill_n(q.begin() + q_stride, n, 0.0f);
          if (n_rows > 2)
            for (int64_t i = 0; i < n; ++i) raw[size_t(2 * stride + i)] = -std::fabs(raw[size_t(2 * stride + i)]) - 0.5f;
          std::vector<uint16_t> rows(raw.size());
          store_kv_row(TensorType::F16, raw.data(), rows.data(), int64_t(raw.size()));
          std::vector<float> dots(size_t(n_heads * out_stride), -1.0f);
          simd::dot_f16_heads(q.data(), q_stride, n_heads, rows.data(), stride, n_rows, n, dots.data(), out_stride);
          auto y = y0, y_heads = y0;
          simd::axpy_f16_heads(y_heads.data(), q_stride, n_heads, rows.data(), stride, a.data(), out_stride,
                               n_rows, n);
          const std::string where = target + " n=" + std::to_string(n) + " heads=" + std::to_string(n_heads) +
                                    " rows=" + std::to_string(n_rows);
          for (int64_t h = 0; h < n_heads; ++h) {
            for (int64_t j = 0; j < n_rows; ++j) {
              const float want = simd::dot_f16(q.data() + h * q_stride, rows.data() + j * stride, n);
              ASSERT_EQ(std::bit_cast<uint32_t>(dots[size_t(h * out_stride + j)]), std::bit_cast<uint32_t>(want))
                  << where << " h=" << h << " j=" << j;
              simd::axpy_f16(y.data() + h * q_stride, rows.data() + j * stride, a[size_t(h * out_stride + j)], n);
            }
            ASSERT_EQ(dots[size_t(h * out_stride + n_rows)], -1.0f) << where << ": wrote past the rows";
          }
          ASSERT_EQ(y_heads, y) << where;
        }
      }
    }
  }
}

// The attention weights equal the loop's bit for bit on every target: score spreads wide enough
// that many weights become f16 subnormals or round to zero, one row with an infinite score.
TEST(SimdOps, AttentionProbsMatchLoop) {
  TargetGuard guard;
  for (const auto& target : simd_targets()) {
    set_simd_target(target);
    for (int64_t n : {1, 5, 16, 17, 100, 2048}) {
      for (int64_t n_heads : {1, 3, 6, 17}) {
        for (bool round_f16 : {false, true}) {
          const int64_t stride = n + 7;
          auto scores = inputs(n_heads * stride, 50, 40.0f);
          if (n_heads > 2) scores[size_t(2 * stride + n / 2)] = INFINITY;
          auto want = scores, got = scores;
          simd::ref::attention_probs(want.data(), stride, n_heads, n, 0.3f, round_f16);
          simd::attention_probs(got.data(), stride, n_heads, n, 0.3f, round_f16);
          for (size_t i = 0; i < want.size(); ++i)
            ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
                << target << " n=" << n << " heads=" << n_heads << " f16=" << round_f16 << " i=" << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace inhouse::tensor
