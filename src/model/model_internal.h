// model/model_internal.h (internal) — what architecture files share: the Architecture
// interface, reading `<arch>.*` hyper-parameter keys and looking up weight tensors with shape
// checks, each failure an Error naming the key or tensor.
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/model.h"

namespace inhouse::model {

// A multi-sequence batch flattened token by token, as the architectures run it: batch row i is
// token tokens[i] at position pos[i] of the sequence whose cache is cache[i]. Rows of one
// sequence are consecutive and in position order; each cache has room for its rows.
struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int64_t> pos;
  std::vector<KvCache*> cache;
  std::vector<int64_t> outputs;  // the rows whose logits are wanted, in output order

  int64_t size() const { return int64_t(tokens.size()); }
  int64_t max_kv() const;  // the most positions any row attends to
};

// Attention work items: `items` (row, head group) pairs, each group of `group` query heads
// reading the same cached rows. A group is split into `splits` pieces of at most `per_split`
// heads only when there are fewer items than threads (decode), so each piece still shares its
// row reads among as many heads as possible.
struct HeadSplit {
  int64_t splits, per_split;
  int64_t heads_in(int64_t piece, int64_t group) const {  // heads of piece s (may be 0)
    return std::max<int64_t>(0, std::min(per_split, group - piece * per_split));
  }
};
HeadSplit split_heads(int64_t items, int64_t group, int threads);

// The decoder's last step for the rows of batch.outputs: rmsnorm (norm_weight, eps) of each
// row of x (batch.size() x d), then the vocabulary projection `output`, into logits.
void batch_logits(const Batch& batch, const float* x, int64_t d,
                  const std::vector<float>& norm_weight, float eps, const tensor::Matrix& output,
                  tensor::ThreadPool& pool, float* logits);

class Architecture {
 public:
  virtual ~Architecture() = default;
  // An empty cache for n_ctx positions with rows of `type`; `mla` picks deepseek2's layout
  // (already resolved: Latent or Expanded; other architectures ignore it).
  virtual KvCache new_cache(int64_t n_ctx, tensor::TensorType type, MlaCache mla) const = 0;
  // Whether the cache has the shape of one this architecture makes (in any layout it offers).
  virtual bool fits(const KvCache& cache) const = 0;
  // Runs every row of the batch (each row's cache holds positions 0..pos-1 of its sequence, or
  // gets them from earlier rows of the same batch), writes each row's keys and values to its
  // cache, and writes logits (n_vocab floats) for each row in batch.outputs, in that order.
  virtual void forward(const Batch& batch, tensor::ThreadPool& pool, float* logits) const = 0;
};

// `<arch>.<suffix>` keys of one file.
class KeyReader {
 public:
  KeyReader(const gguf::GgufFile& file, std::string arch) : file_(file), arch_(std::move(arch)) {}
  std::string key(std::string_view suffix) const { return arch_ + "." + std::string(suffix); }
  int64_t require_int(std::string_view suffix) const;  // must be present and positive
  std::optional<int64_t> get_int(std::string_view suffix) const;
  std::optional<float> get_float(std::string_view suffix) const;
  std::optional<std::string> get_string(std::string_view suffix) const;

 private:
  const gguf::GgufFile& file_;
  std::string arch_;
};

// Looks up tensors by name and checks their shapes (ggml order: {row length, rows}).
class WeightLoader {
 public:
  WeightLoader(const gguf::GgufFile& file, std::string arch) : file_(file), arch_(std::move(arch)) {}
  tensor::Matrix matrix(const std::string& name, int64_t n_in, int64_t n_out) const;
  std::optional<tensor::Matrix> optional_matrix(const std::string& name, int64_t n_in,
                                                int64_t n_out) const;
  // A 3-D tensor [n_in, n_out, n_stack] (experts, or per-head blocks) as n_stack matrices viewed
  // in place: matrix i starts i * n_out rows into the data.
  std::vector<tensor::Matrix> stacked_matrices(const std::string& name, int64_t n_in,
                                               int64_t n_out, int64_t n_stack) const;
  // A 1-D tensor of n elements, converted to float (norm weights, biases: small).
  std::vector<float> vector(const std::string& name, int64_t n) const;
  std::vector<float> optional_vector(const std::string& name, int64_t n) const;  // empty if absent
  // The tensor's shape[1] (e.g. the vocabulary size from token_embd); the tensor must exist.
  int64_t rows(const std::string& name) const;

 private:
  const gguf::TensorInfo& require(const std::string& name) const;
  void check_shape(const gguf::TensorInfo& t, std::vector<int64_t> want) const;

  const gguf::GgufFile& file_;
  std::string arch_;
};

// Hyper-parameters every decoder shares (sizes, heads, norm epsilon, rope base and scaling).
// n_vocab comes from the rows of token_embd.weight (checked against <arch>.vocab_size).
Hparams read_decoder_hparams(const gguf::GgufFile& file, const std::string& arch);

// Architecture files.
std::unique_ptr<Architecture> load_llama(const gguf::GgufFile& file, Hparams& hp);  // llama, qwen2
// deepseek2 (MLA + MoE, deepseek2.cpp): reads its own hyper-parameters (MLA head sizes, YaRN).
Hparams read_deepseek2_hparams(const gguf::GgufFile& file, const std::string& arch);
std::unique_ptr<Architecture> load_deepseek2(const gguf::GgufFile& file, Hparams& hp);

}  // namespace inhouse::model
