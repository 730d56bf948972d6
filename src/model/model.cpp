// model/model.cpp — owns the Model object: opening a file, choosing the architecture by
// general.architecture, checking each forward call (token ids, positions, context size), the
// KV cache's storage, and the greedy helpers.
#include <algorithm>

#include "model/model_internal.h"

namespace inhouse::model {

namespace {
using Loader = std::unique_ptr<Architecture> (*)(const gguf::GgufFile&, Hparams&);
using HparamsReader = Hparams (*)(const gguf::GgufFile&, const std::string&);
struct ArchEntry {
  const char* name;
  Loader load;
  HparamsReader read_hparams = read_decoder_hparams;  // an architecture may read its own
};
constexpr ArchEntry kArchitectures[] = {
    {"llama", load_llama},
    {"qwen2", load_llama},
    {"deepseek2", load_deepseek2, read_deepseek2_hparams},
};

std::string supported_architectures() {
  std::string out;
  for (const ArchEntry& a : kArchitectures) out += (out.empty() ? "" : ", ") + std::string(a.name);
  return out;
}
}  // namespace

// ---- KvCache ---------------------------------------------------------------------------------

KvCache::KvCache(int64_t n_layer, int64_t n_ctx, int64_t k_width, int64_t v_width)
    : n_ctx_(n_ctx), k_width_(k_width), v_width_(v_width), k_(size_t(n_layer)), v_(size_t(n_layer)) {}

void KvCache::reserve(int64_t n) {
  if (n > n_ctx_)
    throw Error("context overflow: " + std::to_string(n) + " positions do not fit the context of " +
                std::to_string(n_ctx_) + " tokens");
  if (k_.empty() || int64_t(k_[0].size()) >= n * k_width_) return;
  // Grow geometrically so a token-by-token decode does not reallocate every step.
  const int64_t have = int64_t(k_[0].size()) / std::max<int64_t>(k_width_, 1);
  const int64_t want = std::min(n_ctx_, std::max(n, 2 * have));
  for (auto& l : k_) l.resize(size_t(want * k_width_));
  for (auto& l : v_) l.resize(size_t(want * v_width_));
}

// ---- Model -----------------------------------------------------------------------------------

Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::open(const std::string& path, ModelOptions options) {
  return load(gguf::GgufFile::open(path), options);
}

Model Model::load(gguf::GgufFile file, ModelOptions options) {
  Model m;
  m.file_ = std::make_unique<gguf::GgufFile>(std::move(file));
  const std::string arch = m.file_->architecture();
  if (arch.empty()) throw Error("model file is missing the key 'general.architecture'");
  for (const ArchEntry& a : kArchitectures) {
    if (arch != a.name) continue;
    m.hparams_ = a.read_hparams(*m.file_, arch);
    m.arch_ = a.load(*m.file_, m.hparams_);
  }
  if (!m.arch_)
    throw Error("model architecture '" + arch + "' is not supported (supported: " +
                supported_architectures() + ")");
  m.pool_ = std::make_unique<tensor::ThreadPool>(options.threads);
  return m;
}

KvCache Model::new_cache(int64_t n_ctx) const {
  return arch_->new_cache(n_ctx > 0 ? n_ctx : hparams_.n_ctx_train);
}

std::vector<float> Model::forward(KvCache& cache, std::span<const int32_t> tokens, int64_t start,
                                  bool last_only) {
  const int64_t n = int64_t(tokens.size());
  if (n == 0) throw Error("forward: no tokens given");
  for (int32_t t : tokens)
    if (t < 0 || t >= hparams_.n_vocab)
      throw Error("token id " + std::to_string(t) + " is outside the vocabulary of " +
                  std::to_string(hparams_.n_vocab));
  if (start < 0 || start > cache.size())
    throw Error("forward: start position " + std::to_string(start) + " is beyond the " +
                std::to_string(cache.size()) + " cached positions");
  const KvCache shape = arch_->new_cache(1);
  if (cache.n_layer() != shape.n_layer() || cache.k_width() != shape.k_width() ||
      cache.v_width() != shape.v_width())
    throw Error("forward: the KV cache was made for a different model");
  if (start + n > cache.n_ctx())
    throw Error("context overflow: " + std::to_string(start) + " cached + " + std::to_string(n) +
                " new tokens exceed the context size of " + std::to_string(cache.n_ctx()));
  cache.reserve(start + n);
  std::vector<float> logits(size_t((last_only ? 1 : n) * hparams_.n_vocab));
  arch_->forward(tokens, start, cache, *pool_, last_only, logits.data());
  cache.set_size(start + n);
  return logits;
}

void Model::set_threads(int threads) { pool_ = std::make_unique<tensor::ThreadPool>(threads); }
int Model::threads() const { return pool_->size(); }

// ---- greedy ----------------------------------------------------------------------------------

int32_t argmax(std::span<const float> logits) {
  return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<int32_t> greedy(Model& model, std::span<const int32_t> prompt, int n_new,
                            std::vector<float>* prompt_logits) {
  KvCache cache = model.new_cache();
  std::vector<float> logits = model.forward(cache, prompt, 0);
  std::vector<float> last(logits.end() - model.n_vocab(), logits.end());
  if (prompt_logits) *prompt_logits = std::move(logits);
  std::vector<int32_t> out;
  for (int i = 0; i < n_new; ++i) {
    out.push_back(argmax(last));
    if (i + 1 == n_new) break;  // the last choice needs no forward pass
    last = model.forward(cache, std::span(&out.back(), 1), cache.size());
  }
  return out;
}

}  // namespace inhouse::model
