// tensor::quantize_row (src/tensor/quantize.cpp): quantise then dequantise Gaussian rows and
// bound the error relative to the input's RMS, per type. The bounds sit ~1.5x above what the
// formats give on N(0,1) data: uniform rounding error is step/sqrt(12) with step ~= the block's
// range / levels (Q8_0 ~0.004, Q6_K ~0.009, Q5_* ~0.03-0.04, Q4_* ~0.07-0.08), and the k-quant
// scale search must at least match the plain formats of the same width.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tensor/tensor.h"

namespace inhouse::tensor {
namespace {

struct Case {
  TensorType type;
  double bound;
};

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// RMS(dequantize(quantize(x)) - x) / RMS(x) over `rows` rows of n.
double round_trip_error(TensorType t, const std::vector<float>& x, int64_t rows, int64_t n) {
  std::vector<uint8_t> q(row_bytes(t, n));
  std::vector<float> back(static_cast<size_t>(n));
  double err = 0, ref = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x.data() + r * n;
    quantize_row(t, row, q.data(), n);
    dequantize_row(t, q.data(), back.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      err += double(back[size_t(i)] - row[i]) * (back[size_t(i)] - row[i]);
      ref += double(row[i]) * row[i];
    }
  }
  return std::sqrt(err / ref);
}

const Case kCases[] = {
    {TensorType::F16, 0.001},  {TensorType::BF16, 0.005}, {TensorType::Q8_0, 0.01},
    {TensorType::Q6_K, 0.02},  {TensorType::Q5_K, 0.05},  {TensorType::Q5_0, 0.06},
    {TensorType::Q5_1, 0.06},  {TensorType::Q4_K, 0.1},   {TensorType::Q4_0, 0.1},
    {TensorType::Q4_1, 0.12},
};

TEST(QuantizeRow, RoundTripErrorWithinTheTypeBound) {
  const int64_t rows = 7, n = 768;  // odd row count; 3 super-blocks per row
  const std::vector<float> x = gaussian(size_t(rows * n), 42);
  for (const Case& c : kCases) {
    const double e = round_trip_error(c.type, x, rows, n);
    EXPECT_LT(e, c.bound) << gguf::tensor_type_name(c.type);
    EXPECT_GT(e, 0.0) << gguf::tensor_type_name(c.type);
  }
  EXPECT_EQ(round_trip_error(TensorType::F32, x, rows, n), 0.0);
}

TEST(QuantizeRow, KQuantsBeatTheSimpleFormatsOfTheSameWidth) {
  const std::vector<float> x = gaussian(256 * 9, 7);
  EXPECT_LT(round_trip_error(TensorType::Q4_K, x, 9, 256), round_trip_error(TensorType::Q4_1, x, 9, 256));
  EXPECT_LT(round_trip_error(TensorType::Q5_K, x, 9, 256), round_trip_error(TensorType::Q5_1, x, 9, 256));
}

TEST(QuantizeRow, ScaleAndOffsetAreKept) {
  // Weights of a real layer are not centred N(0,1): shift and scale must not matter much.
  std::vector<float> x = gaussian(512 * 3, 3);
  for (float& v : x) v = 0.02f * v + 0.01f;
  for (const Case& c : kCases) EXPECT_LT(round_trip_error(c.type, x, 3, 512), 1.6 * c.bound) << gguf::tensor_type_name(c.type);
}

TEST(QuantizeRow, ZerosStayZeroAndNothingIsNaN) {
  const int64_t n = 256;
  std::vector<float> zeros(size_t(n), 0.0f), back(size_t(n), 1.0f);
  for (const Case& c : kCases) {
    std::vector<uint8_t> q(row_bytes(c.type, n));
    quantize_row(c.type, zeros.data(), q.data(), n);
    dequantize_row(c.type, q.data(), back.data(), n);
    for (float v : back) ASSERT_EQ(v, 0.0f) << gguf::tensor_type_name(c.type);
  }
}

TEST(QuantizeRow, ConstantRowsAreExactEnough) {
  const int64_t n = 256;
  std::vector<float> x(static_cast<size_t>(n), -0.75f), back(static_cast<size_t>(n));
  for (const Case& c : kCases) {
    std::vector<uint8_t> q(row_bytes(c.type, n));
    quantize_row(c.type, x.data(), q.data(), n);
    dequantize_row(c.type, q.data(), back.data(), n);
    for (float v : back) ASSERT_NEAR(v, -0.75f, 0.75f * 0.01f) << gguf::tensor_type_name(c.type);
  }
}

TEST(QuantizeRow, BadInputsThrow) {
  std::vector<float> x(300);
  std::vector<uint8_t> q(1024);
  EXPECT_THROW(quantize_row(TensorType::Q4_K, x.data(), q.data(), 300), Error);  // not 256k
  EXPECT_THROW(quantize_row(TensorType::Q8_0, x.data(), q.data(), 33), Error);
  EXPECT_THROW(quantize_row(TensorType::IQ2_XS, x.data(), q.data(), 256), Error);
  EXPECT_FALSE(can_quantize(TensorType::Q8_K));
  EXPECT_TRUE(can_quantize(TensorType::Q6_K));
}

}  // namespace
}  // namespace inhouse::tensor
