// model — owns running a decoder model stored in a GGUF file: reading its hyper-parameters and
// weights (viewed in place in the mapped file), the per-sequence KV cache, and the forward pass
// from token ids to logits (one file per architecture family: llama.cpp covers llama, qwen2).
// Sampling policy lives in engine/; this module only offers the greedy argmax.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tensor/tensor.h"

namespace inhouse::model {

// A model that cannot be loaded or run: unsupported architecture, a missing or malformed key or
// tensor, a bad token id, a context overflow. what() names the key, tensor or limit.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The hyper-parameters of a decoder, from the `<arch>.*` keys of the file.
struct Hparams {
  std::string arch;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;   // context_length
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim_k = 0;    // attention.key_length (default n_embd / n_head)
  int64_t head_dim_v = 0;    // attention.value_length (default n_embd / n_head)
  int64_t n_ff = 0;
  int64_t n_rot = 0;         // rope.dimension_count (default head_dim_k)
  float norm_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  float attn_scale = 0.0f;   // attention.scale; 0: 1 / sqrt(head_dim_k)
  tensor::RopeStyle rope_style = tensor::RopeStyle::Normal;
};

// Keys and values of every layer for one sequence, in float: row `pos` of layer l holds
// k_width (v_width) floats. Positions [0, size()) are filled; a forward pass at start position
// p overwrites from p on (so a caller can rewind). Memory grows with the positions used, up to
// n_ctx, so a long training context costs nothing until it is used.
class KvCache {
 public:
  KvCache(int64_t n_layer, int64_t n_ctx, int64_t k_width, int64_t v_width);

  int64_t n_layer() const { return int64_t(k_.size()); }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t size() const { return size_; }
  int64_t k_width() const { return k_width_; }
  int64_t v_width() const { return v_width_; }

  // Makes room for positions [0, n); throws Error beyond n_ctx. Invalidates k()/v() pointers.
  void reserve(int64_t n);
  void set_size(int64_t n) { size_ = n; }  // after a forward pass filled [0, n)
  float* k(int64_t layer, int64_t pos) { return k_[size_t(layer)].data() + pos * k_width_; }
  float* v(int64_t layer, int64_t pos) { return v_[size_t(layer)].data() + pos * v_width_; }

 private:
  int64_t n_ctx_, k_width_, v_width_;
  int64_t size_ = 0;
  std::vector<std::vector<float>> k_, v_;  // per layer
};

// One architecture's weights and forward pass (model_internal.h).
class Architecture;

struct ModelOptions {
  int threads = 0;  // <= 0: hardware concurrency
};

// A loaded model. Owns the mapped file, so the weights (views into it) stay valid.
// forward() is not thread-safe: one call at a time per Model.
class Model {
 public:
  static Model open(const std::string& path, ModelOptions options = {});  // throws
  static Model load(gguf::GgufFile file, ModelOptions options = {});      // throws Error

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const Hparams& hparams() const { return hparams_; }
  const gguf::GgufFile& file() const { return *file_; }
  int64_t n_vocab() const { return hparams_.n_vocab; }

  // n_ctx <= 0: the training context length.
  KvCache new_cache(int64_t n_ctx = 0) const;

  // Feeds tokens at positions start..start+n-1 as one batch; start must be <= cache.size().
  // Returns n x n_vocab logits (row i for position start+i), or 1 x n_vocab when last_only.
  // Throws Error on an empty batch, a token outside the vocabulary, or context overflow.
  std::vector<float> forward(KvCache& cache, std::span<const int32_t> tokens, int64_t start,
                             bool last_only = false);

  void set_threads(int threads);
  int threads() const;

 private:
  Model() = default;
  std::unique_ptr<gguf::GgufFile> file_;
  Hparams hparams_;
  std::unique_ptr<Architecture> arch_;
  std::unique_ptr<tensor::ThreadPool> pool_;
};

// Index of the largest logit (the first one on ties).
int32_t argmax(std::span<const float> logits);

// Greedy continuation: feeds prompt as one batch, then n_new single-token steps, each taking
// the argmax. Returns the n_new chosen ids; prompt_logits (optional) receives every prompt
// position's logits.
std::vector<int32_t> greedy(Model& model, std::span<const int32_t> prompt, int n_new,
                            std::vector<float>* prompt_logits = nullptr);

}  // namespace inhouse::model

// ---- encoders (bert.cpp) ---------------------------------------------------------------------

namespace inhouse::model {

// How an encoder turns per-token states into one vector (`<arch>.pooling_type`, llama.cpp's
// values): None pools nothing (use Encoder::hidden), Mean averages the tokens, Cls takes the
// first ([CLS]) token's state, Last the last token's.
enum class Pooling { None = 0, Mean = 1, Cls = 2, Last = 3 };

// A BERT-style text encoder (architecture `bert`): token ids in, one embedding out. Every token
// attends to every other (unless the file says attention.causal). Owns the mapped file.
// Not thread-safe: one call at a time per Encoder.
class Encoder {
 public:
  static Encoder open(const std::string& path, ModelOptions options = {});  // throws
  static Encoder load(gguf::GgufFile file, ModelOptions options = {});      // throws Error

  Encoder(Encoder&&) noexcept;
  Encoder& operator=(Encoder&&) noexcept;
  ~Encoder();

  const gguf::GgufFile& file() const;
  int64_t n_embd() const;
  int64_t n_vocab() const;
  int64_t n_ctx_train() const;  // the most tokens one call takes (rows of position_embd)
  Pooling pooling() const;

  // The last layer's states, tokens.size() x n_embd(). Throws Error on an empty input, a token
  // outside the vocabulary or more than n_ctx_train() tokens.
  std::vector<float> hidden(std::span<const int32_t> tokens);
  // The pooled embedding, n_embd() floats, not normalised. Throws Error when pooling() is None.
  std::vector<float> embed(std::span<const int32_t> tokens);

 private:
  struct Impl;
  explicit Encoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Scales v in place as llama.cpp's embd_normalize: -1 leaves it, 0 scales the largest |x| to
// 32760 (int16 range), 1 taxicab, 2 Euclidean (L2), p > 2 the p-norm. A zero vector stays zero.
void normalize_embedding(std::span<float> v, int norm);

}  // namespace inhouse::model
