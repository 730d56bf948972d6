// tensor/attention.cpp — attention of query heads over a KV cache of f16 or f32 rows, with
// the rounding points of ggml's non-flash attention (llama.cpp's default), so that decoders
// reproduce its outputs: with f16 rows the query meets the keys as f16 and the probabilities
// meet the values as f16 (ggml converts the float operand to the f16 row's vec_dot_type); sums
// and the softmax stay in f32.
#include <algorithm>
#include <cmath>

#include "tensor/kernels_internal.h"
#include "tensor/tensor.h"

namespace inhouse::tensor {
namespace {

inline float load(float x) { return x; }
inline float load(uint16_t h) { return fp16_to_fp32(h); }

// What a float becomes when it meets a row of type T: f16 rows round it to f16.
inline float meet(float x, float) { return x; }
inline float meet(float x, uint16_t) { return fp16_to_fp32(fp32_to_fp16(x)); }

// Partial sums in kLanes independent accumulators: the loop vectorises without reassociation
// flags, and the order is fixed (results depend only on the inputs).
constexpr int64_t kLanes = 8;

template <typename T>
float dot(const float* q, const T* k, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) acc[l] += q[i + l] * load(k[i + l]);
  float sum = 0.0f;
  for (int64_t l = 0; l < kLanes; ++l) sum += acc[l];
  for (; i < n; ++i) sum += q[i] * load(k[i]);
  return sum;
}

template <typename T>
void axpy(float* y, const T* v, float a, int64_t n) {  // y += a * v
  for (int64_t i = 0; i < n; ++i) y[i] += a * load(v[i]);
}

// The portable f16 loops (simd::ref); the attention below reads f16 rows through the SIMD
// kernels, which give the same sums in the same order with hardware conversion, several rows
// per call.
float dot_f16_loop(const float* q, const uint16_t* k, int64_t n) { return dot<uint16_t>(q, k, n); }
void axpy_f16_loop(float* y, const uint16_t* v, float a, int64_t n) { axpy<uint16_t>(y, v, a, n); }

// For heads h < n_heads (query q + h * q_stride): out[h * out_stride + j] = q_h · row j; and
// y_h += Σ_j a_h[j]·row j in order of j (y_h = y + h * y_stride, a_h = a + h * a_stride), for
// `rows` rows `stride` apart.
void dots(const float* q, int64_t q_stride, int64_t n_heads, const float* k, int64_t stride, int64_t rows,
          int64_t n, float* out, int64_t out_stride) {
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t j = 0; j < rows; ++j) out[h * out_stride + j] = dot(q + h * q_stride, k + j * stride, n);
}
void dots(const float* q, int64_t q_stride, int64_t n_heads, const uint16_t* k, int64_t stride, int64_t rows,
          int64_t n, float* out, int64_t out_stride) {
  simd::dot_f16_heads(q, q_stride, n_heads, k, stride, rows, n, out, out_stride);
}
void axpys(float* y, int64_t y_stride, int64_t n_heads, const float* v, int64_t stride, const float* a,
           int64_t a_stride, int64_t rows, int64_t n) {
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t j = 0; j < rows; ++j) axpy(y + h * y_stride, v + j * stride, a[h * a_stride + j], n);
}
void axpys(float* y, int64_t y_stride, int64_t n_heads, const uint16_t* v, int64_t stride, const float* a,
           int64_t a_stride, int64_t rows, int64_t n) {
  simd::axpy_f16_heads(y, y_stride, n_heads, v, stride, a, a_stride, rows, n);
}

// In place, max-subtracted; the sum is kept in double as ggml's soft_max does.
void softmax_f32(float* x, int64_t n) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::fmax(max, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

// Each score row scaled, softmaxed, and rounded to f16 where it meets f16 value rows.
void attention_probs_loop(float* p, int64_t stride, int64_t n_heads, int64_t n, float scale, bool round_f16) {
  for (int64_t h = 0; h < n_heads; ++h) {
    float* ph = p + h * stride;
    for (int64_t j = 0; j < n; ++j) ph[j] *= scale;
    softmax_f32(ph, n);
    if (round_f16)
      for (int64_t j = 0; j < n; ++j) ph[j] = meet(ph[j], uint16_t{});
  }
}

// Cached rows per pass over the heads of a group: a block of rows (256 x 128 f16 keys = 64 KiB)
// stays in L2 while every head reads it.
constexpr int64_t kRowBlock = 256;

// Heads h < n_heads: query q + h * q_stride, output out + h * out_stride. Each head runs the
// same operations in the same order as it would alone; only the passes over cached rows are
// shared, so a row comes from memory once per group.
template <typename T>
void attention_heads(const float* q, int64_t q_stride, int64_t n_heads, const T* k, int64_t k_stride,
                     const T* v, int64_t v_stride, int64_t n_kv, int64_t head_dim_k,
                     int64_t head_dim_v, float scale, float* out, int64_t out_stride, float* scratch) {
  const int64_t per_head = attention_scratch_floats(n_kv, head_dim_k);
  auto q_row = [&](int64_t h) { return scratch + h * per_head; };  // q as the key rows' type sees it
  auto p = [&](int64_t h) { return scratch + h * per_head + head_dim_k; };
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < head_dim_k; ++i) q_row(h)[i] = meet(q[h * q_stride + i], T{});
  for (int64_t j0 = 0; j0 < n_kv; j0 += kRowBlock) {
    const int64_t rows = std::min(kRowBlock, n_kv - j0);
    dots(q_row(0), per_head, n_heads, k + j0 * k_stride, k_stride, rows, head_dim_k, p(0) + j0, per_head);
  }
  simd::attention_probs(p(0), per_head, n_heads, n_kv, scale, std::is_same_v<T, uint16_t>);
  for (int64_t h = 0; h < n_heads; ++h) std::fill_n(out + h * out_stride, head_dim_v, 0.0f);
  for (int64_t j0 = 0; j0 < n_kv; j0 += kRowBlock) {
    const int64_t rows = std::min(kRowBlock, n_kv - j0);
    axpys(out, out_stride, n_heads, v + j0 * v_stride, v_stride, p(0) + j0, per_head, rows, head_dim_v);
  }
}

}  // namespace

float simd::ref::dot_f16(const float* q, const uint16_t* k, int64_t n) { return dot_f16_loop(q, k, n); }
void simd::ref::axpy_f16(float* y, const uint16_t* v, float a, int64_t n) { axpy_f16_loop(y, v, a, n); }
void simd::ref::attention_probs(float* p, int64_t stride, int64_t n_heads, int64_t n, float scale, bool round_f16) {
  attention_probs_loop(p, stride, n_heads, n, scale, round_f16);
}

bool is_kv_type(TensorType t) { return t == TensorType::F16 || t == TensorType::F32; }

void store_kv_row(TensorType t, const float* x, void* dst, int64_t n) {
  if (t == TensorType::F32) {
    std::copy_n(x, n, static_cast<float*>(dst));
    return;
  }
  uint16_t* y = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

int64_t attention_scratch_floats(int64_t n_kv, int64_t head_dim_k) { return n_kv + head_dim_k; }

void cached_attention_head(TensorType kv_type, const float* q, const void* k, int64_t k_stride,
                           const void* v, int64_t v_stride, int64_t n_kv, int64_t head_dim_k,
                           int64_t head_dim_v, float scale, float* out, float* scratch) {
  cached_attention_heads(kv_type, q, 0, 1, k, k_stride, v, v_stride, n_kv, head_dim_k, head_dim_v,
                         scale, out, 0, scratch);
}

void cached_attention_heads(TensorType kv_type, const float* q, int64_t q_stride, int64_t n_heads,
                            const void* k, int64_t k_stride, const void* v, int64_t v_stride,
                            int64_t n_kv, int64_t head_dim_k, int64_t head_dim_v, float scale,
                            float* out, int64_t out_stride, float* scratch) {
  if (kv_type == TensorType::F32)
    attention_heads(q, q_stride, n_heads, static_cast<const float*>(k), k_stride,
                    static_cast<const float*>(v), v_stride, n_kv, head_dim_k, head_dim_v, scale,
                    out, out_stride, scratch);
  else
    attention_heads(q, q_stride, n_heads, static_cast<const uint16_t*>(k), k_stride,
                    static_cast<const uint16_t*>(v), v_stride, n_kv, head_dim_k, head_dim_v, scale,
                    out, out_stride, scratch);
}

}  // namespace inhouse::tensor
