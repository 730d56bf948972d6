// quant::quantize_file: byte-identical to llama.cpp's llama-quantize on the shared fixtures
// (same policy, same blocks), the result runs with logits close to the float model's, and bad
// input fails cleanly without leaving a file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "model/model.h"
#include "quant/quant.h"

namespace inhouse::quant {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(INHOUSE_TEST_DATA) / "models";
const fs::path kFixtures = fs::path(INHOUSE_SHARED_FIXTURES) / "models";

fs::path temp_path(const std::string& name) { return fs::temp_directory_path() / ("inhouse_quant_" + std::to_string(::getpid()) + "_" + name); }

// Every tensor of `ours` has the type and bytes of the same tensor in `theirs`.
void expect_same_tensors(const fs::path& ours, const fs::path& theirs) {
  const gguf::GgufFile a = gguf::GgufFile::open(ours.string());
  const gguf::GgufFile b = gguf::GgufFile::open(theirs.string());
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const gguf::TensorInfo& t : a.tensors()) {
    const gguf::TensorInfo* u = b.find_tensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(gguf::tensor_type_name(t.type), std::string(gguf::tensor_type_name(u->type))) << t.name;
    ASSERT_EQ(t.n_bytes, u->n_bytes) << t.name;
    EXPECT_EQ(std::memcmp(t.data, u->data, t.n_bytes), 0) << t.name << " differs from " << theirs;
  }
}

TEST(QuantizeFile, ByteIdenticalToLlamaQuantize) {
  const char* types[] = {"q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"};
  for (const char* model : {"llama-tiny", "qwen2-tiny"}) {
    const fs::path in = kFixtures / (std::string(model) + "-f32.gguf");
    if (!fs::exists(in)) GTEST_SKIP() << "shared fixtures not present";
    for (const char* type : types) {
      const fs::path theirs = kFixtures / (std::string(model) + "-" + type + ".gguf");
      const fs::path ours = temp_path(std::string(model) + "-" + type + ".gguf");
      quantize_file(in.string(), ours.string(), *parse_file_type(type), {.threads = 2, .progress = {}});
      SCOPED_TRACE(std::string(model) + " " + type);
      expect_same_tensors(ours, theirs);
      const gguf::GgufFile f = gguf::GgufFile::open(ours.string());
      EXPECT_EQ(f.get_int("general.file_type"), int64_t(llama_ftype(*parse_file_type(type))));
      EXPECT_EQ(f.get_string("tokenizer.ggml.model"),
                gguf::GgufFile::open(in.string()).get_string("tokenizer.ggml.model"));
      fs::remove(ours);
    }
  }
}

TEST(QuantizeFile, MoePolicyMatchesLlamaQuantize) {
  // deepseek2-tiny: 8 experts (attn_output -> Q5_K -> Q5_1 on 128-wide rows), Q4_K -> Q5_0
  // fallback, ffn_down of the last layer (experts and shared) -> Q6_K, router stays F32.
  const fs::path in = kFixtures / "deepseek2-tiny-f16.gguf";
  if (!fs::exists(in)) GTEST_SKIP() << "shared fixtures not present";
  for (const char* type : {"q4_k_m", "q6_k", "q4_0"}) {
    const fs::path ours = temp_path(std::string("ds2-") + type + ".gguf");
    quantize_file(in.string(), ours.string(), *parse_file_type(type), {.threads = 2, .progress = {}});
    const gguf::GgufFile a = gguf::GgufFile::open(ours.string());
    const gguf::GgufFile b = gguf::GgufFile::open((kFixtures / (std::string("deepseek2-tiny-") + type + ".gguf")).string());
    for (const gguf::TensorInfo& t : a.tensors())
      EXPECT_EQ(std::string(gguf::tensor_type_name(t.type)), gguf::tensor_type_name(b.find_tensor(t.name)->type))
          << type << " " << t.name;
    fs::remove(ours);
  }
}

TEST(QuantizeFile, PolicyOnTheR1DistillShape) {
  const ModelFacts facts{28, 0, true};
  const FileType m = FileType::Q4_K_M;
  EXPECT_EQ(choose_type(m, "output.weight", {1536, 151936}, facts), TensorType::Q6_K);
  EXPECT_EQ(choose_type(m, "token_embd.weight", {1536, 151936}, facts), TensorType::Q4_K);
  // use_more_bits(i, 28): layers 0-2, 24-27 and 5, 8, ..., 23.
  for (int il : {0, 2, 5, 8, 23, 24, 27})
    EXPECT_EQ(choose_type(m, "blk." + std::to_string(il) + ".ffn_down.weight", {8960, 1536}, facts), TensorType::Q6_K) << il;
  for (int il : {3, 4, 6, 22})
    EXPECT_EQ(choose_type(m, "blk." + std::to_string(il) + ".attn_v.weight", {1536, 256}, facts), TensorType::Q4_K) << il;
  EXPECT_EQ(choose_type(m, "blk.5.attn_v.weight", {1536, 256}, facts), TensorType::Q6_K);
  EXPECT_EQ(choose_type(m, "blk.5.ffn_gate.weight", {1536, 8960}, facts), TensorType::Q4_K);
  EXPECT_EQ(choose_type(FileType::Q4_0, "output.weight", {1536, 151936}, facts), TensorType::Q6_K);
  EXPECT_EQ(choose_type(FileType::Q8_0, "output.weight", {1536, 151936}, facts), TensorType::Q8_0);
  EXPECT_EQ(choose_type(FileType::Q6_K, "blk.0.ffn_down.weight", {8960, 1536}, facts), TensorType::Q6_K);
  // Rows that do not fit: V2-Lite's 1408-wide expert down projection.
  EXPECT_EQ(choose_type(m, "blk.5.ffn_down_exps.weight", {1408, 2048, 64}, {27, 64, true}), TensorType::Q8_0);
  EXPECT_EQ(choose_type(m, "blk.3.ffn_down_exps.weight", {1408, 2048, 64}, {27, 64, true}), TensorType::Q5_0);
  EXPECT_EQ(choose_type(m, "blk.3.ffn_up_exps.weight", {1408, 2048, 64}, {27, 64, true}), TensorType::Q5_0);
  EXPECT_EQ(choose_type(m, "output.weight", {96, 10}, facts), TensorType::Q8_0);
  EXPECT_EQ(choose_type(m, "output.weight", {100, 10}, facts), TensorType::F16);
  EXPECT_EQ(choose_type(FileType::Q8_0, "x.weight", {100, 10}, facts), TensorType::F16);
  EXPECT_FALSE(is_quantizable("blk.0.attn_norm.weight", {1536}));
  EXPECT_FALSE(is_quantizable("blk.1.ffn_gate_inp.weight", {2048, 64}));
  EXPECT_FALSE(is_quantizable("blk.0.attn_q.bias", {1536}));
}

TEST(QuantizeFile, FileTypeNames) {
  EXPECT_EQ(parse_file_type("q4_k_m"), FileType::Q4_K_M);
  EXPECT_EQ(parse_file_type("Q8_0"), FileType::Q8_0);
  EXPECT_FALSE(parse_file_type("q3_k_xl").has_value());
  EXPECT_EQ(llama_ftype(FileType::Q4_K_M), 15u);
  EXPECT_NE(file_type_names().find("Q6_K"), std::string::npos);
}

// RMS(a - b) / RMS(b).
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, r = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d += double(a[i] - b[i]) * (a[i] - b[i]);
    r += double(b[i]) * b[i];
  }
  return std::sqrt(d / r);
}

std::vector<float> logits_of(const fs::path& path, const std::vector<int32_t>& prompt) {
  model::Model m = model::Model::open(path.string(), {.threads = 2});
  model::KvCache cache = m.new_cache(64);
  return m.forward(cache, prompt, 0);
}

// Logits of the quantised model vs the float model's, per type. Bounds are ~1.5x what
// llama.cpp's own outputs show for the same files (its golden logits of qwen2-tiny at
// q8_0/q6_k/q4_k_m/q4_0 differ from its f32 logits by a median 0.015/0.039/0.128/0.168).
void expect_close_to_float(const fs::path& in, const std::vector<int32_t>& prompt,
                           const std::vector<std::pair<const char*, double>>& bounds) {
  const std::vector<float> ref = logits_of(in, prompt);
  for (const auto& [type, bound] : bounds) {
    const fs::path out = temp_path(std::string("close-") + type + ".gguf");
    quantize_file(in.string(), out.string(), *parse_file_type(type), {.threads = 2, .progress = {}});
    const double e = relative_error(logits_of(out, prompt), ref);
    EXPECT_LT(e, bound) << in.filename() << " " << type;
    EXPECT_GT(e, 0.0) << type;
    fs::remove(out);
  }
}

TEST(QuantizeFile, QuantisedModelStaysCloseToFloat) {
  const fs::path in = kFixtures / "qwen2-tiny-f32.gguf";
  if (!fs::exists(in)) GTEST_SKIP() << "shared fixtures not present";
  expect_close_to_float(in, {1, 45, 300, 7, 88, 511, 2, 19},
                        {{"f16", 0.005}, {"q8_0", 0.03}, {"q6_k", 0.07}, {"q5_k_m", 0.12}, {"q4_k_m", 0.22}, {"q4_0", 0.3}});
}

TEST(QuantizeFile, QuantisedStoriesModelStaysCloseToF32) {
  // Real trained weights, but only 64 wide: the k-quants fall back to Q5_0/Q5_1/Q8_0 per the
  // policy and this tiny model amplifies rounding more than the random fixtures (measured:
  // q8_0 0.11, q5_k_m 0.31, q4_k_m 0.53, q4_0 0.61; bounds ~1.4x that).
  expect_close_to_float(kData / "stories260k-f32.gguf", {1, 403, 407, 261, 378, 260, 262, 349, 260, 385, 400, 11},
                        {{"f16", 0.005}, {"q8_0", 0.15}, {"q6_k", 0.15}, {"q5_k_m", 0.45}, {"q4_k_m", 0.75}, {"q4_0", 0.85}});
}

TEST(QuantizeFile, ReportsProgressForEveryTensor) {
  const fs::path in = kData / "stories260k-f32.gguf";
  const fs::path out = temp_path("progress.gguf");
  size_t calls = 0, count = 0;
  const QuantizeResult r = quantize_file(in.string(), out.string(), FileType::Q8_0,
                                         {.threads = 1, .progress = [&](const Progress& p) {
                                            EXPECT_EQ(p.index, calls);
                                            ++calls;
                                            count = p.count;
                                          }});
  EXPECT_EQ(calls, count);
  EXPECT_EQ(calls, gguf::GgufFile::open(in.string()).tensors().size());
  EXPECT_LT(r.bytes_out, r.bytes_in);
  EXPECT_EQ(fs::file_size(out), gguf::GgufFile::open(out.string()).file_size());
  fs::remove(out);
}

void expect_error_and_no_file(const std::string& in, const fs::path& out, FileType ft, const std::string& message) {
  fs::remove(out);
  try {
    quantize_file(in, out.string(), ft);
    ADD_FAILURE() << "expected an error for " << in;
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
}

TEST(QuantizeFile, BadInputsFailCleanly) {
  const fs::path out = temp_path("bad.gguf");
  expect_error_and_no_file((kData / "missing.gguf").string(), out, FileType::Q8_0, "missing.gguf");
  expect_error_and_no_file((kData / "qwen2-tiny-q4_0.gguf").string(), out, FileType::Q8_0, "already quantised");
  const fs::path in = kData / "stories260k-f32.gguf";
  expect_error_and_no_file(in.string(), "/nonexistent-dir/out.gguf", FileType::Q8_0, "cannot create");
  if (::geteuid() != 0) {  // root writes anywhere
    const fs::path dir = temp_path("readonly");
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
    expect_error_and_no_file(in.string(), dir / "out.gguf", FileType::Q8_0, "cannot create");
    fs::permissions(dir, fs::perms::owner_all);
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace inhouse::quant
