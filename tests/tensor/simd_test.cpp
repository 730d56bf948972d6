// The SIMD kernels of every compiled target this CPU runs against the scalar kernels, on odd
// sizes; and batch invariance: a (weight row, activation row) result is bit-identical whatever
// the batch size, the row's place in the batch and the thread count.
#include <gtest/gtest.h>

#include <cmath>

#include "tensor/tensor.h"
#include "tensor_test_util.h"

namespace inhouse::tensor {
namespace {

using testing::kAllTypes;
using testing::random_floats;
using testing::random_row;

// Restores the best target when a test ends, whatever it forced.
struct TargetGuard {
  ~TargetGuard() { set_simd_target(""); }
};

// Q4_0/Q8_0 kernels sum blocks in float lanes (a different order from the scalar loop); the
// k-quant kernels sum super-blocks in exact integers and then match the scalar float steps.
bool exact_vs_scalar(TensorType t) { return t != TensorType::Q4_0 && t != TensorType::Q8_0; }

int64_t unit(TensorType t) {
  return std::max<int64_t>(block_size(t), act_format(t) == ActFormat::F32 ? 1 : 32);
}

struct Weights {
  std::vector<uint8_t> data;
  Matrix m;
};

Weights random_matrix(TensorType t, int64_t n_in, int64_t n_out, std::mt19937& rng) {
  Weights w;
  for (int64_t o = 0; o < n_out; ++o) {
    auto r = random_row(t, n_in, rng);
    w.data.insert(w.data.end(), r.begin(), r.end());
  }
  w.m = Matrix{t, w.data.data(), n_in, n_out, row_bytes(t, n_in)};
  return w;
}

TEST(Simd, ListsRunnableTargetsAndForcesEach) {
  TargetGuard guard;
  const auto targets = simd_targets();
  ASSERT_FALSE(targets.empty());
  for (const auto& name : targets) {
    set_simd_target(name);
    EXPECT_EQ(simd_target(), name);
  }
  set_simd_target("");
  EXPECT_EQ(simd_target(), targets.front());
  EXPECT_THROW(set_simd_target("NO_SUCH_TARGET"), Error);
}

class SimdKernels : public ::testing::TestWithParam<TensorType> {};

TEST_P(SimdKernels, VecDotMatchesScalarOnEveryTarget) {
  TargetGuard guard;
  const TensorType t = GetParam();
  const ActFormat fmt = act_format(t);
  for (const auto& target : simd_targets()) {
    set_simd_target(target);
    std::mt19937 rng(uint32_t(t) + 7);
    for (int64_t blocks : {1, 2, 3, 5, 7}) {
      const int64_t n = blocks * unit(t);
      auto row = random_row(t, n, rng);
      auto x = random_floats(size_t(n), rng);
      std::vector<uint8_t> act(act_row_bytes(fmt, n));
      quantize_act_row(fmt, x.data(), act.data(), n);
      const float got = vec_dot(t, row.data(), act.data(), n);
      const float want = vec_dot_scalar(t, row.data(), act.data(), n);
      if (exact_vs_scalar(t)) {
        EXPECT_EQ(got, want) << target << " " << gguf::tensor_type_name(t) << " n=" << n;
      } else {
        EXPECT_NEAR(got, want, 1e-5 * (std::fabs(want) + std::sqrt(double(n))))
            << target << " " << gguf::tensor_type_name(t) << " n=" << n;
      }
    }
  }
}

TEST_P(SimdKernels, MatmulMatchesScalarOnOddShapes) {
  TargetGuard guard;
  const TensorType t = GetParam();
  const ActFormat fmt = act_format(t);
  std::mt19937 rng(uint32_t(t) + 70);
  const int64_t n_in = 3 * unit(t), n_out = 37;  // 37: not a multiple of the row tile
  const Weights w = random_matrix(t, n_in, n_out, rng);
  ThreadPool pool(2);
  for (const auto& target : simd_targets()) {
    set_simd_target(target);
    for (int64_t n_batch : {1, 3, 5, 70}) {  // 70: crosses a batch block, not a multiple of 4
      auto x = random_floats(size_t(n_in * n_batch), rng);
      std::vector<float> y(size_t(n_out * n_batch));
      matmul(w.m, x.data(), n_batch, y.data(), pool);
      std::vector<uint8_t> act(act_row_bytes(fmt, n_in));
      for (int64_t b = 0; b < n_batch; ++b) {
        quantize_act_row(fmt, x.data() + b * n_in, act.data(), n_in);
        for (int64_t o = 0; o < n_out; ++o) {
          const float want = vec_dot_scalar(t, w.m.row(o), act.data(), n_in);
          const float got = y[size_t(b * n_out + o)];
          if (exact_vs_scalar(t))
            ASSERT_EQ(got, want) << target << " b=" << b << " o=" << o;
          else
            ASSERT_NEAR(got, want, 1e-5 * (std::fabs(want) + std::sqrt(double(n_in))))
                << target << " b=" << b << " o=" << o;
        }
      }
    }
  }
}

TEST_P(SimdKernels, MatmulIsBatchInvariant) {
  TargetGuard guard;
  const TensorType t = GetParam();
  std::mt19937 rng(uint32_t(t) + 700);
  const int64_t n_in = 2 * unit(t), n_out = 19, n_rows = 512;
  const Weights w = random_matrix(t, n_in, n_out, rng);
  const auto x = random_floats(size_t(n_in * n_rows), rng);
  ThreadPool one(1), two(2);
  for (const auto& target : simd_targets()) {
    set_simd_target(target);
    // Every row alone.
    std::vector<float> alone(size_t(n_out * n_rows));
    for (int64_t b = 0; b < n_rows; ++b)
      matmul(w.m, x.data() + b * n_in, 1, alone.data() + b * n_out, one);
    // The same rows at other places in batches of other sizes, on one and two threads.
    const std::pair<int64_t, int64_t> windows[] = {{0, 7}, {5, 7}, {80, 33}, {1, 511}, {0, 512}};
    for (auto [start, len] : windows) {
      for (ThreadPool* pool : {&one, &two}) {
        std::vector<float> y(size_t(n_out * len));
        matmul(w.m, x.data() + start * n_in, len, y.data(), *pool);
        for (int64_t b = 0; b < len; ++b)
          for (int64_t o = 0; o < n_out; ++o)
            ASSERT_EQ(y[size_t(b * n_out + o)], alone[size_t((start + b) * n_out + o)])
                << target << " window " << start << "+" << len << " b=" << b << " o=" << o
                << " threads=" << pool->size();
      }
    }
  }
}

// KernelTuning changes speed only: prefetching and how output rows are chunked across threads
// give bit-identical outputs (n_out 300: many 16-row chunks with the default tuning).
TEST_P(SimdKernels, MatmulDoesNotDependOnTuning) {
  TargetGuard guard;
  const TensorType t = GetParam();
  std::mt19937 rng(uint32_t(t) + 7000);
  const int64_t n_in = 2 * unit(t), n_out = 300;
  const Weights w = random_matrix(t, n_in, n_out, rng);
  const auto x = random_floats(size_t(n_in * 5), rng);
  const KernelTuning saved = kernel_tuning();
  ThreadPool three(3);
  for (const auto& target : simd_targets()) {
    set_simd_target(target);
    for (int64_t n_batch : {1, 5}) {
      std::vector<float> want(size_t(n_out * n_batch));
      set_kernel_tuning({.prefetch_tiles = 0, .chunks_per_thread = 0});
      matmul(w.m, x.data(), n_batch, want.data(), three);
      for (KernelTuning k : {KernelTuning{}, KernelTuning{2, 1}, KernelTuning{1000, 1000}}) {
        set_kernel_tuning(k);
        std::vector<float> y(want.size());
        matmul(w.m, x.data(), n_batch, y.data(), three);
        ASSERT_EQ(y, want) << target << " n_batch=" << n_batch << " prefetch " << k.prefetch_tiles
                           << " chunks " << k.chunks_per_thread;
      }
    }
  }
  set_kernel_tuning(saved);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, SimdKernels, ::testing::ValuesIn(kAllTypes),
                         [](const auto& info) { return std::string(gguf::tensor_type_name(info.param)); });

}  // namespace
}  // namespace inhouse::tensor
