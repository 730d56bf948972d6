// tensor/rope_yarn.cpp — owns RoPE, plain and with YaRN context extension ("yet another RoPE
// extension"): per frequency pair, a ramp between interpolated (position * freq_scale) and
// extrapolated (plain) angles, and a magnitude on cos/sin. The definition follows ggml's rope
// with ext_factor, so a model run here matches llama.cpp; tensor::rope is the case ext_factor 0,
// attn_factor 1.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "tensor/tensor.h"

namespace inhouse::tensor {

namespace {
// The pair index whose wavelength turns n_turns times over the original context:
// n_rot * ln(n_ctx_orig / (n_turns * 2π)) / (2 ln base).
float corr_dim(int64_t n_rot, int64_t n_ctx_orig, float n_turns, float base) {
  return float(n_rot) * std::log(float(n_ctx_orig) / (n_turns * 2.0f * std::numbers::pi_v<float>)) /
         (2.0f * std::log(base));
}

// Rotates pair i of one head by (cs[2i], cs[2i+1]) = (cos, sin); dims n_rot..head_dim pass
// through. One loop per style so each vectorises: Normal rotates neighbours (x[2i], x[2i+1]),
// NeoX the two halves (x[i], x[i + half]).
void rotate_head(float* v, const float* cs, int64_t half, RopeStyle style) {
  if (style == RopeStyle::Neox) {
    for (int64_t i = 0; i < half; ++i) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const float x0 = v[i], x1 = v[i + half];
      v[i] = x0 * c - x1 * s;
      v[i + half] = x0 * s + x1 * c;
    }
  } else {
    for (int64_t i = 0; i < half; ++i) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const float x0 = v[2 * i], x1 = v[2 * i + 1];
      v[2 * i] = x0 * c - x1 * s;
      v[2 * i + 1] = x0 * s + x1 * c;
    }
  }
}
}  // namespace

YarnCorrDims yarn_corr_dims(int64_t n_rot, int64_t n_ctx_orig, float freq_base, float beta_fast,
                            float beta_slow) {
  // Pairs below `low` turn fast enough to keep their original (extrapolated) angle; pairs above
  // `high` are fully interpolated; the ramp blends linearly in between.
  const float start = std::floor(corr_dim(n_rot, n_ctx_orig, beta_fast, freq_base));
  const float end = std::ceil(corr_dim(n_rot, n_ctx_orig, beta_slow, freq_base));
  return {std::max(0.0f, start), std::min(float(n_rot - 1), end)};
}

void rope_yarn(float* x, int64_t n_heads, int64_t head_dim, int64_t head_stride, int64_t pos,
               const YarnParams& p) {
  if (p.n_rot <= 0 || p.n_rot % 2 != 0 || p.n_rot > head_dim)
    throw Error("rope: n_rot " + std::to_string(p.n_rot) + " must be even and within head_dim " +
                std::to_string(head_dim));
  if (p.ext_factor != 0.0f && p.n_ctx_orig <= 0)
    throw Error("rope: YaRN needs the original context length");
  const int64_t half = p.n_rot / 2;
  const YarnCorrDims corr = p.ext_factor != 0.0f
                                ? yarn_corr_dims(p.n_rot, p.n_ctx_orig, p.freq_base, p.beta_fast, p.beta_slow)
                                : YarnCorrDims{};
  // Interpolation shrinks the attention logits' spread; YaRN compensates on cos/sin.
  const float mscale =
      p.attn_factor * (p.ext_factor != 0.0f ? 1.0f + 0.1f * std::log(1.0f / p.freq_scale) : 1.0f);

  thread_local std::vector<float> cs;
  cs.resize(size_t(2 * half));
  for (int64_t i = 0; i < half; ++i) {
    double extrap = double(pos) * std::pow(double(p.freq_base), -2.0 * double(i) / double(p.n_rot));
    if (p.freq_factors) extrap /= double(p.freq_factors[i]);
    const double interp = double(p.freq_scale) * extrap;
    double theta = interp;
    if (p.ext_factor != 0.0f) {
      const float y = (float(i) - corr.low) / std::max(0.001f, corr.high - corr.low);
      const double ramp = (1.0f - std::clamp(y, 0.0f, 1.0f)) * p.ext_factor;
      theta = interp * (1.0 - ramp) + extrap * ramp;
    }
    cs[size_t(2 * i)] = float(std::cos(theta)) * mscale;
    cs[size_t(2 * i + 1)] = float(std::sin(theta)) * mscale;
  }
  for (int64_t h = 0; h < n_heads; ++h) rotate_head(x + h * head_stride, cs.data(), half, p.style);
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t head_stride, int64_t pos,
          const RopeParams& p) {
  YarnParams y;
  y.n_rot = p.n_rot;
  y.freq_base = p.freq_base;
  y.freq_scale = p.freq_scale;
  y.freq_factors = p.freq_factors;
  y.style = p.style;
  rope_yarn(x, n_heads, head_dim, head_stride, pos, y);
}

}  // namespace inhouse::tensor
