// The reference matrix: every ggml-vocab-NAME.gguf fixture (repo copy or shared fixtures)
// tokenised through the library and through `inhouse tokenize --inp`, compared with NAME.out.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>
#include <tuple>
#include <utility>

#include "tokenizer_test_util.h"

namespace inhouse::tokenizer::testing {
namespace {

// The fixtures README lists these; any other ggml-vocab-*.gguf found is tested too.
std::vector<std::string> vocab_names() {
  std::set<std::string> names = {"bert-bge", "deepseek-coder", "deepseek-llm", "deepseek-v3", "falcon", "gpt-2",
                                 "llama-spm", "mpt", "phi-3", "qwen3", "refact", "starcoder"};
  for (const std::string& dir : {repo_vocab_dir(), shared_vocab_dir()}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      std::string file = entry.path().filename().string();
      const std::string prefix = "ggml-vocab-", suffix = ".gguf";
      if (file.size() > prefix.size() + suffix.size() && file.rfind(prefix, 0) == 0 &&
          file.compare(file.size() - suffix.size(), suffix.size(), suffix) == 0)
        names.insert(file.substr(prefix.size(), file.size() - prefix.size() - suffix.size()));
    }
  }
  return {names.begin(), names.end()};
}

std::string ids_line(const std::vector<TokenId>& ids) {
  std::string line;
  for (TokenId id : ids) (line += ' ') += std::to_string(id);
  return line;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q.append(c == '\'' ? "'\\''" : std::string(1, c));
  return q.append("'");
}

// Runs build/inhouse with `args` (already shell-quoted); returns exit status and stdout+stderr.
std::pair<int, std::string> run_cli(const std::string& args) {
  std::string cmd = shell_quote(INHOUSE_BINARY);
  cmd.append(" ").append(args).append(" 2>&1");
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  return {pclose(pipe), out};
}

class VocabFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto found = vocab_path(GetParam());
    if (!found) GTEST_SKIP() << "no fixture for vocab " << GetParam();
    path_ = *found;
  }
  std::string path_;
};

TEST_P(VocabFixture, LibraryMatchesReferenceIds) {
  Tokenizer tok = load_tokenizer(path_);
  std::vector<std::string> tests = split_inp(read_file(path_ + ".inp"));
  std::vector<std::string> expected = split_lines(read_file(path_ + ".out"));
  ASSERT_EQ(tests.size(), expected.size()) << ".inp and .out disagree on the number of tests";
  size_t failed = 0;
  std::string report;  // the first few mismatches, so a broken vocab does not flood the log
  for (size_t i = 0; i < tests.size(); ++i) {
    std::string got;
    try {
      got = ids_line(tok.encode(tests[i], false, false));
    } catch (const std::exception& e) {
      got = std::string("exception: ") + e.what();
    }
    if (got == expected[i]) continue;
    if (++failed <= 3)
      report.append("test ").append(std::to_string(i)).append(" '").append(tests[i]).append("'\n  got:     ")
          .append(got).append("\n  expected:").append(expected[i]).append("\n");
  }
  EXPECT_EQ(failed, 0u) << failed << " of " << tests.size() << " tests differ; first ones:\n" << report;
}

TEST_P(VocabFixture, CliOutputIsByteIdentical) {
  auto [status, out] = run_cli("tokenize -m " + shell_quote(path_) + " --inp " + shell_quote(path_ + ".inp"));
  EXPECT_EQ(status, 0) << out;
  EXPECT_TRUE(out == read_file(path_ + ".out")) << "output differs from " << path_ << ".out:\n" << out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, VocabFixture, ::testing::ValuesIn(vocab_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(uint8_t(c)); }, '_');
                           return name;
                         });

TEST(TokenizeCli, OneTextPrintsSpaceSeparatedIds) {
  auto path = vocab_path("deepseek-v3");
  if (!path) GTEST_SKIP() << "vocab fixture deepseek-v3 not found";
  Tokenizer tok = load_tokenizer(*path);
  std::string text = "<\xEF\xBD\x9CUser\xEF\xBD\x9C>Hello, world";
  for (bool special : {false, true}) {
    std::string expected;
    for (TokenId id : tok.encode(text, special, special)) (expected += expected.empty() ? "" : " ") += std::to_string(id);
    auto [status, out] = run_cli("tokenize -m " + shell_quote(*path) + (special ? " --special " : " ") + shell_quote(text));
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(out, expected + "\n");
  }
}

TEST(TokenizeCli, BadUsageFailsWithAMessage) {
  auto path = vocab_path("gpt-2");
  if (!path) GTEST_SKIP() << "vocab fixture gpt-2 not found";
  auto [status, out] = run_cli("tokenize -m " + shell_quote(*path));  // neither --inp nor TEXT
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("error"), std::string::npos) << out;
  std::tie(status, out) = run_cli("tokenize -m /nonexistent/vocab.gguf hello");
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("error"), std::string::npos) << out;
}

}  // namespace
}  // namespace inhouse::tokenizer::testing
