// bench_engine — the engine's per-token costs outside the model: sampling one token from a
// 151936-entry vocabulary (DeepSeek-R1-Distill-Qwen's) with the settings clients really send,
// and, when INHOUSE_BENCH_MODEL names a GGUF file, decode through the Scheduler against the same
// number of bare Model::forward_batch steps (what `inhouse serve` adds per token), and
// BM_DecodeTuningAB, which compares tensor::KernelTuning settings within one decode run.
//
//   build-x/bench/bench_engine --benchmark_filter=Sample
//   INHOUSE_BENCH_MODEL=/work/perf-models/r1-distill-qwen-1.5b-q4_0.gguf INHOUSE_BENCH_THREADS=2
//     build-x/bench/bench_engine --benchmark_filter=Decode   (both lines as one command)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <sstream>
#include <string>

#include "engine/engine.h"
#include "tensor/tensor.h"

namespace {

using inhouse::engine::SamplingParams;

constexpr size_t kVocab = 151936;

// Logits shaped like a real model's: a few clear favourites over a broad Gaussian floor.
std::vector<float> realistic_logits() {
  std::mt19937 rng(7);
  std::normal_distribution<float> floor(0.0f, 2.0f);
  std::vector<float> l(kVocab);
  for (float& x : l) x = floor(rng);
  for (int i = 0; i < 20; ++i) l[(size_t(i) * 7919) % kVocab] = 14.0f - float(i) * 0.5f;
  return l;
}

void run_sampler(benchmark::State& state, SamplingParams p) {
  const std::vector<float> logits = realistic_logits();
  inhouse::engine::Sampler s(p);
  for (int i = 0; i < 64; ++i) s.accept(int32_t(i * 31));
  for (auto _ : state) benchmark::DoNotOptimize(s.sample(logits.data(), logits.size()));
  state.SetItemsProcessed(state.iterations());
}

SamplingParams params(float temperature, int top_k, float top_p, float min_p) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  p.seed = 1;
  return p;
}

// temperature 0: argmax.
void BM_SampleGreedy(benchmark::State& state) { run_sampler(state, params(0, 0, 1, 0)); }
// OpenAI defaults (temperature 1, no truncation): a draw over the whole vocabulary.
void BM_SampleOpenAiDefault(benchmark::State& state) { run_sampler(state, params(1, 0, 1, 0)); }
// temperature 0.7, top_p 0.9: nucleus sampling without top-k.
void BM_SampleTopP(benchmark::State& state) { run_sampler(state, params(0.7f, 0, 0.9f, 0)); }
// Ollama / llama.cpp defaults: top_k 40, top_p 0.9-0.95, min_p 0.05.
void BM_SampleOllamaDefault(benchmark::State& state) { run_sampler(state, params(0.8f, 40, 0.95f, 0.05f)); }
// Greedy with a repetition penalty (the penalty path cannot use plain argmax).
void BM_SampleGreedyRepeatPenalty(benchmark::State& state) {
  SamplingParams p = params(0, 0, 1, 0);
  p.repeat_penalty = 1.1f;
  run_sampler(state, p);
}
BENCHMARK(BM_SampleGreedy);
BENCHMARK(BM_SampleOpenAiDefault);
BENCHMARK(BM_SampleTopP);
BENCHMARK(BM_SampleOllamaDefault);
BENCHMARK(BM_SampleGreedyRepeatPenalty);

// ---- decode with a real model (INHOUSE_BENCH_MODEL) --------------------------------------------

constexpr int kDecodeTokens = 16;

struct LoadedModel {
  inhouse::model::Model model;
  inhouse::tokenizer::Tokenizer tokenizer;
};

LoadedModel* bench_model() {
  static LoadedModel* loaded = [] () -> LoadedModel* {
    const char* path = std::getenv("INHOUSE_BENCH_MODEL");
    if (!path || !*path) return nullptr;
    const char* threads = std::getenv("INHOUSE_BENCH_THREADS");
    inhouse::model::ModelOptions o;
    o.threads = threads ? std::atoi(threads) : 0;
    auto m = inhouse::model::Model::open(path, o);
    auto t = inhouse::tokenizer::Tokenizer::from_gguf(m.file());
    return new LoadedModel{std::move(m), std::move(t)};
  }();
  return loaded;
}

std::vector<int32_t> bench_prompt(int stream) {
  std::vector<int32_t> p;
  for (int i = 0; i < 8; ++i) p.push_back(int32_t(1000 + stream * 37 + i));
  return p;
}

// `streams` sequences decoding in lockstep with bare forward_batch calls (greedy): the floor
// the scheduler is measured against. Counts decode tokens only (the prompt is run untimed).
void BM_DecodeForwardBatch(benchmark::State& state) {
  LoadedModel* lm = bench_model();
  if (!lm) return state.SkipWithError("set INHOUSE_BENCH_MODEL to a GGUF file");
  const int streams = int(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<inhouse::model::KvCache> caches;
    std::vector<int32_t> next(static_cast<size_t>(streams));
    std::vector<std::vector<int32_t>> prompts;
    for (int s = 0; s < streams; ++s) {
      caches.push_back(lm->model.new_cache(512));
      prompts.push_back(bench_prompt(s));
    }
    for (int s = 0; s < streams; ++s) {
      const auto logits = lm->model.forward(caches[size_t(s)], prompts[size_t(s)], 0, true);
      next[size_t(s)] = inhouse::engine::argmax(logits.data(), logits.size());
    }
    state.ResumeTiming();
    for (int t = 0; t < kDecodeTokens; ++t) {
      std::vector<inhouse::model::SeqBatch> items;
      for (int s = 0; s < streams; ++s)
        items.push_back({.cache = &caches[size_t(s)], .tokens = std::span(&next[size_t(s)], 1),
                         .start = caches[size_t(s)].size(), .last_only = true});
      const auto logits = lm->model.forward_batch(items);
      const size_t n_vocab = size_t(lm->model.n_vocab());
      for (int s = 0; s < streams; ++s)
        next[size_t(s)] = inhouse::engine::argmax(logits.data() + size_t(s) * n_vocab, n_vocab);
    }
  }
  state.counters["tok/s"] = benchmark::Counter(double(streams * kDecodeTokens), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["s/step"] = benchmark::Counter(double(kDecodeTokens), benchmark::Counter::kIsIterationInvariantRate |
                                                                            benchmark::Counter::kInvert);
}

// A/B of kernel settings on a noisy machine: one decode run alternates the settings token by
// token, so host noise that drifts over seconds hits them all alike, and reports the median ms
// per token of each. INHOUSE_BENCH_TUNING="prefetch_tiles:chunks_per_thread[:TARGET],..."
// (default "0:0,1:16": both off against the defaults; TARGET forces a SIMD target such as
// AVX2, default the best); INHOUSE_BENCH_TOKENS (default 120).
struct BenchSetting {
  inhouse::tensor::KernelTuning tuning;
  std::string target;
  std::string name() const {
    return "pf" + std::to_string(tuning.prefetch_tiles) + "_cpt" + std::to_string(tuning.chunks_per_thread) +
           (target.empty() ? "" : "_" + target) + "_ms";
  }
};
std::vector<BenchSetting> tuning_settings() {
  const char* env = std::getenv("INHOUSE_BENCH_TUNING");
  std::stringstream list(env && *env ? env : "0:0,1:16");
  std::vector<BenchSetting> out;
  for (std::string item; std::getline(list, item, ',');) {
    std::stringstream fields(item);
    std::string prefetch, chunks, target;
    std::getline(fields, prefetch, ':');
    std::getline(fields, chunks, ':');
    std::getline(fields, target);
    BenchSetting b;
    b.tuning.prefetch_tiles = std::atoi(prefetch.c_str());
    b.tuning.chunks_per_thread = std::atoi(chunks.c_str());
    b.target = target;
    out.push_back(b);
  }
  return out;
}

void BM_DecodeTuningAB(benchmark::State& state) {
  LoadedModel* lm = bench_model();
  if (!lm) return state.SkipWithError("set INHOUSE_BENCH_MODEL to a GGUF file");
  const auto settings = tuning_settings();
  if (settings.empty()) return state.SkipWithError("INHOUSE_BENCH_TUNING lists no setting");
  const char* tokens_env = std::getenv("INHOUSE_BENCH_TOKENS");
  const int tokens = std::max(int(settings.size()), tokens_env ? std::atoi(tokens_env) : 120);
  const inhouse::tensor::KernelTuning saved = inhouse::tensor::kernel_tuning();
  std::vector<std::vector<double>> ms(settings.size());
  for (auto _ : state) {
    auto cache = lm->model.new_cache(tokens + 16);
    const std::vector<int32_t> prompt = bench_prompt(0);
    std::vector<float> logits = lm->model.forward(cache, prompt, 0, true);
    int32_t next = inhouse::engine::argmax(logits.data(), logits.size());
    for (int t = 0; t < tokens; ++t) {
      const size_t k = size_t(t) % settings.size();
      inhouse::tensor::set_kernel_tuning(settings[k].tuning);
      inhouse::tensor::set_simd_target(settings[k].target);
      const auto t0 = std::chrono::steady_clock::now();
      logits = lm->model.forward(cache, std::span(&next, 1), cache.size(), true);
      ms[k].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      next = inhouse::engine::argmax(logits.data(), logits.size());
    }
  }
  inhouse::tensor::set_kernel_tuning(saved);
  inhouse::tensor::set_simd_target("");
  for (size_t k = 0; k < settings.size(); ++k) {
    std::sort(ms[k].begin(), ms[k].end());
    state.counters[settings[k].name()] = ms[k][ms[k].size() / 2];
  }
}
BENCHMARK(BM_DecodeTuningAB)->Unit(benchmark::kSecond)->Iterations(1);

// The same through the Scheduler: `streams` greedy requests submitted together, prompt
// included, timed from submit to the last on_done. Each step's text is streamed to a callback
// as the server's would be.
void BM_DecodeScheduler(benchmark::State& state) {
  LoadedModel* lm = bench_model();
  if (!lm) return state.SkipWithError("set INHOUSE_BENCH_MODEL to a GGUF file");
  const int streams = int(state.range(0));
  inhouse::engine::Scheduler sched(lm->model, lm->tokenizer, {.n_parallel = streams, .n_ctx = 512});
  double decode_ms = 0, ttft_ms = 0;
  for (auto _ : state) {
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    double ms_per_token = 0, ttft = 0;
    for (int s = 0; s < streams; ++s) {
      inhouse::engine::GenerationRequest r;
      r.prompt = bench_prompt(s);
      r.sampling = params(0, 0, 1, 0);
      r.max_tokens = kDecodeTokens + 1;  // the first token comes from the prompt's step
      r.ignore_eos = true;
      r.on_delta = [](const inhouse::engine::TokenTextStream::Delta& d) { benchmark::DoNotOptimize(d.content.size()); };
      r.on_done = [&](const inhouse::engine::GenerationResult& res) {
        std::lock_guard lock(mu);
        ms_per_token += res.ms_per_token;
        ttft += res.time_to_first_token_ms;
        ++done;
        cv.notify_one();
      };
      sched.submit(std::move(r));
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == streams; });
    decode_ms += ms_per_token / streams;
    ttft_ms += ttft / streams;
  }
  // Steady-state decode rate from the scheduler's own per-token times (prompt excluded).
  const double ms_per_step = decode_ms / double(state.iterations());
  state.counters["tok/s"] = double(streams) * 1000.0 / ms_per_step;
  state.counters["s/step"] = ms_per_step / 1000.0;
  state.counters["ttft_s"] = ttft_ms / 1000.0 / double(state.iterations());
  state.counters["steps"] = double(sched.stats().steps) / double(state.iterations());
}

BENCHMARK(BM_DecodeForwardBatch)->Arg(1)->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();
BENCHMARK(BM_DecodeScheduler)->Arg(1)->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
