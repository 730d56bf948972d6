// model/bert.cpp — the BERT text encoder (architecture `bert`, e.g. BGE / MiniLM sentence
// embedders) behind model::Encoder, and embedding normalisation. Reference: llama.cpp's
// build_bert and common_embd_normalize.
//
//   x = LayerNorm(token_embd[id] + token_types[0] + position_embd[pos])
//   per layer:  x = LayerNorm(x + Wo · attention(Wq·x + bq, Wk·x + bk, Wv·x + bv) + bo)
//               x = LayerNorm(x + Wdown · gelu(Wup·x + bup) + bdown)
// then pooling (CLS / mean / last) as the file's pooling_type says. No RoPE: positions are
// learned embeddings; attention is bidirectional, so the whole input is one batch, no cache.
#include <algorithm>
#include <cmath>

#include "model/model_internal.h"

namespace inhouse::model {

namespace {

using tensor::Matrix;

struct BertHparams {
  int64_t n_vocab = 0, n_ctx = 0, n_embd = 0, n_layer = 0, n_head = 0, n_ff = 0;
  float eps = 1e-12f;
  bool causal = false;
  Pooling pooling = Pooling::None;
};

struct BertLayer {
  Matrix wq, wk, wv, wo, up, down;
  std::vector<float> bq, bk, bv, bo, b_up, b_down;  // empty when absent
  std::vector<float> attn_norm, attn_norm_b, out_norm, out_norm_b;
};

BertHparams read_bert_hparams(const gguf::GgufFile& file, const std::string& arch) {
  const KeyReader keys(file, arch);
  BertHparams hp;
  hp.n_ctx = keys.require_int("context_length");
  hp.n_embd = keys.require_int("embedding_length");
  hp.n_layer = keys.require_int("block_count");
  hp.n_ff = keys.require_int("feed_forward_length");
  hp.n_head = keys.require_int("attention.head_count");
  if (hp.n_embd % hp.n_head != 0)
    throw Error("model key '" + keys.key("embedding_length") + "' = " + std::to_string(hp.n_embd) +
                " is not a multiple of the head count " + std::to_string(hp.n_head));
  hp.eps = keys.get_float("attention.layer_norm_epsilon").value_or(1e-12f);
  try {
    hp.causal = file.get_bool(keys.key("attention.causal")).value_or(false);
  } catch (const gguf::Error& e) {
    throw Error("model key '" + keys.key("attention.causal") + "': " + e.what());
  }
  const int64_t pooling = keys.get_int("pooling_type").value_or(0);
  if (pooling < 0 || pooling > 3)
    throw Error("model key '" + keys.key("pooling_type") + "' = " + std::to_string(pooling) +
                " is not supported (0 none, 1 mean, 2 cls, 3 last)");
  hp.pooling = Pooling(pooling);
  hp.n_vocab = WeightLoader(file, arch).rows("token_embd.weight");
  return hp;
}

void add_bias(float* x, int64_t rows, const std::vector<float>& bias) {
  if (bias.empty()) return;
  const int64_t width = int64_t(bias.size());
  for (int64_t r = 0; r < rows; ++r) tensor::add(x + r * width, bias.data(), width);
}

// x = LayerNorm(x + y) row by row.
void add_and_norm(float* x, const float* y, int64_t rows, int64_t width, const std::vector<float>& w,
                  const std::vector<float>& b, float eps) {
  tensor::add(x, y, rows * width);
  for (int64_t r = 0; r < rows; ++r)
    tensor::layer_norm(x + r * width, w.data(), b.empty() ? nullptr : b.data(), x + r * width, width, eps);
}

}  // namespace

struct Encoder::Impl {
  explicit Impl(gguf::GgufFile f, int threads) : file(std::move(f)), pool(threads) {}
  void load();
  std::vector<float> hidden(std::span<const int32_t> tokens);

  gguf::GgufFile file;
  tensor::ThreadPool pool;
  BertHparams hp;
  Matrix token_embd, position_embd;
  std::vector<float> type_embd;  // token type 0's row; empty when the file has no types
  std::vector<float> embd_norm, embd_norm_b;
  std::vector<BertLayer> layers;
};

void Encoder::Impl::load() {
  const std::string arch = file.architecture();
  if (arch != "bert")
    throw Error("model architecture '" + arch + "' is not a supported encoder (supported: bert)");
  hp = read_bert_hparams(file, arch);
  const WeightLoader w(file, arch);
  const int64_t d = hp.n_embd;
  token_embd = w.matrix("token_embd.weight", d, hp.n_vocab);
  position_embd = w.matrix("position_embd.weight", d, hp.n_ctx);
  if (file.find_tensor("token_types.weight")) {
    const Matrix types = w.matrix("token_types.weight", d, w.rows("token_types.weight"));
    type_embd.resize(size_t(d));
    types.get_row(0, type_embd.data());
  }
  embd_norm = w.vector("token_embd_norm.weight", d);
  embd_norm_b = w.optional_vector("token_embd_norm.bias", d);
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    BertLayer L;
    L.wq = w.matrix(p + "attn_q.weight", d, d);
    L.wk = w.matrix(p + "attn_k.weight", d, d);
    L.wv = w.matrix(p + "attn_v.weight", d, d);
    L.wo = w.matrix(p + "attn_output.weight", d, d);
    L.bq = w.optional_vector(p + "attn_q.bias", d);
    L.bk = w.optional_vector(p + "attn_k.bias", d);
    L.bv = w.optional_vector(p + "attn_v.bias", d);
    L.bo = w.optional_vector(p + "attn_output.bias", d);
    L.attn_norm = w.vector(p + "attn_output_norm.weight", d);
    L.attn_norm_b = w.optional_vector(p + "attn_output_norm.bias", d);
    L.up = w.matrix(p + "ffn_up.weight", d, hp.n_ff);
    L.down = w.matrix(p + "ffn_down.weight", hp.n_ff, d);
    L.b_up = w.optional_vector(p + "ffn_up.bias", hp.n_ff);
    L.b_down = w.optional_vector(p + "ffn_down.bias", d);
    L.out_norm = w.vector(p + "layer_output_norm.weight", d);
    L.out_norm_b = w.optional_vector(p + "layer_output_norm.bias", d);
    layers.push_back(std::move(L));
  }
}

std::vector<float> Encoder::Impl::hidden(std::span<const int32_t> tokens) {
  const int64_t n = int64_t(tokens.size()), d = hp.n_embd;
  if (n == 0) throw Error("encoder: no tokens given");
  if (n > hp.n_ctx)
    throw Error("encoder: " + std::to_string(n) + " tokens exceed the context of " +
                std::to_string(hp.n_ctx) + " positions");
  for (int32_t t : tokens)
    if (t < 0 || t >= hp.n_vocab)
      throw Error("token id " + std::to_string(t) + " is outside the vocabulary of " +
                  std::to_string(hp.n_vocab));

  std::vector<float> x(static_cast<size_t>(n * d)), row(static_cast<size_t>(d));
  for (int64_t t = 0; t < n; ++t) {
    float* xt = x.data() + t * d;
    token_embd.get_row(tokens[size_t(t)], xt);
    position_embd.get_row(t, row.data());
    tensor::add(xt, row.data(), d);
    if (!type_embd.empty()) tensor::add(xt, type_embd.data(), d);
    tensor::layer_norm(xt, embd_norm.data(), embd_norm_b.empty() ? nullptr : embd_norm_b.data(), xt, d, hp.eps);
  }

  const int64_t hd = d / hp.n_head;
  const float scale = 1.0f / std::sqrt(float(hd));
  std::vector<float> q(x.size()), k(x.size()), v(x.size()), attn(x.size()), tmp(x.size());
  std::vector<float> ff(size_t(n * hp.n_ff));
  for (const BertLayer& L : layers) {
    tensor::matmul(L.wq, x.data(), n, q.data(), pool);
    tensor::matmul(L.wk, x.data(), n, k.data(), pool);
    tensor::matmul(L.wv, x.data(), n, v.data(), pool);
    add_bias(q.data(), n, L.bq);
    add_bias(k.data(), n, L.bk);
    add_bias(v.data(), n, L.bv);
    pool.parallel_for(n * hp.n_head, [&](int64_t begin, int64_t end) {
      std::vector<float> scratch(static_cast<size_t>(tensor::attention_scratch_floats(n, hd)));
      for (int64_t i = begin; i < end; ++i) {
        const int64_t t = i / hp.n_head, h = i % hp.n_head;
        const int64_t n_kv = hp.causal ? t + 1 : n;
        // Keys and values stay f32 (an encoder keeps no cache), as llama.cpp's BERT graph.
        tensor::cached_attention_head(tensor::TensorType::F32, q.data() + t * d + h * hd,
                                      k.data() + h * hd, d, v.data() + h * hd, d, n_kv, hd, hd,
                                      scale, attn.data() + t * d + h * hd, scratch.data());
      }
    });
    tensor::matmul(L.wo, attn.data(), n, tmp.data(), pool);
    add_bias(tmp.data(), n, L.bo);
    add_and_norm(x.data(), tmp.data(), n, d, L.attn_norm, L.attn_norm_b, hp.eps);

    tensor::matmul(L.up, x.data(), n, ff.data(), pool);
    add_bias(ff.data(), n, L.b_up);
    tensor::gelu(ff.data(), n * hp.n_ff);
    tensor::matmul(L.down, ff.data(), n, tmp.data(), pool);
    add_bias(tmp.data(), n, L.b_down);
    add_and_norm(x.data(), tmp.data(), n, d, L.out_norm, L.out_norm_b, hp.eps);
  }
  return x;
}

// ---- Encoder ---------------------------------------------------------------------------------

Encoder::Encoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Encoder::Encoder(Encoder&&) noexcept = default;
Encoder& Encoder::operator=(Encoder&&) noexcept = default;
Encoder::~Encoder() = default;

Encoder Encoder::open(const std::string& path, ModelOptions options) {
  return load(gguf::GgufFile::open(path), options);
}

Encoder Encoder::load(gguf::GgufFile file, ModelOptions options) {
  auto impl = std::make_unique<Impl>(std::move(file), options.threads);
  impl->load();
  return Encoder(std::move(impl));
}

const gguf::GgufFile& Encoder::file() const { return impl_->file; }
int64_t Encoder::n_embd() const { return impl_->hp.n_embd; }
int64_t Encoder::n_vocab() const { return impl_->hp.n_vocab; }
int64_t Encoder::n_ctx_train() const { return impl_->hp.n_ctx; }
Pooling Encoder::pooling() const { return impl_->hp.pooling; }

std::vector<float> Encoder::hidden(std::span<const int32_t> tokens) { return impl_->hidden(tokens); }

std::vector<float> Encoder::embed(std::span<const int32_t> tokens) {
  const int64_t d = n_embd(), n = int64_t(tokens.size());
  if (pooling() == Pooling::None)
    throw Error("encoder: the model's pooling_type is none, so it gives per-token states only");
  const std::vector<float> h = impl_->hidden(tokens);
  switch (pooling()) {
    case Pooling::Cls: return {h.begin(), h.begin() + d};
    case Pooling::Last: return {h.end() - d, h.end()};
    default: break;
  }
  std::vector<float> mean(size_t(d), 0.0f);
  for (int64_t t = 0; t < n; ++t) tensor::add(mean.data(), h.data() + t * d, d);
  for (float& v : mean) v /= float(n);
  return mean;
}

void normalize_embedding(std::span<float> v, int norm) {
  double sum = 0;
  if (norm < 0) return;
  if (norm == 0) {
    for (float x : v) sum = std::max(sum, double(std::fabs(x)));
    sum /= 32760.0;
  } else if (norm == 2) {
    for (float x : v) sum += double(x) * x;
    sum = std::sqrt(sum);
  } else {
    for (float x : v) sum += std::pow(std::fabs(double(x)), norm);
    sum = std::pow(sum, 1.0 / norm);
  }
  const double scale = sum > 0.0 ? 1.0 / sum : 0.0;
  for (float& x : v) x = float(x * scale);
}

}  // namespace inhouse::model
