// inhouse embed -m MODEL [--normalize N] [--threads N] (--file TEXTS | TEXT...): embeds each
// text (each line of TEXTS, or each TEXT argument) with an encoder model (bert) and prints an
// OpenAI-style list: {"object": "list", "data": [{"object": "embedding", "index": i,
// "embedding": [...]}], "model": NAME, "usage": {...}}. Texts are tokenised with the model's
// own vocabulary, [CLS]/[SEP] added; --normalize follows llama.cpp's embd_normalize (2: L2, the
// default; -1: none; 0: max-abs to int16 range; 1: taxicab; p > 2: p-norm).
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace inhouse::cli {
namespace {

struct EmbedOptions {
  std::string model;
  std::string file;
  std::vector<std::string> texts;
  int normalize = 2;
  int threads = 0;
};

// Every line of the file is one input; the newline that ends the last line starts no input.
std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read '" + path + "'");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

void append_float(std::string& out, float v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void run_embed(const EmbedOptions& o) {
  std::vector<std::string> texts = o.file.empty() ? o.texts : read_lines(o.file);
  if (!o.file.empty()) texts.insert(texts.end(), o.texts.begin(), o.texts.end());
  if (texts.empty()) throw std::runtime_error("embed: no input text (give TEXT arguments or --file)");

  model::Encoder enc = model::Encoder::open(o.model, {.threads = o.threads});
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_gguf(enc.file());

  // JSON by hand: the embeddings are most of the output, written in shortest round-trip form.
  std::string out = "{\"object\": \"list\", \"data\": [";
  size_t n_tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int32_t> ids = tok.encode(texts[i], /*add_special=*/true, /*parse_special=*/false);
    n_tokens += ids.size();
    std::vector<float> e = enc.embed(ids);
    model::normalize_embedding(e, o.normalize);
    out += i ? ",\n" : "\n";
    out += "{\"object\": \"embedding\", \"index\": " + std::to_string(i) + ", \"embedding\": [";
    for (size_t j = 0; j < e.size(); ++j) {
      if (j) out += ',';
      append_float(out, e[j]);
    }
    out += "]}";
  }
  const std::string name = std::filesystem::path(o.model).filename().string();
  out += "],\n\"model\": \"" + name + "\", \"usage\": {\"prompt_tokens\": " + std::to_string(n_tokens) +
         ", \"total_tokens\": " + std::to_string(n_tokens) + "}}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void register_embed(CLI::App& app) {
  auto o = std::make_shared<EmbedOptions>();
  auto* cmd = app.add_subcommand("embed", "Embed texts with an encoder model (bert); prints OpenAI-style JSON");
  cmd->add_option("-m,--model", o->model, "GGUF encoder model file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--file", o->file, "Text file: one input per line")->check(CLI::ExistingFile);
  cmd->add_option("texts", o->texts, "Texts to embed (each argument one input)");
  cmd->add_option("--normalize", o->normalize,
                  "2: L2 (default), -1: none, 0: max-abs (int16 range), 1: taxicab, p > 2: p-norm");
  cmd->add_option("--threads", o->threads, "Worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([o] { run_embed(*o); });
}

}  // namespace inhouse::cli
