// Helpers for the tensor tests: random rows of any supported type with sane block scales.
#pragma once

#include <cstring>
#include <random>
#include <vector>

#include "tensor/tensor.h"

namespace inhouse::tensor::testing {

inline std::vector<float> random_floats(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline void put_half(uint8_t* p, float v) {
  const uint16_t h = fp32_to_fp16(v);
  std::memcpy(p, &h, 2);
}

// n elements of type t: random quants, with every block scale/min set to a small finite value
// (random bytes there could be NaN or huge).
inline std::vector<uint8_t> random_row(TensorType t, int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> row(row_bytes(t, n));
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.01f, 0.1f);
  if (t == TensorType::F32) {
    auto f = random_floats(size_t(n), rng);
    std::memcpy(row.data(), f.data(), row.size());
    return row;
  }
  if (t == TensorType::F16 || t == TensorType::BF16) {
    auto f = random_floats(size_t(n), rng);
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = t == TensorType::F16 ? fp32_to_fp16(f[size_t(i)]) : fp32_to_bf16(f[size_t(i)]);
      std::memcpy(row.data() + 2 * i, &h, 2);
    }
    return row;
  }
  for (uint8_t& b : row) b = uint8_t(byte(rng));
  const size_t block_bytes = gguf::type_traits(t)->type_size;
  for (size_t off = 0; off < row.size(); off += block_bytes) {
    uint8_t* blk = row.data() + off;
    switch (t) {
      case TensorType::Q4_1: case TensorType::Q5_1:
      case TensorType::Q4_K: case TensorType::Q5_K:
        put_half(blk, scale(rng));
        put_half(blk + 2, scale(rng));  // min / dmin
        break;
      case TensorType::Q6_K: put_half(blk + 208, scale(rng)); break;
      default: put_half(blk, scale(rng)); break;
    }
  }
  return row;
}

inline const TensorType kAllTypes[] = {
    TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0,
    TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
    TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
};

}  // namespace inhouse::tensor::testing
