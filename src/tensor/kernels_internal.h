// tensor/kernels_internal.h (private to tensor) — the entry points of the SIMD kernels in
// kernels_simd.cpp, which are compiled once per instruction set and dispatched at run time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/tensor.h"

namespace inhouse::tensor::simd {

// Weight row · activation row, as vec_dot (types without a SIMD kernel use vec_dot_scalar).
float vec_dot(TensorType t, const void* row, const void* act, int64_t n);

// y[b * n_out + o] = W[o] · act[b] for o in [o0, o1), b < n_batch. act holds n_batch rows of
// act_bytes in act_format(w.type). The result of each (o, b) is computed by the same operations
// whatever n_batch, [o0, o1) or b's place in the batch are (batch invariance).
void matmul_rows(const Matrix& w, int64_t o0, int64_t o1, const uint8_t* act, size_t act_bytes,
                 int64_t n_batch, float* y);

// Float row operations behind tensor.h's silu, mul, add, axpy, dot_f32, rms_norm and softmax
// (same contracts). Highway vectors on every target but SCALAR, which runs the ref loops.
void silu(float* x, int64_t n);
void mul(float* y, const float* x, int64_t n);
void add(float* y, const float* x, int64_t n);
void axpy(float* y, const float* x, float a, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);
void softmax(float* x, int64_t n);

// Attention over f16 KV rows (attention.cpp): Σ q[i]·k[i] in 8 partial sums added in lane
// order, and y += a·v, with k and v converted from f16 by the CPU (F16C) where it can. Same
// results as the ref loops on every target.
float dot_f16(const float* q, const uint16_t* k, int64_t n);
void axpy_f16(float* y, const uint16_t* v, float a, int64_t n);
// The same for n_heads queries over many rows (a GQA group), row j at j * k_stride (v_stride)
// elements: out[h * out_stride + j] = dot_f16(q + h * q_stride, row j, n), and for each head
// y_h += a_h[j]·v_j for j in order (y_h = y + h * y_stride, a_h = a + h * a_stride; each
// element as axpy_f16 row after row). Bit for bit those calls' results; several rows in flight
// at once, y kept in registers across rows, and each row loaded and converted once for all
// heads.
void dot_f16_heads(const float* q, int64_t q_stride, int64_t n_heads, const uint16_t* k, int64_t k_stride,
                   int64_t n_rows, int64_t n, float* out, int64_t out_stride);
void axpy_f16_heads(float* y, int64_t y_stride, int64_t n_heads, const uint16_t* v, int64_t v_stride,
                    const float* a, int64_t a_stride, int64_t n_rows, int64_t n);
// The attention weights of n_heads score rows (row h at p + h * stride, n scores): each score
// times scale, then softmax (max-subtracted, std::exp, the sum in double as ggml's soft_max),
// then, with round_f16, rounded to f16 as they meet f16 value rows. The SIMD version gives the
// loop's results bit for bit (a NaN score may come out as another NaN).
void attention_probs(float* p, int64_t stride, int64_t n_heads, int64_t n, float scale, bool round_f16);

// The plain loops (ops.cpp, vec_dot.cpp, attention.cpp): the reference the SIMD versions are tested against.
namespace ref {
void silu(float* x, int64_t n);
void mul(float* y, const float* x, int64_t n);
void add(float* y, const float* x, int64_t n);
void axpy(float* y, const float* x, float a, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);
void softmax(float* x, int64_t n);
float dot_f16(const float* q, const uint16_t* k, int64_t n);
void axpy_f16(float* y, const uint16_t* v, float a, int64_t n);
void attention_probs(float* p, int64_t stride, int64_t n_heads, int64_t n, float scale, bool round_f16);
}  // namespace ref

}  // namespace inhouse::tensor::simd
