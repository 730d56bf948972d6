// inhouse tokenize — turns text into token ids with a GGUF file's vocabulary: one text given
// on the command line, or every test of a llama.cpp-style .inp file (printed in .out format).
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace inhouse::cli {
namespace {

using tokenizer::TokenId;
using tokenizer::Tokenizer;

struct TokenizeOptions {
  std::string model;
  std::string inp;
  std::string text;
  bool has_text = false;  // an empty TEXT is still a text
  bool special = false;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Tests are separated by "\n__ggml_vocab_test__\n"; a file ending with the separator has no
// empty last test (the same splitting as llama.cpp's test-tokenizer-0).
std::vector<std::string> split_tests(const std::string& raw) {
  static const std::string kSep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> tests;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t next = raw.find(kSep, pos);
    if (next == std::string::npos) {
      tests.push_back(raw.substr(pos));
      break;
    }
    tests.push_back(raw.substr(pos, next - pos));
    pos = next + kSep.size();
  }
  return tests;
}

// .out format: every id preceded by a space, one line per test.
void append_out_line(std::string& out, const std::vector<TokenId>& ids) {
  for (TokenId id : ids) (out += ' ') += std::to_string(id);
  out += '\n';
}

void write_stdout(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() || std::fflush(stdout) != 0)
    throw std::runtime_error("cannot write to standard output");
}

void run_tokenize(const TokenizeOptions& o) {
  if (o.inp.empty() == !o.has_text) throw std::runtime_error("give either --inp FILE or a TEXT (not both)");
  gguf::GgufFile file = gguf::GgufFile::open(o.model);
  Tokenizer tok = Tokenizer::from_gguf(file);
  std::string out;
  if (!o.inp.empty()) {
    for (const std::string& test : split_tests(read_file(o.inp)))
      append_out_line(out, tok.encode(test, /*add_special=*/false, /*parse_special=*/false));
  } else {
    std::vector<TokenId> ids = tok.encode(o.text, o.special, o.special);
    for (size_t i = 0; i < ids.size(); ++i) (out += i ? " " : "") += std::to_string(ids[i]);
    out += '\n';
  }
  write_stdout(out);
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize",
                                 "Print the token ids of a text (space-separated, one line), or of every test "
                                 "of a .inp file (one line per test, each id preceded by a space, as in .out files)");
  auto o = std::make_shared<TokenizeOptions>();
  cmd->add_option("-m,--model", o->model, "GGUF file whose vocabulary to use (a vocab-only file is enough)")
      ->required();
  cmd->add_option("--inp", o->inp,
                  "Tokenize each test of this file (tests separated by the line __ggml_vocab_test__), "
                  "without BOS/EOS and without parsing special tokens");
  auto* text = cmd->add_option("text", o->text, "Text to tokenize");
  cmd->add_flag("--special", o->special,
                "For TEXT: add BOS/EOS as the model says and turn special-token text (e.g. <|im_end|>) "
                "into those tokens");
  cmd->callback([o, text] {
    o->has_text = text->count() > 0;
    run_tokenize(*o);
  });
}

}  // namespace inhouse::cli
