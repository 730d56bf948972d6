// tensor/types.cpp — owns half-float conversions and the table of tensor types this module
// supports (with the error message that lists them).
#include <bit>
#include <cmath>

#include "tensor/tensor.h"

namespace inhouse::tensor {

uint16_t fp32_to_fp16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) return sign | (abs > 0x7F800000u ? 0x7E00 : 0x7C00);  // NaN / inf
  if (abs >= 0x477FF000u) return sign | 0x7C00;  // rounds to >= 65520: overflow to inf
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    // Adding 0.5 moves the value to where the float's mantissa rounding does the work.
    const float r = std::bit_cast<float>(abs) + 0.5f;
    return sign | uint16_t(std::bit_cast<uint32_t>(r) - std::bit_cast<uint32_t>(0.5f));
  }
  const uint32_t odd = (abs >> 13) & 1u;  // round half to even
  const uint32_t rounded = abs + 0xC8000FFFu + odd;  // rebias exponent (-112 << 23) and round
  return sign | uint16_t(rounded >> 13);
}

uint16_t fp32_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((x >> 16) | 0x40);  // keep NaN a NaN
  return uint16_t((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

namespace {
constexpr TensorType kSupported[] = {
    TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0,
    TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
    TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
};
}  // namespace

bool is_supported(TensorType t) {
  for (TensorType s : kSupported)
    if (s == t) return true;
  return false;
}

std::string supported_type_names() {
  std::string out;
  for (TensorType s : kSupported) {
    if (!out.empty()) out += ", ";
    out += gguf::tensor_type_name(s);
  }
  return out;
}

void check_supported(TensorType t, std::string_view what) {
  if (is_supported(t)) return;
  throw Error(std::string(what) + " has tensor type " + gguf::tensor_type_name(t) + " (id " +
              std::to_string(uint32_t(t)) + "), which this build cannot compute with; " +
              "supported types: " + supported_type_names());
}

int64_t block_size(TensorType t) {
  check_supported(t, "tensor");
  return gguf::type_traits(t)->block_size;
}

size_t row_bytes(TensorType t, int64_t n) {
  const int64_t bs = block_size(t);
  if (n <= 0 || n % bs != 0)
    throw Error("a row of " + std::to_string(n) + " elements is not a whole number of " +
                gguf::tensor_type_name(t) + " blocks (" + std::to_string(bs) + " elements each)");
  return size_t(n / bs) * gguf::type_traits(t)->type_size;
}

}  // namespace inhouse::tensor
