// model/model.cpp — owns the Model object: opening a file, choosing the architecture by
// general.architecture, checking each forward call (token ids, positions, context size), the
// KV cache's storage, and the greedy helpers.
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

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

KvCache::KvCache(int64_t n_layer, int64_t n_ctx, int64_t k_width, int64_t v_width,
                 tensor::TensorType type, int64_t n_heads)
    : n_layer_(n_layer), n_ctx_(n_ctx), k_width_(k_width), v_width_(v_width), type_(type), n_heads_(n_heads) {
  if (!tensor::is_kv_type(type))
    throw Error("KV cache type " + std::string(gguf::tensor_type_name(type)) + " is not supported (f16, f32)");
  if (n_layer < 0 || n_ctx < 0 || k_width < 0 || v_width < 0)
    throw Error("KV cache dimensions must not be negative");
  if (n_heads < 1 || k_width % n_heads != 0 || v_width % n_heads != 0)
    throw Error("KV cache rows of " + std::to_string(k_width) + " / " + std::to_string(v_width) +
                " elements cannot be split into " + std::to_string(n_heads) + " heads");
  const int64_t bytes = n_layer * n_ctx * (k_width + v_width) * element_bytes();
  if (bytes == 0) return;
  // Address space only: MAP_NORESERVE commits no memory, pages arrive zeroed on first write.
  void* p = mmap(nullptr, size_t(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    throw Error("cannot reserve " + std::to_string(bytes >> 20) + " MiB of address space for a KV cache of " +
                std::to_string(n_ctx) + " positions: " + std::strerror(errno));
  base_ = static_cast<std::byte*>(p);
  mapped_bytes_ = size_t(bytes);
}

KvCache::KvCache(KvCache&& o) noexcept
    : n_layer_(o.n_layer_), n_ctx_(o.n_ctx_), k_width_(o.k_width_), v_width_(o.v_width_), type_(o.type_),
      n_heads_(o.n_heads_), size_(o.size_), capacity_(o.capacity_), base_(std::exchange(o.base_, nullptr)),
      mapped_bytes_(std::exchange(o.mapped_bytes_, 0)) {
  o.size_ = o.capacity_ = 0;
}

KvCache& KvCache::operator=(KvCache&& o) noexcept {
  if (this != &o) {
    release();
    n_layer_ = o.n_layer_, n_ctx_ = o.n_ctx_, k_width_ = o.k_width_, v_width_ = o.v_width_, type_ = o.type_;
    n_heads_ = o.n_heads_;
    size_ = std::exchange(o.size_, 0);
    capacity_ = std::exchange(o.capacity_, 0);
    base_ = std::exchange(o.base_, nullptr);
    mapped_bytes_ = std::exchange(o.mapped_bytes_, 0);
  }
  return *this;
}

KvCache::~KvCache() { release(); }

void KvCache::release() {
  if (base_) munmap(base_, mapped_bytes_);
  base_ = nullptr;
  mapped_bytes_ = 0;
}

void KvCache::reserve(int64_t n) {
  if (n > n_ctx_)
    throw Error("context overflow: " + std::to_string(n) + " positions do not fit the context of " +
                std::to_string(n_ctx_) + " tokens");
  capacity_ = std::max(capacity_, n);  // the pages themselves arrive as rows are written
}

// ---- Batch -----------------------------------------------------------------------------------

int64_t Batch::max_kv() const {
  int64_t most = 0;
  for (int64_t p : pos) most = std::max(most, p + 1);
  return most;
}

HeadSplit split_heads(int64_t items, int64_t group, int threads) {
  const int64_t splits = std::clamp<int64_t>((threads + items - 1) / std::max<int64_t>(items, 1), 1, group);
  return {splits, (group + splits - 1) / splits};
}

void batch_logits(const Batch& batch, const float* x, int64_t d,
                  const std::vector<float>& norm_weight, float eps, const tensor::Matrix& output,
                  tensor::ThreadPool& pool, float* logits) {
  const int64_t rows = int64_t(batch.outputs.size());
  std::vector<float> normed(size_t(rows * d));
  for (int64_t r = 0; r < rows; ++r)
    tensor::rms_norm(x + batch.outputs[size_t(r)] * d, norm_weight.data(), normed.data() + r * d,
                     d, eps);
  tensor::matmul(output, normed.data(), rows, logits, pool);
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
  if (!tensor::is_kv_type(options.kv_type))
    throw Error("KV cache type " + std::string(gguf::tensor_type_name(options.kv_type)) +
                " is not supported (f16, f32)");
  m.kv_type_ = options.kv_type;
  m.mla_cache_ = options.mla_cache;
  m.pool_ = std::make_unique<tensor::ThreadPool>(options.threads);
  return m;
}

KvCache Model::new_cache(int64_t n_ctx) const {
  const int64_t n = n_ctx > 0 ? n_ctx : hparams_.n_ctx_train;
  const MlaCache mla =
      hparams_.kv_lora > 0 ? choose_mla_cache(hparams_, mla_cache_, n, kv_type_) : mla_cache_;
  return arch_->new_cache(n, kv_type_, mla);
}

std::vector<float> Model::forward(KvCache& cache, std::span<const int32_t> tokens, int64_t start,
                                  bool last_only) {
  const SeqBatch item{&cache, tokens, start, last_only};
  return forward_batch(std::span(&item, 1));
}

// Throws Error when item i of a batch cannot run; a batch of one names no item.
void Model::check_item(std::span<const SeqBatch> items, size_t i) const {
  const SeqBatch& item = items[i];
  const std::string who = items.size() == 1 ? "forward" : "forward_batch item " + std::to_string(i);
  if (!item.cache) throw Error(who + ": no KV cache given");
  for (size_t j = 0; j < i; ++j)
    if (items[j].cache == item.cache)
      throw Error(who + ": uses the same KV cache as item " + std::to_string(j));
  const int64_t n = int64_t(item.tokens.size());
  if (n == 0) throw Error(who + ": no tokens given");
  for (int32_t t : item.tokens)
    if (t < 0 || t >= hparams_.n_vocab)
      throw Error(who + ": token id " + std::to_string(t) + " is outside the vocabulary of " +
                  std::to_string(hparams_.n_vocab));
  const KvCache& cache = *item.cache;
  if (item.start < 0 || item.start > cache.size())
    throw Error(who + ": start position " + std::to_string(item.start) + " is beyond the " +
                std::to_string(cache.size()) + " cached positions");
  if (!arch_->fits(cache))
    throw Error(who + ": the KV cache was made for a different model");
  // Policy: a sequence that would run past its cache's context is refused, never truncated or
  // shifted; the caller decides what to drop.
  if (item.start + n > cache.n_ctx())
    throw Error(who + ": context overflow: " + std::to_string(item.start) + " cached + " +
                std::to_string(n) + " new tokens exceed the context size of " +
                std::to_string(cache.n_ctx()));
}

std::vector<float> Model::forward_batch(std::span<const SeqBatch> items) {
  if (items.empty()) throw Error("forward_batch: no sequences given");
  for (size_t i = 0; i < items.size(); ++i) check_item(items, i);
  Batch batch;
  for (const SeqBatch& item : items) {
    const int64_t n = int64_t(item.tokens.size());
    item.cache->reserve(item.start + n);
    for (int64_t t = 0; t < n; ++t) {
      if (!item.last_only || t == n - 1) batch.outputs.push_back(batch.size());
      batch.tokens.push_back(item.tokens[size_t(t)]);
      batch.pos.push_back(item.start + t);
      batch.cache.push_back(item.cache);
    }
  }
  std::vector<float> logits(batch.outputs.size() * size_t(hparams_.n_vocab));
  arch_->forward(batch, *pool_, logits.data());
  for (const SeqBatch& item : items) item.cache->set_size(item.start + int64_t(item.tokens.size()));
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

ModelOptions ModelOptions::from_names(int threads, std::string_view kv_type, std::string_view mla_cache) {
  ModelOptions o;
  o.threads = threads;
  if (kv_type == "f16") o.kv_type = tensor::TensorType::F16;
  else if (kv_type == "f32") o.kv_type = tensor::TensorType::F32;
  else throw Error("cache type '" + std::string(kv_type) + "': use f16 or f32");
  if (mla_cache == "auto") o.mla_cache = MlaCache::Auto;
  else if (mla_cache == "latent") o.mla_cache = MlaCache::Latent;
  else if (mla_cache == "expanded") o.mla_cache = MlaCache::Expanded;
  else throw Error("mla cache '" + std::string(mla_cache) + "': use auto, latent or expanded");
  return o;
}

}  // namespace inhouse::model
