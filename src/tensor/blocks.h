// tensor/blocks.h (internal) — the byte layouts of the GGUF block formats this module reads and
// of the 8-bit activation blocks the dot products use. Layouts follow ggml's ggml-common.h; the
// static_asserts pin the sizes GGUF files rely on.
#pragma once

#include <cstdint>
#include <cstring>

namespace inhouse::tensor::blocks {

constexpr int kQK = 32;    // elements per block of the simple formats
constexpr int kQK_K = 256; // elements per super-block of the k-quants

// w = d * (q - 8), q 4-bit.
struct Q4_0 { uint16_t d; uint8_t qs[kQK / 2]; };
// w = d * q + m, q 4-bit.
struct Q4_1 { uint16_t d, m; uint8_t qs[kQK / 2]; };
// w = d * (q - 16), q 5-bit: low nibble in qs, fifth bit in qh (bit j for element j).
struct Q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
// w = d * q + m, q 5-bit.
struct Q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
// w = d * q, q int8.
struct Q8_0 { uint16_t d; int8_t qs[kQK]; };
// 8 sub-blocks of 32: w = d * sc[j] * q - dmin * m[j], 6-bit sc/m packed in `scales`.
struct Q4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[kQK_K / 2]; };
// As Q4_K with a fifth bit per element in qh.
struct Q5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[kQK_K / 8]; uint8_t qs[kQK_K / 2]; };
// 16 sub-blocks of 16: w = d * sc[j] * (q - 32), q 6-bit (low 4 in ql, high 2 in qh).
struct Q6_K { uint8_t ql[kQK_K / 2]; uint8_t qh[kQK_K / 4]; int8_t scales[kQK_K / 16]; uint16_t d; };

static_assert(sizeof(Q4_0) == 18 && sizeof(Q4_1) == 20 && sizeof(Q5_0) == 22 &&
              sizeof(Q5_1) == 24 && sizeof(Q8_0) == 34);
static_assert(sizeof(Q4_K) == 144 && sizeof(Q5_K) == 176 && sizeof(Q6_K) == 210);

// Activation blocks (ours, never stored in files). `sum` = d * Σqs serves the "+ m" term of
// Q4_1/Q5_1; bsums (Σqs per 16) serve the "- dmin * m" term of the k-quants.
struct ActQ8_0 { float d; float sum; int8_t qs[kQK]; };
struct ActQ8_K { float d; int16_t bsums[kQK_K / 16]; int8_t qs[kQK_K]; };

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block: the first four
// sit in the low 6 bits of bytes 0..7; the last four are split across bytes 8..11 (low and
// high nibble) and the top 2 bits of bytes 0..7.
inline void k_scale_min(const uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// 1 << j for j < 32: testing bit j against a table entry vectorises on baseline x86-64, where a
// shift by a per-lane amount does not.
inline constexpr uint32_t kBit[32] = {
    1u << 0,  1u << 1,  1u << 2,  1u << 3,  1u << 4,  1u << 5,  1u << 6,  1u << 7,
    1u << 8,  1u << 9,  1u << 10, 1u << 11, 1u << 12, 1u << 13, 1u << 14, 1u << 15,
    1u << 16, 1u << 17, 1u << 18, 1u << 19, 1u << 20, 1u << 21, 1u << 22, 1u << 23,
    1u << 24, 1u << 25, 1u << 26, 1u << 27, 1u << 28, 1u << 29, 1u << 30, 1u << 31,
};

// The 5-bit quants of a Q5_0/Q5_1 block in element order, minus `offset`: low nibbles of qs
// are elements 0..15, high nibbles 16..31, and bit j of qh is the fifth bit of element j.
inline void unpack_q5(const uint8_t* qs, const uint8_t* qh_bytes, int offset, int8_t* q) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);  // qh is not 4-byte aligned inside the block
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo_high = (qh & kBit[j]) != 0, hi_high = (qh & kBit[j + 16]) != 0;
    q[j] = int8_t(((qs[j] & 0xF) | (lo_high << 4)) - offset);
    q[j + kQK / 2] = int8_t(((qs[j] >> 4) | (hi_high << 4)) - offset);
  }
}

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);  // qh is not 4-byte aligned inside the block
  return v;
}

}  // namespace inhouse::tensor::blocks
