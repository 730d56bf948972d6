// tensor/kernels_simd.cpp — owns the SIMD dot-product and matmul kernels. Highway compiles this
// file once per instruction set (foreach_target.h: AVX-512 with VNNI, AVX-512, AVX2, SSE4,
// SSSE3, NEON, a portable 128-bit emulation) and HWY_DYNAMIC_DISPATCH picks the best one the CPU
// runs. The kernels are written over 32-element chunks of quants: on AVX2/AVX-512 a chunk is one
// 256-bit register and the integer dot uses maddubs/madd (or VNNI's dpbusd); elsewhere it is two
// 128-bit Highway vectors widened to 16 bits, so every target builds from the same source.
//
// Every kernel takes one weight row and NB (1..4) activation rows and applies exactly the same
// operations to each activation row, so an output does not depend on how rows were batched.
// The k-quant kernels sum each super-block in exact integers and then follow vec_dot_scalar's
// float steps, so their results equal the scalar reference bit for bit.

#ifndef HWY_TARGET_INCLUDE
// AVX-512 VNNI (Ice Lake and later) is opt-in in Highway 1.0; SVE would need sizeless-vector
// code (no arrays of vectors), so ARM builds use NEON.
#define HWY_WANT_AVX3_DL
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "tensor/blocks.h"
#include "tensor/kernels_internal.h"
#include "tensor/tensor.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tensor/kernels_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace inhouse::tensor::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace blocks;

#undef INHOUSE_X86_256
#undef INHOUSE_VNNI
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define INHOUSE_X86_256 1
#else
#define INHOUSE_X86_256 0
#endif
// Highway's AVX3_DL target string names AVX-VNNI but not AVX512-VNNI; its run-time check
// requires the latter, which also provides the EVEX form of dpbusd used here.
#if HWY_TARGET == HWY_AVX3_DL && HWY_COMPILER_GCC_ACTUAL
#pragma GCC target("avx512vnni")
#define INHOUSE_VNNI 1
#else
#define INHOUSE_VNNI 0
#endif

// HWY_SCALAR (the fallback when GCC < 12.3 cannot build Highway's 128-bit emulation) has no
// kernels here: every type goes to vec_dot_scalar.
#if HWY_TARGET != HWY_SCALAR

// ---- 32-element chunks ------------------------------------------------------------------------

#if INHOUSE_X86_256
using DI32 = hn::Full256<int32_t>;
using DF = hn::Full256<float>;
using VI32 = hn::Vec256<int32_t>;
using VF = hn::Vec256<float>;

struct Quants { __m256i v; };  // 32 quants; as unsigned bytes when they feed DotU
struct Acts { __m256i v; };    // 32 int8 activations

HWY_INLINE Acts LoadActs(const int8_t* p) {
  return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))};
}
HWY_INLINE Quants LoadQuants(const int8_t* p) {
  return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))};
}
// 16 bytes of packed nibbles: low nibbles are elements 0..15, high nibbles 16..31.
HWY_INLINE Quants Nibbles16(const uint8_t* qs) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(x, 4), x);
  return {_mm256_and_si256(both, _mm256_set1_epi8(0x0F))};
}
// 32 bytes of packed nibbles: the low nibbles are one chunk, the high nibbles the next.
HWY_INLINE void Nibbles32(const uint8_t* qs, Quants& lo, Quants& hi) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  lo.v = _mm256_and_si256(x, m4);
  hi.v = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
}
HWY_INLINE Quants MinusOffset(Quants q, int offset) {
  return {_mm256_sub_epi8(q.v, _mm256_set1_epi8(int8_t(offset)))};
}
// Q6_K: 64 bytes of low nibbles and 32 of 2-bit high parts -> 4 chunks of 6-bit quants (0..63).
HWY_INLINE void Unpack6(const uint8_t* ql, const uint8_t* qh, Quants* q) {
  const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
  const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
  const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
  // 16-bit shifts move bits across bytes; the masks drop them.
  q[0].v = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
  q[1].v = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
  q[2].v = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m30));
  q[3].v = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
}

// acc lanes += partial sums of Σ q·a, q unsigned (<= 128 with |a| <= 127: no i16 saturation).
HWY_INLINE VI32 DotU(VI32 acc, Quants q, Acts a) {
#if INHOUSE_VNNI
  return VI32{_mm256_dpbusd_epi32(acc.raw, q.v, a.v)};
#else
  const __m256i pairs = _mm256_maddubs_epi16(q.v, a.v);
  return acc + VI32{_mm256_madd_epi16(pairs, _mm256_set1_epi16(1))};
#endif
}
// acc lanes += partial sums of sc_lo·Σ q·a over elements 0..15 and sc_hi·Σ q·a over 16..31.
HWY_INLINE VI32 DotUScaled(VI32 acc, Quants q, Acts a, int sc_lo, int sc_hi) {
  const __m256i pairs = _mm256_maddubs_epi16(q.v, a.v);
  const __m256i sc = _mm256_set_m128i(_mm_set1_epi16(int16_t(sc_hi)), _mm_set1_epi16(int16_t(sc_lo)));
  return acc + VI32{_mm256_madd_epi16(pairs, sc)};
}
// Signed weights as |w| and sign(w), computed once per block and reused for every activation
// row: w·a = |w|·(a * sign(w)).
struct Signed { __m256i abs, sign; };
HWY_INLINE Signed PrepSigned(Quants w) { return {_mm256_sign_epi8(w.v, w.v), w.v}; }
HWY_INLINE VI32 DotS(VI32 acc, const Signed& w, Acts a) {
  return DotU(acc, Quants{w.abs}, Acts{_mm256_sign_epi8(a.v, w.sign)});
}
HWY_INLINE float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }

#else  // portable: a chunk is two 128-bit vectors, widened to 16 bits for the products

using DI8 = hn::FixedTag<int8_t, 16>;
using DU8 = hn::FixedTag<uint8_t, 16>;
using DI16 = hn::FixedTag<int16_t, 8>;
using DI32 = hn::FixedTag<int32_t, 4>;
using DF = hn::FixedTag<float, 4>;
using VI8 = hn::Vec<DI8>;
using VI32 = hn::Vec<DI32>;
using VF = hn::Vec<DF>;

struct Quants { VI8 lo, hi; };
struct Acts { VI8 lo, hi; };

HWY_INLINE Acts LoadActs(const int8_t* p) { return {hn::LoadU(DI8(), p), hn::LoadU(DI8(), p + 16)}; }
HWY_INLINE Quants LoadQuants(const int8_t* p) {
  return {hn::LoadU(DI8(), p), hn::LoadU(DI8(), p + 16)};
}
HWY_INLINE VI8 LowNibbles(hn::Vec<DU8> x) { return hn::BitCast(DI8(), hn::And(x, hn::Set(DU8(), 0x0F))); }
HWY_INLINE VI8 HighNibbles(hn::Vec<DU8> x) { return hn::BitCast(DI8(), hn::ShiftRight<4>(x)); }
HWY_INLINE Quants Nibbles16(const uint8_t* qs) {
  const auto x = hn::LoadU(DU8(), qs);
  return {LowNibbles(x), HighNibbles(x)};
}
HWY_INLINE void Nibbles32(const uint8_t* qs, Quants& lo, Quants& hi) {
  const auto x0 = hn::LoadU(DU8(), qs), x1 = hn::LoadU(DU8(), qs + 16);
  lo = {LowNibbles(x0), LowNibbles(x1)};
  hi = {HighNibbles(x0), HighNibbles(x1)};
}
HWY_INLINE Quants MinusOffset(Quants q, int offset) {
  const auto o = hn::Set(DI8(), int8_t(offset));
  return {hn::Sub(q.lo, o), hn::Sub(q.hi, o)};
}
HWY_INLINE VI8 Six(hn::Vec<DU8> low4, hn::Vec<DU8> high2) {
  return hn::BitCast(DI8(), hn::Or(hn::And(low4, hn::Set(DU8(), 0x0F)),
                                   hn::ShiftLeft<4>(hn::And(high2, hn::Set(DU8(), 3)))));
}
HWY_INLINE void Unpack6(const uint8_t* ql, const uint8_t* qh, Quants* q) {
  const DU8 du8;
  for (int half = 0; half < 2; ++half) {
    const auto l0 = hn::LoadU(du8, ql + 16 * half), l1 = hn::LoadU(du8, ql + 32 + 16 * half);
    const auto h = hn::LoadU(du8, qh + 16 * half);
    VI8* out[4] = {half ? &q[0].hi : &q[0].lo, half ? &q[1].hi : &q[1].lo,
                   half ? &q[2].hi : &q[2].lo, half ? &q[3].hi : &q[3].lo};
    *out[0] = Six(l0, h);
    *out[1] = Six(l1, hn::ShiftRight<2>(h));
    *out[2] = Six(hn::ShiftRight<4>(l0), hn::ShiftRight<4>(h));
    *out[3] = Six(hn::ShiftRight<4>(l1), hn::ShiftRight<6>(h));
  }
}

// Σ w·a over 16 int8 pairs into 4 lanes; |w·a| <= 128·127 fits 16 bits.
HWY_INLINE VI32 Dot16(VI32 acc, VI8 w, VI8 a) {
  const DI16 d16;
  const DI32 d32;
  const hn::Half<DI8> h8;
  const hn::Half<DI16> h16;
  const auto pl = hn::Mul(hn::PromoteTo(d16, hn::LowerHalf(h8, w)), hn::PromoteTo(d16, hn::LowerHalf(h8, a)));
  const auto ph = hn::Mul(hn::PromoteTo(d16, hn::UpperHalf(h8, w)), hn::PromoteTo(d16, hn::UpperHalf(h8, a)));
  acc = hn::Add(acc, hn::Add(hn::PromoteTo(d32, hn::LowerHalf(h16, pl)), hn::PromoteTo(d32, hn::UpperHalf(h16, pl))));
  return hn::Add(acc, hn::Add(hn::PromoteTo(d32, hn::LowerHalf(h16, ph)), hn::PromoteTo(d32, hn::UpperHalf(h16, ph))));
}
HWY_INLINE VI32 DotU(VI32 acc, Quants q, Acts a) { return Dot16(Dot16(acc, q.lo, a.lo), q.hi, a.hi); }
HWY_INLINE VI32 DotUScaled(VI32 acc, Quants q, Acts a, int sc_lo, int sc_hi) {
  const DI32 d32;
  acc = hn::Add(acc, hn::Mul(Dot16(hn::Zero(d32), q.lo, a.lo), hn::Set(d32, sc_lo)));
  return hn::Add(acc, hn::Mul(Dot16(hn::Zero(d32), q.hi, a.hi), hn::Set(d32, sc_hi)));
}
using Signed = Quants;  // widening handles signs directly
HWY_INLINE Signed PrepSigned(Quants w) { return w; }
HWY_INLINE VI32 DotS(VI32 acc, const Signed& w, Acts a) { return DotU(acc, w, a); }
HWY_INLINE float HalfToFloat(uint16_t h) { return fp16_to_fp32(h); }

#endif

// ---- AVX-512: two 32-element blocks per 512-bit register ---------------------------------------

#undef INHOUSE_X86_512
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define INHOUSE_X86_512 1

// Two consecutive blocks as 128-bit lanes [b0 0..15, b0 16..31, b1 0..15, b1 16..31]: the
// layout of two activation blocks' quants loaded side by side.
HWY_INLINE __m512i Join256(const void* p0, const void* p1) {
  const __m256i lo = _mm256_loadu_si256(static_cast<const __m256i*>(p0));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo),
                            _mm256_loadu_si256(static_cast<const __m256i*>(p1)), 1);
}
HWY_INLINE __m512i PairActs(const ActQ8_0& a0, const ActQ8_0& a1) { return Join256(a0.qs, a1.qs); }

// Q4_0 quants stay unsigned (0..15); PairDot takes the -8 off in exact integers.
HWY_INLINE __m512i PairQuants(const Q4_0* w) {
  const __m128i x0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[0].qs));
  const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[1].qs));
  const __m256i x = _mm256_set_m128i(x1, x0);
  const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(x), _mm256_srli_epi16(x, 4), 1);
  // z's lanes are [x0, x1, x0 >> 4, x1 >> 4]; reorder to [x0, x0 >> 4, x1, x1 >> 4].
  const __m512i q = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
  return _mm512_and_si512(q, _mm512_set1_epi8(0x0F));
}
HWY_INLINE __m512i PairQuants(const Q8_0* w) { return Join256(w[0].qs, w[1].qs); }

// Unsigned x signed byte products summed by 4 into int32 lanes.
HWY_INLINE __m512i DotU512(__m512i u, __m512i s) {
#if INHOUSE_VNNI
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
#else
  return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
#endif
}

// Σ w·a per 4 elements of each block, exact: Q4_0 as Σ q·a - 8·Σ a, Q8_0 as |w|·(a·sign w).
HWY_INLINE __m512i PairDot(const Q4_0*, __m512i q, __m512i a) {
  return _mm512_sub_epi32(DotU512(q, a), DotU512(_mm512_set1_epi8(8), a));
}
HWY_INLINE __m512i PairDot(const Q8_0*, __m512i q, __m512i a) {
  const __mmask64 negative = _mm512_movepi8_mask(q);
  const __m512i a_signed = _mm512_mask_sub_epi8(a, negative, _mm512_setzero_si512(), a);
  return DotU512(_mm512_abs_epi8(q), a_signed);
}

// The f16 scales of blocks 0..K-1 (K = 2 or 4) as floats in lanes 0..K-1. Built in registers:
// scalar stores reloaded as a vector would stall on store forwarding every step.
template <int K, class Block>
HWY_INLINE __m128 BlockScales(const Block* w) {
  const __m128i d = K == 4 ? _mm_setr_epi16(short(w[0].d), short(w[1].d), short(w[2].d),
                                            short(w[3].d), 0, 0, 0, 0)
                           : _mm_setr_epi16(short(w[0].d), short(w[1].d), 0, 0, 0, 0, 0, 0);
  return _mm_cvtph_ps(d);
}
template <int K>
HWY_INLINE __m128 ActScales(const ActQ8_0* a) {
  return K == 4 ? _mm_setr_ps(a[0].d, a[1].d, a[2].d, a[3].d) : _mm_setr_ps(a[0].d, a[1].d, 0, 0);
}
// Lanes 0..7 = s[k], 8..15 = s[k + 1].
template <int k>
HWY_INLINE __m512 SpreadPair(__m128 s) {
  const __m512i idx = _mm512_set_epi32(k + 1, k + 1, k + 1, k + 1, k + 1, k + 1, k + 1, k + 1,
                                       k, k, k, k, k, k, k, k);
  return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(s));
}

// acc[r] += (blocks b, b + 1 of w · of act[r]) in float lanes; K = 4 does two pairs, the
// second into acc2.
template <int NB, int K, class Block>
HWY_INLINE void AccumulatePairs(const Block* w, const ActQ8_0* const* act, int64_t b, __m512* acc,
                                __m512* acc2) {
  const __m128 dw = BlockScales<K>(w + b);
  const __m512i q0 = PairQuants(w + b);
  __m512i q1 = _mm512_setzero_si512();
  if constexpr (K == 4) q1 = PairQuants(w + b + 2);
  for (int r = 0; r < NB; ++r) {
    const ActQ8_0* a = act[r] + b;
    const __m128 s = _mm_mul_ps(dw, ActScales<K>(a));
    const __m512i d0 = PairDot(w, q0, PairActs(a[0], a[1]));
    acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d0), SpreadPair<0>(s), acc[r]);
    if constexpr (K == 4) {
      const __m512i d1 = PairDot(w, q1, PairActs(a[2], a[3]));
      acc2[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d1), SpreadPair<2>(s), acc2[r]);
    }
  }
}
#else
#define INHOUSE_X86_512 0
#endif

HWY_INLINE int32_t SumI32(VI32 v) { return hn::GetLane(hn::SumOfLanes(DI32(), v)); }
HWY_INLINE float SumF32(VF v) { return hn::GetLane(hn::SumOfLanes(DF(), v)); }

// ---- kernels: one weight row · NB activation rows ----------------------------------------------

// Q4_0 and Q8_0 against Q8_0 activations: per block, an integer dot scaled by both block
// scales into float lanes. Even and odd blocks use separate accumulators so consecutive blocks'
// FMAs overlap.
template <class Block>
HWY_INLINE Quants UnpackQ8_0Family(const Block& b);
template <>
HWY_INLINE Quants UnpackQ8_0Family<Q4_0>(const Q4_0& b) { return MinusOffset(Nibbles16(b.qs), 8); }
template <>
HWY_INLINE Quants UnpackQ8_0Family<Q8_0>(const Q8_0& b) { return LoadQuants(b.qs); }

template <int NB, class Block>
HWY_INLINE void AccumulateBlock32(const Block& wb, const ActQ8_0* const* act, int64_t b, VF* acc) {
  const DF df;
  const Signed q = PrepSigned(UnpackQ8_0Family(wb));
  const float dw = HalfToFloat(wb.d);
  for (int r = 0; r < NB; ++r) {
    const ActQ8_0& a = act[r][b];
    const VI32 sum = DotS(hn::Zero(DI32()), q, LoadActs(a.qs));
    acc[r] = hn::MulAdd(hn::ConvertTo(df, sum), hn::Set(df, dw * a.d), acc[r]);
  }
}

template <int NB, class Block>
HWY_INLINE void DotBlocks32(const Block* w, const ActQ8_0* const* act, int64_t nb, float* out) {
  const DF df;
#if INHOUSE_X86_512
  // Four blocks a step as two 512-bit pairs, then a pair, then a 256-bit single block.
  __m512 even[NB], odd[NB];
  for (int r = 0; r < NB; ++r) even[r] = odd[r] = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) AccumulatePairs<NB, 4>(w, act, b, even, odd);
  if (b + 2 <= nb) AccumulatePairs<NB, 2>(w, act, b, even, odd), b += 2;
  VF last[NB];
  for (int r = 0; r < NB; ++r) last[r] = hn::Zero(df);
  if (b < nb) AccumulateBlock32<NB>(w[b], act, b, last);
  for (int r = 0; r < NB; ++r)
    out[r] = _mm512_reduce_add_ps(_mm512_add_ps(even[r], odd[r])) + SumF32(last[r]);
#else
  VF even[NB], odd[NB];
  for (int r = 0; r < NB; ++r) even[r] = odd[r] = hn::Zero(df);
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    AccumulateBlock32<NB>(w[b], act, b, even);
    AccumulateBlock32<NB>(w[b + 1], act, b + 1, odd);
  }
  if (b < nb) AccumulateBlock32<NB>(w[b], act, b, even);
  for (int r = 0; r < NB; ++r) out[r] = SumF32(hn::Add(even[r], odd[r]));
#endif
}

// Q4_K against Q8_K: Σ_j sc_j (q·a)_j in exact integers, mins through the activation bsums,
// then vec_dot_scalar's float steps.
template <int NB>
HWY_INLINE void DotQ4_K(const Q4_K* w, const ActQ8_K* const* act, int64_t nb, float* out) {
  float s[NB] = {};
  for (int64_t b = 0; b < nb; ++b) {
    Quants q[8];
    for (int g = 0; g < 4; ++g) Nibbles32(w[b].qs + 32 * g, q[2 * g], q[2 * g + 1]);
    int sc[8], m[8];
    for (int j = 0; j < 8; ++j) k_scale_min(w[b].scales, j, sc[j], m[j]);
    const float d = HalfToFloat(w[b].d), dmin = HalfToFloat(w[b].dmin);
    for (int r = 0; r < NB; ++r) {
      const ActQ8_K& a = act[r][b];
      VI32 acc = hn::Zero(DI32());
      for (int j = 0; j < 8; ++j) acc = DotUScaled(acc, q[j], LoadActs(a.qs + 32 * j), sc[j], sc[j]);
      int32_t summ = 0;
      for (int j = 0; j < 8; ++j) summ += m[j] * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
      s[r] += a.d * (d * float(SumI32(acc)) - dmin * float(summ));
    }
  }
  for (int r = 0; r < NB; ++r) out[r] = s[r];
}

// Q6_K against Q8_K: quants kept unsigned (0..63); the -32 offset comes back through bsums.
template <int NB>
HWY_INLINE void DotQ6_K(const Q6_K* w, const ActQ8_K* const* act, int64_t nb, float* out) {
  float s[NB] = {};
  for (int64_t b = 0; b < nb; ++b) {
    Quants q[8];
    Unpack6(w[b].ql, w[b].qh, q);
    Unpack6(w[b].ql + 64, w[b].qh + 32, q + 4);
    const int8_t* sc = w[b].scales;
    const float d = HalfToFloat(w[b].d);
    for (int r = 0; r < NB; ++r) {
      const ActQ8_K& a = act[r][b];
      VI32 acc = hn::Zero(DI32());
      for (int k = 0; k < 8; ++k)
        acc = DotUScaled(acc, q[k], LoadActs(a.qs + 32 * k), sc[2 * k], sc[2 * k + 1]);
      int32_t offset = 0;
      for (int j = 0; j < 16; ++j) offset += sc[j] * a.bsums[j];
      s[r] += d * a.d * float(SumI32(acc) - 32 * offset);
    }
  }
  for (int r = 0; r < NB; ++r) out[r] = s[r];
}

// Runs the kernel for `type` with NB activation rows; false when the type has no SIMD kernel.
template <int NB>
HWY_INLINE bool DotRows(TensorType type, const uint8_t* row, const uint8_t* const* act, int64_t n,
                        float* out) {
  switch (type) {
    case TensorType::Q4_0:
      DotBlocks32<NB>(reinterpret_cast<const Q4_0*>(row),
                      reinterpret_cast<const ActQ8_0* const*>(act), n / kQK, out);
      return true;
    case TensorType::Q8_0:
      DotBlocks32<NB>(reinterpret_cast<const Q8_0*>(row),
                      reinterpret_cast<const ActQ8_0* const*>(act), n / kQK, out);
      return true;
    case TensorType::Q4_K:
      DotQ4_K<NB>(reinterpret_cast<const Q4_K*>(row), reinterpret_cast<const ActQ8_K* const*>(act),
                  n / kQK_K, out);
      return true;
    case TensorType::Q6_K:
      DotQ6_K<NB>(reinterpret_cast<const Q6_K*>(row), reinterpret_cast<const ActQ8_K* const*>(act),
                  n / kQK_K, out);
      return true;
    default:
      return false;
  }
}

#else  // HWY_TARGET == HWY_SCALAR

template <int NB>
HWY_INLINE bool DotRows(TensorType, const uint8_t*, const uint8_t* const*, int64_t, float*) {
  return false;
}

#endif  // HWY_TARGET != HWY_SCALAR

float VecDot(TensorType type, const void* row, const void* act, int64_t n) {
  const uint8_t* a = static_cast<const uint8_t*>(act);
  float out;
  if (DotRows<1>(type, static_cast<const uint8_t*>(row), &a, n, &out)) return out;
  return vec_dot_scalar(type, row, act, n);
}

// Row-tiled product: for a block of batch rows (sized to stay in L2) and a tile of weight rows
// (in L1), each weight block is unpacked once per group of kGroup activation rows.
constexpr int64_t kBatchBlock = 64;
constexpr int64_t kRowTile = 16;
constexpr int kGroup = 4;

void MatmulRows(const Matrix& w, int64_t o0, int64_t o1, const uint8_t* act, size_t act_bytes,
                int64_t n_batch, float* y) {
  const int64_t n = w.n_in;
  for (int64_t bb = 0; bb < n_batch; bb += kBatchBlock) {
    const int64_t be = std::min(n_batch, bb + kBatchBlock);
    for (int64_t ot = o0; ot < o1; ot += kRowTile) {
      const int64_t oe = std::min(o1, ot + kRowTile);
      for (int64_t b = bb; b < be; b += kGroup) {
        const int group = int(std::min<int64_t>(kGroup, be - b));
        const uint8_t* rows[kGroup];
        for (int r = 0; r < group; ++r) rows[r] = act + size_t(b + r) * act_bytes;
        for (int64_t o = ot; o < oe; ++o) {
          float out[kGroup];
          bool done = false;
          switch (group) {
            case 4: done = DotRows<4>(w.type, w.row(o), rows, n, out); break;
            case 3: done = DotRows<3>(w.type, w.row(o), rows, n, out); break;
            case 2: done = DotRows<2>(w.type, w.row(o), rows, n, out); break;
            default: done = DotRows<1>(w.type, w.row(o), rows, n, out); break;
          }
          if (!done)
            for (int r = 0; r < group; ++r) out[r] = vec_dot_scalar(w.type, w.row(o), rows[r], n);
          for (int r = 0; r < group; ++r) y[(b + r) * w.n_out + o] = out[r];
        }
      }
    }
  }
}

// ---- float row operations ----------------------------------------------------------------------
// Full-width Highway vectors over the row, the remainder element by element with the same
// formula. SCALAR runs ops.cpp's reference loops (simd::ref), which the tests compare against.

#if HWY_TARGET != HWY_SCALAR
using DFull = hn::ScalableTag<float>;

// Elementwise ops run the last partial vector through the same vector code on a padded copy:
// an element's result must not depend on where a row boundary falls (batched rows of a
// flattened [n_batch x n] buffer stay bit-identical to the rows alone).
constexpr int64_t kMaxLanes = 64;

HWY_INLINE hn::Vec<DFull> Silu(DFull d, hn::Vec<DFull> v) {
  // exp(-v) past 88 overflows float (Highway's Exp is valid up to 104); silu is ~0 there anyway.
  const auto e = hn::Exp(d, hn::Min(hn::Neg(v), hn::Set(d, 88.0f)));
  return hn::Div(v, hn::Add(hn::Set(d, 1.0f), e));
}

void SiluRow(float* x, int64_t n) {
  const DFull d;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(Silu(d, hn::LoadU(d, x + i)), d, x + i);
  if (i < n) {
    float buf[kMaxLanes] = {};
    std::copy(x + i, x + n, buf);
    hn::StoreU(Silu(d, hn::LoadU(d, buf)), d, buf);
    std::copy(buf, buf + (n - i), x + i);
  }
}

void MulRow(float* y, const float* x, int64_t n) {
  const DFull d;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, y + i), hn::LoadU(d, x + i)), d, y + i);
  for (; i < n; ++i) y[i] *= x[i];
}

void AddRow(float* y, const float* x, int64_t n) {
  const DFull d;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Add(hn::LoadU(d, y + i), hn::LoadU(d, x + i)), d, y + i);
  for (; i < n; ++i) y[i] += x[i];
}

void AxpyRow(float* y, const float* x, float a, int64_t n) {
  const DFull d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  if (i < n) {  // fused like the full vectors (see SiluRow)
    float bx[kMaxLanes] = {}, by[kMaxLanes] = {};
    std::copy(x + i, x + n, bx);
    std::copy(y + i, y + n, by);
    hn::StoreU(hn::MulAdd(va, hn::LoadU(d, bx), hn::LoadU(d, by)), d, by);
    std::copy(by, by + (n - i), y + i);
  }
}

// Two accumulators hide the FMA latency; one reduction at the end.
float DotF32(const float* a, const float* b, int64_t n) {
  const DFull d;
  const int64_t N = int64_t(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), s1);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Σ x² in double lanes (as the reference's double sum), then x * scale * weight in float.
void RmsNormRow(const float* x, const float* weight, float* out, int64_t n, float eps) {
  const DFull d;
  const hn::Rebind<double, hn::Half<DFull>> dd;
  const hn::Half<DFull> dh;
  const int64_t N = int64_t(hn::Lanes(d)), H = int64_t(hn::Lanes(dh));
  auto ss = hn::Zero(dd);
  int64_t i = 0;
  for (; i + H <= n; i += H) {
    const auto v = hn::PromoteTo(dd, hn::LoadU(dh, x + i));
    ss = hn::MulAdd(v, v, ss);
  }
  double sum = hn::GetLane(hn::SumOfLanes(dd, ss));
  for (; i < n; ++i) sum += double(x[i]) * double(x[i]);
  const float scale = 1.0f / std::sqrt(float(sum / double(n)) + eps);
  const auto vs = hn::Set(d, scale);
  i = 0;
  for (; i + N <= n; i += N) {
    auto v = hn::Mul(hn::LoadU(d, x + i), vs);
    if (weight) v = hn::Mul(v, hn::LoadU(d, weight + i));
    hn::StoreU(v, d, out + i);
  }
  for (; i < n; ++i) out[i] = x[i] * scale * (weight ? weight[i] : 1.0f);
}

// exp(x - max) in float lanes, summed in double lanes as the reference does.
void SoftmaxRow(float* x, int64_t n) {
  if (n <= 0) return;
  const DFull d;
  const hn::Half<DFull> dh;
  const hn::Rebind<double, hn::Half<DFull>> dd;
  const int64_t N = int64_t(hn::Lanes(d)), H = int64_t(hn::Lanes(dh));
  const float mx = *std::max_element(x, x + n);
  const auto vmx = hn::Set(d, mx);
  auto sum = hn::Zero(dd);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vmx));
    hn::StoreU(e, d, x + i);
    sum = hn::Add(sum, hn::PromoteTo(dd, hn::LoadU(dh, x + i)));
    sum = hn::Add(sum, hn::PromoteTo(dd, hn::LoadU(dh, x + i + H)));
  }
  double s = hn::GetLane(hn::SumOfLanes(dd, sum));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    s += x[i];
  }
  const auto inv = hn::Set(d, float(1.0 / s));
  i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), inv), d, x + i);
  for (; i < n; ++i) x[i] *= float(1.0 / s);
}
#else
void SiluRow(float* x, int64_t n) { simd::ref::silu(x, n); }
void MulRow(float* y, const float* x, int64_t n) { simd::ref::mul(y, x, n); }
void AddRow(float* y, const float* x, int64_t n) { simd::ref::add(y, x, n); }
void AxpyRow(float* y, const float* x, float a, int64_t n) { simd::ref::axpy(y, x, a, n); }
float DotF32(const float* a, const float* b, int64_t n) { return simd::ref::dot_f32(a, b, n); }
void RmsNormRow(const float* x, const float* weight, float* out, int64_t n, float eps) {
  simd::ref::rms_norm(x, weight, out, n, eps);
}
void SoftmaxRow(float* x, int64_t n) { simd::ref::softmax(x, n); }
#endif

int64_t Target() { return HWY_TARGET; }

}  // namespace inhouse::tensor::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace inhouse::tensor {

HWY_EXPORT(VecDot);
HWY_EXPORT(MatmulRows);
HWY_EXPORT(Target);
HWY_EXPORT(SiluRow);
HWY_EXPORT(MulRow);
HWY_EXPORT(AddRow);
HWY_EXPORT(AxpyRow);
HWY_EXPORT(DotF32);
HWY_EXPORT(RmsNormRow);
HWY_EXPORT(SoftmaxRow);

namespace simd {

float vec_dot(TensorType t, const void* row, const void* act, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(VecDot)(t, row, act, n);
}

void matmul_rows(const Matrix& w, int64_t o0, int64_t o1, const uint8_t* act, size_t act_bytes,
                 int64_t n_batch, float* y) {
  HWY_DYNAMIC_DISPATCH(MatmulRows)(w, o0, o1, act, act_bytes, n_batch, y);
}

void silu(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(SiluRow)(x, n); }
void mul(float* y, const float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(MulRow)(y, x, n); }
void add(float* y, const float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(AddRow)(y, x, n); }
void axpy(float* y, const float* x, float a, int64_t n) { HWY_DYNAMIC_DISPATCH(AxpyRow)(y, x, a, n); }
float dot_f32(const float* a, const float* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(DotF32)(a, b, n); }
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  HWY_DYNAMIC_DISPATCH(RmsNormRow)(x, weight, out, n, eps);
}
void softmax(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxRow)(x, n); }

}  // namespace simd

namespace {
int64_t forced_target = 0;  // 0: the best runnable one

// Compiled targets the CPU really runs, as Highway target bits (lowest bit = best).
int64_t runnable_targets() {
  hwy::SetSupportedTargetsForTest(0);
  const int64_t runnable = hwy::SupportedTargets() & HWY_TARGETS;
  hwy::SetSupportedTargetsForTest(forced_target);
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
  return runnable;
}
}  // namespace

std::vector<std::string> simd_targets() {
  std::vector<std::string> names;
  for (int64_t rest = runnable_targets(); rest != 0; rest &= rest - 1)
    names.emplace_back(hwy::TargetName(rest & -rest));
  return names;
}

std::string simd_target() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(Target)()); }

void set_simd_target(std::string_view name) {
  int64_t chosen = 0;
  if (!name.empty()) {
    for (int64_t rest = runnable_targets(); rest != 0; rest &= rest - 1)
      if (name == hwy::TargetName(rest & -rest)) chosen = rest & -rest;
    if (chosen == 0) throw Error("SIMD target '" + std::string(name) + "' is not available here");
  }
  forced_target = chosen;
  hwy::SetSupportedTargetsForTest(chosen);
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
}

namespace {
// INHOUSE_SIMD_TARGET=<name> forces a target for a whole run (benchmarks, A/B checks).
const bool env_target_applied = [] {
  if (const char* name = std::getenv("INHOUSE_SIMD_TARGET"); name && *name) set_simd_target(name);
  return true;
}();
}  // namespace

}  // namespace inhouse::tensor
#endif  // HWY_ONCE
