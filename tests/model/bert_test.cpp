// bert encoder: sentence embeddings against llama.cpp's (golden/NAME.embd.json: each line of
// golden/embedding-texts.txt tokenised with [CLS]/[SEP], pooled as the file says, L2-normalised;
// cosine >= 0.999 for float types, >= 0.99 for q8_0), pooling, input errors, load errors,
// normalisation modes, and `inhouse embed` end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "common/run_cli.h"
#include "model/model.h"
#include "gguf_edit.h"
#include "tokenizer/tokenizer.h"

namespace inhouse::model {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(INHOUSE_TEST_DATA) / "models";

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::vector<float>> read_embeddings(const nlohmann::json& j) {
  std::vector<std::vector<float>> out;
  for (const auto& e : j.at("data")) out.push_back(e.at("embedding").get<std::vector<float>>());
  return out;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

void check_golden(const fs::path& dir, const std::string& name) {
  Encoder enc = Encoder::open((dir / (name + ".gguf")).string(), {.threads = 2});
  const auto tok = tokenizer::Tokenizer::from_gguf(enc.file());
  const auto texts = read_lines(dir / "golden" / "embedding-texts.txt");
  std::ifstream in(dir / "golden" / (name + ".embd.json"));
  const auto golden = read_embeddings(nlohmann::json::parse(in));
  ASSERT_EQ(golden.size(), texts.size());
  const double min_cos = name.find("q8_0") != std::string::npos ? 0.99 : 0.999;
  double worst = 1.0;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<float> e = enc.embed(tok.encode(texts[i], true, false));
    normalize_embedding(e, 2);
    ASSERT_EQ(e.size(), golden[i].size());
    const double c = cosine(e, golden[i]);
    worst = std::min(worst, c);
    EXPECT_GE(c, min_cos) << name << " text " << i << ": " << texts[i];
  }
  std::cout << "  " << name << ": worst cosine " << worst << "\n";
}

TEST(BertGolden, DataCopyMatchesReference) { check_golden(kData, "bert-tiny-q8_0"); }

class BertSharedGolden : public ::testing::TestWithParam<const char*> {};
TEST_P(BertSharedGolden, MatchesReference) {
  const fs::path dir = fs::path(INHOUSE_SHARED_FIXTURES) / "models";
  if (!fs::exists(dir / (std::string(GetParam()) + ".gguf")))
    GTEST_SKIP() << "shared fixtures not found at " << dir;
  check_golden(dir, GetParam());
}
INSTANTIATE_TEST_SUITE_P(SharedFixtures, BertSharedGolden,
                         ::testing::Values("bert-tiny-f32", "bert-tiny-f16", "bert-tiny-q8_0"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

class BertFile : public ::testing::Test {
 protected:
  Encoder enc = Encoder::open((kData / "bert-tiny-q8_0.gguf").string(), {.threads = 2});
};

TEST_F(BertFile, HyperParametersAndClsPooling) {
  EXPECT_EQ(enc.n_embd(), 64);
  EXPECT_EQ(enc.n_vocab(), 30522);
  EXPECT_EQ(enc.n_ctx_train(), 512);
  EXPECT_EQ(enc.pooling(), Pooling::Cls);
  const std::vector<int32_t> ids = {101, 7592, 2088, 102};  // [CLS] hello world [SEP]
  const auto h = enc.hidden(ids);
  ASSERT_EQ(h.size(), 4u * 64);
  const auto e = enc.embed(ids);
  EXPECT_TRUE(std::equal(e.begin(), e.end(), h.begin()));  // CLS: the first token's state
  // Bidirectional: a later token changes the first token's state.
  const std::vector<int32_t> other = {101, 7592, 2000, 102};
  EXPECT_NE(enc.embed(other), e);
}

TEST_F(BertFile, BadInputsAreErrors) {
  EXPECT_THROW(enc.embed(std::vector<int32_t>{}), Error);
  EXPECT_THROW(enc.embed(std::vector<int32_t>{101, 30522, 102}), Error);
  EXPECT_THROW(enc.embed(std::vector<int32_t>{101, -1}), Error);
  const std::vector<int32_t> too_long(513, 1000);
  try {
    enc.embed(too_long);
    FAIL() << "no error for 513 tokens";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("512"), std::string::npos) << e.what();
  }
}

std::string load_error(const gguf::GgufFile& src, const std::set<std::string>& drop,
                       const std::function<void(gguf::GgufWriter&)>& edit = {}) {
  const auto bytes = testing::rebuild(src, drop, edit);
  try {
    Encoder e = Encoder::load(gguf::GgufFile::parse(bytes.data(), bytes.size()), {.threads = 1});
    if (e.pooling() == Pooling::None) e.embed(std::vector<int32_t>{101, 102});
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

TEST(BertLoad, ErrorsNameWhatIsWrong) {
  const auto file = gguf::GgufFile::open((kData / "bert-tiny-q8_0.gguf").string());
  EXPECT_EQ(load_error(file, {}), "no error");
  for (const char* name : {"blk.1.attn_q.weight", "position_embd.weight", "token_embd_norm.weight",
                           "bert.embedding_length", "bert.attention.head_count"}) {
    const std::string msg = load_error(file, {name});
    EXPECT_NE(msg.find(std::string("'") + name + "'"), std::string::npos) << name << ": " << msg;
  }
  auto pooling = [&](uint32_t v) {
    return load_error(file, {"bert.pooling_type"}, [&](gguf::GgufWriter& w) { w.set_u32("bert.pooling_type", v); });
  };
  EXPECT_NE(pooling(4).find("pooling_type"), std::string::npos);
  EXPECT_NE(pooling(0).find("pooling_type is none"), std::string::npos);
  EXPECT_NE(load_error(file, {"general.architecture"}, [](gguf::GgufWriter& w) {
              w.set_string("general.architecture", "llama");
            }).find("not a supported encoder"),
            std::string::npos);
}

TEST(BertLoad, MeanPoolingAveragesTokens) {
  const auto file = gguf::GgufFile::open((kData / "bert-tiny-q8_0.gguf").string());
  gguf::GgufWriter w(uint32_t(file.alignment()));
  for (const gguf::KeyValue& kv : file.metadata())
    if (kv.key != "general.alignment") w.set(kv.key, kv.value);
  w.set_u32("bert.pooling_type", 1);
  for (const gguf::TensorInfo& t : file.tensors()) w.add_tensor(t.name, t.type, t.shape, t.data, t.n_bytes);
  const auto bytes = w.to_bytes();
  Encoder enc = Encoder::load(gguf::GgufFile::parse(bytes.data(), bytes.size()), {.threads = 2});
  const std::vector<int32_t> ids = {101, 7592, 2088, 102};
  const auto h = enc.hidden(ids), e = enc.embed(ids);
  for (int64_t i = 0; i < 64; ++i)
    EXPECT_NEAR(e[size_t(i)], (h[size_t(i)] + h[size_t(64 + i)] + h[size_t(128 + i)] + h[size_t(192 + i)]) / 4, 1e-6);
}

TEST(NormalizeEmbedding, FollowsLlamaCppModes) {
  std::vector<float> v = {3, -4, 0};
  auto with = [&](int mode) {
    std::vector<float> c = v;
    normalize_embedding(c, mode);
    return c;
  };
  EXPECT_EQ(with(-1), v);
  const auto l2 = with(2);
  EXPECT_FLOAT_EQ(l2[0], 0.6f);
  EXPECT_FLOAT_EQ(l2[1], -0.8f);
  const auto l1 = with(1);
  EXPECT_FLOAT_EQ(l1[0], 3.0f / 7);
  const auto mx = with(0);
  EXPECT_FLOAT_EQ(mx[1], -32760.0f);
  EXPECT_FLOAT_EQ(mx[0], 3 * 32760.0f / 4);
  const auto p3 = with(3);
  EXPECT_NEAR(p3[0], 3 / std::cbrt(91.0), 1e-6);
  std::vector<float> zero = {0, 0};
  normalize_embedding(zero, 2);
  EXPECT_EQ(zero, (std::vector<float>{0, 0}));
}

// ---- inhouse embed ---------------------------------------------------------------------------

struct Result {
  int status;
  std::string output;
};

// stdout then stderr (errors go to stderr; on success stdout is the JSON).
Result run(const std::string& args) {
  const inhouse::test_util::CliResult r = inhouse::test_util::run_cli_shell(args);
  return {r.status, r.out + r.err};
}

TEST(CliEmbed, FileMatchesGolden) {
  const std::string model = (kData / "bert-tiny-q8_0.gguf").string();
  const Result r = run("embed -m " + model + " --threads 2 --file " +
                       (kData / "golden" / "embedding-texts.txt").string());
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j.at("object"), "list");
  EXPECT_EQ(j.at("model"), "bert-tiny-q8_0.gguf");
  EXPECT_GT(j.at("usage").at("prompt_tokens").get<int>(), 10);
  std::ifstream in(kData / "golden" / "bert-tiny-q8_0.embd.json");
  const auto golden = read_embeddings(nlohmann::json::parse(in));
  const auto ours = read_embeddings(j);
  ASSERT_EQ(ours.size(), golden.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(j.at("data").at(i).at("index"), i);
    EXPECT_EQ(j.at("data").at(i).at("object"), "embedding");
    EXPECT_GE(cosine(ours[i], golden[i]), 0.99) << i;
    double norm = 0;
    for (float x : ours[i]) norm += double(x) * x;
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }
}

TEST(CliEmbed, TextArgumentsAndNoNormalisation) {
  const std::string model = (kData / "bert-tiny-q8_0.gguf").string();
  const Result r = run("embed -m " + model + " --normalize -1 'hello world' 'second text'");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto e = read_embeddings(nlohmann::json::parse(r.output));
  ASSERT_EQ(e.size(), 2u);
  double norm = 0;
  for (float x : e[0]) norm += double(x) * x;
  EXPECT_GT(std::fabs(norm - 1.0), 1e-3);  // raw CLS state
  std::ifstream in(kData / "golden" / "bert-tiny-q8_0.embd.json");
  EXPECT_GE(cosine(e[0], read_embeddings(nlohmann::json::parse(in))[0]), 0.99);  // "hello world"
}

TEST(CliEmbed, ErrorsAreOneLine) {
  const Result none = run("embed -m " + (kData / "bert-tiny-q8_0.gguf").string());
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.output.find("error: embed: no input text"), std::string::npos) << none.output;
  const Result decoder = run("embed -m " + (kData / "stories260k-f32.gguf").string() + " hi");
  EXPECT_EQ(decoder.status, 1);
  EXPECT_NE(decoder.output.find("not a supported encoder"), std::string::npos) << decoder.output;
}

}  // namespace
}  // namespace inhouse::model
