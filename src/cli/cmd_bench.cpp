// inhouse bench -m MODEL [-p 512] [-n 128] [-t 2] [-r 3] [--depth D] [--json]: prefill (pp) and
// decode (tg) speed like llama-bench — median, min and max tokens/s over repetitions — plus
// what explains them: time to first token, the machine's memory read bandwidth, the bytes a
// decode step reads and the resulting roofline (bandwidth / bytes per token; bandwidth probed
// after each decode repetition and paired with it), the KV cache
// size and the process's peak resident memory (weights are read from the mmap, never copied,
// so peak RSS should stay within file size + KV cache + 10%).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "model/model.h"
#include "quant/quant.h"

namespace inhouse::cli {
namespace {

using nlohmann::json;

struct BenchOptions {
  std::string model;
  int n_prompt = 512;
  int n_gen = 128;
  int threads = 2;
  CacheFlags cache;
  int reps = 3;
  int depth = 0;
  int bw_mib = 1024;
  int bw_passes = 5;
  bool json = false;
};

struct Stats {
  double median = 0, min = 0, max = 0;
};

Stats stats_of(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {median, v.front(), v.back()};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Deterministic token ids spread over the vocabulary (speed does not depend on which).
std::vector<int32_t> bench_tokens(int64_t n, int64_t n_vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 7919 + 13) % n_vocab);
  return ids;
}

// Feeds tokens at positions start.. in batches of at most 512 (bounded activation memory).
void prefill(model::Model& m, model::KvCache& cache, const std::vector<int32_t>& tokens, int64_t start) {
  constexpr size_t kBatch = 512;
  for (size_t i = 0; i < tokens.size(); i += kBatch) {
    const size_t n = std::min(kBatch, tokens.size() - i);
    m.forward(cache, std::span<const int32_t>(tokens.data() + i, n), start + int64_t(i), true);
  }
}

struct BenchResult {
  Stats pp, tg, ttft_ms;
  uint64_t model_bytes = 0, weight_bytes_per_token = 0, kv_bytes_per_token = 0, bytes_per_token = 0;
  uint64_t kv_cache_bytes = 0, peak_rss = 0;
  double bandwidth_gb_s = 0, roofline_tps = 0, roofline_ratio = 0;
  std::vector<double> bandwidths, ratios;  // each probe, and each tg repetition's paired ratio
};

BenchResult run_benchmark(const BenchOptions& o) {
  BenchResult r;
  model::Model m = model::Model::open(o.model, o.cache.options(o.threads));
  const int64_t n_ctx = std::max<int64_t>({1, o.n_prompt, int64_t(o.depth) + o.n_gen});
  if (n_ctx > m.hparams().n_ctx_train)
    throw std::runtime_error("the tests need " + std::to_string(n_ctx) + " positions (prompt, or depth + decode) " +
                             "but the model's context length is " + std::to_string(m.hparams().n_ctx_train));
  model::KvCache cache = m.new_cache(n_ctx);
  const uint64_t kv_per_pos = uint64_t(cache.bytes_per_position());  // f16 by default, f32 with --cache-type f32

  // Warm-up: one decode step touches every weight page once, as llama-bench's warm-up run.
  const std::vector<int32_t> warm = bench_tokens(1, m.n_vocab());
  m.forward(cache, warm, 0, true);

  std::vector<double> pp, tg, ttft;
  if (o.n_prompt > 0) {
    const std::vector<int32_t> prompt = bench_tokens(o.n_prompt, m.n_vocab());
    for (int rep = 0; rep < o.reps; ++rep) {
      const auto start = std::chrono::steady_clock::now();
      m.forward(cache, prompt, 0, true);  // one batch: the logits of the last prompt token
      const double s = seconds_since(start);
      pp.push_back(o.n_prompt / s);
      ttft.push_back(s * 1e3);
    }
  }
  r.model_bytes = m.file().file_size();
  r.kv_cache_bytes = kv_per_pos * uint64_t(n_ctx);
  r.weight_bytes_per_token = quant::decode_weight_bytes(m.file());
  // A decode step reads the whole cache so far; over the tg run that averages depth + n/2.
  r.kv_bytes_per_token = kv_per_pos * uint64_t(o.depth + o.n_gen / 2);
  r.bytes_per_token = r.weight_bytes_per_token + r.kv_bytes_per_token;

  // The memory bandwidth is probed right after each decode repetition, so every tg figure is
  // paired with the host's memory speed of the same moment (this VM's drifts by 10-30% from
  // minute to minute); the ratio is the median of the paired ratios. The probe's buffer is
  // left out of the peak RSS: the peak is read before each probe and reset after it.
  uint64_t peak_rss = 0;
  bool peak_clean = true;  // VmHWM holds no probe buffer
  std::vector<double>& bandwidths = r.bandwidths;
  std::vector<double>& ratios = r.ratios;
  auto probe = [&] {
    if (peak_clean) peak_rss = std::max(peak_rss, quant::peak_rss_bytes());
    bandwidths.push_back(quant::measure_read_bandwidth(uint64_t(o.bw_mib) << 20, o.threads, o.bw_passes));
    peak_clean = quant::reset_peak_rss();
  };
  if (o.n_gen > 0) {
    if (o.depth > 0) prefill(m, cache, bench_tokens(o.depth, m.n_vocab()), 0);
    for (int rep = 0; rep < o.reps; ++rep) {
      int32_t token = int32_t(o.depth % m.n_vocab());
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < o.n_gen; ++i) {
        const std::vector<float> logits = m.forward(cache, std::span<const int32_t>(&token, 1), o.depth + i, true);
        token = model::argmax(logits);
      }
      tg.push_back(o.n_gen / seconds_since(start));
      if (o.bw_mib > 0 && peak_clean) {  // without a peak reset, a second probe would count in the peak
        probe();
        ratios.push_back(tg.back() * double(r.bytes_per_token) / (bandwidths.back() * 1e9));
      }
    }
  }
  if (o.bw_mib > 0 && bandwidths.empty()) probe();
  if (peak_clean) peak_rss = std::max(peak_rss, quant::peak_rss_bytes());
  r.peak_rss = peak_rss;
  r.pp = stats_of(pp);
  r.tg = stats_of(tg);
  r.ttft_ms = stats_of(ttft);
  r.bandwidth_gb_s = stats_of(bandwidths).median;
  if (r.bandwidth_gb_s > 0 && r.bytes_per_token > 0) {
    r.roofline_tps = r.bandwidth_gb_s * 1e9 / double(r.bytes_per_token);
    r.roofline_ratio = !ratios.empty() && ratios.size() == tg.size() ? stats_of(ratios).median
                                                                     : r.tg.median / r.roofline_tps;
  }
  return r;
}

json stats_json(const Stats& s) { return {{"tokens_per_s", s.median}, {"min", s.min}, {"max", s.max}}; }

void print_json(const BenchOptions& o, const BenchResult& r) {
  const uint64_t rss_limit = uint64_t(double(r.model_bytes + r.kv_cache_bytes) * 1.1);
  json j = {
      {"model", o.model},
      {"n_prompt", o.n_prompt},
      {"n_gen", o.n_gen},
      {"depth", o.depth},
      {"reps", o.reps},
      {"threads", o.threads},
      {"pp", stats_json(r.pp)},
      {"tg", stats_json(r.tg)},
      {"ttft_ms", {{"median", r.ttft_ms.median}, {"min", r.ttft_ms.min}, {"max", r.ttft_ms.max}}},
      {"model_bytes", r.model_bytes},
      {"weight_bytes_per_token", r.weight_bytes_per_token},
      {"kv_bytes_per_token", r.kv_bytes_per_token},
      {"bytes_per_token", r.bytes_per_token},
      {"bandwidth_gb_s", r.bandwidth_gb_s},
      {"tg_roofline_tokens_per_s", r.roofline_tps},
      {"tg_roofline_ratio", r.roofline_ratio},
      {"bandwidth_probes_gb_s", r.bandwidths},
      {"tg_roofline_ratio_per_rep", r.ratios},
      {"kv_cache_bytes", r.kv_cache_bytes},
      {"peak_rss_bytes", r.peak_rss},
      {"peak_rss_limit_bytes", rss_limit},
      {"peak_rss_ok", r.peak_rss <= rss_limit},
  };
  std::printf("%s\n", j.dump().c_str());
}

double mib(uint64_t b) { return double(b) / (1 << 20); }

void print_text(const BenchOptions& o, const BenchResult& r) {
  std::printf("model: %s (%.2f MiB), %d threads, %d repetitions\n\n", o.model.c_str(), mib(r.model_bytes),
              o.threads, o.reps);
  std::printf("| test | t/s (median) | min | max |\n|---|---:|---:|---:|\n");
  if (o.n_prompt > 0)
    std::printf("| pp%d | %.2f | %.2f | %.2f |\n", o.n_prompt, r.pp.median, r.pp.min, r.pp.max);
  if (o.n_gen > 0)
    std::printf("| tg%d @ depth %d | %.2f | %.2f | %.2f |\n", o.n_gen, o.depth, r.tg.median, r.tg.min, r.tg.max);
  std::printf("\n");
  if (o.n_prompt > 0) std::printf("time to first token (%d-token prompt): %.1f ms\n", o.n_prompt, r.ttft_ms.median);
  if (r.bandwidth_gb_s > 0)
    std::printf("memory read bandwidth: %.2f GB/s (%d threads, %d MiB buffer; median of %zu probe(s), each the "
                "median of %d reads)\n", r.bandwidth_gb_s, o.threads, o.bw_mib, r.bandwidths.size(), o.bw_passes);
  std::printf("decode reads %.2f MiB/token (weights %.2f + KV %.2f)", mib(r.bytes_per_token),
              mib(r.weight_bytes_per_token), mib(r.kv_bytes_per_token));
  if (r.roofline_tps > 0)
    std::printf(" -> roofline %.2f t/s; tg/roofline = %.2f%s", r.roofline_tps, r.roofline_ratio,
                r.ratios.empty() ? "" : " (median of each repetition against the probe right after it)");
  const uint64_t rss_limit = uint64_t(double(r.model_bytes + r.kv_cache_bytes) * 1.1);
  std::printf("\nKV cache: %.2f MiB; peak RSS %.2f MiB (limit file + KV + 10%% = %.2f MiB: %s)\n",
              mib(r.kv_cache_bytes), mib(r.peak_rss), mib(rss_limit), r.peak_rss <= rss_limit ? "ok" : "OVER");
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Measure prefill and decode speed (like llama-bench) and the roofline");
  cmd->add_option("-m,--model", o->model, "GGUF model file")->required()->check(CLI::ExistingFile);
  cmd->add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens for the prefill test (0: skip)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-n,--n-gen", o->n_gen, "Tokens for the decode test (0: skip)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", o->threads, "Threads (default 2)")->check(CLI::PositiveNumber);
  add_cache_flags(cmd, o->cache);
  cmd->add_option("-r,--repetitions", o->reps, "Repetitions of each test (default 3)")->check(CLI::PositiveNumber);
  cmd->add_option("--depth", o->depth, "Prefill this many tokens before the decode test")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--bw-mib", o->bw_mib, "Bandwidth test buffer in MiB (default 1024; 0: skip)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--bw-passes", o->bw_passes, "Bandwidth test passes (default 5)")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o] {
    const BenchResult r = run_benchmark(*o);
    if (o->json) print_json(*o, r);
    else print_text(*o, r);
  });
}

}  // namespace inhouse::cli
