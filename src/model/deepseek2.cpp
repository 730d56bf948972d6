// model/deepseek2.cpp — the DeepSeek V2 / V3 / R1 decoder (architecture `deepseek2`): multi-head
// latent attention (MLA) with decoupled, YaRN-scaled RoPE, then SwiGLU feed-forward in the
// leading dense layers and a mixture of experts (router + routed experts + shared experts) in
// the rest. References: the DeepSeek-V2/V3 papers; llama.cpp's llm_build_deepseek2, build_moe_ffn
// and YaRN set-up (whose outputs the golden tests compare against).
//
// Per layer:  x += Wo · MLA(rmsnorm(x))
//             x += FFN(rmsnorm(x))      FFN = SwiGLU (dense layers) or MoE (the others)
// then logits = Woutput · rmsnorm(x).
//
// MLA: each token's keys and values are generated from one compressed latent
//   c = rmsnorm(Wkv_a · x)[:kv_lora]            (shared by all heads)
//   k_pe = rope(Wkv_a · x)[kv_lora:]            (one rope key shared by all heads)
//   head h: k = [W_k^h c, k_pe],  v = W_v^h c   (W_k^h, W_v^h: blocks of attn_kv_b)
//   q = Wq_b · rmsnorm(Wq_a · x)  (or Wq · x),  head h: q = [q_nope, rope(q_pe)]
// Two cache layouts (MlaCache in model.h), chosen per cache:
//  - Latent: q·k = (W_k^h^T q_nope)·c + q_pe·k_pe, so we cache only [c, k_pe] per position and
//    move the per-head matrices to the query side ("absorption"): attention runs over the latent
//    like multi-query attention of width kv_lora + rope, and W_v^h is applied after the weighted
//    sum. For DeepSeek-V3 (61 layers, 128 heads, kv_lora 512, rope 64, nope 128, v 128) a
//    position costs 61 x 576 cached values instead of 61 x 128 x (192 + 128): 71x less.
//  - Expanded: each token's per-head K and V are computed once (attn_kv_b · c through the
//    ordinary quantised matmul), cached, and attended to as plain multi-head attention. This is
//    what llama.cpp did until it adopted MLA, and its rounding points are the golden files'.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <numeric>
#include <span>

#include "model/model_internal.h"

namespace inhouse::model {
namespace {

using tensor::Matrix;

// expert_gating_func values (llama.cpp's llama_expert_gating_func_type).
enum class Gating { Softmax = 1, Sigmoid = 2, SoftmaxWeight = 3 };

// What deepseek2 adds to the common Hparams.
struct Config {
  int64_t q_lora = 0;  // 0: the query is one projection (attn_q), as in V2-Lite
  int64_t kv_lora = 0;
  int64_t n_nope = 0, n_rope = 0, n_v = 0;  // per head
  int64_t n_dense = 0;                      // leading dense layers
  int64_t n_expert = 0, n_expert_used = 0, n_expert_shared = 0, n_ff_exp = 0;
  int64_t n_groups = 1, n_groups_used = 1;  // group-limited routing (V3: 8 groups, 4 used)
  Gating gating = Gating::Softmax;
  bool weights_norm = false;
  float weights_scale = 0.0f;  // 0: weights not scaled
  tensor::YarnParams rope;
  float kq_scale = 0.0f;
};

struct Ffn {  // SwiGLU: down · (silu(gate · x) * (up · x))
  Matrix gate, up, down;
  int64_t n_ff = 0;  // 0: absent
};

struct Layer {
  std::vector<float> attn_norm, q_a_norm, kv_a_norm, ffn_norm;
  Matrix wq;          // q_lora == 0
  Matrix wq_a, wq_b;  // q_lora > 0
  Matrix wkv_a;       // x -> [latent (kv_lora) | shared rope key (n_rope)]
  // Per head, one of: wk = W_k^h (n_nope rows of kv_lora, from attn_kv_b) or wk_t = its
  // transpose (kv_lora rows of n_nope, from attn_k_b in files converted for MLA).
  std::vector<Matrix> wk, wk_t;
  std::vector<Matrix> wv;  // per head: W_v^h, n_v rows of kv_lora
  Matrix wkv_b;            // all heads' [W_k^h; W_v^h] (only with wk, not with wk_t)
  Matrix wo;

  bool moe = false;
  Ffn dense;                 // !moe
  Matrix router;             // moe: x -> n_expert logits
  std::vector<float> router_bias;  // exp_probs_b: steers the choice only; empty when absent
  std::vector<Ffn> experts;
  Ffn shared;                // n_ff == 0 when the model has no shared experts
};

// n consecutive rows of m as a matrix of their own (a head's block of a fused projection).
Matrix rows_of(const Matrix& m, int64_t first, int64_t n) {
  Matrix r = m;
  r.data = m.row(first);
  r.n_out = n;
  return r;
}

bool get_bool(const gguf::GgufFile& file, const KeyReader& keys, std::string_view suffix) {
  try {
    return file.get_bool(keys.key(suffix)).value_or(false);
  } catch (const gguf::Error& e) {
    throw Error("model key '" + keys.key(suffix) + "': " + e.what());
  }
}

// YaRN as llama.cpp applies it to deepseek2 (llama-context.cpp and the deepseek2 graph):
// yarn_log_multiplier holds 0.1 * mscale_all_dim. The rope magnitude is rope.scaling.attn_factor
// (ggml's own 1 + 0.1 ln(factor) on cos/sin is cancelled), and the attention logits get
// mscale^2 with mscale = attn * (1 + yarn_log_multiplier * ln(factor)).
void set_up_rope(const KeyReader& keys, const Hparams& hp, Config& c) {
  const std::string type = keys.get_string("rope.scaling.type").value_or("linear");
  if (type != "none" && type != "linear" && type != "yarn")
    throw Error("model key '" + keys.key("rope.scaling.type") + "' = '" + type +
                "' is not supported for deepseek2 (supported: none, linear, yarn)");
  const float freq_scale = type == "none" ? 1.0f : hp.rope_freq_scale;
  const float ln_factor = std::log(1.0f / freq_scale);
  const float log_mul = keys.get_float("rope.scaling.yarn_log_multiplier").value_or(0.0f);

  tensor::YarnParams& r = c.rope;
  r.n_rot = c.n_rope;
  r.freq_base = hp.rope_freq_base;
  r.freq_scale = freq_scale;
  r.ext_factor = keys.get_float("rope.scaling.yarn_ext_factor").value_or(type == "yarn" ? 1.0f : 0.0f);
  r.beta_fast = keys.get_float("rope.scaling.yarn_beta_fast").value_or(32.0f);
  r.beta_slow = keys.get_float("rope.scaling.yarn_beta_slow").value_or(1.0f);
  r.n_ctx_orig = keys.get_int("rope.scaling.original_context_length").value_or(hp.n_ctx_train);
  r.style = tensor::RopeStyle::Normal;  // converted DeepSeek weights rotate adjacent pairs

  float attn = keys.get_float("rope.scaling.yarn_attn_factor").value_or(1.0f);
  if (r.ext_factor != 0.0f) {
    // mscale / mscale_all_dim of the HF config, taken equal (as llama.cpp does): ratio 1; with
    // no log multiplier, HF's magnitude 1 + 0.1 ln(factor). Then cancel ggml's own factor.
    attn = (log_mul != 0.0f || ln_factor <= 0.0f ? 1.0f : 1.0f + 0.1f * ln_factor) /
           (1.0f + 0.1f * ln_factor);
  }
  attn *= keys.get_float("rope.scaling.attn_factor").value_or(1.0f);
  r.attn_factor = attn;
  const float mscale = attn * (1.0f + 0.1f * ln_factor) * (1.0f + log_mul * ln_factor);
  c.kq_scale = mscale * mscale / std::sqrt(float(c.n_nope + c.n_rope));
}

Config read_config(const gguf::GgufFile& file, const Hparams& hp) {
  const KeyReader keys(file, hp.arch);
  Config c;
  c.q_lora = keys.get_int("attention.q_lora_rank").value_or(0);
  c.kv_lora = keys.require_int("attention.kv_lora_rank");
  c.n_rope = hp.n_rot;
  c.n_nope = hp.head_dim_k - hp.n_rot;
  c.n_v = hp.head_dim_v;
  if (c.q_lora < 0) throw Error("model key '" + keys.key("attention.q_lora_rank") + "' is negative");
  if (c.n_nope <= 0)
    throw Error("deepseek2: key head size " + std::to_string(hp.head_dim_k) +
                " leaves no room beside the rope dimension " + std::to_string(hp.n_rot));

  c.n_dense = keys.get_int("leading_dense_block_count").value_or(0);
  if (c.n_dense < 0 || c.n_dense > hp.n_layer)
    throw Error("model key '" + keys.key("leading_dense_block_count") + "' = " +
                std::to_string(c.n_dense) + " is outside [0, block_count]");
  if (c.n_dense > 0 && hp.n_ff <= 0)
    throw Error("model file is missing the key '" + keys.key("feed_forward_length") + "'");
  if (c.n_dense < hp.n_layer) {
    c.n_expert = keys.require_int("expert_count");
    c.n_expert_used = keys.require_int("expert_used_count");
    c.n_ff_exp = keys.require_int("expert_feed_forward_length");
    c.n_expert_shared = keys.get_int("expert_shared_count").value_or(0);
    if (c.n_expert_used > c.n_expert || c.n_expert_shared < 0)
      throw Error("deepseek2: " + std::to_string(c.n_expert_used) + " experts used of " +
                  std::to_string(c.n_expert) + " (shared " + std::to_string(c.n_expert_shared) + ")");
    const int64_t gating = keys.get_int("expert_gating_func").value_or(1);  // absent: V2 softmax
    if (gating < 1 || gating > 3)
      throw Error("model key '" + keys.key("expert_gating_func") + "' = " + std::to_string(gating) +
                  " is not supported (1 softmax, 2 sigmoid, 3 softmax over the chosen)");
    c.gating = Gating(gating);
    c.weights_norm = get_bool(file, keys, "expert_weights_norm");
    c.weights_scale = keys.get_float("expert_weights_scale").value_or(0.0f);
    c.n_groups = std::max<int64_t>(1, keys.get_int("expert_group_count").value_or(1));
    c.n_groups_used = keys.get_int("expert_group_used_count").value_or(c.n_groups);
    if (c.n_expert % c.n_groups != 0 || c.n_groups_used < 1 || c.n_groups_used > c.n_groups ||
        c.n_groups_used * (c.n_expert / c.n_groups) < c.n_expert_used)
      throw Error("deepseek2: " + std::to_string(c.n_expert) + " experts in " +
                  std::to_string(c.n_groups) + " groups with " + std::to_string(c.n_groups_used) +
                  " used cannot supply " + std::to_string(c.n_expert_used) + " experts");
  }
  if (keys.get_float("attention.temperature_scale").value_or(0.0f) != 0.0f)
    throw Error("model key '" + keys.key("attention.temperature_scale") +
                "' (attention temperature tuning) is not supported");
  set_up_rope(keys, hp, c);
  return c;
}

Ffn load_ffn(const WeightLoader& w, const std::string& p, const std::string& suffix, int64_t d,
             int64_t n_ff) {
  return {w.matrix(p + "ffn_gate" + suffix + ".weight", d, n_ff),
          w.matrix(p + "ffn_up" + suffix + ".weight", d, n_ff),
          w.matrix(p + "ffn_down" + suffix + ".weight", n_ff, d), n_ff};
}

class Deepseek2 final : public Architecture {
 public:
  Deepseek2(const gguf::GgufFile& file, const Hparams& hp, Config cfg);
  KvCache new_cache(int64_t n_ctx, tensor::TensorType type, MlaCache mla) const override {
    const int64_t H = hp_.n_head;
    // Expanded: per head the full key and value. Latent: the normalised latent and the roped
    // shared key, no values (they are rebuilt from the latent).
    if (mla == MlaCache::Expanded)
      return KvCache(hp_.n_layer, n_ctx, H * hp_.head_dim_k, H * cfg_.n_v, type);
    return KvCache(hp_.n_layer, n_ctx, cfg_.kv_lora + cfg_.n_rope, 0, type);
  }
  bool fits(const KvCache& c) const override {
    if (c.n_layer() != hp_.n_layer) return false;
    if (is_expanded(c))
      return c.k_width() == hp_.n_head * hp_.head_dim_k && c.v_width() == hp_.n_head * cfg_.n_v;
    return c.k_width() == cfg_.kv_lora + cfg_.n_rope;
  }
  void forward(const Batch& batch, tensor::ThreadPool& pool, float* logits) const override;

 private:
  // The layouts differ in having value rows: the latent rebuilds values from the keys' rows.
  static bool is_expanded(const KvCache& c) { return c.v_width() != 0; }

  void load_attention(const gguf::GgufFile& file, const WeightLoader& w, const std::string& p,
                      Layer& L) const;
  void attention(int64_t il, const float* cur, const Batch& batch, tensor::ThreadPool& pool,
                 float* out) const;
  void latent_attention(int64_t il, const float* q, const float* ckv, const Batch& batch,
                        std::span<const int64_t> rows, tensor::ThreadPool& pool,
                        float* heads) const;
  void expanded_attention(int64_t il, const float* q, const float* ckv, const Batch& batch,
                          std::span<const int64_t> rows, tensor::ThreadPool& pool,
                          float* heads) const;
  void absorb_queries(const Layer& L, const float* q, int64_t n, float* qa,
                      tensor::ThreadPool& pool) const;
  void expand_values(const Layer& L, const float* latent, int64_t n,
                     std::span<const int64_t> rows, float* heads, tensor::ThreadPool& pool) const;
  void expand_keys_values(const Layer& L, const float* latent, int64_t n, float* kvb,
                          tensor::ThreadPool& pool) const;
  void route(const Layer& L, const float* cur, int64_t n, std::vector<int32_t>& experts,
             std::vector<float>& weights, tensor::ThreadPool& pool) const;
  void limit_to_groups(float* sel) const;
  void moe(const Layer& L, const float* cur, int64_t n, float* out, tensor::ThreadPool& pool) const;

  Hparams hp_;
  Config cfg_;
  Matrix token_embd_, output_;
  std::vector<float> output_norm_;
  std::vector<Layer> layers_;
};

Deepseek2::Deepseek2(const gguf::GgufFile& file, const Hparams& hp, Config cfg)
    : hp_(hp), cfg_(std::move(cfg)) {
  const WeightLoader w(file, hp.arch);
  const int64_t d = hp.n_embd;
  token_embd_ = w.matrix("token_embd.weight", d, hp.n_vocab);
  output_norm_ = w.vector("output_norm.weight", d);
  output_ = w.optional_matrix("output.weight", d, hp.n_vocab).value_or(token_embd_);

  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    Layer L;
    load_attention(file, w, p, L);
    L.ffn_norm = w.vector(p + "ffn_norm.weight", d);
    L.moe = il >= cfg_.n_dense;
    if (!L.moe) {
      L.dense = load_ffn(w, p, "", d, hp.n_ff);
    } else {
      L.router = w.matrix(p + "ffn_gate_inp.weight", d, cfg_.n_expert);
      L.router_bias = w.optional_vector(p + "exp_probs_b.bias", cfg_.n_expert);
      const int64_t e = cfg_.n_expert, f = cfg_.n_ff_exp;
      const auto gate = w.stacked_matrices(p + "ffn_gate_exps.weight", d, f, e);
      const auto up = w.stacked_matrices(p + "ffn_up_exps.weight", d, f, e);
      const auto down = w.stacked_matrices(p + "ffn_down_exps.weight", f, d, e);
      for (int64_t i = 0; i < e; ++i) L.experts.push_back({gate[size_t(i)], up[size_t(i)], down[size_t(i)], f});
      if (cfg_.n_expert_shared > 0) L.shared = load_ffn(w, p, "_shexp", d, f * cfg_.n_expert_shared);
    }
    layers_.push_back(std::move(L));
  }
}

void Deepseek2::load_attention(const gguf::GgufFile& file, const WeightLoader& w,
                               const std::string& p, Layer& L) const {
  const int64_t d = hp_.n_embd, H = hp_.n_head, dk = hp_.head_dim_k;
  const int64_t kv = cfg_.kv_lora, nope = cfg_.n_nope, nv = cfg_.n_v;
  L.attn_norm = w.vector(p + "attn_norm.weight", d);
  if (cfg_.q_lora > 0) {
    L.wq_a = w.matrix(p + "attn_q_a.weight", d, cfg_.q_lora);
    L.q_a_norm = w.vector(p + "attn_q_a_norm.weight", cfg_.q_lora);
    L.wq_b = w.matrix(p + "attn_q_b.weight", cfg_.q_lora, H * dk);
  } else {
    L.wq = w.matrix(p + "attn_q.weight", d, H * dk);
  }
  L.wkv_a = w.matrix(p + "attn_kv_a_mqa.weight", d, kv + cfg_.n_rope);
  L.kv_a_norm = w.vector(p + "attn_kv_a_norm.weight", kv);
  if (file.find_tensor(p + "attn_kv_b.weight")) {
    // Head h's rows: n_nope of W_k^h, then n_v of W_v^h.
    L.wkv_b = w.matrix(p + "attn_kv_b.weight", kv, H * (nope + nv));
    for (int64_t h = 0; h < H; ++h) {
      L.wk.push_back(rows_of(L.wkv_b, h * (nope + nv), nope));
      L.wv.push_back(rows_of(L.wkv_b, h * (nope + nv) + nope, nv));
    }
  } else if (file.find_tensor(p + "attn_k_b.weight") || file.find_tensor(p + "attn_v_b.weight")) {
    L.wk_t = w.stacked_matrices(p + "attn_k_b.weight", nope, kv, H);
    L.wv = w.stacked_matrices(p + "attn_v_b.weight", kv, nv, H);
  } else {
    throw Error("model file is missing the tensor '" + p + "attn_kv_b.weight' (or the split '" + p +
                "attn_k_b.weight' and '" + p + "attn_v_b.weight'), needed by deepseek2");
  }
  L.wo = w.matrix(p + "attn_output.weight", H * nv, d);
}

void rms_norm_rows(const float* x, float* out, int64_t rows, const std::vector<float>& weight,
                   float eps) {
  const int64_t width = int64_t(weight.size());
  for (int64_t r = 0; r < rows; ++r)
    tensor::rms_norm(x + r * width, weight.data(), out + r * width, width, eps);
}

// y (m x d) = SwiGLU feed-forward of x (m x d).
void run_ffn(const Ffn& f, const float* x, int64_t m, float* y, tensor::ThreadPool& pool) {
  std::vector<float> gate(size_t(m * f.n_ff)), up(gate.size());
  tensor::matmul(f.gate, x, m, gate.data(), pool);
  tensor::matmul(f.up, x, m, up.data(), pool);
  tensor::silu(gate.data(), m * f.n_ff);
  tensor::mul(gate.data(), up.data(), m * f.n_ff);
  tensor::matmul(f.down, gate.data(), m, y, pool);
}

void Deepseek2::forward(const Batch& batch, tensor::ThreadPool& pool, float* logits) const {
  const int64_t n = batch.size(), d = hp_.n_embd;
  std::vector<float> x(size_t(n * d)), cur(x.size()), tmp(x.size());
  for (int64_t t = 0; t < n; ++t) token_embd_.get_row(batch.tokens[size_t(t)], x.data() + t * d);

  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    const Layer& L = layers_[size_t(il)];

    rms_norm_rows(x.data(), cur.data(), n, L.attn_norm, hp_.norm_eps);
    attention(il, cur.data(), batch, pool, tmp.data());
    tensor::add(x.data(), tmp.data(), n * d);

    rms_norm_rows(x.data(), cur.data(), n, L.ffn_norm, hp_.norm_eps);
    if (L.moe) moe(L, cur.data(), n, tmp.data(), pool);
    else run_ffn(L.dense, cur.data(), n, tmp.data(), pool);
    tensor::add(x.data(), tmp.data(), n * d);
  }

  batch_logits(batch, x.data(), d, output_norm_, hp_.norm_eps, output_, pool, logits);
}

// y[t] = m^T x[t] for n rows: x rows hold m.n_out floats (x_stride apart), y rows get m.n_in
// (y_stride apart). Each weight row is dequantised once and used for every row.
void matmul_transposed(const Matrix& m, const float* x, int64_t x_stride, int64_t n, float* y,
                       int64_t y_stride) {
  std::vector<float> row(static_cast<size_t>(m.n_in));
  for (int64_t t = 0; t < n; ++t) std::fill_n(y + t * y_stride, m.n_in, 0.0f);
  for (int64_t i = 0; i < m.n_out; ++i) {
    m.get_row(i, row.data());
    for (int64_t t = 0; t < n; ++t)
      tensor::axpy(y + t * y_stride, row.data(), x[t * x_stride + i], m.n_in);
  }
}

// MLA for every row of the batch (row t at position pos[t] of its sequence); writes Wo · heads
// to out (n x n_embd). Each row goes through its own cache's layout.
void Deepseek2::attention(int64_t il, const float* cur, const Batch& batch,
                          tensor::ThreadPool& pool, float* out) const {
  const Layer& L = layers_[size_t(il)];
  const int64_t n = batch.size();
  const int64_t H = hp_.n_head, dk = hp_.head_dim_k, nope = cfg_.n_nope, R = cfg_.n_rope;
  const int64_t kv = cfg_.kv_lora, W = kv + R;  // ckv row: [latent | rope key]

  // Queries: n x H x [nope | rope].
  std::vector<float> q(size_t(n * H * dk));
  if (cfg_.q_lora > 0) {
    std::vector<float> qa(size_t(n * cfg_.q_lora));
    tensor::matmul(L.wq_a, cur, n, qa.data(), pool);
    rms_norm_rows(qa.data(), qa.data(), n, L.q_a_norm, hp_.norm_eps);
    tensor::matmul(L.wq_b, qa.data(), n, q.data(), pool);
  } else {
    tensor::matmul(L.wq, cur, n, q.data(), pool);
  }

  // Compressed keys/values: normalise the latent, rotate the shared key and the queries.
  std::vector<float> ckv(size_t(n * W));
  tensor::matmul(L.wkv_a, cur, n, ckv.data(), pool);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t pos = batch.pos[size_t(t)];
    float* row = ckv.data() + t * W;
    tensor::rms_norm(row, L.kv_a_norm.data(), row, kv, hp_.norm_eps);
    tensor::rope_yarn(row + kv, 1, R, R, pos, cfg_.rope);
    tensor::rope_yarn(q.data() + t * H * dk + nope, H, R, dk, pos, cfg_.rope);
  }

  // Every head's output, n x H x n_v, from whichever layout each row's cache has.
  std::vector<int64_t> latent_rows, expanded_rows;
  for (int64_t t = 0; t < n; ++t)
    (is_expanded(*batch.cache[size_t(t)]) ? expanded_rows : latent_rows).push_back(t);
  std::vector<float> heads(size_t(n * H * cfg_.n_v));
  if (!latent_rows.empty())
    latent_attention(il, q.data(), ckv.data(), batch, latent_rows, pool, heads.data());
  if (!expanded_rows.empty())
    expanded_attention(il, q.data(), ckv.data(), batch, expanded_rows, pool, heads.data());
  tensor::matmul(L.wo, heads.data(), n, out, pool);
}

// Latent layout for the given rows: cache [c | k_pe], attend in latent space. The projections
// run over all n rows of the batch (a batch rarely mixes layouts; only the given rows are used).
void Deepseek2::latent_attention(int64_t il, const float* q, const float* ckv, const Batch& batch,
                                 std::span<const int64_t> rows, tensor::ThreadPool& pool,
                                 float* heads) const {
  const Layer& L = layers_[size_t(il)];
  const int64_t n = batch.size();
  const int64_t H = hp_.n_head, dk = hp_.head_dim_k, nope = cfg_.n_nope, R = cfg_.n_rope;
  const int64_t kv = cfg_.kv_lora, W = kv + R;
  for (int64_t t : rows) {
    KvCache& cache = *batch.cache[size_t(t)];
    tensor::store_kv_row(cache.type(), ckv + t * W, cache.k(il, batch.pos[size_t(t)]), W);
  }

  // Queries in latent space, n x H x [W_k^h^T q_nope | q_pe], against cached [c | k_pe].
  std::vector<float> qa(size_t(n * H * W));
  absorb_queries(L, q, n, qa.data(), pool);
  for (int64_t i = 0; i < n * H; ++i) std::copy_n(q + i * dk + nope, R, qa.data() + i * W + kv);

  // Causal attention over the latent: a row at position p sees positions 0..p of its sequence.
  // The weighted sum of latents comes out head-major (H x n x kv) for the per-head value
  // projection.
  std::vector<float> latent(size_t(H * n * kv));
  // Every head reads the same latent rows: heads go through them together (split across
  // threads only when there are fewer rows than threads).
  const HeadSplit split = split_heads(int64_t(rows.size()), H, pool.size());
  const int64_t scratch_size = split.per_split * tensor::attention_scratch_floats(batch.max_kv(), W);
  pool.parallel_for(int64_t(rows.size()) * split.splits, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(scratch_size));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t = rows[size_t(i / split.splits)], s = i % split.splits;
      const int64_t h0 = s * split.per_split, n_heads = split.heads_in(s, H);
      if (n_heads == 0) continue;
      const KvCache& cache = *batch.cache[size_t(t)];
      const void* cached = cache.k(il, 0);
      tensor::cached_attention_heads(cache.type(), qa.data() + (t * H + h0) * W, W, n_heads, cached, W,
                                     cached, W, batch.pos[size_t(t)] + 1, W, kv, cfg_.kq_scale,
                                     latent.data() + (h0 * n + t) * kv, n * kv, scratch.data());
    }
  });
  expand_values(L, latent.data(), n, rows, heads, pool);
}

// Expanded layout for the given rows: cache each head's key [W_k^h c, k_pe] and value W_v^h c,
// then plain multi-head attention, as llama.cpp's deepseek2 graph before MLA. (As in the latent
// path, the projection runs over all n rows; only the given rows are stored and attended.)
void Deepseek2::expanded_attention(int64_t il, const float* q, const float* ckv, const Batch& batch,
                                   std::span<const int64_t> rows, tensor::ThreadPool& pool,
                                   float* heads) const {
  const Layer& L = layers_[size_t(il)];
  const int64_t n = batch.size();
  const int64_t H = hp_.n_head, dk = hp_.head_dim_k, nope = cfg_.n_nope, R = cfg_.n_rope;
  const int64_t nv = cfg_.n_v, kv = cfg_.kv_lora, W = kv + R, kvb_w = nope + nv;

  // n x H x [k_nope | v] from the normalised latents.
  std::vector<float> latent(size_t(n * kv)), kvb(size_t(n * H * kvb_w));
  for (int64_t t = 0; t < n; ++t) std::copy_n(ckv + t * W, kv, latent.data() + t * kv);
  expand_keys_values(L, latent.data(), n, kvb.data(), pool);

  // Store every row before attending: a row sees earlier rows of its sequence in this batch.
  for (int64_t t : rows) {
    KvCache& cache = *batch.cache[size_t(t)];
    const int64_t pos = batch.pos[size_t(t)], eb = cache.element_bytes();
    auto* k = static_cast<std::byte*>(cache.k(il, pos));
    auto* v = static_cast<std::byte*>(cache.v(il, pos));
    for (int64_t h = 0; h < H; ++h) {
      const float* src = kvb.data() + (t * H + h) * kvb_w;
      tensor::store_kv_row(cache.type(), src, k + h * dk * eb, nope);
      tensor::store_kv_row(cache.type(), ckv + t * W + kv, k + (h * dk + nope) * eb, R);
      tensor::store_kv_row(cache.type(), src + nope, v + h * nv * eb, nv);
    }
  }

  const int64_t scratch_size = tensor::attention_scratch_floats(batch.max_kv(), dk);
  pool.parallel_for(int64_t(rows.size()) * H, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(scratch_size));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t = rows[size_t(i / H)], h = i % H;
      const KvCache& cache = *batch.cache[size_t(t)];
      const int64_t eb = cache.element_bytes();
      const auto* keys = static_cast<const std::byte*>(cache.k(il, 0)) + h * dk * eb;
      const auto* values = static_cast<const std::byte*>(cache.v(il, 0)) + h * nv * eb;
      tensor::cached_attention_head(cache.type(), q + (t * H + h) * dk, keys, H * dk, values,
                                    H * nv, batch.pos[size_t(t)] + 1, dk, nv, cfg_.kq_scale,
                                    heads + (t * H + h) * nv, scratch.data());
    }
  });
}

// kvb[t][h] = [W_k^h c_t | W_v^h c_t] for n latents c (n x kv_lora).
void Deepseek2::expand_keys_values(const Layer& L, const float* latent, int64_t n, float* kvb,
                                   tensor::ThreadPool& pool) const {
  if (L.wk_t.empty()) {  // attn_kv_b: one matmul, as llama.cpp (activations rounded alike)
    tensor::matmul(L.wkv_b, latent, n, kvb, pool);
    return;
  }
  // Split tensors hold W_k^h transposed: multiply by the transpose, head by head.
  const int64_t H = hp_.n_head, nope = cfg_.n_nope, nv = cfg_.n_v, kv = cfg_.kv_lora;
  const int64_t kvb_w = nope + nv;
  pool.parallel_for(H, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h)
      matmul_transposed(L.wk_t[size_t(h)], latent, kv, n, kvb + h * kvb_w, H * kvb_w);
  });
  std::vector<float> vh(size_t(n * nv));
  for (int64_t h = 0; h < H; ++h) {
    tensor::matmul(L.wv[size_t(h)], latent, n, vh.data(), pool);
    for (int64_t t = 0; t < n; ++t) std::copy_n(vh.data() + t * nv, nv, kvb + (t * H + h) * kvb_w + nope);
  }
}

// qa[t][h][0..kv) = W_k^h^T q_nope[t][h]: the query moved into latent space.
void Deepseek2::absorb_queries(const Layer& L, const float* q, int64_t n, float* qa,
                               tensor::ThreadPool& pool) const {
  const int64_t H = hp_.n_head, dk = hp_.head_dim_k, nope = cfg_.n_nope;
  const int64_t kv = cfg_.kv_lora, W = kv + cfg_.n_rope;
  if (!L.wk_t.empty()) {
    // Split tensors already hold the transpose: one matmul per head.
    std::vector<float> qh(size_t(n * nope)), out(size_t(n * kv));
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t t = 0; t < n; ++t) std::copy_n(q + (t * H + h) * dk, nope, qh.data() + t * nope);
      tensor::matmul(L.wk_t[size_t(h)], qh.data(), n, out.data(), pool);
      for (int64_t t = 0; t < n; ++t) std::copy_n(out.data() + t * kv, kv, qa + (t * H + h) * W);
    }
    return;
  }
  // attn_kv_b holds W_k^h row by row: multiply by its transpose, head by head.
  pool.parallel_for(H, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h)
      matmul_transposed(L.wk[size_t(h)], q + h * dk, H * dk, n, qa + h * W, H * W);
  });
}

// heads[t][h] = W_v^h latent[h][t] for the given rows: each head's values, from its weighted
// latent (head-major, H x n x kv_lora).
void Deepseek2::expand_values(const Layer& L, const float* latent, int64_t n,
                              std::span<const int64_t> rows, float* heads,
                              tensor::ThreadPool& pool) const {
  const int64_t H = hp_.n_head, nv = cfg_.n_v, kv = cfg_.kv_lora;
  std::vector<float> vh(size_t(n * nv));
  for (int64_t h = 0; h < H; ++h) {
    tensor::matmul(L.wv[size_t(h)], latent + h * n * kv, n, vh.data(), pool);
    for (int64_t t : rows) std::copy_n(vh.data() + t * nv, nv, heads + (t * H + h) * nv);
  }
}

// The k best of score[0..n), best first; ties go to the lower index.
std::vector<int32_t> top_k(const float* score, int64_t n, int64_t k) {
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  });
  order.resize(size_t(k));
  return order;
}

// Group-limited routing (DeepSeek-V3): only experts of the n_groups_used groups whose two best
// experts score highest stay eligible; the others are set to -inf.
void Deepseek2::limit_to_groups(float* sel) const {
  const int64_t per_group = cfg_.n_expert / cfg_.n_groups, best = std::min<int64_t>(2, per_group);
  std::vector<float> group_score(static_cast<size_t>(cfg_.n_groups));
  for (int64_t g = 0; g < cfg_.n_groups; ++g) {
    std::vector<float> s(sel + g * per_group, sel + (g + 1) * per_group);
    std::partial_sort(s.begin(), s.begin() + best, s.end(), std::greater<float>());
    group_score[size_t(g)] = std::accumulate(s.begin(), s.begin() + best, 0.0f);
  }
  std::vector<bool> keep(size_t(cfg_.n_groups), false);
  for (int32_t g : top_k(group_score.data(), cfg_.n_groups, cfg_.n_groups_used)) keep[size_t(g)] = true;
  for (int64_t e = 0; e < cfg_.n_expert; ++e)
    if (!keep[size_t(e / per_group)]) sel[e] = -std::numeric_limits<float>::infinity();
}

// Chooses n_expert_used experts per token and their weights (n x n_expert_used each).
void Deepseek2::route(const Layer& L, const float* cur, int64_t n, std::vector<int32_t>& experts,
                      std::vector<float>& weights, tensor::ThreadPool& pool) const {
  const int64_t E = cfg_.n_expert, K = cfg_.n_expert_used;
  std::vector<float> probs(size_t(n * E)), sel(static_cast<size_t>(E));
  tensor::matmul(L.router, cur, n, probs.data(), pool);
  experts.resize(size_t(n * K));
  weights.resize(size_t(n * K));
  for (int64_t t = 0; t < n; ++t) {
    float* p = probs.data() + t * E;
    if (cfg_.gating == Gating::Softmax) tensor::softmax(p, E);
    if (cfg_.gating == Gating::Sigmoid)
      for (int64_t e = 0; e < E; ++e) p[e] = 1.0f / (1.0f + std::exp(-p[e]));
    // The bias (DeepSeek-V3's load balancing) changes which experts win, not their weights.
    for (int64_t e = 0; e < E; ++e)
      sel[size_t(e)] = p[e] + (L.router_bias.empty() ? 0.0f : L.router_bias[size_t(e)]);
    if (cfg_.n_groups > 1) limit_to_groups(sel.data());

    const std::vector<int32_t> chosen = top_k(sel.data(), E, K);
    float* w = weights.data() + t * K;
    for (int64_t k = 0; k < K; ++k) {
      experts[size_t(t * K + k)] = chosen[size_t(k)];
      w[k] = p[chosen[size_t(k)]];
    }
    if (cfg_.gating == Gating::SoftmaxWeight) tensor::softmax(w, K);
    if (cfg_.weights_norm) {
      float sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += w[k];
      sum = std::max(sum, 6.103515625e-5f);  // as llama.cpp: never divide by less than f16's min
      for (int64_t k = 0; k < K; ++k) w[k] /= sum;
    }
    if (cfg_.weights_scale != 0.0f)
      for (int64_t k = 0; k < K; ++k) w[k] *= cfg_.weights_scale;
  }
}

// out (n x n_embd) = weighted routed experts + shared experts.
void Deepseek2::moe(const Layer& L, const float* cur, int64_t n, float* out,
                    tensor::ThreadPool& pool) const {
  const int64_t d = hp_.n_embd, K = cfg_.n_expert_used;
  std::vector<int32_t> chosen;
  std::vector<float> weights;
  route(L, cur, n, chosen, weights, pool);

  // Gather each expert's tokens so its weights are read once per batch.
  std::vector<std::vector<int64_t>> slots(size_t(cfg_.n_expert));  // indices into chosen
  for (int64_t i = 0; i < n * K; ++i) slots[size_t(chosen[size_t(i)])].push_back(i);
  std::fill_n(out, n * d, 0.0f);
  std::vector<float> xe, ye;
  for (int64_t e = 0; e < cfg_.n_expert; ++e) {
    const auto& s = slots[size_t(e)];
    if (s.empty()) continue;
    const int64_t m = int64_t(s.size());
    xe.resize(size_t(m * d));
    ye.resize(size_t(m * d));
    for (int64_t j = 0; j < m; ++j) std::copy_n(cur + (s[size_t(j)] / K) * d, d, xe.data() + j * d);
    run_ffn(L.experts[size_t(e)], xe.data(), m, ye.data(), pool);
    for (int64_t j = 0; j < m; ++j)
      tensor::axpy(out + (s[size_t(j)] / K) * d, ye.data() + j * d, weights[size_t(s[size_t(j)])], d);
  }

  if (L.shared.n_ff > 0) {
    std::vector<float> sh(size_t(n * d));
    run_ffn(L.shared, cur, n, sh.data(), pool);
    tensor::add(out, sh.data(), n * d);
  }
}

}  // namespace

Hparams read_deepseek2_hparams(const gguf::GgufFile& file, const std::string& arch) {
  KeyReader keys(file, arch);
  Hparams hp;
  hp.arch = arch;
  hp.n_ctx_train = keys.require_int("context_length");
  hp.n_embd = keys.require_int("embedding_length");
  hp.n_layer = keys.require_int("block_count");
  hp.n_head = keys.require_int("attention.head_count");
  hp.n_head_kv = hp.n_head;  // MLA: every head reads the one shared latent
  hp.n_ff = keys.get_int("feed_forward_length").value_or(0);
  // Files converted for absorbed MLA put the latent widths in key/value_length and the
  // per-head sizes in key/value_length_mla.
  const bool mla_keys = keys.get_int("attention.key_length_mla").has_value();
  hp.head_dim_k = keys.require_int(mla_keys ? "attention.key_length_mla" : "attention.key_length");
  hp.head_dim_v = keys.require_int(mla_keys ? "attention.value_length_mla" : "attention.value_length");
  hp.n_rot = keys.require_int("rope.dimension_count");
  if (hp.n_rot % 2 != 0 || hp.n_rot >= hp.head_dim_k)
    throw Error("model key '" + keys.key("rope.dimension_count") + "' = " + std::to_string(hp.n_rot) +
                " must be even and below the key head size " + std::to_string(hp.head_dim_k));
  const auto eps = keys.get_float("attention.layer_norm_rms_epsilon");
  if (!eps) throw Error("model file is missing the key '" + keys.key("attention.layer_norm_rms_epsilon") + "'");
  hp.norm_eps = *eps;
  hp.rope_freq_base = keys.get_float("rope.freq_base").value_or(10000.0f);
  const float factor = keys.get_float("rope.scaling.factor")
                           .value_or(keys.get_float("rope.scale_linear").value_or(1.0f));
  hp.rope_freq_scale = factor > 0.0f ? 1.0f / factor : 1.0f;
  hp.rope_style = tensor::RopeStyle::Normal;
  hp.n_vocab = WeightLoader(file, arch).rows("token_embd.weight");
  if (auto v = keys.get_int("vocab_size"); v && *v != hp.n_vocab)
    throw Error("model key '" + keys.key("vocab_size") + "' = " + std::to_string(*v) +
                " disagrees with token_embd.weight's " + std::to_string(hp.n_vocab) + " rows");
  return hp;
}

int64_t mla_cache_bytes_per_position(const Hparams& hp, MlaCache layout, tensor::TensorType kv_type) {
  if (hp.kv_lora <= 0) throw Error("mla_cache_bytes_per_position: not an MLA (deepseek2) model");
  if (!tensor::is_kv_type(kv_type))
    throw Error("KV cache type " + std::string(gguf::tensor_type_name(kv_type)) + " is not supported (f16, f32)");
  const int64_t element = kv_type == tensor::TensorType::F32 ? 4 : 2;
  switch (layout) {
    case MlaCache::Latent: return hp.n_layer * (hp.kv_lora + hp.n_rot) * element;
    case MlaCache::Expanded: return hp.n_layer * hp.n_head * (hp.head_dim_k + hp.head_dim_v) * element;
    case MlaCache::Auto: break;
  }
  throw Error("mla_cache_bytes_per_position: Auto is not a layout (choose_mla_cache resolves it)");
}

MlaCache choose_mla_cache(const Hparams& hp, MlaCache requested, int64_t n_ctx,
                          tensor::TensorType kv_type, int64_t limit) {
  if (requested != MlaCache::Auto) return requested;
  const int64_t per_position = mla_cache_bytes_per_position(hp, MlaCache::Expanded, kv_type);
  return n_ctx <= limit / per_position ? MlaCache::Expanded : MlaCache::Latent;
}

std::unique_ptr<Architecture> load_deepseek2(const gguf::GgufFile& file, Hparams& hp) {
  Config cfg = read_config(file, hp);
  hp.attn_scale = cfg.kq_scale;
  hp.kv_lora = cfg.kv_lora;
  return std::make_unique<Deepseek2>(file, hp, std::move(cfg));
}

}  // namespace inhouse::model
