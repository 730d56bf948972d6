// Loading broken or unusual files: each problem is an exception naming the key, tensor, type or
// architecture involved. Variants are rebuilt in memory from a bundled model with GgufWriter.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "gguf_edit.h"
#include "model/model.h"

namespace inhouse::model {
namespace {

namespace fs = std::filesystem;
using gguf::GgufFile;
using gguf::GgufWriter;

std::string data_model(const std::string& name) {
  return (fs::path(INHOUSE_TEST_DATA) / "models" / (name + ".gguf")).string();
}

using testing::load_error;
using testing::rebuild;

class LoadErrors : public ::testing::Test {
 protected:
  GgufFile llama = GgufFile::open(data_model("llama-tiny-q8_0"));
  GgufFile qwen = GgufFile::open(data_model("qwen2-tiny-q4_0"));
};

TEST_F(LoadErrors, UnchangedCopyLoads) { EXPECT_EQ(load_error(rebuild(llama, {})), "no error"); }

TEST_F(LoadErrors, MissingKeyIsNamed) {
  for (const char* key : {"llama.embedding_length", "llama.block_count", "llama.context_length",
                          "llama.attention.head_count", "llama.feed_forward_length"}) {
    const std::string msg = load_error(rebuild(llama, {key}));
    EXPECT_NE(msg.find(std::string("'") + key + "'"), std::string::npos) << msg;
  }
  EXPECT_NE(load_error(rebuild(llama, {"general.architecture"})).find("general.architecture"),
            std::string::npos);
}

TEST_F(LoadErrors, KeyOfTheWrongTypeIsNamed) {
  const std::string msg = load_error(rebuild(llama, {}, [](GgufWriter& w) {
    w.set_string("llama.block_count", "two");
  }));
  EXPECT_NE(msg.find("llama.block_count"), std::string::npos) << msg;
}

TEST_F(LoadErrors, MissingTensorIsNamed) {
  for (const char* t : {"blk.1.ffn_up.weight", "token_embd.weight", "output_norm.weight"}) {
    const std::string msg = load_error(rebuild(llama, {t}));
    EXPECT_NE(msg.find(std::string("'") + t + "'"), std::string::npos) << msg;
  }
  const std::string msg = load_error(rebuild(qwen, {"blk.0.attn_q.bias"}));
  EXPECT_NE(msg.find("'blk.0.attn_q.bias'"), std::string::npos) << msg;
}

TEST_F(LoadErrors, WrongShapeIsNamed) {
  const gguf::TensorInfo* k = llama.find_tensor("blk.0.attn_k.weight");
  const std::string msg = load_error(rebuild(llama, {"blk.0.attn_q.weight"}, [&](GgufWriter& w) {
    w.add_tensor("blk.0.attn_q.weight", k->type, k->shape, k->data, k->n_bytes);
  }));
  EXPECT_NE(msg.find("blk.0.attn_q.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[256, 128]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected [256, 256]"), std::string::npos) << msg;
}

TEST_F(LoadErrors, UnsupportedTensorTypeListsSupportedTypes) {
  // 768 rows of one q2_K block (84 bytes) each: a valid file, a type we do not compute with.
  std::vector<uint8_t> zeros(768 * 84);
  const std::string msg = load_error(rebuild(llama, {"blk.0.ffn_up.weight"}, [&](GgufWriter& w) {
    w.add_tensor("blk.0.ffn_up.weight", gguf::TensorType::Q2_K, {256, 768}, zeros.data(), zeros.size());
  }));
  EXPECT_NE(msg.find("blk.0.ffn_up.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("q2_K"), std::string::npos) << msg;
  EXPECT_NE(msg.find("supported types: f32, f16"), std::string::npos) << msg;
}

TEST_F(LoadErrors, UnsupportedArchitectureListsSupportedOnes) {
  const std::string msg = load_error(rebuild(llama, {}, [](GgufWriter& w) {
    w.set_string("general.architecture", "gptj");
  }));
  EXPECT_NE(msg.find("'gptj'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("llama, qwen2"), std::string::npos) << msg;
}

TEST_F(LoadErrors, InconsistentHeadCountsAreRejected) {
  const std::string msg = load_error(rebuild(llama, {}, [](GgufWriter& w) {
    w.set_u32("llama.attention.head_count_kv", 3);
  }));
  EXPECT_NE(msg.find("llama.attention.head_count_kv"), std::string::npos) << msg;
}

TEST_F(LoadErrors, MissingOutputWeightTiesToTokenEmbedding) {
  // token_embd := output.weight's data; with and without output.weight the logits must agree.
  const gguf::TensorInfo* out = llama.find_tensor("output.weight");
  auto as_embd = [&](GgufWriter& w) {
    w.add_tensor("token_embd.weight", out->type, out->shape, out->data, out->n_bytes);
  };
  const auto tied = rebuild(llama, {"token_embd.weight", "output.weight"}, as_embd);
  const auto untied = rebuild(llama, {"token_embd.weight"}, as_embd);
  Model a = Model::load(GgufFile::parse(tied.data(), tied.size()), {.threads = 1});
  Model b = Model::load(GgufFile::parse(untied.data(), untied.size()), {.threads = 1});
  const std::vector<int32_t> prompt = {1, 2, 3};
  KvCache ca = a.new_cache(), cb = b.new_cache();
  EXPECT_EQ(a.forward(ca, prompt, 0), b.forward(cb, prompt, 0));
}

TEST(LoadFile, TruncatedOrGarbageFileIsAnError) {
  const fs::path dir = fs::temp_directory_path() / ("inhouse_model_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ifstream in(data_model("stories260k-f32"), std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t keep : {size_t(0), size_t(10), bytes.size() / 2, bytes.size() - 1}) {
    const fs::path p = dir / "truncated.gguf";
    std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(keep));
    try {
      Model::open(p.string());
      ADD_FAILURE() << "no error for a file truncated to " << keep << " bytes";
    } catch (const std::exception& e) {
      EXPECT_GT(std::string(e.what()).size(), 10u) << e.what();
    }
  }
  const fs::path garbage = dir / "garbage.gguf";
  std::ofstream(garbage, std::ios::binary) << std::string(4096, 'x');
  EXPECT_THROW(Model::open(garbage.string()), std::exception);
  EXPECT_THROW(Model::open((dir / "absent.gguf").string()), std::exception);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace inhouse::model
