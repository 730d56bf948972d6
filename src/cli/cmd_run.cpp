// inhouse run -m MODEL -p PROMPT [-n N] [--temp T] [--seed S] [--chat] ...: tokenises the prompt
// with the model's own vocabulary (or, with --chat, first wraps it as a user message with the
// model's chat template), feeds it as one batch, then samples up to N tokens one decode step at a
// time (greedy at --temp 0), streaming the text as it is produced. Stops at end-of-sequence /
// end-of-turn, a stop string, N tokens or the context limit. Timing goes to stderr so stdout is
// only the text.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "chat/chat_template.h"
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
  CacheFlags cache;
  bool ignore_eos = false;
  std::optional<uint64_t> seed;
  engine::SamplingParams sampling;
  std::vector<std::string> stop;
  bool chat = false;
  std::string system;
  std::string chat_template_file;
  std::string reasoning = "stderr";
  bool verbose_prompt = false;
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void write(FILE* f, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), f);
  std::fflush(f);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read chat template file " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The prompt as the model's chat template renders one user turn (after an optional system turn)
// with the assistant's generation prompt.
std::string render_chat_prompt(const RunOptions& o, const gguf::GgufFile& file, const tokenizer::Tokenizer& tok) {
  try {
    std::optional<engine::ChatPrompt> chat;
    if (!o.chat_template_file.empty()) chat.emplace(tok, read_text_file(o.chat_template_file));
    else chat = engine::ChatPrompt::from_file(file, tok);
    if (!chat)
      throw std::runtime_error("the model has no chat template (GGUF key tokenizer.chat_template); "
                               "pass one with --chat-template FILE");
    nlohmann::json messages = nlohmann::json::array();
    if (!o.system.empty()) messages.push_back({{"role", "system"}, {"content", o.system}});
    messages.push_back({{"role", "user"}, {"content", o.prompt}});
    return chat->render(messages);
  } catch (const chat::TemplateError& e) {
    throw std::runtime_error(std::string("chat template: ") + e.what());
  }
}

// Where the two streams of a chat answer go. The answer always goes to stdout; the reasoning is
// framed as "[thinking]\n...\n[/thinking]\n" on stderr or stdout, or dropped.
class ChatPrinter {
 public:
  explicit ChatPrinter(const std::string& mode)
      : reasoning_to_(mode == "stdout" ? stdout : mode == "stderr" ? stderr : nullptr) {}

  void print(const engine::TokenTextStream::Delta& d) {
    if (!d.reasoning.empty() && reasoning_to_) {
      if (!in_reasoning_) write(reasoning_to_, "[thinking]\n");
      in_reasoning_ = true;
      write(reasoning_to_, d.reasoning);
      last_reasoning_char_ = d.reasoning.back();
    }
    if (!d.content.empty()) {
      close_reasoning();
      write(stdout, d.content);
    }
  }
  void close_reasoning() {
    if (!in_reasoning_) return;
    write(reasoning_to_, last_reasoning_char_ == '\n' ? "[/thinking]\n" : "\n[/thinking]\n");
    in_reasoning_ = false;
  }

 private:
  FILE* reasoning_to_;
  bool in_reasoning_ = false;
  char last_reasoning_char_ = '\n';
};

void run_generate(RunOptions o) {
  o.sampling.seed = o.seed ? *o.seed : std::random_device{}();
  engine::Sampler sampler(o.sampling);  // validates the sampling options first

  model::Model m = model::Model::open(o.model, o.cache.options(o.threads));
  const auto tok = tokenizer::Tokenizer::from_gguf(m.file());
  const tokenizer::Vocab& vocab = tok.vocab();
  const std::string text = o.chat ? render_chat_prompt(o, m.file(), tok) : o.prompt;
  const std::vector<int32_t> prompt = engine::tokenize_prompt(tok, text, o.chat);
  if (o.verbose_prompt) {
    std::string ids;
    for (int32_t id : prompt) ids += (ids.empty() ? "" : " ") + std::to_string(id);
    std::fprintf(stderr, "[prompt]\n%s\n[/prompt]\n[prompt tokens: %zu] %s\n", text.c_str(), prompt.size(), ids.c_str());
  }
  if (prompt.empty()) throw std::runtime_error("the prompt tokenised to nothing");
  const int64_t n_ctx = m.hparams().n_ctx_train;
  if (int64_t(prompt.size()) >= n_ctx)
    throw std::runtime_error("the prompt has " + std::to_string(prompt.size()) +
                             " tokens; the model's context holds " + std::to_string(n_ctx));
  for (int32_t id : prompt) sampler.accept(id);

  if (!o.chat) write(stdout, o.prompt);
  const auto t_prompt = Clock::now();
  model::KvCache cache = m.new_cache(std::min<int64_t>(n_ctx, int64_t(prompt.size()) + o.n_predict));
  std::vector<float> logits = m.forward(cache, prompt, 0, /*last_only=*/true);
  const double prompt_s = seconds_since(t_prompt);

  engine::TokenTextStream stream(tok, {.stop = o.stop,
                                       .split_reasoning = o.chat,
                                       .start_in_reasoning = o.chat && engine::prompt_opens_reasoning(text)});
  ChatPrinter printer(o.reasoning);
  const auto t_gen = Clock::now();
  int generated = 0;
  while (generated < o.n_predict) {
    const int32_t id = sampler.sample(logits.data(), logits.size());
    if (!o.ignore_eos && (id == vocab.eos || id == vocab.eot)) break;
    sampler.accept(id);
    printer.print(stream.push(id));
    ++generated;
    if (stream.stopped() || cache.size() >= cache.n_ctx()) break;  // stop string, context full
    logits = m.forward(cache, std::span(&id, 1), cache.size(), /*last_only=*/true);
  }
  printer.print(stream.finish());
  printer.close_reasoning();
  write(stdout, "\n");
  const double gen_s = seconds_since(t_gen);
  std::fprintf(stderr, "\n[prompt: %zu tokens, %.1f tok/s | generated: %d tokens, %.1f tok/s | threads %d]\n",
               prompt.size(), double(prompt.size()) / prompt_s, generated,
               generated / (gen_s > 0 ? gen_s : 1), m.threads());
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Generate text from a prompt, streaming it as it is sampled");
  cmd->footer(
      "Chat mode (--chat): the prompt becomes a user message rendered with the model's chat template\n"
      "(GGUF tokenizer.chat_template, or --chat-template FILE) plus the assistant's generation prompt;\n"
      "the prompt is not echoed. DeepSeek-R1 style reasoning (<think>...</think>, or everything up to\n"
      "</think> when the template ends with <think>) is split from the answer: the answer goes to\n"
      "stdout; the reasoning, framed as \"[thinking]\\n...\\n[/thinking]\\n\", goes where --reasoning\n"
      "says: stderr (default), stdout (before the answer) or hide. Without --chat the prompt is\n"
      "echoed and the output is printed as it comes.");
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
  add_cache_flags(cmd, o->cache);
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating after end-of-sequence");
  cmd->add_option("--stop", o->stop, "Stop when the output contains this text (repeatable; not printed)")
      ->allow_extra_args(false);
  auto* chat = cmd->add_flag("--chat", o->chat, "Wrap the prompt as a user message with the chat template");
  cmd->add_option("--system", o->system, "With --chat: a system message before the prompt")->needs(chat);
  cmd->add_option("--chat-template", o->chat_template_file, "With --chat: Jinja template file to use instead of the model's")
      ->check(CLI::ExistingFile)->needs(chat);
  cmd->add_option("--reasoning", o->reasoning, "With --chat: where the reasoning goes")
      ->check(CLI::IsMember({"stderr", "stdout", "hide"}))->capture_default_str()->needs(chat);
  cmd->add_flag("--verbose-prompt", o->verbose_prompt, "Print the prompt as rendered and its token ids to stderr");
  cmd->callback([o] { run_generate(*o); });
}

}  // namespace inhouse::cli
