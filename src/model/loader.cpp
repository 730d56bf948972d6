// model/loader.cpp — owns reading a decoder's hyper-parameters from `<arch>.*` keys and looking
// up its weight tensors with shape checks. Every failure names the key or tensor involved, so
// a broken or unusual file says what is wrong instead of producing garbage.
#include <cmath>

#include "model/model_internal.h"

namespace inhouse::model {

namespace {
std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// gguf::Error for a key of the wrong type (its message names the key) becomes our Error.
template <typename F>
auto read_key(F&& f) {
  try {
    return f();
  } catch (const gguf::Error& e) {
    throw Error(e.what());
  }
}
}  // namespace

std::optional<int64_t> KeyReader::get_int(std::string_view suffix) const {
  const std::string k = key(suffix);
  return read_key([&] { return file_.get_int(k); });
}

std::optional<float> KeyReader::get_float(std::string_view suffix) const {
  const std::string k = key(suffix);
  auto v = read_key([&] { return file_.get_float(k); });
  if (!v) return std::nullopt;
  if (!std::isfinite(*v)) throw Error("model key '" + k + "' is not a finite number");
  return float(*v);
}

std::optional<std::string> KeyReader::get_string(std::string_view suffix) const {
  const std::string k = key(suffix);
  auto v = read_key([&] { return file_.get_string(k); });
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}

int64_t KeyReader::require_int(std::string_view suffix) const {
  auto v = get_int(suffix);
  if (!v) throw Error("model file is missing the key '" + key(suffix) + "'");
  if (*v <= 0) throw Error("model key '" + key(suffix) + "' must be positive, got " + std::to_string(*v));
  return *v;
}

const gguf::TensorInfo& WeightLoader::require(const std::string& name) const {
  const gguf::TensorInfo* t = file_.find_tensor(name);
  if (!t) throw Error("model file is missing the tensor '" + name + "' (needed by " + arch_ + ")");
  return *t;
}

void WeightLoader::check_shape(const gguf::TensorInfo& t, std::vector<int64_t> want) const {
  // ggml drops trailing dimensions of 1 inconsistently; compare without them.
  auto trim = [](std::vector<int64_t> s) {
    while (s.size() > 1 && s.back() == 1) s.pop_back();
    return s;
  };
  if (trim(t.shape) != trim(want))
    throw Error("tensor '" + t.name + "' has shape " + shape_str(t.shape) + ", expected " +
                shape_str(want) + " from the model's hyper-parameters");
}

tensor::Matrix WeightLoader::matrix(const std::string& name, int64_t n_in, int64_t n_out) const {
  const gguf::TensorInfo& t = require(name);
  check_shape(t, {n_in, n_out});
  try {
    return tensor::Matrix::from(t);
  } catch (const tensor::Error& e) {
    throw Error(e.what());
  }
}

std::vector<tensor::Matrix> WeightLoader::stacked_matrices(const std::string& name, int64_t n_in,
                                                           int64_t n_out, int64_t n_stack) const {
  const gguf::TensorInfo& t = require(name);
  check_shape(t, {n_in, n_out, n_stack});
  tensor::Matrix m;
  try {
    tensor::check_supported(t.type, "tensor '" + name + "'");
    m = {t.type, t.data, n_in, n_out, tensor::row_bytes(t.type, n_in)};
  } catch (const tensor::Error& e) {
    throw Error("tensor '" + name + "': " + e.what());
  }
  std::vector<tensor::Matrix> out;
  for (int64_t i = 0; i < n_stack; ++i) {
    tensor::Matrix slice = m;
    slice.data = m.row(i * n_out);
    out.push_back(slice);
  }
  return out;
}

std::optional<tensor::Matrix> WeightLoader::optional_matrix(const std::string& name, int64_t n_in,
                                                            int64_t n_out) const {
  if (!file_.find_tensor(name)) return std::nullopt;
  return matrix(name, n_in, n_out);
}

std::vector<float> WeightLoader::vector(const std::string& name, int64_t n) const {
  const gguf::TensorInfo& t = require(name);
  check_shape(t, {n});
  std::vector<float> out(static_cast<size_t>(n));
  try {
    tensor::dequantize_row(t.type, t.data, out.data(), n);
  } catch (const tensor::Error& e) {
    throw Error("tensor '" + name + "': " + e.what());
  }
  return out;
}

std::vector<float> WeightLoader::optional_vector(const std::string& name, int64_t n) const {
  if (!file_.find_tensor(name)) return {};
  return vector(name, n);
}

int64_t WeightLoader::rows(const std::string& name) const {
  const gguf::TensorInfo& t = require(name);
  if (t.shape.size() != 2)
    throw Error("tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected 2 dimensions");
  return t.shape[1];
}

Hparams read_decoder_hparams(const gguf::GgufFile& file, const std::string& arch) {
  KeyReader keys(file, arch);
  Hparams hp;
  hp.arch = arch;
  hp.n_ctx_train = keys.require_int("context_length");
  hp.n_embd = keys.require_int("embedding_length");
  hp.n_layer = keys.require_int("block_count");
  hp.n_ff = keys.require_int("feed_forward_length");
  hp.n_head = keys.require_int("attention.head_count");
  hp.n_head_kv = keys.get_int("attention.head_count_kv").value_or(hp.n_head);
  if (hp.n_head_kv <= 0 || hp.n_head % hp.n_head_kv != 0)
    throw Error("model key '" + keys.key("attention.head_count_kv") + "' = " +
                std::to_string(hp.n_head_kv) + " must divide the head count " +
                std::to_string(hp.n_head));
  if (hp.n_embd % hp.n_head != 0 && !keys.get_int("attention.key_length"))
    throw Error("embedding length " + std::to_string(hp.n_embd) + " is not a multiple of the " +
                "head count " + std::to_string(hp.n_head) + " and '" +
                keys.key("attention.key_length") + "' is absent");
  hp.head_dim_k = keys.get_int("attention.key_length").value_or(hp.n_embd / hp.n_head);
  hp.head_dim_v = keys.get_int("attention.value_length").value_or(hp.n_embd / hp.n_head);
  hp.n_rot = keys.get_int("rope.dimension_count").value_or(hp.head_dim_k);
  if (hp.head_dim_k <= 0 || hp.head_dim_v <= 0 || hp.n_rot <= 0 || hp.n_rot % 2 != 0 ||
      hp.n_rot > hp.head_dim_k)
    throw Error("model keys give head size " + std::to_string(hp.head_dim_k) + "/" +
                std::to_string(hp.head_dim_v) + " and rope dimension " + std::to_string(hp.n_rot) +
                "; the rope dimension must be even and at most the key head size");
  hp.norm_eps = keys.get_float("attention.layer_norm_rms_epsilon").value_or(1e-5f);
  hp.rope_freq_base = keys.get_float("rope.freq_base").value_or(10000.0f);
  hp.attn_scale = keys.get_float("attention.scale").value_or(0.0f);

  // Linear rope scaling stretches positions by 1/factor; other schemes change the maths.
  const std::string scaling = keys.get_string("rope.scaling.type").value_or("linear");
  const float factor = keys.get_float("rope.scaling.factor")
                           .value_or(keys.get_float("rope.scale_linear").value_or(1.0f));
  if (scaling != "linear" && scaling != "none")
    throw Error("model key '" + keys.key("rope.scaling.type") + "' = '" + scaling +
                "' is not supported for " + arch + " (supported: none, linear)");
  if (scaling == "linear" && factor > 0.0f && factor != 1.0f) hp.rope_freq_scale = 1.0f / factor;

  hp.n_vocab = WeightLoader(file, arch).rows("token_embd.weight");
  if (auto v = keys.get_int("vocab_size"); v && *v != hp.n_vocab)
    throw Error("model key '" + keys.key("vocab_size") + "' = " + std::to_string(*v) +
                " disagrees with token_embd.weight's " + std::to_string(hp.n_vocab) + " rows");
  return hp;
}

}  // namespace inhouse::model
