// bench_tokenizer — tokenizer throughput (bytes of text per second, one core) on a few hundred
// KB of mixed Chinese/English prose and code, with the DeepSeek-V3 vocab (and Qwen when the
// shared fixtures are there); also on never-repeating words, where the word cache cannot help.
// Target: >= 10 MB/s encoding in a Release build.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {

using inhouse::tokenizer::TokenId;
using inhouse::tokenizer::Tokenizer;

const char* const kSentences[] = {
    "The quick brown fox jumps over the lazy dog, and then it runs back home before dinner.\n",
    "DeepSeek-V3 is a Mixture-of-Experts language model with 671B total parameters, 37B of them active per token. ",
    "In 2024, researchers reported that training costs dropped by roughly 42% compared with 2023.\n",
    "We'll need to check the logs: they're usually under /var/log/inhouse/server.log on Linux machines. ",
    "深度求索发布了新的推理模型，数学和代码能力都有明显提升。",
    "今天天气很好，我们一起去公园散步吧！",
    "本地部署大语言模型可以保护企业的私有数据，不必把文档上传到云端。",
    "混合 English 与中文 text，数字 12345 和 3.14159，还有一些标点符号：“引号”、（括号）。\n",
    "请把这份报告翻译成英文，并总结三个要点。",
    "Tokenizers split text into pieces; each piece maps to an integer id that the model understands. ",
    "def tokenize(text: str) -> list[int]:\n    return [vocab[p] for p in pretokenize(text)]\n\n",
    "for (int i = 0; i < n; ++i) { sum += values[i] * weights[i]; }  // dot product\n",
    "知识库检索增强生成（RAG）把相关段落放进提示词，让模型回答得更准确。\n",
    "The meeting is scheduled for 09:30 on Monday, March 3rd; please don't be late!\n",
    "東京とソウルの天気予報：晴れ、最高気温は二十五度です。",
    "Привет, мир! Это небольшой тест для токенизатора.\n",
    "   Indented line with    several   spaces\tand a tab.\n",
    "模型在 8 张 H800 上训练了大约 2.788M GPU 小时。",
};

// Deterministic mix of the sentences, about `bytes` long.
std::string mixed_text(size_t bytes) {
  const size_t n = sizeof(kSentences) / sizeof(kSentences[0]);
  std::string text;
  uint32_t x = 12345;
  while (text.size() < bytes) {
    x = x * 1103515245u + 12345u;
    text += kSentences[(x >> 16) % n];
  }
  return text;
}

std::string vocab_path(const std::string& name) {
  for (const std::string& dir : {std::string(INHOUSE_TEST_DATA) + "/tokenizers",
                                std::string(INHOUSE_SHARED_FIXTURES) + "/tokenizers"}) {
    std::string path = dir + "/ggml-vocab-" + name + ".gguf";
    if (std::filesystem::exists(path)) return path;
  }
  return "";
}

// Loaded once per vocab: loading is not what is measured.
const Tokenizer* tokenizer_for(const std::string& name) {
  static std::vector<std::pair<std::string, std::unique_ptr<Tokenizer>>> cache;
  for (auto& [n, t] : cache)
    if (n == name) return t.get();
  std::string path = vocab_path(name);
  if (path.empty()) return nullptr;
  auto file = inhouse::gguf::GgufFile::open(path);
  cache.emplace_back(name, std::make_unique<Tokenizer>(Tokenizer::from_gguf(file)));
  return cache.back().second.get();
}

// Words that (almost) never repeat: made-up Latin words and random CJK characters, so the
// per-thread word cache rarely hits and the merges themselves are measured.
std::string unique_words_text(size_t bytes) {
  std::string text;
  uint32_t x = 777;
  auto next = [&x] { return (x = x * 1664525u + 1013904223u) >> 8; };
  while (text.size() < bytes) {
    if (next() % 3 == 0) {
      for (int k = 2 + int(next() % 6); k > 0; --k) {
        uint32_t cp = 0x4E00 + next() % 0x5000;  // CJK unified ideographs
        text += char(0xE0 | (cp >> 12));
        text += char(0x80 | ((cp >> 6) & 0x3F));
        text += char(0x80 | (cp & 0x3F));
      }
    } else {
      text += ' ';
      for (int k = 3 + int(next() % 8); k > 0; --k) text += char('a' + next() % 26);
    }
    if (next() % 10 == 0) text += ".\n";
  }
  return text;
}

const std::string& bench_text() {
  static const std::string text = mixed_text(400 * 1024);
  return text;
}

void encode(benchmark::State& state, const std::string& vocab, bool parse_special,
            const std::string& text = bench_text()) {
  const Tokenizer* tok = tokenizer_for(vocab);
  if (!tok) return state.SkipWithError(("vocab " + vocab + " not found").c_str());
  size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = tok->encode(text, false, parse_special);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
  state.counters["tokens"] = double(n_tokens);
}

void BM_EncodeDeepseekV3(benchmark::State& state) { encode(state, "deepseek-v3", false); }
void BM_EncodeDeepseekV3UniqueWords(benchmark::State& state) {
  static const std::string text = unique_words_text(400 * 1024);
  encode(state, "deepseek-v3", false, text);
}
void BM_EncodeDeepseekV3ParseSpecial(benchmark::State& state) { encode(state, "deepseek-v3", true); }
void BM_EncodeQwen3(benchmark::State& state) { encode(state, "qwen3", false); }

void BM_DecodeDeepseekV3(benchmark::State& state) {
  const Tokenizer* tok = tokenizer_for("deepseek-v3");
  if (!tok) return state.SkipWithError("vocab deepseek-v3 not found");
  std::vector<TokenId> ids = tok->encode(bench_text(), false, false);
  for (auto _ : state) {
    std::string text = tok->decode(ids);
    benchmark::DoNotOptimize(text.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bench_text().size()));
}

BENCHMARK(BM_EncodeDeepseekV3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeDeepseekV3UniqueWords)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeDeepseekV3ParseSpecial)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeQwen3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeDeepseekV3)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
