// tensor/ops.cpp — owns the float operations of transformer layers: RMSNorm, LayerNorm, RoPE,
// softmax, SiLU, GELU, elementwise add/mul, and one attention head over cached keys/values.
// Sums that decide a whole row's scale (norms, softmax) accumulate in double, as ggml does.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/tensor.h"

namespace inhouse::tensor {

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * double(x[i]);
  const float scale = 1.0f / std::sqrt(float(ss / double(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * (weight ? weight[i] : 1.0f);
}

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

// Pair i turns by pos * freq_scale * base^(-2i / n_rot) (divided by its freq factor, if any);
// cos/sin are computed once per call and applied to every head.
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t head_stride, int64_t pos,
          const RopeParams& p) {
  if (p.n_rot <= 0 || p.n_rot % 2 != 0 || p.n_rot > head_dim)
    throw Error("rope: n_rot " + std::to_string(p.n_rot) + " must be even and within head_dim " +
                std::to_string(head_dim));
  const int64_t half = p.n_rot / 2;
  thread_local std::vector<float> cs;
  cs.resize(size_t(2 * half));
  for (int64_t i = 0; i < half; ++i) {
    double theta = double(pos) * double(p.freq_scale) *
                   std::pow(double(p.freq_base), -2.0 * double(i) / double(p.n_rot));
    if (p.freq_factors) theta /= double(p.freq_factors[i]);
    cs[size_t(2 * i)] = float(std::cos(theta));
    cs[size_t(2 * i + 1)] = float(std::sin(theta));
  }
  // Dims n_rot..head_dim pass through unchanged.
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_stride;
    for (int64_t i = 0; i < half; ++i) {
      // Normal style rotates neighbours; NeoX rotates the two halves of the rotated dims.
      const int64_t a = p.style == RopeStyle::Normal ? 2 * i : i;
      const int64_t b = p.style == RopeStyle::Normal ? 2 * i + 1 : i + half;
      const float c = cs[size_t(2 * i)], s = cs[size_t(2 * i + 1)];
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
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

void gelu(float* x, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  constexpr float kCoef = 0.044715f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + kCoef * v * v)));
  }
}

void mul(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= x[i];
}

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
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
