// tensor/dequantize.cpp — owns turning rows of every supported GGUF tensor type into floats.
// One plain function per format, written from the block layouts in blocks.h; these are also
// the reference the dot-product kernels are tested against.
#include <cstring>

#include "tensor/blocks.h"
#include "tensor/tensor.h"

namespace inhouse::tensor {
namespace {

using namespace blocks;

void dequant_f16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

void dequant_bf16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

// Elements 0..15 of a block sit in the low nibbles, 16..31 in the high nibbles.
void dequant_q4_0(const Q4_0* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += kQK) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = float((x[b].qs[j] & 0xF) - 8) * d;
      y[j + kQK / 2] = float((x[b].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequant_q4_1(const Q4_1* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += kQK) {
    const float d = fp16_to_fp32(x[b].d), m = fp16_to_fp32(x[b].m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = float(x[b].qs[j] & 0xF) * d + m;
      y[j + kQK / 2] = float(x[b].qs[j] >> 4) * d + m;
    }
  }
}

void dequant_q5_0(const Q5_0* x, float* y, int64_t nb) {
  int8_t q[kQK];
  for (int64_t b = 0; b < nb; ++b, y += kQK) {
    const float d = fp16_to_fp32(x[b].d);
    unpack_q5(x[b].qs, x[b].qh, 0, q);
    for (int j = 0; j < kQK; ++j) y[j] = float(q[j] - 16) * d;
  }
}

void dequant_q5_1(const Q5_1* x, float* y, int64_t nb) {
  int8_t q[kQK];
  for (int64_t b = 0; b < nb; ++b, y += kQK) {
    const float d = fp16_to_fp32(x[b].d), m = fp16_to_fp32(x[b].m);
    unpack_q5(x[b].qs, x[b].qh, 0, q);
    for (int j = 0; j < kQK; ++j) y[j] = float(q[j]) * d + m;
  }
}

void dequant_q8_0(const Q8_0* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += kQK) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < kQK; ++j) y[j] = float(x[b].qs[j]) * d;
  }
}

// Q4_K: 4 groups of 64 elements; group g reads 32 bytes of qs: low nibbles are sub-block 2g,
// high nibbles sub-block 2g+1.
void dequant_q4_k(const Q4_K* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b) {
    const float d = fp16_to_fp32(x[b].d), dmin = fp16_to_fp32(x[b].dmin);
    for (int g = 0; g < 4; ++g, y += 64) {
      int sc0, m0, sc1, m1;
      k_scale_min(x[b].scales, 2 * g, sc0, m0);
      k_scale_min(x[b].scales, 2 * g + 1, sc1, m1);
      const uint8_t* q = x[b].qs + 32 * g;
      for (int l = 0; l < 32; ++l) {
        y[l] = d * float(sc0) * float(q[l] & 0xF) - dmin * float(m0);
        y[l + 32] = d * float(sc1) * float(q[l] >> 4) - dmin * float(m1);
      }
    }
  }
}

// Q5_K: as Q4_K; the fifth bit of element l of group g is bit 2g (low half) or 2g+1 (high
// half) of qh[l].
void dequant_q5_k(const Q5_K* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b) {
    const float d = fp16_to_fp32(x[b].d), dmin = fp16_to_fp32(x[b].dmin);
    for (int g = 0; g < 4; ++g, y += 64) {
      int sc0, m0, sc1, m1;
      k_scale_min(x[b].scales, 2 * g, sc0, m0);
      k_scale_min(x[b].scales, 2 * g + 1, sc1, m1);
      const uint8_t* q = x[b].qs + 32 * g;
      const uint8_t* qh = x[b].qh;
      for (int l = 0; l < 32; ++l) {
        const int lo = (q[l] & 0xF) | (((qh[l] >> (2 * g)) & 1) << 4);
        const int hi = (q[l] >> 4) | (((qh[l] >> (2 * g + 1)) & 1) << 4);
        y[l] = d * float(sc0) * float(lo) - dmin * float(m0);
        y[l + 32] = d * float(sc1) * float(hi) - dmin * float(m1);
      }
    }
  }
}

// Q6_K: two halves of 128 elements; half h reads ql[64h..64h+63] and qh[32h..32h+31]. Within a
// half, element l + 32k (k = 0..3) takes the low/high nibble of ql[l] or ql[l+32] and bits
// 2k..2k+1 of qh[l]; its scale is sc[8h + 2k + l/16].
void dequant_q6_k(const Q6_K* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t* ql = x[b].ql + 64 * h;
      const uint8_t* qh = x[b].qh + 32 * h;
      const int8_t* sc = x[b].scales + 8 * h;
      for (int l = 0; l < 32; ++l) {
        const int s = l / 16;
        const int q0 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q1 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * float(sc[s + 0]) * float(q0);
        y[l + 32] = d * float(sc[s + 2]) * float(q1);
        y[l + 64] = d * float(sc[s + 4]) * float(q2);
        y[l + 96] = d * float(sc[s + 6]) * float(q3);
      }
    }
  }
}

}  // namespace

void dequantize_row(TensorType t, const void* src, float* dst, int64_t n) {
  row_bytes(t, n);  // throws for an unsupported type or a partial block
  const int64_t nb = n / block_size(t);
  switch (t) {
    case TensorType::F32: std::memcpy(dst, src, size_t(n) * sizeof(float)); return;
    case TensorType::F16: return dequant_f16(static_cast<const uint16_t*>(src), dst, n);
    case TensorType::BF16: return dequant_bf16(static_cast<const uint16_t*>(src), dst, n);
    case TensorType::Q4_0: return dequant_q4_0(static_cast<const Q4_0*>(src), dst, nb);
    case TensorType::Q4_1: return dequant_q4_1(static_cast<const Q4_1*>(src), dst, nb);
    case TensorType::Q5_0: return dequant_q5_0(static_cast<const Q5_0*>(src), dst, nb);
    case TensorType::Q5_1: return dequant_q5_1(static_cast<const Q5_1*>(src), dst, nb);
    case TensorType::Q8_0: return dequant_q8_0(static_cast<const Q8_0*>(src), dst, nb);
    case TensorType::Q4_K: return dequant_q4_k(static_cast<const Q4_K*>(src), dst, nb);
    case TensorType::Q5_K: return dequant_q5_k(static_cast<const Q5_K*>(src), dst, nb);
    case TensorType::Q6_K: return dequant_q6_k(static_cast<const Q6_K*>(src), dst, nb);
    default: check_supported(t, "tensor");  // throws
  }
}

}  // namespace inhouse::tensor
