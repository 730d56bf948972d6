// model/model_internal.h (internal) — what architecture files share: the Architecture
// interface, reading `<arch>.*` hyper-parameter keys and looking up weight tensors with shape
// checks, each failure an Error naming the key or tensor.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/model.h"

namespace inhouse::model {

class Architecture {
 public:
  virtual ~Architecture() = default;
  virtual KvCache new_cache(int64_t n_ctx) const = 0;
  // Runs tokens at positions start..start+n-1 (the cache holds 0..start-1 and has room) and
  // writes logits for every position, or only the last one when last_only.
  virtual void forward(std::span<const int32_t> tokens, int64_t start, KvCache& cache,
                       tensor::ThreadPool& pool, bool last_only, float* logits) const = 0;
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
