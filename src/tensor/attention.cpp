// tensor/attention.cpp — attention of one query head over a KV cache of f16 or f32 rows, with
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

// The portable f16 loops (simd::ref) and, for the attention below, the SIMD kernels that give
// the same sums in the same order with hardware conversion.
float dot_f16_loop(const float* q, const uint16_t* k, int64_t n) { return dot<uint16_t>(q, k, n); }
void axpy_f16_loop(float* y, const uint16_t* v, float a, int64_t n) { axpy<uint16_t>(y, v, a, n); }
float dot(const float* q, const uint16_t* k, int64_t n) { return simd::dot_f16(q, k, n); }
void axpy(float* y, const uint16_t* v, float a, int64_t n) { simd::axpy_f16(y, v, a, n); }

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

template <typename T>
void attention_head(const float* q, const T* k, int64_t k_stride, const T* v, int64_t v_stride,
                    int64_t n_kv, int64_t head_dim_k, int64_t head_dim_v, float scale, float* out,
                    float* scratch) {
  float* q_row = scratch;  // q as the key rows' type sees it
  float* p = scratch + head_dim_k;
  for (int64_t i = 0; i < head_dim_k; ++i) q_row[i] = meet(q[i], T{});
  for (int64_t j = 0; j < n_kv; ++j) p[j] = scale * dot(q_row, k + j * k_stride, head_dim_k);
  softmax_f32(p, n_kv);
  for (int64_t i = 0; i < head_dim_v; ++i) out[i] = 0.0f;
  for (int64_t j = 0; j < n_kv; ++j) axpy(out, v + j * v_stride, meet(p[j], T{}), head_dim_v);
}

}  // namespace

float simd::ref::dot_f16(const float* q, const uint16_t* k, int64_t n) { return dot_f16_loop(q, k, n); }
void simd::ref::axpy_f16(float* y, const uint16_t* v, float a, int64_t n) { axpy_f16_loop(y, v, a, n); }

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
  if (kv_type == TensorType::F32)
    attention_head(q, static_cast<const float*>(k), k_stride, static_cast<const float*>(v),
                   v_stride, n_kv, head_dim_k, head_dim_v, scale, out, scratch);
  else
    attention_head(q, static_cast<const uint16_t*>(k), k_stride, static_cast<const uint16_t*>(v),
                   v_stride, n_kv, head_dim_k, head_dim_v, scale, out, scratch);
}

}  // namespace inhouse::tensor
