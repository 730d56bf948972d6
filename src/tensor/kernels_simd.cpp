// tensor/kernels_simd.cpp — owns the SIMD dot-product and matmul kernels. Highway compiles this
// file once per instruction set (foreach_target.h: AVX-512 with VNNI, AVX-512, AVX2, SSE4,
// SSSE3, NEON, a portable 128-bit emulation) and HWY_DYNAMIC_DISPATCH picks the best one the CPU
// runs. The kernels are written over 32-element chunks of quants: on AVX2/AVX-512 a chunk is one
// 256-bit register and the integer dot uses maddubs/madd (or VNNI's dpbusd); elsewhere it is two
// 128-bit Highway vectors widened to 16 bits, so every target builds from the same source.
//
// A kernel call takes R weight rows and NB activation rows (decode: 4 x 1, batches: 1 x 3..4
// or 2 x 2) and applies exactly the same operations to every (weight row, activation row) pair,
// so an output does not depend on how rows were grouped or batched. The k-quant kernels sum
// each super-block in exact integers and then follow vec_dot_scalar's float steps, so their
// results equal the scalar reference bit for bit. x86 has its own Q4_0/Q8_0 tiles (512-bit
// block pairs on AVX-512) and k-quant tiles (scales spread by byte shuffles; 64 elements per
// vector on AVX-512); the other targets run the chunk-based kernels below.

#ifndef HWY_TARGET_INCLUDE
// AVX-512 VNNI (Ice Lake and later) is opt-in in Highway 1.0; SVE would need sizeless-vector
// code (no arrays of vectors), so ARM builds use NEON.
#define HWY_WANT_AVX3_DL
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
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
#undef INHOUSE_X86_512
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define INHOUSE_X86_512 1
#else
#define INHOUSE_X86_512 0
#endif
// Highway's AVX3_DL target string names AVX-VNNI but not AVX512-VNNI; its run-time check
// requires the latter, which also provides the EVEX form of dpbusd used here.
// GFNI (one affine byte transform unpacks Q4_0 nibbles) comes with every CPU that passes
// AVX3_DL's check (Ice Lake, Sapphire Rapids, Zen 4), but Highway 1.0 does not check it, so
// the kernels also ask the CPU (kHasGfni) and keep shift-and-mask as the fallback.
#undef INHOUSE_GFNI
#if HWY_TARGET == HWY_AVX3_DL && HWY_COMPILER_GCC_ACTUAL
#pragma GCC target("avx512vnni,gfni")
#define INHOUSE_VNNI 1
#define INHOUSE_GFNI 1
#else
#define INHOUSE_VNNI 0
#define INHOUSE_GFNI 0
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

HWY_INLINE int32_t SumI32(VI32 v) { return hn::GetLane(hn::SumOfLanes(DI32(), v)); }
HWY_INLINE float SumF32(VF v) { return hn::GetLane(hn::SumOfLanes(DF(), v)); }

// Software prefetch of weight rows (KernelTuning::prefetch_tiles): a call on a tile of R
// consecutive rows requests, for each row, the same place R rows further on, in the tile the
// next call multiplies. A fixed distance shorter than a tile (4 KiB against the 6.9 KiB of
// eight 864-byte rows) left the start of each tile uncached, and the first loads of a call
// stalled (decode 4-8% slower). A prefetch never faults, so reading ahead of the mapping's
// end is harmless.
HWY_INLINE int64_t PrefetchDistance(int64_t tile_bytes) { return kernel_tuning().prefetch_tiles * tile_bytes; }
// The cache lines of [p + dist, p + dist + bytes).
HWY_INLINE void PrefetchAhead(const void* p, int64_t dist, int bytes) {
  if (dist <= 0) return;
  const char* a = static_cast<const char*>(p) + dist;
  for (int off = 0; off < bytes; off += 64) __builtin_prefetch(a + off, 0, 3);
}

// ---- Q4_0 / Q8_0 against Q8_0 activations: R weight rows x NB activation rows -------------------
//
// Per block an exact integer dot (Q4_0 as Σ q·a - 8·Σa with q unsigned 0..15, Q8_0 as
// |w|·(a·sign w)) goes to float and is accumulated, times the product of the two block scales,
// into the float lanes of one accumulator per (weight row, activation row); one horizontal sum
// per output at the end. What belongs to an activation block (its load, 8·Σa, its scale) is
// prepared once for all R weight rows, what belongs to a weight block (unpacked quants, scale)
// once for all NB activation rows: decode multiplies 4 weight rows per call. Every output gets
// the same operations whatever R and NB are (batch invariance).

#if INHOUSE_X86_256
// One activation block, prepared for every weight row.
struct ActBlock {
  __m256i a;    // 32 int8 quants
  __m256i off;  // Q4_0: 8·Σa per 4 lanes (negated with VNNI: the start value of dpbusd)
};
HWY_INLINE ActBlock PrepAct(const Q4_0*, const ActQ8_0& b) {
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
#if INHOUSE_VNNI
  const __m256i zero = _mm256_setzero_si256();
  return {a, _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(8), a))};
#else
  return {a, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), a), _mm256_set1_epi16(1))};
#endif
}
HWY_INLINE ActBlock PrepAct(const Q8_0*, const ActQ8_0& b) {
  return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)), _mm256_setzero_si256()};
}

// One weight block, prepared for every activation row: unsigned quants (Q4_0) or |w| and w.
struct WeightBlock {
  __m256i u, sign;
};
HWY_INLINE WeightBlock PrepWeights(const Q4_0& b) {
  // Both 128-bit halves from one broadcast load; the high half shifted to its high nibbles.
  const __m256i x = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)));
  const __m256i q = _mm256_srlv_epi32(x, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4));
  return {_mm256_and_si256(q, _mm256_set1_epi8(0x0F)), _mm256_setzero_si256()};
}
HWY_INLINE WeightBlock PrepWeights(const Q8_0& b) {
  const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
  return {_mm256_sign_epi8(w, w), w};
}

// Exact Σ w·a per 4 elements.
HWY_INLINE __m256i BlockDot(const Q4_0*, const WeightBlock& w, const ActBlock& a) {
#if INHOUSE_VNNI
  return _mm256_dpbusd_epi32(a.off, w.u, a.a);
#else
  const __m256i sum = _mm256_madd_epi16(_mm256_maddubs_epi16(w.u, a.a), _mm256_set1_epi16(1));
  return _mm256_sub_epi32(sum, a.off);
#endif
}
HWY_INLINE __m256i BlockDot(const Q8_0*, const WeightBlock& w, const ActBlock& a) {
  const __m256i a_signed = _mm256_sign_epi8(a.a, w.sign);
#if INHOUSE_VNNI
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), w.u, a_signed);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(w.u, a_signed), _mm256_set1_epi16(1));
#endif
}

// The f16 scales of block b of rows 0..R-1 (R <= 8) as floats in lanes 0..R-1, built in
// registers (scalar stores reloaded as a vector would stall on store forwarding).
template <int R, class Block>
HWY_INLINE __m256 RowScales(const Block* const* w, int64_t b) {
  static_assert(R <= 8);
  __m128i h = _mm_cvtsi32_si128(w[0][b].d);
  if constexpr (R > 1) h = _mm_insert_epi16(h, w[1][b].d, 1);
  if constexpr (R > 2) h = _mm_insert_epi16(h, w[2][b].d, 2);
  if constexpr (R > 3) h = _mm_insert_epi16(h, w[3][b].d, 3);
  if constexpr (R > 4) h = _mm_insert_epi16(h, w[4][b].d, 4);
  if constexpr (R > 5) h = _mm_insert_epi16(h, w[5][b].d, 5);
  if constexpr (R > 6) h = _mm_insert_epi16(h, w[6][b].d, 6);
  if constexpr (R > 7) h = _mm_insert_epi16(h, w[7][b].d, 7);
  return _mm256_cvtph_ps(h);
}
// Lane r of s in all 8 lanes.
HWY_INLINE __m256 Broadcast(__m256 s, int r) {
  return r == 0 ? _mm256_broadcastss_ps(_mm256_castps256_ps128(s))
                : _mm256_permutevar8x32_ps(s, _mm256_set1_epi32(r));
}

// acc[r * NB + n] += block b of w[r] · block b of act[n].
template <int R, int NB, class Block>
HWY_INLINE void TileBlock(const Block* const* w, const ActQ8_0* const* act, int64_t b, __m256* acc) {
  const __m256 dw = RowScales<R>(w, b);
  WeightBlock q[R];
  for (int r = 0; r < R; ++r) q[r] = PrepWeights(w[r][b]);
  for (int n = 0; n < NB; ++n) {
    const ActBlock a = PrepAct(w[0], act[n][b]);
    const __m256 s = _mm256_mul_ps(dw, _mm256_set1_ps(act[n][b].d));
    for (int r = 0; r < R; ++r) {
      const __m256 dot = _mm256_cvtepi32_ps(BlockDot(w[0], q[r], a));
      acc[r * NB + n] = _mm256_fmadd_ps(dot, Broadcast(s, r), acc[r * NB + n]);
    }
  }
}
#endif

#if INHOUSE_X86_512
// Two consecutive blocks as 128-bit lanes [b0 0..15, b0 16..31, b1 0..15, b1 16..31]: the
// layout of two activation blocks' quants loaded side by side.
HWY_INLINE __m512i Join256(const void* p0, const void* p1) {
  const __m256i lo = _mm256_loadu_si256(static_cast<const __m256i*>(p0));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo),
                            _mm256_loadu_si256(static_cast<const __m256i*>(p1)), 1);
}

// Unsigned x signed byte products summed by 4 into int32 lanes, added to acc.
HWY_INLINE __m512i DotU512(__m512i acc, __m512i u, __m512i s) {
#if INHOUSE_VNNI
  return _mm512_dpbusd_epi32(acc, u, s);
#else
  return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}

// Per pair of blocks and weight row the loop below runs a handful of vector instructions, and
// on AVX-512 most shuffles go to one port (5), so the kernel avoids them: weight quants come
// from broadcast loads, the per-block scale products are formed 16 blocks at a time by gathers
// (ScaleProducts) and read back as broadcast loads.
struct ActPair {
  __m512i a;    // two blocks' quants
  __m512i off;  // -k·Σa per 4 lanes: k = 8 for Q4_0, 128 for Q8_0 with VNNI (see PairDot), else 0
};
template <class Block>
HWY_INLINE ActPair PrepActPair(const Block*, const ActQ8_0* a) {
  ActPair p;
  p.a = Join256(a[0].qs, a[1].qs);
  const __m512i zero = _mm512_setzero_si512();
  if constexpr (std::is_same_v<Block, Q4_0>)
    p.off = _mm512_sub_epi32(zero, DotU512(zero, _mm512_set1_epi8(8), p.a));
  else if constexpr (INHOUSE_VNNI)
    p.off = _mm512_sub_epi32(zero, DotU512(zero, _mm512_set1_epi8(char(0x80)), p.a));
  else
    p.off = zero;
  return p;
}

struct WeightPair {
  __m512i u, sign;
};
#if INHOUSE_GFNI
inline const bool kHasGfni = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("gfni") != 0;
}();
// 8x8 bit matrices for gf2p8affine (one GF(2) affine transform per byte, the matrix chosen per
// 64-bit lane): result bits 0..3 = source bits 0..3 (kGfniLowNibble) or 4..7 (kGfniHighNibble),
// bits 4..7 = 0.
constexpr int64_t kGfniLowNibble = 0x0102040800000000, kGfniHighNibble = 0x1020408000000000;
#endif
HWY_INLINE WeightPair PrepWeightPair(const Q4_0* w) {
  // 128-bit lanes [x0, x0, x1, x1] by two broadcast loads; then the low nibbles of the even
  // lanes and the high nibbles of the odd ones.
  const __m512i x = _mm512_mask_broadcast_i32x4(
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[0].qs))), 0xFF00,
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[1].qs)));
#if INHOUSE_GFNI
  if (kHasGfni) {  // low nibbles of the even 128-bit lanes, high nibbles of the odd ones
    constexpr int64_t kLow = kGfniLowNibble, kHigh = kGfniHighNibble;
    const __m512i m = _mm512_setr_epi64(kLow, kLow, kHigh, kHigh, kLow, kLow, kHigh, kHigh);
    return {_mm512_gf2p8affine_epi64_epi8(x, m, 0), _mm512_setzero_si512()};
  }
#endif
  const __m512i q = _mm512_srlv_epi64(x, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
  return {_mm512_and_si512(q, _mm512_set1_epi8(0x0F)), _mm512_setzero_si512()};
}
HWY_INLINE WeightPair PrepWeightPair(const Q8_0* w) {
  const __m512i q = Join256(w[0].qs, w[1].qs);
#if INHOUSE_VNNI
  return {_mm512_xor_si512(q, _mm512_set1_epi8(char(0x80))), _mm512_setzero_si512()};  // w + 128
#else
  return {_mm512_abs_epi8(q), q};
#endif
}

// Exact Σ w·a per 4 elements.
HWY_INLINE __m512i PairDot(const Q4_0*, const WeightPair& w, const ActPair& a) {
  return DotU512(a.off, w.u, a.a);  // Σ q·a - 8·Σa
}
HWY_INLINE __m512i PairDot(const Q8_0*, const WeightPair& w, const ActPair& a) {
#if INHOUSE_VNNI
  return DotU512(a.off, w.u, a.a);  // Σ (w + 128)·a - 128·Σa: dpbusd does not saturate
#else
  // maddubs would saturate on (w + 128)·a pairs: |w|·(a·sign w) instead.
  const __mmask64 negative = _mm512_movepi8_mask(w.sign);
  const __m512i a_signed = _mm512_mask_sub_epi8(a.a, negative, _mm512_setzero_si512(), a.a);
  return DotU512(_mm512_setzero_si512(), w.u, a_signed);
#endif
}

// Blocks per pass of ScaleProducts (R·NB·kScaleSpan floats on the stack; a multiple of 16).
constexpr int64_t kScaleSpan = 64;

// sp[(r·NB + n)·kScaleSpan + i] = d(w[r][b0 + i]) · d(act[n][b0 + i]) for i < span: the f16
// weight scales 16 blocks at a time by gathering the 4 bytes at each block's start (d comes
// first), the activation scales by a float gather. The same float product TileBlock forms.
template <int R, int NB, class Block>
HWY_INLINE void ScaleProducts(const Block* const* w, const ActQ8_0* const* act, int64_t b0,
                              int64_t span, float* sp) {
  static_assert(offsetof(Block, d) == 0 && offsetof(ActQ8_0, d) == 0);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i w_index = _mm512_mullo_epi32(lane, _mm512_set1_epi32(int(sizeof(Block))));
  const __m512i a_index = _mm512_mullo_epi32(lane, _mm512_set1_epi32(int(sizeof(ActQ8_0))));
  for (int64_t i = 0; i < span; i += 16) {
    const __mmask16 k = span - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (span - i)) - 1);
    __m512 da[NB];
    for (int n = 0; n < NB; ++n)
      da[n] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, a_index, &act[n][b0 + i], 1);
    for (int r = 0; r < R; ++r) {
      const __m512i raw = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), k, w_index, &w[r][b0 + i], 1);
      const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(raw));
      for (int n = 0; n < NB; ++n) _mm512_store_ps(sp + (r * NB + n) * kScaleSpan + i, _mm512_mul_ps(dw, da[n]));
    }
  }
}

// acc[r * NB + n] += blocks b, b + 1 of w[r] · those of act[n]; s points at the scale
// products of block b (entry i of a ScaleProducts pass).
template <int R, int NB, class Block>
HWY_INLINE void TilePair(const Block* const* w, const ActQ8_0* const* act, int64_t b, const float* s,
                         __m512* acc) {
  WeightPair q[R];
  for (int r = 0; r < R; ++r) q[r] = PrepWeightPair(w[r] + b);
  for (int n = 0; n < NB; ++n) {
    const ActPair a = PrepActPair(w[0], act[n] + b);
    for (int r = 0; r < R; ++r) {
      const float* sc = s + (r * NB + n) * kScaleSpan;
      // Lanes 0..7 (block b) scaled by sc[0], lanes 8..15 (block b + 1) by sc[1].
      const __m512 scale = _mm512_mask_broadcastss_ps(_mm512_set1_ps(sc[0]), 0xFF00, _mm_load_ss(sc + 1));
      const __m512 dot = _mm512_cvtepi32_ps(PairDot(w[0], q[r], a));
      acc[r * NB + n] = _mm512_fmadd_ps(dot, scale, acc[r * NB + n]);
    }
  }
}
#endif

template <class Block>
HWY_INLINE Quants UnpackQ8_0Family(const Block& b);
template <>
HWY_INLINE Quants UnpackQ8_0Family<Q4_0>(const Q4_0& b) { return MinusOffset(Nibbles16(b.qs), 8); }
template <>
HWY_INLINE Quants UnpackQ8_0Family<Q8_0>(const Q8_0& b) { return LoadQuants(b.qs); }

// out[r * NB + n] = w[r] · act[n] over nb blocks.
template <int R, int NB, class Block>
HWY_INLINE void DotTile32(const Block* const* w, const ActQ8_0* const* act, int64_t nb, float* out) {
#if INHOUSE_X86_512
  __m512 acc[R * NB];
  __m256 last[R * NB];
  for (int i = 0; i < R * NB; ++i) acc[i] = _mm512_setzero_ps(), last[i] = _mm256_setzero_ps();
  alignas(64) float sp[R * NB * kScaleSpan];
  const int64_t pf = PrefetchDistance(R * nb * int64_t(sizeof(Block)));
  const int64_t pairs_end = nb & ~int64_t(1);
  for (int64_t b0 = 0; b0 < pairs_end; b0 += kScaleSpan) {
    const int64_t span = std::min(kScaleSpan, pairs_end - b0);
    ScaleProducts<R, NB>(w, act, b0, span, sp);
    for (int64_t i = 0; i < span; i += 2) {
      for (int r = 0; r < R; ++r) PrefetchAhead(w[r] + b0 + i, pf, 1);
      TilePair<R, NB>(w, act, b0 + i, sp + i, acc);
    }
  }
  if (pairs_end < nb) TileBlock<R, NB>(w, act, pairs_end, last);
  for (int i = 0; i < R * NB; ++i) out[i] = _mm512_reduce_add_ps(acc[i]) + SumF32(VF{last[i]});
#elif INHOUSE_X86_256
  __m256 acc[R * NB];
  for (int i = 0; i < R * NB; ++i) acc[i] = _mm256_setzero_ps();
  const int64_t pf = PrefetchDistance(R * nb * int64_t(sizeof(Block)));
  for (int64_t b = 0; b < nb; ++b) {
    if (b % 2 == 0)
      for (int r = 0; r < R; ++r) PrefetchAhead(w[r] + b, pf, 1);
    TileBlock<R, NB>(w, act, b, acc);
  }
  for (int i = 0; i < R * NB; ++i) out[i] = SumF32(VF{acc[i]});
#else
  const DF df;
  VF acc[R * NB];
  for (int i = 0; i < R * NB; ++i) acc[i] = hn::Zero(df);
  const int64_t pf = PrefetchDistance(R * nb * int64_t(sizeof(Block)));
  for (int64_t b = 0; b < nb; ++b) {
    if (b % 2 == 0)
      for (int r = 0; r < R; ++r) PrefetchAhead(w[r] + b, pf, 1);
    for (int r = 0; r < R; ++r) {
      const Signed q = PrepSigned(UnpackQ8_0Family(w[r][b]));
      const float dw = HalfToFloat(w[r][b].d);
      for (int n = 0; n < NB; ++n) {
        const VI32 sum = DotS(hn::Zero(DI32()), q, LoadActs(act[n][b].qs));
        acc[r * NB + n] = hn::MulAdd(hn::ConvertTo(df, sum), hn::Set(df, dw * act[n][b].d), acc[r * NB + n]);
      }
    }
  }
  for (int i = 0; i < R * NB; ++i) out[i] = SumF32(acc[i]);
#endif
}

// Non-x86 targets. Q4_K against Q8_K: Σ_j sc_j (q·a)_j in exact integers, mins through the
// activation bsums, then vec_dot_scalar's float steps.
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

// Non-x86 targets. Q6_K against Q8_K: quants kept unsigned (0..63); the -32 offset comes back
// through bsums.
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

#if INHOUSE_X86_256
// ---- k-quants on x86: R weight rows x NB activation rows ---------------------------------------
// Per super-block and output, Σ_j sc_j (q·a)_j in exact int32 lanes: maddubs gives int16 pair
// sums, and one madd with the scales (spread by a byte shuffle) both scales and widens them.
// The mins (Q4_K) and the -32 offset (Q6_K) come from the activation bsums in vectors. Then
// vec_dot_scalar's float steps, so outputs equal the scalar reference bit for bit.

// pshufb controls over a vector holding 8 int16 scales in each 128-bit half.
// kSubScale[j]: scale j in every int16 (Q4_K: one scale per 32-element sub-block).
// kHalfScale[k]: scale 2k in the low half, 2k + 1 in the high half (Q6_K: one per 16 elements).
struct ScaleShuffles {
  alignas(32) uint8_t sub[8][32];
  alignas(32) uint8_t half[4][32];
};
constexpr ScaleShuffles MakeScaleShuffles() {
  ScaleShuffles s{};
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 32; i += 2) s.sub[j][i] = uint8_t(2 * j), s.sub[j][i + 1] = uint8_t(2 * j + 1);
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 32; i += 2) {
      const int e = i < 16 ? 2 * k : 2 * k + 1;
      s.half[k][i] = uint8_t(2 * e), s.half[k][i + 1] = uint8_t(2 * e + 1);
    }
  return s;
}
alignas(32) constexpr ScaleShuffles kScaleShuffles = MakeScaleShuffles();
HWY_INLINE __m256i Shuffle(__m256i v, const uint8_t* control) {
  return _mm256_shuffle_epi8(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(control)));
}

// Σ w·a over 32 elements times a per-16 scale vector, added to acc (exact).
HWY_INLINE __m256i DotScaled(__m256i acc, __m256i q, __m256i a, __m256i scale) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), scale));
}
HWY_INLINE __m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// The horizontal sums of acc (8 lanes) and m (4 lanes).
HWY_INLINE void SumBoth(__m256i acc, __m128i m, int32_t& acc_sum, int32_t& m_sum) {
  const __m128i a4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  __m128i h = _mm_hadd_epi32(a4, m);  // [a01, a23, m01, m23]
  h = _mm_hadd_epi32(h, h);           // [a, m, a, m]
  acc_sum = _mm_cvtsi128_si32(h);
  m_sum = _mm_extract_epi32(h, 1);
}

// The 8 6-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K/Q5_K super-block, as
// k_scale_min unpacks them one at a time.
HWY_INLINE void KScalesMins(const uint8_t* packed, uint64_t& scales, uint64_t& mins) {
  uint32_t s[3];
  std::memcpy(s, packed, 12);
  constexpr uint32_t kLow6 = 0x3F3F3F3F, kLow4 = 0x0F0F0F0F, kLow2 = 0x03030303;
  const uint32_t sc_lo = s[0] & kLow6, m_lo = s[1] & kLow6;
  const uint32_t sc_hi = (s[2] & kLow4) | (((s[0] >> 6) & kLow2) << 4);
  const uint32_t m_hi = ((s[2] >> 4) & kLow4) | (((s[1] >> 6) & kLow2) << 4);
  scales = uint64_t(sc_lo) | uint64_t(sc_hi) << 32;
  mins = uint64_t(m_lo) | uint64_t(m_hi) << 32;
}

template <int R, int NB>
HWY_INLINE void DotTileQ4_K(const Q4_K* const* w, const ActQ8_K* const* act, int64_t nb, int64_t pf,
                             float* out) {
  float s[R * NB] = {};
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < R; ++r) PrefetchAhead(w[r] + b, pf, sizeof(Q4_K));
    __m128i pair_sums[NB];  // Σa per 32-element sub-block, int16
    for (int n = 0; n < NB; ++n) {
      const __m256i bs = Load256(act[n][b].bsums);
      pair_sums[n] = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    }
    __m256i scales[R];
    __m128i mins[R];
    for (int r = 0; r < R; ++r) {
      uint64_t sc, m;
      KScalesMins(w[r][b].scales, sc, m);
      scales[r] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(sc))));
      mins[r] = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(m)));
    }
    __m256i acc[R * NB];
    for (int i = 0; i < R * NB; ++i) acc[i] = _mm256_setzero_si256();
    for (int g = 0; g < 4; ++g) {  // 64 elements: sub-block 2g in low nibbles, 2g + 1 in high
      __m256i a_lo[NB], a_hi[NB];
      for (int n = 0; n < NB; ++n) {
        a_lo[n] = Load256(act[n][b].qs + 64 * g);
        a_hi[n] = Load256(act[n][b].qs + 64 * g + 32);
      }
      for (int r = 0; r < R; ++r) {
        const __m256i x = Load256(w[r][b].qs + 32 * g);
        const __m256i lo = _mm256_and_si256(x, m4), hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
        const __m256i sc_lo = Shuffle(scales[r], kScaleShuffles.sub[2 * g]);
        const __m256i sc_hi = Shuffle(scales[r], kScaleShuffles.sub[2 * g + 1]);
        for (int n = 0; n < NB; ++n)
          acc[r * NB + n] = DotScaled(DotScaled(acc[r * NB + n], lo, a_lo[n], sc_lo), hi, a_hi[n], sc_hi);
      }
    }
    for (int r = 0; r < R; ++r) {
      const float d = HalfToFloat(w[r][b].d), dmin = HalfToFloat(w[r][b].dmin);
      for (int n = 0; n < NB; ++n) {
        int32_t sumi, summ;
        SumBoth(acc[r * NB + n], _mm_madd_epi16(mins[r], pair_sums[n]), sumi, summ);
        s[r * NB + n] += act[n][b].d * (d * float(sumi) - dmin * float(summ));
      }
    }
  }
  for (int i = 0; i < R * NB; ++i) out[i] = s[i];
}

template <int R, int NB>
HWY_INLINE void DotTileQ6_K(const Q6_K* const* w, const ActQ8_K* const* act, int64_t nb, int64_t pf,
                             float* out) {
  float s[R * NB] = {};
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < R; ++r) PrefetchAhead(w[r] + b, pf, sizeof(Q6_K));
    __m256i bsums[NB];
    for (int n = 0; n < NB; ++n) bsums[n] = Load256(act[n][b].bsums);
    __m256i sc_lo[R], sc_hi[R];  // scales 0..7 / 8..15 as int16 in each half
    __m256i acc[R * NB];
    for (int r = 0; r < R; ++r) {
      const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[r][b].scales));
      sc_lo[r] = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(sc8));
      sc_hi[r] = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128(sc8, 8)));
      const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
      // The quants are kept unsigned (0..63): start from -32 Σ_j sc_j Σa_j.
      for (int n = 0; n < NB; ++n)
        acc[r * NB + n] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                           _mm256_slli_epi32(_mm256_madd_epi16(sc16, bsums[n]), 5));
    }
    for (int h = 0; h < 2; ++h) {  // 128 elements: 4 chunks of 32
      __m256i a[NB][4];
      for (int n = 0; n < NB; ++n)
        for (int k = 0; k < 4; ++k) a[n][k] = Load256(act[n][b].qs + 128 * h + 32 * k);
      for (int r = 0; r < R; ++r) {
        Quants q[4];
        Unpack6(w[r][b].ql + 64 * h, w[r][b].qh + 32 * h, q);
        const __m256i sc = h ? sc_hi[r] : sc_lo[r];
        for (int k = 0; k < 4; ++k) {
          const __m256i scale = Shuffle(sc, kScaleShuffles.half[k]);
          for (int n = 0; n < NB; ++n) acc[r * NB + n] = DotScaled(acc[r * NB + n], q[k].v, a[n][k], scale);
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      const float d = HalfToFloat(w[r][b].d);
      for (int n = 0; n < NB; ++n) s[r * NB + n] += d * act[n][b].d * float(SumI32(VI32{acc[r * NB + n]}));
    }
  }
  for (int i = 0; i < R * NB; ++i) out[i] = s[i];
}

#if INHOUSE_X86_512
// ---- k-quants on AVX-512: 64 elements per vector -----------------------------------------------
// A vector holds 64 consecutive elements of a super-block, so the activations are plain 64-byte
// loads: two Q4_K sub-blocks (the low and the high nibbles of 32 packed bytes, unpacked from one
// broadcast load with a different transform per 256-bit half) or four Q6_K scale groups. The
// scales (one per 256-bit half for Q4_K, per 128-bit lane for Q6_K) multiply maddubs' int16 pair
// sums in one dpwssd (VNNI; madd + add otherwise). Q4_K's packed scales and mins are unpacked in
// vectors, and the per-super-block float steps run for four outputs at once in SSE lanes (the
// same IEEE operations per output as vec_dot_scalar, so still bit-identical). All R weight rows
// go through one call (decode: 4), sharing the activation loads. BM_KernelL2 (one thread, L2-
// resident, with the activation quantiser): Q4_K 11.2 -> 16.4 GB/s, Q6_K 16.9 -> 20.4 GB/s
// against the 256-bit tiles on the same CPU.

HWY_INLINE __m512i Load512(const void* p) { return _mm512_loadu_si512(p); }

// acc + Σ (q·a pair sums) · scale per int32 lane (exact).
HWY_INLINE __m512i DotScaled512(__m512i acc, __m512i q, __m512i a, __m512i scale) {
  const __m512i pairs = _mm512_maddubs_epi16(q, a);
#if INHOUSE_VNNI
  return _mm512_dpwssd_epi32(acc, pairs, scale);
#else
  return _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, scale));
#endif
}

// acc's 16 int32 lanes folded to 8 (lane i + lane i + 8).
HWY_INLINE __m256i Fold512(__m512i acc) {
  return _mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
}

// pshufb / permw controls. sub[g], over the 16 bytes of KScalesMins512 in every 128-bit lane:
// scale 2g zero-extended to every int16 of the low 256 bits, scale 2g + 1 in the high ones.
// group[k], over 16 int16 scales: scale 4k + i in every int16 of 128-bit lane i.
struct ScaleControls512 {
  alignas(64) uint8_t sub[4][64];
  alignas(64) uint16_t group[4][32];
};
constexpr ScaleControls512 MakeScaleControls512() {
  ScaleControls512 c{};
  for (int g = 0; g < 4; ++g)
    for (int i = 0; i < 64; i += 2) c.sub[g][i] = uint8_t(i < 32 ? 2 * g : 2 * g + 1), c.sub[g][i + 1] = 0x80;
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 32; ++i) c.group[k][i] = uint16_t(4 * k + i / 8);
  return c;
}
alignas(64) constexpr ScaleControls512 kScaleControls512 = MakeScaleControls512();
HWY_INLINE __m512i Control512(const void* p) { return _mm512_load_si512(p); }

// 32 packed bytes -> their low nibbles (low 256 bits) and high nibbles (high 256 bits).
HWY_INLINE __m512i NibblesLowHigh(const uint8_t* qs) {
  const __m512i x = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs)));
#if INHOUSE_GFNI
  if (kHasGfni) {  // low nibbles in the low 256 bits, high nibbles in the high ones
    constexpr int64_t kLow = kGfniLowNibble, kHigh = kGfniHighNibble;
    const __m512i m = _mm512_setr_epi64(kLow, kLow, kLow, kLow, kHigh, kHigh, kHigh, kHigh);
    return _mm512_gf2p8affine_epi64_epi8(x, m, 0);
  }
#endif
  const __m512i q = _mm512_srlv_epi64(x, _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4));
  return _mm512_and_si512(q, _mm512_set1_epi8(0x0F));
}

// KScalesMins in vectors: the 12 packed bytes (loaded as 16; the quants follow them in the
// block) -> bytes 0..7 the 6-bit scales, bytes 8..15 the mins, in every 128-bit lane.
HWY_INLINE __m512i KScalesMins512(const uint8_t* packed) {
  const __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(packed)));
  // dwords [s0, s2, s1, s2] give the low parts, [., s0, ., s1] the top two bits of the last four.
  const __m512i low = _mm512_srlv_epi32(_mm512_shuffle_epi32(v, _MM_PERM_CBCA),
                                        _mm512_broadcast_i32x4(_mm_setr_epi32(0, 0, 0, 4)));
  const __m512i high = _mm512_srli_epi32(_mm512_shuffle_epi32(v, _MM_PERM_BBAA), 2);
  const __m512i low_mask = _mm512_broadcast_i32x4(_mm_setr_epi32(0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F));
  const __m512i high_mask = _mm512_broadcast_i32x4(_mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
  return _mm512_or_si512(_mm512_and_si512(low, low_mask), _mm512_and_si512(high, high_mask));
}

// Lane i: the sum of v[i]'s 16 int32 lanes.
HWY_INLINE __m128i Sum4x512(const __m512i* v) {
  const __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(v[0], v[1]), _mm512_unpackhi_epi32(v[0], v[1]));
  const __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2], v[3]), _mm512_unpackhi_epi32(v[2], v[3]));
  const __m256i h = Fold512(_mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23)));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// The per-super-block float steps run for four outputs at a time, output o = r·NB + n in lane
// o % 4 of group o / 4 (lanes past R·NB repeat the last output; their results are dropped).
template <int R, int NB>
struct KOutputs {
  static constexpr int kOutputs = R * NB, kGroups = (kOutputs + 3) / 4;
  static constexpr int Output(int g, int i) { return std::min(4 * g + i, kOutputs - 1); }
  static constexpr int Row(int g, int i) { return Output(g, i) / NB; }
  static constexpr int Act(int g, int i) { return Output(g, i) % NB; }
  // Activation scales of group g's lanes.
  static HWY_INLINE __m128 ActScales(const ActQ8_K* const* act, int64_t b, int g) {
    if constexpr (NB == 1) return _mm_set1_ps(act[0][b].d);
    return _mm_setr_ps(act[Act(g, 0)][b].d, act[Act(g, 1)][b].d, act[Act(g, 2)][b].d, act[Act(g, 3)][b].d);
  }
  static void Store(const __m128* s, float* out) {
    alignas(16) float all[4 * kGroups];
    for (int g = 0; g < kGroups; ++g) _mm_store_ps(all + 4 * g, s[g]);
    for (int o = 0; o < kOutputs; ++o) out[o] = all[o];
  }
};

// A Q4_K block's d and dmin halves as one 32-bit word (d in the low half).
HWY_INLINE int ScalePair(const Q4_K& b) { return int(load_u32(reinterpret_cast<const uint8_t*>(&b.d))); }

// The loop both 512-bit tiles share: super-blocks in order, each row prefetched ahead, then
// block(b, s) adds super-block b's terms to the four-output float groups s.
template <int R, int NB, class Block, class BlockTerms>
HWY_INLINE void KTile512(const Block* const* w, int64_t nb, float* out, BlockTerms&& block) {
  using K = KOutputs<R, NB>;
  __m128 s[K::kGroups];
  for (int g = 0; g < K::kGroups; ++g) s[g] = _mm_setzero_ps();
  const int64_t pf = PrefetchDistance(R * nb * int64_t(sizeof(Block)));
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < R; ++r) PrefetchAhead(w[r] + b, pf, sizeof(Block));
    block(b, s);
  }
  K::Store(s, out);
}

template <int R, int NB>
HWY_INLINE void DotTileQ4_K512(const Q4_K* const* w, const ActQ8_K* const* act, int64_t nb, float* out) {
  using K = KOutputs<R, NB>;
  KTile512<R, NB>(w, nb, out, [&](int64_t b, __m128* s) HWY_ATTR __attribute__((always_inline)) {
    __m128i pair_sums[NB];  // Σa per 32-element sub-block, int16
    for (int n = 0; n < NB; ++n) {
      const __m256i bs = Load256(act[n][b].bsums);
      pair_sums[n] = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    }
    __m512i scales[R];  // scale bytes 0..7, min bytes 8..15 in every 128-bit lane
    for (int r = 0; r < R; ++r) scales[r] = KScalesMins512(w[r][b].scales);
    __m512i acc[4 * K::kGroups];
    for (int i = 0; i < R * NB; ++i) acc[i] = _mm512_setzero_si512();
    for (int g = 0; g < 4; ++g) {  // elements 64g..64g+63: sub-blocks 2g, 2g + 1
      __m512i a[NB];
      for (int n = 0; n < NB; ++n) a[n] = Load512(act[n][b].qs + 64 * g);
      const __m512i control = Control512(kScaleControls512.sub[g]);
      for (int r = 0; r < R; ++r) {
        const __m512i q = NibblesLowHigh(w[r][b].qs + 32 * g);
        const __m512i scale = _mm512_shuffle_epi8(scales[r], control);
        for (int n = 0; n < NB; ++n) acc[r * NB + n] = DotScaled512(acc[r * NB + n], q, a[n], scale);
      }
    }
    for (int g = 0; g < K::kGroups; ++g) {
      __m512i sums[4];
      __m128i mins[4];
      for (int i = 0; i < 4; ++i) {
        sums[i] = acc[K::Output(g, i)];
        const __m128i m = _mm_unpackhi_epi8(_mm512_castsi512_si128(scales[K::Row(g, i)]), _mm_setzero_si128());
        mins[i] = _mm_madd_epi16(m, pair_sums[K::Act(g, i)]);
      }
      const __m128 sumi = _mm_cvtepi32_ps(Sum4x512(sums));
      const __m128 summ = _mm_cvtepi32_ps(_mm_hadd_epi32(_mm_hadd_epi32(mins[0], mins[1]), _mm_hadd_epi32(mins[2], mins[3])));
      // d and dmin (adjacent halves at the block's start) of each lane's row.
      const __m256 dd = _mm256_cvtph_ps(_mm_setr_epi32(ScalePair(w[K::Row(g, 0)][b]), ScalePair(w[K::Row(g, 1)][b]),
                                                       ScalePair(w[K::Row(g, 2)][b]), ScalePair(w[K::Row(g, 3)][b])));
      const __m128 lo = _mm256_castps256_ps128(dd), hi = _mm256_extractf128_ps(dd, 1);
      const __m128 d = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
      const __m128 dmin = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
      // act.d · (d·sumi - dmin·summ), as vec_dot_scalar.
      const __m128 t = _mm_mul_ps(K::ActScales(act, b, g), _mm_sub_ps(_mm_mul_ps(d, sumi), _mm_mul_ps(dmin, summ)));
      s[g] = _mm_add_ps(s[g], t);
    }
  });
}

// Q6_K: 64 bytes of low nibbles and 32 of 2-bit high parts (128 elements) -> elements 0..63
// (q[0]) and 64..127 (q[1]) as unsigned 6-bit quants. The high parts of elements l, l + 32,
// l + 64, l + 96 are bits 0-1, 2-3, 4-5, 6-7 of qh[l]; 64-bit shifts move bits across bytes
// and the masks drop them.
HWY_INLINE void Unpack6x128(const uint8_t* ql, const uint8_t* qh, __m512i* q) {
  const __m512i l = Load512(ql);
  const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh)));
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  const __m512i h01 = _mm512_sllv_epi64(h, _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2));
  const __m512i h23 = _mm512_srlv_epi64(h, _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2));
  q[0] = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(h01, m30));
  q[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), _mm512_and_si512(h23, m30));
}

template <int R, int NB>
HWY_INLINE void DotTileQ6_K512(const Q6_K* const* w, const ActQ8_K* const* act, int64_t nb, float* out) {
  using K = KOutputs<R, NB>;
  KTile512<R, NB>(w, nb, out, [&](int64_t b, __m128* s) HWY_ATTR __attribute__((always_inline)) {
    __m256i bsums[NB];
    for (int n = 0; n < NB; ++n) bsums[n] = Load256(act[n][b].bsums);
    __m512i sc16[R];  // the 16 scales as int16 in the low 256 bits
    __m512i acc[4 * K::kGroups];
    for (int r = 0; r < R; ++r) {
      const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[r][b].scales)));
      sc16[r] = _mm512_castsi256_si512(sc);
      // The quants are kept unsigned (0..63): start from -32 Σ_j sc_j Σa_j.
      for (int n = 0; n < NB; ++n)
        acc[r * NB + n] = _mm512_zextsi256_si512(
            _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc, bsums[n]), 5)));
    }
    for (int h = 0; h < 2; ++h) {  // elements 128h..128h+127
      __m512i a[NB][2];
      for (int n = 0; n < NB; ++n)
        for (int k = 0; k < 2; ++k) a[n][k] = Load512(act[n][b].qs + 128 * h + 64 * k);
      for (int r = 0; r < R; ++r) {
        __m512i q[2];
        Unpack6x128(w[r][b].ql + 64 * h, w[r][b].qh + 32 * h, q);
        for (int k = 0; k < 2; ++k) {
          const __m512i scale = _mm512_permutexvar_epi16(Control512(kScaleControls512.group[2 * h + k]), sc16[r]);
          for (int n = 0; n < NB; ++n) acc[r * NB + n] = DotScaled512(acc[r * NB + n], q[k], a[n][k], scale);
        }
      }
    }
    for (int g = 0; g < K::kGroups; ++g) {
      __m512i sums[4];
      for (int i = 0; i < 4; ++i) sums[i] = acc[K::Output(g, i)];
      const __m128 sumi = _mm_cvtepi32_ps(Sum4x512(sums));
      const __m128 d = _mm_cvtph_ps(_mm_setr_epi16(short(w[K::Row(g, 0)][b].d), short(w[K::Row(g, 1)][b].d),
                                                   short(w[K::Row(g, 2)][b].d), short(w[K::Row(g, 3)][b].d),
                                                   0, 0, 0, 0));
      // d · act.d · sumi, as vec_dot_scalar.
      s[g] = _mm_add_ps(s[g], _mm_mul_ps(_mm_mul_ps(d, K::ActScales(act, b, g)), sumi));
    }
  });
}
#endif  // INHOUSE_X86_512
#endif


// Runs the kernel for `type` on R weight rows and NB activation rows (out[r * NB + n]); false
// when the type has no SIMD kernel.
template <int R, int NB>
HWY_INLINE bool DotRows(TensorType type, const uint8_t* const* rows, const uint8_t* const* act,
                        int64_t n, float* out) {
  switch (type) {
    case TensorType::Q4_0:
      DotTile32<R, NB>(reinterpret_cast<const Q4_0* const*>(rows),
                       reinterpret_cast<const ActQ8_0* const*>(act), n / kQK, out);
      return true;
    case TensorType::Q8_0:
      DotTile32<R, NB>(reinterpret_cast<const Q8_0* const*>(rows),
                       reinterpret_cast<const ActQ8_0* const*>(act), n / kQK, out);
      return true;
#if INHOUSE_X86_256
#if INHOUSE_X86_512
    case TensorType::Q4_K:
      DotTileQ4_K512<R, NB>(reinterpret_cast<const Q4_K* const*>(rows),
                            reinterpret_cast<const ActQ8_K* const*>(act), n / kQK_K, out);
      return true;
    case TensorType::Q6_K:
      DotTileQ6_K512<R, NB>(reinterpret_cast<const Q6_K* const*>(rows),
                            reinterpret_cast<const ActQ8_K* const*>(act), n / kQK_K, out);
      return true;
#else
    // One weight row at a time: sharing the activation loads between rows would spill the 16
    // AVX2 registers (measured: more instructions per block, not fewer). Each prefetches the
    // next tile of R rows.
    case TensorType::Q4_K:
      for (int r = 0; r < R; ++r)
        DotTileQ4_K<1, NB>(reinterpret_cast<const Q4_K* const*>(rows + r),
                           reinterpret_cast<const ActQ8_K* const*>(act), n / kQK_K,
                           PrefetchDistance(R * (n / kQK_K) * int64_t(sizeof(Q4_K))), out + r * NB);
      return true;
    case TensorType::Q6_K:
      for (int r = 0; r < R; ++r)
        DotTileQ6_K<1, NB>(reinterpret_cast<const Q6_K* const*>(rows + r),
                           reinterpret_cast<const ActQ8_K* const*>(act), n / kQK_K,
                           PrefetchDistance(R * (n / kQK_K) * int64_t(sizeof(Q6_K))), out + r * NB);
      return true;
#endif
#else
    case TensorType::Q4_K:
      for (int r = 0; r < R; ++r)
        DotQ4_K<NB>(reinterpret_cast<const Q4_K*>(rows[r]),
                    reinterpret_cast<const ActQ8_K* const*>(act), n / kQK_K, out + r * NB);
      return true;
    case TensorType::Q6_K:
      for (int r = 0; r < R; ++r)
        DotQ6_K<NB>(reinterpret_cast<const Q6_K*>(rows[r]),
                    reinterpret_cast<const ActQ8_K* const*>(act), n / kQK_K, out + r * NB);
      return true;
#endif
    default:
      return false;
  }
}

#else  // HWY_TARGET == HWY_SCALAR

template <int R, int NB>
HWY_INLINE bool DotRows(TensorType, const uint8_t* const*, const uint8_t* const*, int64_t, float*) {
  return false;
}

#endif  // HWY_TARGET != HWY_SCALAR

float VecDot(TensorType type, const void* row, const void* act, int64_t n) {
  const uint8_t* w = static_cast<const uint8_t*>(row);
  const uint8_t* a = static_cast<const uint8_t*>(act);
  float out;
  if (DotRows<1, 1>(type, &w, &a, n, &out)) return out;
  return vec_dot_scalar(type, row, act, n);
}

// Row-tiled product: for a block of batch rows (sized to stay in L2) and a tile of weight rows
// (in L1), each weight block is unpacked once per group of up to kGroup activation rows, and
// each activation block loaded once for several weight rows (4 in decode, 2 or 4 in batches).
constexpr int64_t kBatchBlock = 64;
constexpr int64_t kRowTile = 16;
constexpr int kGroup = 4;

// Output rows ot..oe - 1 for activation rows b..b + NB - 1, R weight rows per kernel call. The
// bounds are compile-time so the stores stay plain stores (with run-time bounds GCC made them
// scatters).
template <int R, int NB>
HWY_INLINE void TileOutputs(const Matrix& w, const uint8_t* const* acts, int64_t b, int64_t ot, int64_t oe,
                            float* y) {
  for (int64_t o = ot; o < oe; o += R) {
    // Past the tile's end the last row is repeated (same operations, results dropped).
    const uint8_t* rows[R];
    for (int r = 0; r < R; ++r) rows[r] = w.row(std::min(o + r, oe - 1));
    float out[R * NB];
    const bool done = DotRows<R, NB>(w.type, rows, acts, w.n_in, out);
    for (int r = 0; r < R && o + r < oe; ++r)
      for (int i = 0; i < NB; ++i)
        y[(b + i) * w.n_out + o + r] = done ? out[r * NB + i] : vec_dot_scalar(w.type, rows[r], acts[i], w.n_in);
  }
}

void MatmulRows(const Matrix& w, int64_t o0, int64_t o1, const uint8_t* act, size_t act_bytes,
                int64_t n_batch, float* y) {
  // Wider tiles where AVX-512's 32 registers hold them: Q4_0/Q8_0 take 8 weight rows per call
  // in decode (BM_KernelL2 ~4% faster than 4) and 4x4 tiles in batches (BM_Prefill 3-5% faster
  // than 2x4); the k-quant tiles keep more per row and spill at 4x4 (5-10% slower).
  const bool wide_tile = INHOUSE_X86_512 && (w.type == TensorType::Q4_0 || w.type == TensorType::Q8_0);
  for (int64_t bb = 0; bb < n_batch; bb += kBatchBlock) {
    const int64_t be = std::min(n_batch, bb + kBatchBlock);
    for (int64_t ot = o0; ot < o1; ot += kRowTile) {
      const int64_t oe = std::min(o1, ot + kRowTile);
      for (int64_t b = bb; b < be; b += kGroup) {
        const int group = int(std::min<int64_t>(kGroup, be - b));
        const uint8_t* acts[kGroup];
        for (int i = 0; i < group; ++i) acts[i] = act + size_t(b + i) * act_bytes;
        if (group == 1 && wide_tile) TileOutputs<8, 1>(w, acts, b, ot, oe, y);
        else if (group == 1) TileOutputs<4, 1>(w, acts, b, ot, oe, y);
        else if (group == 2) TileOutputs<2, 2>(w, acts, b, ot, oe, y);
        else if (group == 3) TileOutputs<1, 3>(w, acts, b, ot, oe, y);
        else if (wide_tile) TileOutputs<4, 4>(w, acts, b, ot, oe, y);
        else TileOutputs<2, 4>(w, acts, b, ot, oe, y);
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

// Attention over f16 rows: 8 partial sums as attention.cpp's loop (one 8-lane vector, or two
// 4-lane ones), added in lane order at the end, so the result is the loop's bit for bit.
// R key rows against one query are interleaved: each row's sum runs exactly as alone, but the
// R chains of dependent adds overlap instead of waiting on one another.
template <int R>
HWY_INLINE void DotF16Tile(const float* q, const uint16_t* k, int64_t k_stride, int64_t n, float* out) {
  const hn::CappedTag<float, 8> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto* kh = reinterpret_cast<const hwy::float16_t*>(k);
  hn::Vec<decltype(d)> acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = hn::Zero(d);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int64_t v = 0; v < 8 / N; ++v) {
      const auto qv = hn::LoadU(d, q + i + v * N);
      for (int r = 0; r < R; ++r)
        acc[r][v] = hn::Add(acc[r][v], hn::Mul(qv, hn::PromoteTo(d, hn::LoadU(dh, kh + r * k_stride + i + v * N))));
    }
  for (int r = 0; r < R; ++r) {
    float lanes[8];
    for (int64_t v = 0; v < 8 / N; ++v) hn::StoreU(acc[r][v], d, lanes + v * N);
    float sum = 0.0f;
    for (int l = 0; l < 8; ++l) sum += lanes[l];
    for (int64_t t = i; t < n; ++t) sum += q[t] * fp16_to_fp32(k[r * k_stride + t]);
    out[r] = sum;
  }
}

void DotF16Rows(const float* q, const uint16_t* k, int64_t k_stride, int64_t n_rows, int64_t n,
                float* out) {
  const int64_t N = int64_t(hn::Lanes(hn::CappedTag<float, 8>()));
  if (N != 8 && N != 4) {
    for (int64_t j = 0; j < n_rows; ++j) out[j] = simd::ref::dot_f16(q, k + j * k_stride, n);
    return;
  }
  constexpr int kRows = 4;
  int64_t j = 0;
  for (; j + kRows <= n_rows; j += kRows) DotF16Tile<kRows>(q, k + j * k_stride, k_stride, n, out + j);
  for (; j < n_rows; ++j) DotF16Tile<1>(q, k + j * k_stride, k_stride, n, out + j);
}

float DotF16Row(const float* q, const uint16_t* k, int64_t n) {
  float out;
  DotF16Rows(q, k, 0, 1, n, &out);
  return out;
}

void AxpyF16Row(float* y, const uint16_t* v, float a, int64_t n) {
  const DFull d;
  const hn::Rebind<hwy::float16_t, DFull> dh;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto* vh = reinterpret_cast<const hwy::float16_t*>(v);
  const auto va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::Add(hn::LoadU(d, y + i), hn::Mul(va, hn::PromoteTo(d, hn::LoadU(dh, vh + i)))), d,
               y + i);
  for (; i < n; ++i) y[i] += a * fp16_to_fp32(v[i]);
}

// y += Σ_j a[j]·v_j with y held in registers across the rows, kChunk vectors at a time: every
// element gets y = y + a[j]·v_j[i] for j in order, as AxpyF16Row row by row.
void AxpyF16Rows(float* y, const uint16_t* v, int64_t v_stride, const float* a, int64_t n_rows,
                 int64_t n) {
  const DFull d;
  const hn::Rebind<hwy::float16_t, DFull> dh;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto* vh = reinterpret_cast<const hwy::float16_t*>(v);
  constexpr int kChunk = 8;
  int64_t i = 0;
  for (; i + kChunk * N <= n; i += kChunk * N) {
    hn::Vec<DFull> acc[kChunk];
    for (int c = 0; c < kChunk; ++c) acc[c] = hn::LoadU(d, y + i + c * N);
    for (int64_t j = 0; j < n_rows; ++j) {
      const auto aj = hn::Set(d, a[j]);
      for (int c = 0; c < kChunk; ++c)
        acc[c] = hn::Add(acc[c], hn::Mul(aj, hn::PromoteTo(d, hn::LoadU(dh, vh + j * v_stride + i + c * N))));
    }
    for (int c = 0; c < kChunk; ++c) hn::StoreU(acc[c], d, y + i + c * N);
  }
  if (i < n)
    for (int64_t j = 0; j < n_rows; ++j) AxpyF16Row(y + i, v + j * v_stride + i, a[j], n - i);
}

// Several query heads over the same f16 rows (a GQA group): each row is loaded and converted
// once for all heads instead of once per head, and the dot products' horizontal sums run 16 at
// a time. Every head's result is DotF16Rows' / AxpyF16Rows' bit for bit: the same 8 partial
// sums per dot (two rows side by side in one 512-bit vector), added in lane order from 0.0f;
// the same y + a·v per element in row order.
#if INHOUSE_X86_512
// Cached rows are requested this many rows ahead (KV rows come from DRAM: one decode step reads
// each layer's cache once).
constexpr int64_t kCachePrefetchRows = 96;

// 16 sums of 8 lanes, each 0.0f + lane 0 + ... + lane 7 in that order: acc[i]'s lower half is
// sum i, its upper half sum 8 + i. An 8x8 transpose of both halves at once, then 8 adds.
HWY_INLINE __m512 LaneOrderSums16(const __m512* acc) {
  __m512 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm512_unpacklo_ps(acc[i], acc[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(acc[i], acc[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  // Lane l of every input, within each 256-bit half: 128-bit lanes [u_a.0, u_b.0, u_a.2, u_b.2]
  // for l < 4, [u_a.1, u_b.1, u_a.3, u_b.3] for l >= 4.
  const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
  const __m512i hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
  __m512 sum = _mm512_setzero_ps();
  for (int l = 0; l < 4; ++l) sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(u[l], lo, u[l + 4]));
  for (int l = 0; l < 4; ++l) sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(u[l], hi, u[l + 4]));
  return sum;
}

// HB heads x RB rows (HB * RB = 16): out[h * out_stride + r] = q_h · row r, n a multiple of 8.
template <int HB, int RB>
HWY_INLINE void DotF16HeadsTile(const float* q, int64_t q_stride, const uint16_t* k, int64_t k_stride,
                                int64_t n, float* out, int64_t out_stride) {
  static_assert(HB * RB == 16);
  constexpr int P = RB / 2;  // row pairs
  __m512 acc[HB * P];        // acc[h * P + p]: rows 2p (lower half) and 2p + 1 (upper) of head h
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) {
    __m512 kv[P];
    for (int p = 0; p < P; ++p) {
      const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(k + 2 * p * k_stride + i));
      const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(k + (2 * p + 1) * k_stride + i));
      kv[p] = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(r0), r1, 1));
    }
    for (int h = 0; h < HB; ++h) {
      const __m512 qv = _mm512_broadcast_f32x8(_mm256_loadu_ps(q + h * q_stride + i));
      for (int p = 0; p < P; ++p) acc[h * P + p] = _mm512_add_ps(acc[h * P + p], _mm512_mul_ps(qv, kv[p]));
    }
  }
  // Sum lane k < 8 is (head k / P, row 2 (k % P)), lane 8 + k the row after it; reordered to
  // lane h * RB + r and stored RB lanes per head.
  alignas(64) static constexpr auto kOrder = [] {
    std::array<int32_t, 16> idx{};
    for (int d = 0; d < 16; ++d) {
      const int h = d / RB, r = d % RB;
      idx[size_t(d)] = (r % 2 ? 8 : 0) + h * P + r / 2;
    }
    return idx;
  }();
  const __m512 sums = _mm512_permutexvar_ps(_mm512_load_si512(kOrder.data()), LaneOrderSums16(acc));
  for (int h = 0; h < HB; ++h)
    _mm512_mask_storeu_ps(out + h * out_stride - h * RB, __mmask16(((1u << RB) - 1) << (h * RB)), sums);
}

// Heads in passes of 4 (4 rows per tile), then 2 (8 rows), then 1 (16 rows).
template <int HB>
HWY_INLINE int64_t DotF16HeadsPass(const float* q, int64_t q_stride, const uint16_t* k, int64_t k_stride,
                                   int64_t n_rows, int64_t n, float* out, int64_t out_stride) {
  constexpr int RB = 16 / HB;
  int64_t j = 0;
  for (; j + RB <= n_rows; j += RB) {
    for (int64_t r = 0; r < RB; ++r) PrefetchAhead(k + (j + r) * k_stride, kCachePrefetchRows * k_stride * 2, int(n * 2));
    DotF16HeadsTile<HB, RB>(q, q_stride, k + j * k_stride, k_stride, n, out + j, out_stride);
  }
  return j;
}
#endif

#if INHOUSE_X86_512
// HB heads, 32 elements of y each (two vectors) in registers across all rows.
template <int HB>
HWY_INLINE void AxpyF16HeadsChunk(float* y, int64_t y_stride, const uint16_t* v, int64_t v_stride,
                                  const float* a, int64_t a_stride, int64_t n_rows) {
  __m512 acc[HB][2];
  for (int h = 0; h < HB; ++h)
    for (int c = 0; c < 2; ++c) acc[h][c] = _mm512_loadu_ps(y + h * y_stride + 16 * c);
  for (int64_t j = 0; j < n_rows; ++j) {
    const uint16_t* row = v + j * v_stride;
    PrefetchAhead(row, kCachePrefetchRows * v_stride * 2, 64);
    const __m512 v0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row)));
    const __m512 v1 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 16)));
    for (int h = 0; h < HB; ++h) {
      const __m512 aj = _mm512_set1_ps(a[h * a_stride + j]);
      acc[h][0] = _mm512_add_ps(acc[h][0], _mm512_mul_ps(aj, v0));
      acc[h][1] = _mm512_add_ps(acc[h][1], _mm512_mul_ps(aj, v1));
    }
  }
  for (int h = 0; h < HB; ++h)
    for (int c = 0; c < 2; ++c) _mm512_storeu_ps(y + h * y_stride + 16 * c, acc[h][c]);
}

template <int HB>
HWY_INLINE void AxpyF16HeadsAll(float* y, int64_t y_stride, const uint16_t* v, int64_t v_stride,
                                const float* a, int64_t a_stride, int64_t n_rows, int64_t n) {
  for (int64_t i = 0; i < n; i += 32) AxpyF16HeadsChunk<HB>(y + i, y_stride, v + i, v_stride, a, a_stride, n_rows);
}
#endif

// x rounded to the nearest f16 (ties to even) and back, as fp32_to_fp16 / fp16_to_fp32: the
// F16C conversions on x86 (the same IEEE rounding), the scalar functions elsewhere.
HWY_INLINE void RoundToF16(float* x, int64_t n) {
  int64_t i = 0;
#if INHOUSE_X86_512
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(x + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
#elif INHOUSE_X86_256
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
#endif
  for (; i < n; ++i) x[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
}

// The loop's operations per score in vectors, except std::exp and the double sum, which stay
// scalar and in order (they fix the result's bits); up to 16 heads' exp-and-sum chains run
// interleaved so their dependent double adds overlap.
void AttentionProbs(float* p, int64_t stride, int64_t n_heads, int64_t n, float scale, bool round_f16) {
  const DFull d;
  const int64_t N = int64_t(hn::Lanes(d));
  constexpr int64_t kHeads = 16;
  const auto vs = hn::Set(d, scale);
  for (int64_t h0 = 0; h0 < n_heads; h0 += kHeads) {
    const int64_t heads = std::min(kHeads, n_heads - h0);
    float* rows[kHeads];
    float max[kHeads];
    double sum[kHeads];
    for (int64_t h = 0; h < heads; ++h) {
      float* ph = rows[h] = p + (h0 + h) * stride;
      auto vmax = hn::Set(d, -INFINITY);  // NaN scores skipped, as std::fmax does
      int64_t i = 0;
      for (; i + N <= n; i += N) {
        const auto x = hn::Mul(hn::LoadU(d, ph + i), vs);
        hn::StoreU(x, d, ph + i);
        vmax = hn::IfThenElse(hn::IsNaN(x), vmax, hn::Max(vmax, x));
      }
      float m = hn::GetLane(hn::MaxOfLanes(d, vmax));
      for (; i < n; ++i) m = std::fmax(m, ph[i] *= scale);
      max[h] = m;
      sum[h] = 0.0;
    }
    for (int64_t j = 0; j < n; ++j)
      for (int64_t h = 0; h < heads; ++h) {
        rows[h][j] = std::exp(rows[h][j] - max[h]);
        sum[h] += rows[h][j];
      }
    for (int64_t h = 0; h < heads; ++h) {
      float* ph = rows[h];
      const float inv = float(1.0 / sum[h]);
      const auto vinv = hn::Set(d, inv);
      int64_t i = 0;
      for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, ph + i), vinv), d, ph + i);
      for (; i < n; ++i) ph[i] *= inv;
      if (round_f16) RoundToF16(ph, n);
    }
  }
}

#else
float DotF16Row(const float* q, const uint16_t* k, int64_t n) { return simd::ref::dot_f16(q, k, n); }
void AxpyF16Row(float* y, const uint16_t* v, float a, int64_t n) { simd::ref::axpy_f16(y, v, a, n); }
void DotF16Rows(const float* q, const uint16_t* k, int64_t k_stride, int64_t n_rows, int64_t n,
                float* out) {
  for (int64_t j = 0; j < n_rows; ++j) out[j] = simd::ref::dot_f16(q, k + j * k_stride, n);
}
void AxpyF16Rows(float* y, const uint16_t* v, int64_t v_stride, const float* a, int64_t n_rows,
                 int64_t n) {
  for (int64_t j = 0; j < n_rows; ++j) simd::ref::axpy_f16(y, v + j * v_stride, a[j], n);
}
void AttentionProbs(float* p, int64_t stride, int64_t n_heads, int64_t n, float scale, bool round_f16) {
  simd::ref::attention_probs(p, stride, n_heads, n, scale, round_f16);
}
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

// The head-group kernels on every target: the 512-bit tiles where they apply, else each head
// through DotF16Rows / AxpyF16Rows.
void DotF16Heads(const float* q, int64_t q_stride, int64_t n_heads, const uint16_t* k, int64_t k_stride,
                 int64_t n_rows, int64_t n, float* out, int64_t out_stride) {
  int64_t h = 0;
#if INHOUSE_X86_512
  if (n % 8 == 0) {
    auto pass = [&](auto heads) {
      constexpr int HB = decltype(heads)::value;
      for (; h + HB <= n_heads; h += HB) {
        const int64_t done = DotF16HeadsPass<HB>(q + h * q_stride, q_stride, k, k_stride, n_rows, n,
                                                 out + h * out_stride, out_stride);
        for (int64_t i = 0; i < HB; ++i)  // the rows past the last whole tile
          DotF16Rows(q + (h + i) * q_stride, k + done * k_stride, k_stride, n_rows - done, n,
                     out + (h + i) * out_stride + done);
      }
    };
    pass(std::integral_constant<int, 4>());
    pass(std::integral_constant<int, 2>());
    pass(std::integral_constant<int, 1>());
  }
#endif
  for (; h < n_heads; ++h) DotF16Rows(q + h * q_stride, k, k_stride, n_rows, n, out + h * out_stride);
}

void AxpyF16Heads(float* y, int64_t y_stride, int64_t n_heads, const uint16_t* v, int64_t v_stride,
                  const float* a, int64_t a_stride, int64_t n_rows, int64_t n) {
  int64_t h = 0;
#if INHOUSE_X86_512
  if (n % 32 == 0) {
    // Up to 8 heads per pass (16 accumulators).
    for (; h < n_heads; h += 8) {
      float* yh = y + h * y_stride;
      const float* ah = a + h * a_stride;
      switch (std::min<int64_t>(8, n_heads - h)) {
        case 1: AxpyF16HeadsAll<1>(yh, y_stride, v, v_stride, ah, a_stride, n_rows, n); break;
        case 2: AxpyF16HeadsAll<2>(yh, y_stride, v, v_stride, ah, a_stride, n_rows, n); break;
        case 3: AxpyF16HeadsAll<3>(yh, y_stride, v, v_stride, ah, a_stride, n_rows, n); break;
        case 4: AxpyF16HeadsAll<4>(yh, y_stride, v, v_stride, ah, a_stride, n_rows, n); break;
        case 5: AxpyF16HeadsAll<5>(yh, y_stride, v, v_stride, ah, a_stride, n_rows, n); break;
        case 6: AxpyF16HeadsAll<6>(yh, y_stride, v, v_stride, ah, a_stride, n_rows, n); break;
        case 7: AxpyF16HeadsAll<7>(yh, y_stride, v, v_stride, ah, a_stride, n_rows, n); break;
        default: AxpyF16HeadsAll<8>(yh, y_stride, v, v_stride, ah, a_stride, n_rows, n); break;
      }
    }
    return;
  }
#endif
  for (; h < n_heads; ++h) AxpyF16Rows(y + h * y_stride, v, v_stride, a + h * a_stride, n_rows, n);
}

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
HWY_EXPORT(DotF16Row);
HWY_EXPORT(AxpyF16Row);
HWY_EXPORT(DotF16Heads);
HWY_EXPORT(AxpyF16Heads);
HWY_EXPORT(AttentionProbs);

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
float dot_f16(const float* q, const uint16_t* k, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotF16Row)(q, k, n);
}
void axpy_f16(float* y, const uint16_t* v, float a, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AxpyF16Row)(y, v, a, n);
}
void dot_f16_heads(const float* q, int64_t q_stride, int64_t n_heads, const uint16_t* k, int64_t k_stride,
                   int64_t n_rows, int64_t n, float* out, int64_t out_stride) {
  HWY_DYNAMIC_DISPATCH(DotF16Heads)(q, q_stride, n_heads, k, k_stride, n_rows, n, out, out_stride);
}
void axpy_f16_heads(float* y, int64_t y_stride, int64_t n_heads, const uint16_t* v, int64_t v_stride,
                    const float* a, int64_t a_stride, int64_t n_rows, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AxpyF16Heads)(y, y_stride, n_heads, v, v_stride, a, a_stride, n_rows, n);
}
void attention_probs(float* p, int64_t stride, int64_t n_heads, int64_t n, float scale, bool round_f16) {
  HWY_DYNAMIC_DISPATCH(AttentionProbs)(p, stride, n_heads, n, scale, round_f16);
}

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
