// tensor/ops.cpp — owns the float operations of transformer layers: RMSNorm, LayerNorm,
// softmax, SiLU, GELU, elementwise add/mul, and one attention head over cached keys/values.
// Sums that decide a whole row's scale (norms, softmax) accumulate in double, as ggml does.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/kernels_internal.h"
#include "tensor/tensor.h"

namespace inhouse::tensor {

// ---- reference loops (the SCALAR target; the SIMD versions are in kernels_simd.cpp) ----------

namespace simd::ref {

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * double(x[i]);
  const float scale = 1.0f / std::sqrt(float(ss / double(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * (weight ? weight[i] : 1.0f);
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const float mx = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void mul(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= x[i];
}

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace simd::ref

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  simd::rms_norm(x, weight, out, n, eps);
}
void softmax(float* x, int64_t n) { simd::softmax(x, n); }
void silu(float* x, int64_t n) { simd::silu(x, n); }
void mul(float* y, const float* x, int64_t n) { simd::mul(y, x, n); }
void add(float* y, const float* x, int64_t n) { simd::add(y, x, n); }

void layer_norm(const float* x, const float* weight, const float* bias, float* out, int64_t n,
                float eps) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const float mean = float(sum / double(n));
  double var = 0;
  for (int64_t i = 0; i < n; ++i) var += double(x[i] - mean) * double(x[i] - mean);
  const float scale = 1.0f / std::sqrt(float(var / double(n)) + eps);
  for (int64_t i = 0; i < n; ++i) {
    float v = (x[i] - mean) * scale;
    if (weight) v *= weight[i];
    if (bias) v += bias[i];
    out[i] = v;
  }
}

void gelu(float* x, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  constexpr float kCoef = 0.044715f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + kCoef * v * v)));
  }
}

void attention_head(const float* q, const float* k, int64_t k_stride, const float* v,
                    int64_t v_stride, int64_t n_kv, int64_t head_dim_k, int64_t head_dim_v,
                    float scale, float* out, float* scores) {
  for (int64_t i = 0; i < n_kv; ++i) scores[i] = scale * dot_f32(q, k + i * k_stride, head_dim_k);
  softmax(scores, n_kv);
  std::fill(out, out + head_dim_v, 0.0f);
  for (int64_t i = 0; i < n_kv; ++i) axpy(out, v + i * v_stride, scores[i], head_dim_v);
}

}  // namespace inhouse::tensor
