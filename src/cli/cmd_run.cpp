// inhouse run -m MODEL -p PROMPT [-n N] [--temp T] [--seed S] ...: tokenises the prompt with the
// model's own vocabulary, feeds it as one batch, then samples up to N tokens one decode step at
// a time (greedy at --temp 0), streaming the text as it is produced. Stops at end-of-sequence
// or the context limit. Timing goes to stderr so stdout is only the text.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace inhouse::cli {
namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  int n_predict = 128;
  int threads = 0;
  bool ignore_eos = false;
  std::optional<uint64_t> seed;
  engine::SamplingParams sampling;
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void run_generate(RunOptions o) {
  o.sampling.seed = o.seed ? *o.seed : std::random_device{}();
  engine::Sampler sampler(o.sampling);  // validates the sampling options first

  model::Model m = model::Model::open(o.model, {.threads = o.threads});
  const auto tok = tokenizer::Tokenizer::from_gguf(m.file());
  const std::vector<int32_t> prompt = tok.encode(o.prompt, /*add_special=*/true, /*parse_special=*/true);
  if (prompt.empty()) throw std::runtime_error("the prompt tokenised to nothing");
  const int64_t n_ctx = m.hparams().n_ctx_train;
  if (int64_t(prompt.size()) >= n_ctx)
    throw std::runtime_error("the prompt has " + std::to_string(prompt.size()) +
                             " tokens; the model's context holds " + std::to_string(n_ctx));
  for (int32_t id : prompt) sampler.accept(id);

  print(o.prompt);
  const auto t_prompt = Clock::now();
  model::KvCache cache = m.new_cache(std::min<int64_t>(n_ctx, int64_t(prompt.size()) + o.n_predict));
  std::vector<float> logits = m.forward(cache, prompt, 0, /*last_only=*/true);
  const double prompt_s = seconds_since(t_prompt);

  const tokenizer::Vocab& vocab = tok.vocab();
  tokenizer::IncrementalDecoder decoder(tok, /*special=*/false);
  const auto t_gen = Clock::now();
  int generated = 0;
  while (generated < o.n_predict) {
    const int32_t id = sampler.sample(logits.data(), logits.size());
    if (!o.ignore_eos && (id == vocab.eos || id == vocab.eot)) break;
    sampler.accept(id);
    print(decoder.push(id));
    ++generated;
    if (cache.size() >= cache.n_ctx()) break;  // context full
    logits = m.forward(cache, std::span(&id, 1), cache.size(), /*last_only=*/true);
  }
  print(decoder.flush() + "\n");
  const double gen_s = seconds_since(t_gen);
  std::fprintf(stderr, "\n[prompt: %zu tokens, %.1f tok/s | generated: %d tokens, %.1f tok/s | threads %d]\n",
               prompt.size(), double(prompt.size()) / prompt_s, generated,
               generated / (gen_s > 0 ? gen_s : 1), m.threads());
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Generate text from a prompt, streaming it as it is sampled");
  cmd->add_option("-m,--model", o->model, "GGUF model file")->required()->check(CLI::ExistingFile);
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text")->required();
  cmd->add_option("-n,--n-predict", o->n_predict, "Most tokens to generate")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--temp", o->sampling.temperature, "Temperature; 0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", o->sampling.top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
  cmd->add_option("--top-p", o->sampling.top_p, "Nucleus sampling threshold (1 = off)")->capture_default_str();
  cmd->add_option("--min-p", o->sampling.min_p, "Drop tokens below min-p x the top probability (0 = off)")
      ->capture_default_str();
  cmd->add_option("--repeat-penalty", o->sampling.repeat_penalty, "Penalty for recent tokens (1 = off)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed (default: a random one)");
  cmd->add_option("--threads", o->threads, "Worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating after end-of-sequence");
  cmd->callback([o] { run_generate(*o); });
}

}  // namespace inhouse::cli
