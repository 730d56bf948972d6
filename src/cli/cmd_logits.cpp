// inhouse logits -m MODEL --tokens 1,15,200 [--greedy N] [--threads N]: runs the prompt as one
// batch at positions 0..n-1 and prints {"logits": [[n_vocab floats] per position], "greedy":
// [N ids]} where greedy continues with single-token decode steps. The check against reference
// logits (golden files) goes through this command.
#include <charconv>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "model/model.h"

namespace inhouse::cli {
namespace {

struct LogitsOptions {
  std::string model;
  std::vector<int32_t> tokens;
  int greedy = 0;
  int threads = 0;
  CacheFlags cache;
};

// Shortest text that reads back as the same float: exact and compact for large outputs.
void append_float(std::string& out, float v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void run_logits(const LogitsOptions& o) {
  model::Model m = model::Model::open(o.model, o.cache.options(o.threads));
  std::vector<float> logits;
  const std::vector<int32_t> ids = model::greedy(m, o.tokens, o.greedy, &logits);

  const size_t nv = size_t(m.n_vocab());
  std::string out = "{\"logits\": [";
  out.reserve(logits.size() * 12);
  for (size_t row = 0; row * nv < logits.size(); ++row) {
    out += row ? ",\n[" : "\n[";
    for (size_t i = 0; i < nv; ++i) {
      if (i) out += ',';
      append_float(out, logits[row * nv + i]);
    }
    out += ']';
  }
  out += "],\n\"greedy\": [";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  out += "]}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void register_logits(CLI::App& app) {
  auto o = std::make_shared<LogitsOptions>();
  auto* cmd = app.add_subcommand(
      "logits", "Print a model's logits for every prompt position (JSON), optionally a greedy continuation");
  cmd->add_option("-m,--model", o->model, "GGUF model file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--tokens", o->tokens, "Prompt token ids, comma separated (fed as one batch)")
      ->required()
      ->delimiter(',');
  cmd->add_option("--greedy", o->greedy, "Continue greedily for N tokens (one decode step each)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", o->threads, "Worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  add_cache_flags(cmd, o->cache);
  cmd->callback([o] { run_logits(*o); });
}

}  // namespace inhouse::cli
