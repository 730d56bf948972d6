// Dequantisation on hand-made blocks: every element checked against the format described one
// element at a time (an independent reading of the layout, not the kernel's loop structure).
#include <gtest/gtest.h>

#include <cstring>

#include "tensor/tensor.h"
#include "tensor_test_util.h"

namespace inhouse::tensor {
namespace {

using testing::put_half;
using testing::random_row;

float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

std::vector<float> dequant(TensorType t, const std::vector<uint8_t>& row, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(t, row.data(), out.data(), n);
  return out;
}

// Low nibble for elements 0..15, high nibble for 16..31.
int nibble32(const uint8_t* qs, int e) { return e < 16 ? qs[e] & 0xF : qs[e - 16] >> 4; }
int bit(const uint8_t* bytes, int i) { return (bytes[i / 8] >> (i % 8)) & 1; }

TEST(Dequantize, Q4_0AllSameQuant) {
  std::vector<uint8_t> blk(18);
  put_half(blk.data(), 0.5f);
  std::memset(blk.data() + 2, 0x9A, 16);  // low nibble 10, high nibble 9
  auto y = dequant(TensorType::Q4_0, blk, 32);
  for (int e = 0; e < 16; ++e) EXPECT_EQ(y[e], 0.5f * (10 - 8));
  for (int e = 16; e < 32; ++e) EXPECT_EQ(y[e], 0.5f * (9 - 8));
}

TEST(Dequantize, SimpleBlockFormats) {
  std::mt19937 rng(1);
  for (int nb : {1, 2, 3}) {
    const int64_t n = 32 * nb;
    for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                         TensorType::Q8_0}) {
      auto row = random_row(t, n, rng);
      auto y = dequant(t, row, n);
      const size_t bs = gguf::type_traits(t)->type_size;
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t* b = row.data() + size_t(i / 32) * bs;
        const int e = int(i % 32);
        float want = 0;
        switch (t) {
          case TensorType::Q4_0: want = half_at(b) * float(nibble32(b + 2, e) - 8); break;
          case TensorType::Q4_1: want = half_at(b) * float(nibble32(b + 4, e)) + half_at(b + 2); break;
          case TensorType::Q5_0:
            want = half_at(b) * float((nibble32(b + 6, e) | bit(b + 2, e) << 4) - 16);
            break;
          case TensorType::Q5_1:
            want = half_at(b) * float(nibble32(b + 8, e) | bit(b + 4, e) << 4) + half_at(b + 2);
            break;
          default: want = half_at(b) * float(int8_t(b[2 + e])); break;
        }
        ASSERT_FLOAT_EQ(y[size_t(i)], want) << gguf::tensor_type_name(t) << " element " << i;
      }
    }
  }
}

// Packs eight 6-bit scales and mins the way Q4_K/Q5_K store them.
void pack_k_scales(const int* sc, const int* m, uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = uint8_t((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = uint8_t((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    s[j + 8] = uint8_t((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
}

TEST(Dequantize, Q4_KAndQ5_K) {
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> six(0, 63);
  for (TensorType t : {TensorType::Q4_K, TensorType::Q5_K}) {
    for (int nb : {1, 2, 3}) {
      const int64_t n = 256 * nb;
      auto row = random_row(t, n, rng);
      const size_t bs = gguf::type_traits(t)->type_size;
      std::vector<std::array<int, 8>> scs(static_cast<size_t>(nb)), ms(static_cast<size_t>(nb));
      for (int b = 0; b < nb; ++b) {
        for (int j = 0; j < 8; ++j) scs[size_t(b)][size_t(j)] = six(rng), ms[size_t(b)][size_t(j)] = six(rng);
        pack_k_scales(scs[size_t(b)].data(), ms[size_t(b)].data(), row.data() + size_t(b) * bs + 4);
      }
      auto y = dequant(t, row, n);
      for (int64_t i = 0; i < n; ++i) {
        const int b = int(i / 256), e = int(i % 256), sub = e / 32;
        const uint8_t* blk = row.data() + size_t(b) * bs;
        const uint8_t* qs = blk + (t == TensorType::Q4_K ? 16 : 48);
        // Element e: byte 32*(e/64) + e%32 of qs, low nibble in the first 32 of each 64.
        const uint8_t byte = qs[32 * (e / 64) + e % 32];
        int q = (e % 64) < 32 ? byte & 0xF : byte >> 4;
        if (t == TensorType::Q5_K) q |= ((blk[16 + e % 32] >> sub) & 1) << 4;  // qh bit = sub-block
        const float want = half_at(blk) * float(scs[size_t(b)][size_t(sub)]) * float(q) -
                           half_at(blk + 2) * float(ms[size_t(b)][size_t(sub)]);
        ASSERT_NEAR(y[size_t(i)], want, 1e-5f * std::fabs(want) + 1e-6f)
            << gguf::tensor_type_name(t) << " element " << i;
      }
    }
  }
}

TEST(Dequantize, Q6_K) {
  std::mt19937 rng(3);
  for (int nb : {1, 2, 3}) {
    const int64_t n = 256 * nb;
    auto row = random_row(TensorType::Q6_K, n, rng);
    auto y = dequant(TensorType::Q6_K, row, n);
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* blk = row.data() + size_t(i / 256) * 210;
      const int e = int(i % 256), h = e / 128, r = e % 128, k = r / 32, l = r % 32;
      const uint8_t lo = blk[64 * h + l + (k % 2) * 32];
      const int low4 = k < 2 ? lo & 0xF : lo >> 4;
      const int high2 = (blk[128 + 32 * h + l] >> (2 * k)) & 3;
      const int8_t sc = int8_t(blk[192 + e / 16]);
      const float want = half_at(blk + 208) * float(sc) * float((low4 | high2 << 4) - 32);
      ASSERT_NEAR(y[size_t(i)], want, 1e-5f * std::fabs(want) + 1e-6f) << "element " << i;
    }
  }
}

TEST(Dequantize, FloatFormats) {
  const float vals[] = {1.0f, -2.5f, 0.1f, 3e-5f};
  std::vector<uint8_t> f32(sizeof vals), f16(8), bf16(8);
  std::memcpy(f32.data(), vals, sizeof vals);
  for (int i = 0; i < 4; ++i) {
    const uint16_t h = fp32_to_fp16(vals[i]), b = fp32_to_bf16(vals[i]);
    std::memcpy(f16.data() + 2 * i, &h, 2);
    std::memcpy(bf16.data() + 2 * i, &b, 2);
  }
  auto a = dequant(TensorType::F32, f32, 4), h = dequant(TensorType::F16, f16, 4),
       b = dequant(TensorType::BF16, bf16, 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a[size_t(i)], vals[i]);
    EXPECT_NEAR(h[size_t(i)], vals[i], 1e-3f * std::fabs(vals[i]));
    EXPECT_NEAR(b[size_t(i)], vals[i], 8e-3f * std::fabs(vals[i]));
  }
}

TEST(Dequantize, RejectsPartialBlocksAndUnsupportedTypes) {
  std::vector<uint8_t> buf(1024);
  std::vector<float> out(1024);
  EXPECT_THROW(dequantize_row(TensorType::Q4_K, buf.data(), out.data(), 128), Error);
  EXPECT_THROW(dequantize_row(TensorType::Q3_K, buf.data(), out.data(), 256), Error);
}

}  // namespace
}  // namespace inhouse::tensor
