// quant::synthesize: tiny shapes load and run with finite logits, the same seed gives the same
// file, and bad requests are clear errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <algorithm>
#include <vector>

#include "model/model.h"
#include "quant/quant.h"

namespace inhouse::quant {
namespace {

namespace fs = std::filesystem;

SynthOptions options(const std::string& shape, FileType type = FileType::Q8_0, uint64_t seed = 1, int threads = 2,
                     const std::string& arch = "") {
  SynthOptions o;
  o.shape = shape;
  o.type = type;
  o.seed = seed;
  o.threads = threads;
  o.arch = arch;
  return o;
}

fs::path temp_path(const std::string& name) { return fs::temp_directory_path() / ("inhouse_synth_" + std::to_string(::getpid()) + "_" + name); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Synth, TinyShapesLoadAndRun) {
  for (const char* shape : {"tiny-qwen2", "tiny-deepseek2"}) {
    for (FileType type : {FileType::F16, FileType::Q8_0, FileType::Q4_0, FileType::Q4_K_M, FileType::Q6_K}) {
      SCOPED_TRACE(std::string(shape) + " " + file_type_name(type));
      const fs::path out = temp_path(std::string(shape) + ".gguf");
      const uint64_t size = synthesize(out.string(), options(shape, type, 5));
      EXPECT_EQ(size, fs::file_size(out));
      model::Model m = model::Model::open(out.string(), {.threads = 2});
      EXPECT_EQ(m.hparams().arch, shape_arch(shape));
      model::KvCache cache = m.new_cache(16);
      const std::vector<int32_t> prompt = {1, 7, 300, 42};
      const std::vector<float> logits = m.forward(cache, prompt, 0);
      ASSERT_EQ(logits.size(), prompt.size() * size_t(m.n_vocab()));
      double sum2 = 0;
      for (float v : logits) {
        ASSERT_TRUE(std::isfinite(v));
        sum2 += double(v) * v;
      }
      EXPECT_GT(sum2, 0.0);
      const std::vector<float> next = m.forward(cache, std::vector<int32_t>{model::argmax(std::span<const float>(logits).last(size_t(m.n_vocab())))}, 4, true);
      for (float v : next) ASSERT_TRUE(std::isfinite(v));
      fs::remove(out);
    }
  }
}

TEST(Synth, WritesRealHyperParametersAndTypes) {
  const fs::path out = temp_path("hp.gguf");
  synthesize(out.string(), options("tiny-qwen2", FileType::Q4_K_M, 1, 2, "qwen2"));
  const gguf::GgufFile f = gguf::GgufFile::open(out.string());
  EXPECT_EQ(f.architecture(), "qwen2");
  EXPECT_EQ(f.get_int("qwen2.block_count"), 2);
  EXPECT_EQ(f.get_int("general.file_type"), 15);
  EXPECT_EQ(f.get_array("tokenizer.ggml.tokens")->size(), 1024u);
  EXPECT_EQ(f.find_tensor("output.weight")->type, TensorType::Q6_K);
  EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->type, TensorType::Q4_K);
  EXPECT_EQ(f.find_tensor("blk.1.ffn_down.weight")->type, TensorType::Q6_K);
  EXPECT_EQ(f.find_tensor("blk.0.attn_q.bias")->type, TensorType::F32);
  EXPECT_EQ(f.find_tensor("blk.0.attn_norm.weight")->type, TensorType::F32);
  fs::remove(out);
}

TEST(Synth, SameSeedSameFileOtherSeedOtherWeights) {
  const fs::path a = temp_path("a.gguf"), b = temp_path("b.gguf"), c = temp_path("c.gguf");
  synthesize(a.string(), options("tiny-deepseek2", FileType::Q4_K_M, 9, 1));
  synthesize(b.string(), options("tiny-deepseek2", FileType::Q4_K_M, 9, 2));
  synthesize(c.string(), options("tiny-deepseek2", FileType::Q4_K_M, 10, 2));
  EXPECT_EQ(slurp(a), slurp(b));  // the thread count does not change the bytes
  EXPECT_NE(slurp(a), slurp(c));
  EXPECT_EQ(fs::file_size(a), fs::file_size(c));
  for (const auto& p : {a, b, c}) fs::remove(p);
}

TEST(Synth, WeightsHaveTheIntendedSpread) {
  const fs::path out = temp_path("f32.gguf");
  synthesize(out.string(), options("tiny-qwen2", FileType::F32, 3));
  const gguf::GgufFile f = gguf::GgufFile::open(out.string());
  const gguf::TensorInfo* t = f.find_tensor("blk.0.ffn_up.weight");
  const auto* w = reinterpret_cast<const float*>(t->data);
  double sum = 0, sum2 = 0;
  for (uint64_t i = 0; i < t->n_elements; ++i) {
    sum += w[i];
    sum2 += double(w[i]) * w[i];
  }
  const double mean = sum / double(t->n_elements), sd = std::sqrt(sum2 / double(t->n_elements) - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.001);
  EXPECT_NEAR(sd, 0.02, 0.001);
  const auto* norm = reinterpret_cast<const float*>(f.find_tensor("blk.0.attn_norm.weight")->data);
  EXPECT_EQ(norm[0], 1.0f);
  fs::remove(out);
}

TEST(Synth, BadRequestsAreErrors) {
  const fs::path out = temp_path("bad.gguf");
  EXPECT_THROW(synthesize(out.string(), options("gpt-5")), Error);
  EXPECT_THROW(synthesize(out.string(), options("tiny-qwen2", FileType::Q8_0, 1, 2, "llama")), Error);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_THROW(synthesize("/nonexistent-dir/x.gguf", options("tiny-qwen2")), gguf::Error);
  const auto names = shape_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "r1-distill-qwen-1.5b"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "v2-lite"), names.end());
}

TEST(BenchMeasures, BytesPerTokenCountsOneEmbeddingRowAndRoutedExperts) {
  const fs::path out = temp_path("moe.gguf");
  synthesize(out.string(), options("tiny-deepseek2"));
  const gguf::GgufFile f = gguf::GgufFile::open(out.string());
  uint64_t all = 0;
  for (const auto& t : f.tensors()) all += t.n_bytes;
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  const gguf::TensorInfo* exps = f.find_tensor("blk.1.ffn_up_exps.weight");
  // 4 experts, 2 used: each of the 3 stacked tensors of layer 1 counts half.
  const uint64_t expected = all - embd->n_bytes + embd->n_bytes / 512 - 3 * exps->n_bytes / 2;
  EXPECT_EQ(decode_weight_bytes(f), expected);
  fs::remove(out);
  EXPECT_GT(measure_read_bandwidth(8 << 20, 2, 3), 0.0);
  EXPECT_GT(peak_rss_bytes(), 0u);
  EXPECT_GE(peak_rss_bytes(), current_rss_bytes());
}

}  // namespace
}  // namespace inhouse::quant
