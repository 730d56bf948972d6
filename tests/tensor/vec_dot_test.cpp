// Dot products and matmul of every supported type against the float reference, on row lengths
// of 1, 2 and 3 blocks and several rows.
#include <gtest/gtest.h>

#include <cmath>

#include "tensor/tensor.h"
#include "tensor_test_util.h"

namespace inhouse::tensor {
namespace {

using testing::kAllTypes;
using testing::random_floats;
using testing::random_row;

double abs_dot(TensorType t, const std::vector<uint8_t>& row, const std::vector<float>& x) {
  std::vector<float> w(x.size()), ax(x.size());
  dequantize_row(t, row.data(), w.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) ax[i] = std::fabs(x[i]), w[i] = std::fabs(w[i]);
  return vec_dot_ref(TensorType::F32, w.data(), ax.data(), int64_t(x.size()));
}

class VecDot : public ::testing::TestWithParam<TensorType> {};

TEST_P(VecDot, MatchesReferenceOnOneTwoThreeBlocks) {
  const TensorType t = GetParam();
  const ActFormat fmt = act_format(t);
  std::mt19937 rng(uint32_t(t) + 10);
  for (int64_t blocks : {1, 2, 3}) {
    const int64_t n = blocks * std::max<int64_t>(block_size(t), fmt == ActFormat::F32 ? 1 : 32);
    for (int rep = 0; rep < 4; ++rep) {
      auto row = random_row(t, n, rng);
      auto x = random_floats(size_t(n), rng);
      std::vector<uint8_t> act(act_row_bytes(fmt, n));
      quantize_act_row(fmt, x.data(), act.data(), n);
      std::vector<float> xq(static_cast<size_t>(n));
      dequantize_act_row(fmt, act.data(), xq.data(), n);

      const double got = vec_dot(t, row.data(), act.data(), n);
      const double mag = abs_dot(t, row, x);
      // Same inputs as the kernel saw: only float rounding may differ. Q4_1/Q5_1 also use the
      // activation block's sum, which is stored rounded to f16 like ggml's block_q8_1 (relative
      // error <= 2^-11 on a term bounded by mag).
      const bool uses_sum = t == TensorType::Q4_1 || t == TensorType::Q5_1;
      const double sum_rounding = uses_sum ? std::ldexp(mag, -11) : 0.0;
      EXPECT_NEAR(got, vec_dot_ref(t, row.data(), xq.data(), n), 1e-5 * mag + 1e-6 + sum_rounding)
          << gguf::tensor_type_name(t) << " n=" << n;
      // Against unquantised activations: within 8-bit activation rounding.
      EXPECT_NEAR(got, vec_dot_ref(t, row.data(), x.data(), n), 1e-2 * mag + 1e-6)
          << gguf::tensor_type_name(t) << " n=" << n;
    }
  }
}

TEST_P(VecDot, MatmulMatchesReferenceAcrossThreads) {
  const TensorType t = GetParam();
  std::mt19937 rng(uint32_t(t) + 100);
  const int64_t n_in = 3 * std::max<int64_t>(block_size(t), 32), n_out = 7, n_batch = 5;
  std::vector<uint8_t> data;
  for (int64_t o = 0; o < n_out; ++o) {
    auto r = random_row(t, n_in, rng);
    data.insert(data.end(), r.begin(), r.end());
  }
  const Matrix w{t, data.data(), n_in, n_out, row_bytes(t, n_in)};
  auto x = random_floats(size_t(n_in * n_batch), rng);
  std::vector<float> y1(size_t(n_out * n_batch)), y3(y1.size()), ref(y1.size());
  ThreadPool one(1), three(3);
  matmul(w, x.data(), n_batch, y1.data(), one);
  matmul(w, x.data(), n_batch, y3.data(), three);
  matmul_ref(w, x.data(), n_batch, ref.data());
  for (int64_t b = 0; b < n_batch; ++b) {
    for (int64_t o = 0; o < n_out; ++o) {
      const size_t i = size_t(b * n_out + o);
      EXPECT_EQ(y1[i], y3[i]) << "results must not depend on the thread count";
      std::vector<uint8_t> row(w.row(o), w.row(o) + w.row_bytes);
      std::vector<float> xb(x.begin() + b * n_in, x.begin() + (b + 1) * n_in);
      EXPECT_NEAR(y1[i], ref[i], 1e-2 * abs_dot(t, row, xb) + 1e-6);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, VecDot, ::testing::ValuesIn(kAllTypes),
                         [](const auto& info) { return std::string(gguf::tensor_type_name(info.param)); });

TEST(VecDot, FloatDotHandlesTails) {
  for (int64_t n : {1, 15, 16, 17, 33}) {
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    double want = 0;
    for (int64_t i = 0; i < n; ++i) {
      a[size_t(i)] = float(i + 1);
      b[size_t(i)] = 0.5f;
      want += 0.5 * double(i + 1);
    }
    EXPECT_FLOAT_EQ(dot_f32(a.data(), b.data(), n), float(want));
  }
}

// The activation quantiser rounds x / d half away from zero, as std::lround (and ggml's
// roundf) do: with max|x| = 127 the scale is exactly 1, so x itself is rounded.
TEST(VecDot, ActivationQuantiserRoundsHalvesAwayFromZero) {
  const float cases[] = {0.5f,   -0.5f,  1.5f,    -1.5f,    2.5f,   -2.5f,  126.5f, -126.5f,
                         0.49999997f, -0.49999997f, 0.50000006f, -0.50000006f, 3.0f, -3.0f,
                         0.0f,   -0.0f,  1e-30f,  -1e-30f,  63.49f, -63.51f, 7.75f,  -7.25f};
  for (ActFormat fmt : {ActFormat::Q8_0, ActFormat::Q8_K}) {
    const int64_t n = fmt == ActFormat::Q8_0 ? 32 : 256;
    std::vector<float> x(static_cast<size_t>(n), 0.0f), back(static_cast<size_t>(n));
    x[0] = 127.0f;
    for (size_t i = 0; i < std::size(cases); ++i) x[i + 1] = cases[i];
    std::vector<uint8_t> act(act_row_bytes(fmt, n));
    quantize_act_row(fmt, x.data(), act.data(), n);
    dequantize_act_row(fmt, act.data(), back.data(), n);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_EQ(back[size_t(i)], float(std::lround(x[size_t(i)]))) << "x=" << x[size_t(i)];
  }
}

TEST(Matrix, FromTensorInfoChecksTypeAndRows) {
  gguf::TensorInfo t;
  t.name = "w";
  t.shape = {64, 3};
  t.type = TensorType::Q8_0;
  Matrix m = Matrix::from(t);
  EXPECT_EQ(m.n_in, 64);
  EXPECT_EQ(m.n_out, 3);
  EXPECT_EQ(m.row_bytes, 68u);
  t.shape = {48, 3};
  EXPECT_THROW(Matrix::from(t), Error);
  t.shape = {256, 3};
  t.type = TensorType::IQ4_XS;
  EXPECT_THROW(Matrix::from(t), Error);
}

}  // namespace
}  // namespace inhouse::tensor
