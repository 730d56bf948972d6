// quant/synth.cpp — random-weight models with the exact tensor shapes and hyper-parameters of
// real ones. Decode and prefill speed depend on shapes and types, not on weight values, so
// these stand in for the real checkpoints in benchmarks.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "quant/quant.h"
#include "quant/quant_internal.h"

namespace inhouse::quant {
namespace {

using gguf::Value;
using gguf::ValueType;

struct Shape {
  const char* name;
  const char* arch;
  int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
  float rope_base, norm_eps;
  // deepseek2 (MLA + MoE) only.
  int64_t kv_lora = 0, n_nope = 0, n_rope = 0, n_v = 0;
  int64_t n_dense = 0, n_expert = 0, n_expert_used = 0, n_expert_shared = 0, n_ff_exp = 0;
  float yarn_factor = 0, yarn_log_mul = 0;
  int64_t yarn_orig_ctx = 0;
};

const Shape kShapes[] = {
    // DeepSeek-R1-Distill-Qwen-1.5B (Qwen2.5-Math-1.5B layout, untied output).
    {"r1-distill-qwen-1.5b", "qwen2", 151936, 1536, 28, 12, 2, 8960, 131072, 10000.0f, 1e-6f},
    // DeepSeek-V2-Lite: MLA without q compression, 1 dense + 26 MoE layers, YaRN x40.
    {"v2-lite", "deepseek2", 102400, 2048, 27, 16, 16, 10944, 163840, 10000.0f, 1e-6f,
     512, 128, 64, 128, 1, 64, 6, 2, 1408, 40.0f, 0.0707f, 4096},
    {"tiny-qwen2", "qwen2", 1024, 256, 2, 4, 2, 512, 2048, 10000.0f, 1e-6f},
    {"tiny-deepseek2", "deepseek2", 512, 256, 2, 4, 4, 512, 2048, 10000.0f, 1e-6f,
     64, 32, 32, 32, 1, 4, 2, 1, 128, 4.0f, 0.1f, 512},
};

const Shape& find_shape(const std::string& name) {
  for (const Shape& s : kShapes)
    if (name == s.name) return s;
  std::string names;
  for (const std::string& n : shape_names()) names += (names.empty() ? "" : ", ") + n;
  throw Error("unknown shape '" + name + "' (known: " + names + ")");
}

// What a tensor's values are: random ~N(0, 0.02) weights, or all ones (norm weights).
enum class Fill { Random, Ones };
struct TensorPlan {
  std::string name;
  std::vector<int64_t> shape;
  Fill fill = Fill::Random;
};

void add_qwen2_layer(const Shape& s, const std::string& p, std::vector<TensorPlan>& t) {
  const int64_t d = s.n_embd, hd = d / s.n_head, q = s.n_head * hd, kv = s.n_head_kv * hd;
  t.push_back({p + "attn_norm.weight", {d}, Fill::Ones});
  t.push_back({p + "attn_q.weight", {d, q}});
  t.push_back({p + "attn_q.bias", {q}});
  t.push_back({p + "attn_k.weight", {d, kv}});
  t.push_back({p + "attn_k.bias", {kv}});
  t.push_back({p + "attn_v.weight", {d, kv}});
  t.push_back({p + "attn_v.bias", {kv}});
  t.push_back({p + "attn_output.weight", {q, d}});
  t.push_back({p + "ffn_norm.weight", {d}, Fill::Ones});
  t.push_back({p + "ffn_gate.weight", {d, s.n_ff}});
  t.push_back({p + "ffn_up.weight", {d, s.n_ff}});
  t.push_back({p + "ffn_down.weight", {s.n_ff, d}});
}

void add_deepseek2_layer(const Shape& s, int64_t il, const std::string& p, std::vector<TensorPlan>& t) {
  const int64_t d = s.n_embd, H = s.n_head;
  t.push_back({p + "attn_norm.weight", {d}, Fill::Ones});
  t.push_back({p + "attn_q.weight", {d, H * (s.n_nope + s.n_rope)}});
  t.push_back({p + "attn_kv_a_mqa.weight", {d, s.kv_lora + s.n_rope}});
  t.push_back({p + "attn_kv_a_norm.weight", {s.kv_lora}, Fill::Ones});
  t.push_back({p + "attn_kv_b.weight", {s.kv_lora, H * (s.n_nope + s.n_v)}});
  t.push_back({p + "attn_output.weight", {H * s.n_v, d}});
  t.push_back({p + "ffn_norm.weight", {d}, Fill::Ones});
  if (il < s.n_dense) {
    t.push_back({p + "ffn_gate.weight", {d, s.n_ff}});
    t.push_back({p + "ffn_up.weight", {d, s.n_ff}});
    t.push_back({p + "ffn_down.weight", {s.n_ff, d}});
    return;
  }
  const int64_t f = s.n_ff_exp, e = s.n_expert, fs = s.n_ff_exp * s.n_expert_shared;
  t.push_back({p + "ffn_gate_inp.weight", {d, e}});
  t.push_back({p + "ffn_gate_exps.weight", {d, f, e}});
  t.push_back({p + "ffn_up_exps.weight", {d, f, e}});
  t.push_back({p + "ffn_down_exps.weight", {f, d, e}});
  t.push_back({p + "ffn_gate_shexp.weight", {d, fs}});
  t.push_back({p + "ffn_up_shexp.weight", {d, fs}});
  t.push_back({p + "ffn_down_shexp.weight", {fs, d}});
}

std::vector<TensorPlan> plan_tensors(const Shape& s) {
  std::vector<TensorPlan> t;
  t.push_back({"token_embd.weight", {s.n_embd, s.n_vocab}});
  t.push_back({"output_norm.weight", {s.n_embd}, Fill::Ones});
  t.push_back({"output.weight", {s.n_embd, s.n_vocab}});
  for (int64_t il = 0; il < s.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    if (std::string(s.arch) == "qwen2") add_qwen2_layer(s, p, t);
    else add_deepseek2_layer(s, il, p, t);
  }
  return t;
}

void set_hparams(const Shape& s, gguf::GgufWriter& w) {
  const std::string a = std::string(s.arch) + ".";
  w.set_string("general.architecture", s.arch);
  w.set_string("general.name", std::string("synthetic ") + s.name);
  w.set_u32(a + "context_length", uint32_t(s.n_ctx));
  w.set_u32(a + "embedding_length", uint32_t(s.n_embd));
  w.set_u32(a + "block_count", uint32_t(s.n_layer));
  w.set_u32(a + "feed_forward_length", uint32_t(s.n_ff));
  w.set_u32(a + "attention.head_count", uint32_t(s.n_head));
  w.set_u32(a + "attention.head_count_kv", uint32_t(s.n_head_kv));
  w.set_f32(a + "rope.freq_base", s.rope_base);
  w.set_f32(a + "attention.layer_norm_rms_epsilon", s.norm_eps);
  w.set_u32(a + "vocab_size", uint32_t(s.n_vocab));
  if (std::string(s.arch) != "deepseek2") return;
  w.set_u32(a + "attention.kv_lora_rank", uint32_t(s.kv_lora));
  w.set_u32(a + "attention.key_length", uint32_t(s.n_nope + s.n_rope));
  w.set_u32(a + "attention.value_length", uint32_t(s.n_v));
  w.set_u32(a + "rope.dimension_count", uint32_t(s.n_rope));
  w.set_u32(a + "leading_dense_block_count", uint32_t(s.n_dense));
  w.set_u32(a + "expert_count", uint32_t(s.n_expert));
  w.set_u32(a + "expert_used_count", uint32_t(s.n_expert_used));
  w.set_u32(a + "expert_shared_count", uint32_t(s.n_expert_shared));
  w.set_u32(a + "expert_feed_forward_length", uint32_t(s.n_ff_exp));
  w.set_f32(a + "expert_weights_scale", 1.0f);
  w.set_string(a + "rope.scaling.type", "yarn");
  w.set_f32(a + "rope.scaling.factor", s.yarn_factor);
  w.set_u32(a + "rope.scaling.original_context_length", uint32_t(s.yarn_orig_ctx));
  w.set_f32(a + "rope.scaling.yarn_log_multiplier", s.yarn_log_mul);
}

// A SentencePiece-style vocabulary of n tokens: <unk>, <s>, </s>, the 256 byte tokens, then
// placeholder pieces, so tokenizers load and every id decodes to something.
void set_vocab(int64_t n, gguf::GgufWriter& w) {
  std::vector<Value> tokens, scores, types;
  tokens.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    std::string piece;
    int type = 1;  // normal
    if (i == 0) piece = "<unk>", type = 2;
    else if (i <= 2) piece = i == 1 ? "<s>" : "</s>", type = 3;
    else if (i < 3 + 256) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", unsigned(i - 3));
      piece = buf;
      type = 6;
    } else {
      piece = "\xe2\x96\x81t" + std::to_string(i);  // "▁t<id>"
    }
    tokens.push_back(Value::from_string(std::move(piece)));
    scores.push_back(Value::from_float(ValueType::FLOAT32, -double(i)));
    types.push_back(Value::from_int(ValueType::INT32, type));
  }
  w.set_string("tokenizer.ggml.model", "llama");
  w.set("tokenizer.ggml.tokens", Value::array(ValueType::STRING, std::move(tokens)));
  w.set("tokenizer.ggml.scores", Value::array(ValueType::FLOAT32, std::move(scores)));
  w.set("tokenizer.ggml.token_type", Value::array(ValueType::INT32, std::move(types)));
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// n values ~N(0, 0.02) from xorshift64*: each 64-bit draw gives four 16-bit uniforms whose sum
// (Irwin-Hall, mean 2, variance 1/3) is close enough to a Gaussian and costs no log or sqrt.
void random_row(uint64_t state, float* out, int64_t n) {
  constexpr float kStd = 0.02f;
  const float scale = kStd * std::sqrt(3.0f) / 65536.0f;
  state = splitmix64(state) | 1;
  for (int64_t i = 0; i < n; ++i) {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    const uint64_t r = state * 0x2545F4914F6CDD1Dull;
    const uint32_t sum = uint32_t(r & 0xFFFF) + uint32_t((r >> 16) & 0xFFFF) +
                         uint32_t((r >> 32) & 0xFFFF) + uint32_t(r >> 48);
    out[i] = (float(sum) - 2.0f * 65536.0f) * scale;
  }
}

}  // namespace

std::vector<std::string> shape_names() {
  std::vector<std::string> names;
  for (const Shape& s : kShapes) names.push_back(s.name);
  return names;
}

std::string shape_arch(const std::string& shape) { return find_shape(shape).arch; }

uint64_t synthesize(const std::string& out, const SynthOptions& options) {
  const Shape& s = find_shape(options.shape);
  if (!options.arch.empty() && options.arch != s.arch)
    throw Error("shape '" + options.shape + "' is a " + s.arch + " model, not " + options.arch);

  const std::vector<TensorPlan> plan = plan_tensors(s);
  ModelFacts facts;
  facts.n_layer = s.n_layer;
  facts.n_expert = s.n_expert;
  facts.has_output = true;

  gguf::GgufWriter writer;
  set_hparams(s, writer);
  writer.set_u32("general.file_type", llama_ftype(options.type));
  writer.set_u32("general.quantization_version", 2);
  set_vocab(s.n_vocab, writer);

  tensor::ThreadPool pool(options.threads);
  for (size_t i = 0; i < plan.size(); ++i) {
    const TensorPlan& t = plan[i];
    const TensorType type = is_quantizable(t.name, t.shape) ? choose_type(options.type, t.name, t.shape, facts)
                                                            : TensorType::F32;
    uint64_t n = 1;
    for (int64_t dim : t.shape) n *= uint64_t(dim);
    const uint64_t bytes = *gguf::tensor_bytes(type, n);
    const uint64_t tensor_seed = splitmix64(options.seed ^ hash_name(t.name));
    const Progress progress{i, plan.size(), t.name, TensorType::F32, type, n * 4, bytes};
    writer.add_tensor(t.name, type, t.shape, [&, t, type, tensor_seed, progress](const gguf::GgufWriter::ByteSink& sink) {
      if (options.progress) options.progress(progress);
      const int64_t n_cols = t.shape[0];
      stream_rows(pool, type, n_cols, n_rows_of(t.shape),
                  [&t, tensor_seed, n_cols](int64_t r, float* row) {
                    if (t.fill == Fill::Ones) std::fill(row, row + n_cols, 1.0f);
                    else random_row(tensor_seed + uint64_t(r), row, n_cols);
                  },
                  sink);
    });
  }
  writer.write(out);
  return std::filesystem::file_size(out);
}

}  // namespace inhouse::quant
