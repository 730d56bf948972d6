// `inhouse run` end to end on the bundled stories260k model: it echoes the prompt and streams a
// continuation, the same seed gives the same text, greedy text is the detokenised greedy ids,
// and bad options exit 1 with one "error: ..." line.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "common/run_cli.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;

struct Result {
  int status;
  std::string out;
};

// stdout only (timings go to stderr).
Result run(const std::string& args) {
  const inhouse::test_util::CliResult r = inhouse::test_util::run_cli_shell(args);
  return {r.status, r.out};
}

const std::string kModel = (fs::path(INHOUSE_TEST_DATA) / "models" / "stories260k-f32.gguf").string();

TEST(CliRun, SameSeedSameText) {
  const Result a = run("run -m " + kModel + " -p 'Once upon a time' -n 24 --seed 7 --threads 2");
  const Result b = run("run -m " + kModel + " -p 'Once upon a time' -n 24 --seed 7 --threads 1");
  ASSERT_EQ(a.status, 0);
  EXPECT_EQ(a.out.rfind("Once upon a time", 0), 0u) << a.out;
  EXPECT_GT(a.out.size(), std::string("Once upon a time\n").size());
  EXPECT_EQ(a.out, b.out);
}

TEST(CliRun, GreedyTextIsTheGreedyIdsDetokenised) {
  const std::string prompt = "Once upon a time";
  const Result r = run("run -m " + kModel + " -p '" + prompt + "' -n 12 --temp 0 --ignore-eos");
  ASSERT_EQ(r.status, 0);

  using namespace inhouse;
  model::Model m = model::Model::open(kModel, {.threads = 1});
  const auto tok = tokenizer::Tokenizer::from_gguf(m.file());
  const auto ids = model::greedy(m, tok.encode(prompt, true, true), 12);
  tokenizer::IncrementalDecoder dec(tok, /*special=*/false);
  std::string text = prompt;
  for (int32_t id : ids) text += dec.push(id);
  text += dec.flush() + "\n";
  EXPECT_EQ(r.out, text);
}

TEST(CliRun, BadOptionsAreErrors) {
  EXPECT_EQ(run("run -m " + kModel + " -p hi --temp -1").status, 1);
  EXPECT_EQ(run("run -m " + kModel + " -p hi --top-p 2").status, 1);
  EXPECT_NE(run("run -m /nonexistent.gguf -p hi").status, 0);
}

}  // namespace
