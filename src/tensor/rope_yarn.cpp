// tensor/rope_yarn.cpp — owns YaRN RoPE (context extension by "yet another RoPE extension"): per
// frequency pair, a ramp between interpolated (position * freq_scale) and extrapolated (plain)
// angles, and a magnitude on cos/sin. The definition follows ggml's rope with ext_factor, so a
// model run here matches llama.cpp; with ext_factor 0 and attn_factor 1 it is tensor::rope.
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
    throw Error("rope_yarn: n_rot " + std::to_string(p.n_rot) + " must be even and within head_dim " +
                std::to_string(head_dim));
  if (p.ext_factor != 0.0f && p.n_ctx_orig <= 0)
    throw Error("rope_yarn: YaRN needs the original context length");
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
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_stride;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t a = p.style == RopeStyle::Normal ? 2 * i : i;
      const int64_t b = p.style == RopeStyle::Normal ? 2 * i + 1 : i + half;
      const float c = cs[size_t(2 * i)], s = cs[size_t(2 * i + 1)];
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
}

}  // namespace inhouse::tensor
