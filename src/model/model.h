// model — owns running a decoder model stored in a GGUF file: reading its hyper-parameters and
// weights (viewed in place in the mapped file), the per-sequence KV cache (for deepseek2 in one of
// two layouts, MlaCache), and the forward pass from token ids to logits (one file per
// architecture family: llama.cpp covers llama, qwen2).
// Sampling policy lives in engine/; this module only offers the greedy argmax.
#pragma once

#include <cstddef>
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
  int64_t kv_lora = 0;       // deepseek2 (MLA): width of the compressed KV latent; 0 otherwise
  tensor::RopeStyle rope_style = tensor::RopeStyle::Normal;
};

// Keys and values of every layer for one sequence, as rows of `type()`: F16 by default
// (llama.cpp's default: half the memory of F32) or F32. Row `pos` of layer l holds k_width
// (v_width) elements. Positions [0, size()) are filled; a forward pass at start position p
// overwrites from p on (so a caller can rewind). Memory grows with the positions used, up to
// n_ctx, so a long training context costs nothing until it is used: the storage is one
// anonymous mapping reserved for n_ctx positions up front (address space only) whose pages
// become resident as positions are written. Growing never copies or moves rows, and leaves no
// freed buffers behind in the heap (the old per-layer vectors, doubled as the context grew,
// held about half the final cache again in freed heap blocks at depth 8192).
// With n_heads > 1 each row is n_heads equal parts (one per KV head) and a layer's parts are
// stored head by head: one head's positions are consecutive, so the attention of a head group
// streams one contiguous block instead of every n_heads-th part of the rows (DRAM reads at
// long contexts; the hardware prefetchers follow the contiguous stream).
class KvCache {
 public:
  KvCache(int64_t n_layer, int64_t n_ctx, int64_t k_width, int64_t v_width,
          tensor::TensorType type = tensor::TensorType::F16, int64_t n_heads = 1);
  KvCache(KvCache&& other) noexcept;
  KvCache& operator=(KvCache&& other) noexcept;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;
  ~KvCache();

  int64_t n_layer() const { return n_layer_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t size() const { return size_; }
  int64_t k_width() const { return k_width_; }
  int64_t v_width() const { return v_width_; }
  int64_t n_heads() const { return n_heads_; }
  int64_t k_head_width() const { return k_width_ / n_heads_; }  // elements per head and position
  int64_t v_head_width() const { return v_width_ / n_heads_; }
  tensor::TensorType type() const { return type_; }
  int64_t element_bytes() const { return type_ == tensor::TensorType::F32 ? 4 : 2; }
  // Bytes of cache one position takes (all layers, keys and values).
  int64_t bytes_per_position() const { return n_layer() * (k_width_ + v_width_) * element_bytes(); }
  int64_t capacity() const { return capacity_; }  // positions made available so far

  // Makes room for positions [0, n); throws Error beyond n_ctx. Rows never move.
  void reserve(int64_t n);
  void set_size(int64_t n) { size_ = n; }  // after a forward pass filled [0, n)
  // Head `head`'s part of row `pos` of a layer's keys / values (k_head_width() / v_head_width()
  // elements of type()); the next position's part of the same head follows it.
  void* k(int64_t layer, int64_t pos, int64_t head = 0) { return base_ + k_offset(layer, pos, head); }
  void* v(int64_t layer, int64_t pos, int64_t head = 0) { return base_ + v_offset(layer, pos, head); }
  const void* k(int64_t layer, int64_t pos, int64_t head = 0) const { return base_ + k_offset(layer, pos, head); }
  const void* v(int64_t layer, int64_t pos, int64_t head = 0) const { return base_ + v_offset(layer, pos, head); }

 private:
  // Layer l's keys are n_ctx rows at l * n_ctx key rows, head by head within the layer; all
  // values follow all keys.
  size_t k_offset(int64_t layer, int64_t pos, int64_t head) const {
    return size_t((layer * n_ctx_ * k_width_ + (head * n_ctx_ + pos) * k_head_width()) * element_bytes());
  }
  size_t v_offset(int64_t layer, int64_t pos, int64_t head) const {
    return size_t((n_layer_ * n_ctx_ * k_width_ + layer * n_ctx_ * v_width_ + (head * n_ctx_ + pos) * v_head_width()) *
                  element_bytes());
  }
  void release();

  int64_t n_layer_, n_ctx_, k_width_, v_width_;
  tensor::TensorType type_;
  int64_t n_heads_ = 1;
  int64_t size_ = 0, capacity_ = 0;
  std::byte* base_ = nullptr;  // the mapping, mapped_bytes_ long (nullptr when empty)
  size_t mapped_bytes_ = 0;
};

// One architecture's weights and forward pass (model_internal.h).
class Architecture;

// One sequence's part of a multi-sequence batch.
struct SeqBatch {
  KvCache* cache = nullptr;
  std::span<const int32_t> tokens;
  int64_t start = 0;        // position of tokens[0]; must be <= cache->size()
  bool last_only = false;   // logits for the last token only
};

// What a deepseek2 (multi-head latent attention) KV cache holds per position. Both compute the
// same function; they differ in memory and in where rounding happens.
//   Latent:   the normalised latent c (kv_lora) and the roped shared key k_pe, one row per layer;
//             attention runs in latent space (W_k^h folded into the query, W_v^h applied after
//             the weighted sum). The memory saver: DeepSeek-V3 needs 61 x 576 values a position.
//   Expanded: every head's full key [W_k^h c, k_pe] and value W_v^h c, computed once per token
//             through the ordinary (quantised) matmul and attended to as plain multi-head
//             attention: llama.cpp's layout before it adopted MLA (Feb 2025), so its logits match
//             that reference best. DeepSeek-V3 needs 61 x 128 x (192 + 128) values: 71x Latent.
//   Auto:     Expanded when a cache of the requested n_ctx takes at most kMlaExpandedAutoLimit
//             bytes in that layout, else Latent: small models and short contexts get llama.cpp's
//             numerics, long contexts on real models fit in memory.
// Other architectures ignore the choice.
enum class MlaCache { Auto, Latent, Expanded };
inline constexpr int64_t kMlaExpandedAutoLimit = int64_t(256) << 20;  // bytes, whole cache

// Bytes one position of a deepseek2 cache takes (all layers) in `layout` (Latent or Expanded)
// with rows of kv_type (F16 or F32). Throws Error for Auto or a non-MLA hp (kv_lora 0).
int64_t mla_cache_bytes_per_position(const Hparams& hp, MlaCache layout, tensor::TensorType kv_type);
// The layout a deepseek2 cache of n_ctx positions gets: `requested` unless it is Auto; Auto gives
// Expanded when n_ctx positions of it take at most `limit` bytes, else Latent.
MlaCache choose_mla_cache(const Hparams& hp, MlaCache requested, int64_t n_ctx,
                          tensor::TensorType kv_type, int64_t limit = kMlaExpandedAutoLimit);

struct ModelOptions {
  // From the names flags and config files use: kv_type "f16" | "f32", mla_cache "auto" |
  // "latent" | "expanded". Throws Error naming the bad value.
  static ModelOptions from_names(int threads, std::string_view kv_type, std::string_view mla_cache);

  int threads = 0;  // <= 0: hardware concurrency
  // Type of the KV cache rows new_cache() makes: F16 (as llama.cpp's default) or F32 (exact
  // float attention, twice the memory).
  tensor::TensorType kv_type = tensor::TensorType::F16;
  // deepseek2's cache layout (see MlaCache); chosen per cache by new_cache().
  MlaCache mla_cache = MlaCache::Auto;
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

  // n_ctx <= 0: the training context length. Rows of the options' kv_type; for deepseek2 in
  // the layout choose_mla_cache() picks for the options' mla_cache and n_ctx. forward() accepts
  // a cache of either deepseek2 layout, whichever Model made it.
  KvCache new_cache(int64_t n_ctx = 0) const;

  // Feeds tokens at positions start..start+n-1 as one batch; start must be <= cache.size().
  // Returns n x n_vocab logits (row i for position start+i), or 1 x n_vocab when last_only.
  // Throws Error on an empty batch, a token outside the vocabulary, or context overflow.
  std::vector<float> forward(KvCache& cache, std::span<const int32_t> tokens, int64_t start,
                             bool last_only = false);

  // Runs several sequences' tokens through one pass: every weight matrix is read once for all
  // of them; attention stays within each sequence. Returns the logits rows concatenated in item
  // order (tokens.size() rows per item, or 1 when last_only), each n_vocab floats. Each row is
  // bit-identical to what forward() gives for that sequence alone. Throws Error (naming the
  // item) before changing any cache when an item is invalid (null/duplicate cache, empty
  // tokens, bad token id, start > cache size, context overflow).
  std::vector<float> forward_batch(std::span<const SeqBatch> items);

  void set_threads(int threads);
  int threads() const;

 private:
  Model() = default;
  void check_item(std::span<const SeqBatch> items, size_t i) const;
  std::unique_ptr<gguf::GgufFile> file_;
  Hparams hparams_;
  std::unique_ptr<Architecture> arch_;
  std::unique_ptr<tensor::ThreadPool> pool_;
  tensor::TensorType kv_type_ = tensor::TensorType::F16;
  MlaCache mla_cache_ = MlaCache::Auto;
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
