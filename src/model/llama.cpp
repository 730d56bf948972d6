// model/llama.cpp — the llama-family decoder, for architectures `llama` (GQA, normal-style RoPE,
// optional output.weight else tied to token_embd, optional rope_freqs) and `qwen2` (the same
// with Q/K/V biases and NeoX-style RoPE). Reference: llama.cpp's build_llama / build_qwen2.
//
// Per layer:  x += Wo · attention(rope(Wq·n + bq), rope(Wk·n + bk), Wv·n + bv),  n = rmsnorm(x)
//             x += Wdown · (silu(Wgate·n) * (Wup·n)),                            n = rmsnorm(x)
// then logits = Woutput · rmsnorm(x). A batch of tokens goes through each matmul together.
#include "model/model_internal.h"

#include <algorithm>
#include <cmath>

namespace inhouse::model {
namespace {

using tensor::Matrix;

// Tokens per feed-forward piece (see forward).
constexpr int64_t kFfnRows = 64;

struct Layer {
  std::vector<float> attn_norm, ffn_norm;
  Matrix wq, wk, wv, wo;
  std::vector<float> bq, bk, bv, bo;  // empty when the file has none
  Matrix ffn_gate, ffn_up, ffn_down;
};

class Llama final : public Architecture {
 public:
  Llama(const gguf::GgufFile& file, const Hparams& hp);
  KvCache new_cache(int64_t n_ctx, tensor::TensorType type, MlaCache) const override {
    return KvCache(hp_.n_layer, n_ctx, hp_.n_head_kv * hp_.head_dim_k,
                   hp_.n_head_kv * hp_.head_dim_v, type, hp_.n_head_kv);
  }
  bool fits(const KvCache& c) const override {
    return c.n_layer() == hp_.n_layer && c.k_width() == hp_.n_head_kv * hp_.head_dim_k &&
           c.v_width() == hp_.n_head_kv * hp_.head_dim_v && c.n_heads() == hp_.n_head_kv;
  }
  void forward(const Batch& batch, tensor::ThreadPool& pool, float* logits) const override;

 private:
  void attention(int64_t layer, const Batch& batch, const float* q, tensor::ThreadPool& pool,
                 float* out) const;

  Hparams hp_;
  Matrix token_embd_, output_;
  std::vector<float> output_norm_;
  std::vector<float> rope_freqs_;  // optional per-frequency divisors (llama 3.1 style)
  std::vector<Layer> layers_;
};

Llama::Llama(const gguf::GgufFile& file, const Hparams& hp) : hp_(hp) {
  const WeightLoader w(file, hp.arch);
  const int64_t d = hp.n_embd, q_width = hp.n_head * hp.head_dim_k;
  const int64_t k_width = hp.n_head_kv * hp.head_dim_k, v_width = hp.n_head_kv * hp.head_dim_v;
  const int64_t o_width = hp.n_head * hp.head_dim_v;
  const bool qkv_bias_required = hp.arch == "qwen2";

  token_embd_ = w.matrix("token_embd.weight", d, hp.n_vocab);
  output_norm_ = w.vector("output_norm.weight", d);
  output_ = w.optional_matrix("output.weight", d, hp.n_vocab).value_or(token_embd_);
  rope_freqs_ = w.optional_vector("rope_freqs.weight", hp.n_rot / 2);

  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    auto bias = [&](const std::string& name, int64_t n) {
      return qkv_bias_required ? w.vector(p + name, n) : w.optional_vector(p + name, n);
    };
    Layer L;
    L.attn_norm = w.vector(p + "attn_norm.weight", d);
    L.wq = w.matrix(p + "attn_q.weight", d, q_width);
    L.wk = w.matrix(p + "attn_k.weight", d, k_width);
    L.wv = w.matrix(p + "attn_v.weight", d, v_width);
    L.wo = w.matrix(p + "attn_output.weight", o_width, d);
    L.bq = bias("attn_q.bias", q_width);
    L.bk = bias("attn_k.bias", k_width);
    L.bv = bias("attn_v.bias", v_width);
    L.bo = w.optional_vector(p + "attn_output.bias", d);
    L.ffn_norm = w.vector(p + "ffn_norm.weight", d);
    L.ffn_gate = w.matrix(p + "ffn_gate.weight", d, hp.n_ff);
    L.ffn_up = w.matrix(p + "ffn_up.weight", d, hp.n_ff);
    L.ffn_down = w.matrix(p + "ffn_down.weight", hp.n_ff, d);
    layers_.push_back(std::move(L));
  }
}

// rows x width activations; every row gets the same per-feature vector added (if any).
void add_bias(float* x, int64_t rows, const std::vector<float>& bias) {
  if (bias.empty()) return;
  const int64_t width = int64_t(bias.size());
  for (int64_t r = 0; r < rows; ++r) tensor::add(x + r * width, bias.data(), width);
}

void rms_norm_rows(const float* x, float* out, int64_t rows, const std::vector<float>& weight,
                   float eps) {
  const int64_t width = int64_t(weight.size());
  for (int64_t r = 0; r < rows; ++r)
    tensor::rms_norm(x + r * width, weight.data(), out + r * width, width, eps);
}

void Llama::forward(const Batch& batch, tensor::ThreadPool& pool, float* logits) const {
  const int64_t n = batch.size(), d = hp_.n_embd;
  const int64_t q_width = hp_.n_head * hp_.head_dim_k, o_width = hp_.n_head * hp_.head_dim_v;
  const int64_t k_width = hp_.n_head_kv * hp_.head_dim_k, v_width = hp_.n_head_kv * hp_.head_dim_v;
  std::vector<float> x(size_t(n * d)), cur(x.size()), tmp(x.size());
  std::vector<float> q(size_t(n * q_width)), k(size_t(n * k_width)), v(size_t(n * v_width));
  std::vector<float> attn(size_t(n * o_width));
  // The feed-forward runs kFfnRows tokens at a time: its gate and up rows are the widest
  // activations (2 x 8960 floats per token at the 1.5B shape: 37 MB for a 512-token batch),
  // and the matmuls stream the weights once per 64 batch rows anyway, so smaller pieces cost
  // no weight traffic. Each row's result does not depend on its batch (batch invariance).
  const int64_t ffn_rows = std::min(n, kFfnRows);
  std::vector<float> gate(size_t(ffn_rows * hp_.n_ff)), up(gate.size());

  tensor::RopeParams rope;
  rope.n_rot = hp_.n_rot;
  rope.freq_base = hp_.rope_freq_base;
  rope.freq_scale = hp_.rope_freq_scale;
  rope.freq_factors = rope_freqs_.empty() ? nullptr : rope_freqs_.data();
  rope.style = hp_.rope_style;

  // Token embeddings: one row of token_embd per token, dequantised from the file.
  for (int64_t t = 0; t < n; ++t) token_embd_.get_row(batch.tokens[size_t(t)], x.data() + t * d);

  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    const Layer& L = layers_[size_t(il)];

    // Attention: project, rotate by position, append to each sequence's cache,
    // attend within the sequence, project back.
    rms_norm_rows(x.data(), cur.data(), n, L.attn_norm, hp_.norm_eps);
    tensor::matmul(L.wq, cur.data(), n, q.data(), pool);
    tensor::matmul(L.wk, cur.data(), n, k.data(), pool);
    tensor::matmul(L.wv, cur.data(), n, v.data(), pool);
    add_bias(q.data(), n, L.bq);
    add_bias(k.data(), n, L.bk);
    add_bias(v.data(), n, L.bv);
    for (int64_t t = 0; t < n; ++t) {
      const int64_t pos = batch.pos[size_t(t)];
      KvCache& cache = *batch.cache[size_t(t)];
      tensor::rope(q.data() + t * q_width, hp_.n_head, hp_.head_dim_k, hp_.head_dim_k, pos, rope);
      tensor::rope(k.data() + t * k_width, hp_.n_head_kv, hp_.head_dim_k, hp_.head_dim_k, pos, rope);
      for (int64_t h = 0; h < hp_.n_head_kv; ++h) {
        tensor::store_kv_row(cache.type(), k.data() + t * k_width + h * hp_.head_dim_k, cache.k(il, pos, h),
                             hp_.head_dim_k);
        tensor::store_kv_row(cache.type(), v.data() + t * v_width + h * hp_.head_dim_v, cache.v(il, pos, h),
                             hp_.head_dim_v);
      }
    }
    attention(il, batch, q.data(), pool, attn.data());
    tensor::matmul(L.wo, attn.data(), n, tmp.data(), pool);
    add_bias(tmp.data(), n, L.bo);
    tensor::add(x.data(), tmp.data(), n * d);

    // Feed-forward (SwiGLU).
    rms_norm_rows(x.data(), cur.data(), n, L.ffn_norm, hp_.norm_eps);
    for (int64_t r0 = 0; r0 < n; r0 += ffn_rows) {
      const int64_t rows = std::min(ffn_rows, n - r0);
      tensor::matmul(L.ffn_gate, cur.data() + r0 * d, rows, gate.data(), pool);
      tensor::matmul(L.ffn_up, cur.data() + r0 * d, rows, up.data(), pool);
      tensor::silu(gate.data(), rows * hp_.n_ff);
      tensor::mul(gate.data(), up.data(), rows * hp_.n_ff);
      tensor::matmul(L.ffn_down, gate.data(), rows, tmp.data() + r0 * d, pool);
    }
    tensor::add(x.data(), tmp.data(), n * d);
  }

  batch_logits(batch, x.data(), d, output_norm_, hp_.norm_eps, output_, pool, logits);
}

// Causal attention for every row of the batch: the row at position p sees positions 0..p of
// its own sequence's cache. Query head h reads key/value head h / group (grouped-query
// attention); the heads of a group go through the cache together, so each cached row is read
// once per group, not once per head.
void Llama::attention(int64_t layer, const Batch& batch, const float* q, tensor::ThreadPool& pool,
                      float* out) const {
  const int64_t hk = hp_.head_dim_k, hv = hp_.head_dim_v, H = hp_.n_head, H_kv = hp_.n_head_kv;
  const int64_t group = H / H_kv;
  const float scale = hp_.attn_scale != 0.0f ? hp_.attn_scale : 1.0f / std::sqrt(float(hk));
  const HeadSplit split = split_heads(batch.size() * H_kv, group, pool.size());
  const int64_t scratch_size = split.per_split * tensor::attention_scratch_floats(batch.max_kv(), hk);
  pool.parallel_for(batch.size() * H_kv * split.splits, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(scratch_size));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t = i / (H_kv * split.splits), kvh = i / split.splits % H_kv, s = i % split.splits;
      const int64_t h0 = kvh * group + s * split.per_split, n_heads = split.heads_in(s, group);
      if (n_heads == 0) continue;
      const KvCache& cache = *batch.cache[size_t(t)];
      tensor::cached_attention_heads(cache.type(), q + (t * H + h0) * hk, hk, n_heads, cache.k(layer, 0, kvh), hk,
                                     cache.v(layer, 0, kvh), hv, batch.pos[size_t(t)] + 1, hk, hv, scale,
                                     out + (t * H + h0) * hv, hv, scratch.data());
    }
  });
}

}  // namespace

std::unique_ptr<Architecture> load_llama(const gguf::GgufFile& file, Hparams& hp) {
  // llama.cpp converts llama checkpoints with Q/K rows permuted for adjacent-pair rotation;
  // Qwen2 keeps the original half-split (NeoX) layout.
  hp.rope_style = hp.arch == "qwen2" ? tensor::RopeStyle::Neox : tensor::RopeStyle::Normal;
  return std::make_unique<Llama>(file, hp);
}

}  // namespace inhouse::model
