// tensor/vec_dot.cpp — owns the dot products of one weight row with one activation row: the
// activation quantisers (Q8_0 for the 32-element block types, Q8_K for the k-quants, as ggml's
// vec_dot_type) and one kernel per weight type. Kernels unpack a block's quants to int8 and
// take integer dot products; these portable scalar kernels (vec_dot_scalar) are the reference
// the SIMD kernels (kernels_simd.cpp) are tested against, and the fallback for types without
// a SIMD kernel. vec_dot dispatches to the SIMD ones; the float reference is vec_dot_ref.
#include <cmath>
#include <cstring>
#include <vector>

#include "tensor/blocks.h"
#include "tensor/kernels_internal.h"
#include "tensor/tensor.h"

namespace inhouse::tensor {

using namespace blocks;

// ---- float helpers ---------------------------------------------------------------------------

// 16 independent partial sums: without -ffast-math the compiler may not reorder one float sum,
// but it does vectorise independent lanes.
constexpr int kLanes = 16;

static float reduce_lanes(const float* acc) {
  float s = 0;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

float simd::ref::dot_f32(const float* a, const float* b, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
  float s = reduce_lanes(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void simd::ref::axpy(float* y, const float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

float dot_f32(const float* a, const float* b, int64_t n) { return simd::dot_f32(a, b, n); }
void axpy(float* y, const float* x, float a, int64_t n) { simd::axpy(y, x, a, n); }

template <float (*Convert)(uint16_t)>
static float dot_half(const uint16_t* w, const float* x, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += Convert(w[i + l]) * x[i + l];
  float s = reduce_lanes(acc);
  for (; i < n; ++i) s += Convert(w[i]) * x[i];
  return s;
}

// ---- activation quantisation -----------------------------------------------------------------

// std::lround for |v| < 128 (halves away from zero), inline: v minus its truncation is exact
// there. The libm call cost more than the rest of the activation quantiser. Anything else
// (NaN from an infinite activation) still goes to lround.
static inline int round_half_away(float v) {
  if (!(std::fabs(v) < 128.0f)) return int(std::lround(v));
  const int i = int(v);
  const float frac = v - float(i);
  return i + int(frac >= 0.5f) - int(frac <= -0.5f);
}

// Symmetric 8-bit: d = max|x| / 127, q = round(x / d).
static float quantize_block(const float* x, int8_t* q, int n) {
  float amax = 0;
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < n; ++i) q[i] = int8_t(round_half_away(x[i] * id));
  return d;
}

static void quantize_q8_0(const float* x, ActQ8_0* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += kQK) {
    // Scale and sum stored rounded to f16 as ggml's block_q8_0 / block_q8_1 do, the sum made
    // from the exact scale (the quants use it too), so results track llama.cpp's to within its
    // own rounding.
    const float d = quantize_block(x, y[b].qs, kQK);
    y[b].d = fp16_to_fp32(fp32_to_fp16(d));
    int sum = 0;
    for (int j = 0; j < kQK; ++j) sum += y[b].qs[j];
    y[b].sum = fp16_to_fp32(fp32_to_fp16(d * float(sum)));
  }
}

static void quantize_q8_k(const float* x, ActQ8_K* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += kQK_K) {
    y[b].d = quantize_block(x, y[b].qs, kQK_K);
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += y[b].qs[16 * g + j];
      y[b].bsums[g] = int16_t(sum);
    }
  }
}

ActFormat act_format(TensorType t) {
  check_supported(t, "weight");
  switch (t) {
    case TensorType::F32: case TensorType::F16: case TensorType::BF16: return ActFormat::F32;
    case TensorType::Q4_K: case TensorType::Q5_K: case TensorType::Q6_K: return ActFormat::Q8_K;
    default: return ActFormat::Q8_0;
  }
}

static int64_t act_block(ActFormat f) {
  return f == ActFormat::F32 ? 1 : f == ActFormat::Q8_0 ? kQK : kQK_K;
}

size_t act_row_bytes(ActFormat f, int64_t n) {
  if (n % act_block(f) != 0) throw Error("activation row length " + std::to_string(n) +
                                         " is not a whole number of blocks");
  switch (f) {
    case ActFormat::F32: return size_t(n) * sizeof(float);
    case ActFormat::Q8_0: return size_t(n / kQK) * sizeof(ActQ8_0);
    case ActFormat::Q8_K: return size_t(n / kQK_K) * sizeof(ActQ8_K);
  }
  return 0;
}

void quantize_act_row(ActFormat f, const float* x, void* dst, int64_t n) {
  act_row_bytes(f, n);  // validates n
  switch (f) {
    case ActFormat::F32: std::memcpy(dst, x, size_t(n) * sizeof(float)); return;
    case ActFormat::Q8_0: return quantize_q8_0(x, static_cast<ActQ8_0*>(dst), n / kQK);
    case ActFormat::Q8_K: return quantize_q8_k(x, static_cast<ActQ8_K*>(dst), n / kQK_K);
  }
}

void dequantize_act_row(ActFormat f, const void* src, float* dst, int64_t n) {
  act_row_bytes(f, n);
  if (f == ActFormat::F32) {
    std::memcpy(dst, src, size_t(n) * sizeof(float));
  } else if (f == ActFormat::Q8_0) {
    const auto* a = static_cast<const ActQ8_0*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = a[i / kQK].d * float(a[i / kQK].qs[i % kQK]);
  } else {
    const auto* a = static_cast<const ActQ8_K*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = a[i / kQK_K].d * float(a[i / kQK_K].qs[i % kQK_K]);
  }
}

// ---- integer kernels -------------------------------------------------------------------------

static int32_t idot(const int8_t* a, const int8_t* b, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; ++i) s += int32_t(a[i]) * int32_t(b[i]);
  return s;
}

// Quants of one 32-element block, in element order, with `offset` subtracted.
static void unpack_nibbles(const uint8_t* qs, int offset, int8_t* q) {
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = int8_t((qs[j] & 0xF) - offset);
    q[j + kQK / 2] = int8_t((qs[j] >> 4) - offset);
  }
}

static float dot_q4_0(const Q4_0* w, const ActQ8_0* a, int64_t nb) {
  float s = 0;
  int8_t q[kQK];
  for (int64_t b = 0; b < nb; ++b) {
    unpack_nibbles(w[b].qs, 8, q);
    s += fp16_to_fp32(w[b].d) * a[b].d * float(idot(q, a[b].qs, kQK));
  }
  return s;
}

// Σ (d q + m) a = d Σ q a + m Σ a, and Σ a is the activation block's `sum`.
static float dot_q4_1(const Q4_1* w, const ActQ8_0* a, int64_t nb) {
  float s = 0;
  int8_t q[kQK];
  for (int64_t b = 0; b < nb; ++b) {
    unpack_nibbles(w[b].qs, 0, q);
    s += fp16_to_fp32(w[b].d) * a[b].d * float(idot(q, a[b].qs, kQK)) +
         fp16_to_fp32(w[b].m) * a[b].sum;
  }
  return s;
}

static float dot_q5_0(const Q5_0* w, const ActQ8_0* a, int64_t nb) {
  float s = 0;
  int8_t q[kQK];
  for (int64_t b = 0; b < nb; ++b) {
    unpack_q5(w[b].qs, w[b].qh, 16, q);
    s += fp16_to_fp32(w[b].d) * a[b].d * float(idot(q, a[b].qs, kQK));
  }
  return s;
}

static float dot_q5_1(const Q5_1* w, const ActQ8_0* a, int64_t nb) {
  float s = 0;
  int8_t q[kQK];
  for (int64_t b = 0; b < nb; ++b) {
    unpack_q5(w[b].qs, w[b].qh, 0, q);
    s += fp16_to_fp32(w[b].d) * a[b].d * float(idot(q, a[b].qs, kQK)) +
         fp16_to_fp32(w[b].m) * a[b].sum;
  }
  return s;
}

static float dot_q8_0(const Q8_0* w, const ActQ8_0* a, int64_t nb) {
  float s = 0;
  for (int64_t b = 0; b < nb; ++b)
    s += fp16_to_fp32(w[b].d) * a[b].d * float(idot(w[b].qs, a[b].qs, kQK));
  return s;
}

// Σ_j Σ_l (d sc_j q - dmin m_j) a = d Σ_j sc_j (q·a)_j - dmin Σ_j m_j Σa_j, where Σa_j comes
// from the two 16-element bsums of sub-block j.
template <typename Block, bool kFifthBit>
static float dot_q45_k(const Block* w, const ActQ8_K* a, int64_t nb) {
  float s = 0;
  int8_t q[kQK_K];
  for (int64_t b = 0; b < nb; ++b) {
    for (int g = 0; g < 4; ++g) {
      const uint8_t* qs = w[b].qs + 32 * g;
      for (int l = 0; l < 32; ++l) {
        int lo = qs[l] & 0xF, hi = qs[l] >> 4;
        if constexpr (kFifthBit) {
          lo |= ((w[b].qh[l] >> (2 * g)) & 1) << 4;
          hi |= ((w[b].qh[l] >> (2 * g + 1)) & 1) << 4;
        }
        q[64 * g + l] = int8_t(lo);
        q[64 * g + 32 + l] = int8_t(hi);
      }
    }
    int32_t sumi = 0, summ = 0;
    for (int j = 0; j < 8; ++j) {
      int sc, m;
      k_scale_min(w[b].scales, j, sc, m);
      sumi += sc * idot(q + 32 * j, a[b].qs + 32 * j, 32);
      summ += m * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
    }
    s += a[b].d * (fp16_to_fp32(w[b].d) * float(sumi) - fp16_to_fp32(w[b].dmin) * float(summ));
  }
  return s;
}

// Unpacked in element order (see dequant_q6_k), so the scale of element e is sc[e / 16].
static float dot_q6_k(const Q6_K* w, const ActQ8_K* a, int64_t nb) {
  float s = 0;
  int8_t q[kQK_K];
  for (int64_t b = 0; b < nb; ++b) {
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = w[b].ql + 64 * h;
      const uint8_t* qh = w[b].qh + 32 * h;
      int8_t* out = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        out[l] = int8_t(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        out[l + 32] = int8_t(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        out[l + 64] = int8_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        out[l + 96] = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    int32_t sumi = 0;
    for (int j = 0; j < 16; ++j) sumi += w[b].scales[j] * idot(q + 16 * j, a[b].qs + 16 * j, 16);
    s += fp16_to_fp32(w[b].d) * a[b].d * float(sumi);
  }
  return s;
}

float vec_dot(TensorType t, const void* row, const void* act, int64_t n) {
  row_bytes(t, n);  // throws for an unsupported type or a partial block
  return simd::vec_dot(t, row, act, n);
}

float vec_dot_scalar(TensorType t, const void* row, const void* act, int64_t n) {
  row_bytes(t, n);  // throws for an unsupported type or a partial block
  const auto* x = static_cast<const float*>(act);
  const auto* a0 = static_cast<const ActQ8_0*>(act);
  const auto* ak = static_cast<const ActQ8_K*>(act);
  switch (t) {
    case TensorType::F32: return dot_f32(static_cast<const float*>(row), x, n);
    case TensorType::F16: return dot_half<fp16_to_fp32>(static_cast<const uint16_t*>(row), x, n);
    case TensorType::BF16: return dot_half<bf16_to_fp32>(static_cast<const uint16_t*>(row), x, n);
    case TensorType::Q4_0: return dot_q4_0(static_cast<const Q4_0*>(row), a0, n / kQK);
    case TensorType::Q4_1: return dot_q4_1(static_cast<const Q4_1*>(row), a0, n / kQK);
    case TensorType::Q5_0: return dot_q5_0(static_cast<const Q5_0*>(row), a0, n / kQK);
    case TensorType::Q5_1: return dot_q5_1(static_cast<const Q5_1*>(row), a0, n / kQK);
    case TensorType::Q8_0: return dot_q8_0(static_cast<const Q8_0*>(row), a0, n / kQK);
    case TensorType::Q4_K:
      return dot_q45_k<Q4_K, false>(static_cast<const Q4_K*>(row), ak, n / kQK_K);
    case TensorType::Q5_K:
      return dot_q45_k<Q5_K, true>(static_cast<const Q5_K*>(row), ak, n / kQK_K);
    case TensorType::Q6_K: return dot_q6_k(static_cast<const Q6_K*>(row), ak, n / kQK_K);
    default: return 0;  // unreachable: row_bytes rejected the type
  }
}

double vec_dot_ref(TensorType t, const void* row, const float* x, int64_t n) {
  std::vector<float> w(static_cast<size_t>(n));
  dequantize_row(t, row, w.data(), n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(w[size_t(i)]) * double(x[i]);
  return s;
}

}  // namespace inhouse::tensor
