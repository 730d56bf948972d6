// `inhouse logits` end to end: the JSON it prints matches the golden file of the bundled
// stories260k model, and a bad request exits 1 with one "error: ..." line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/run_cli.h"

namespace {

namespace fs = std::filesystem;

struct Result {
  int status;
  std::string output;
};

// stdout then stderr (errors go to stderr; on success stdout is the JSON).
Result run(const std::string& args) {
  const inhouse::test_util::CliResult r = inhouse::test_util::run_cli_shell(args);
  return {r.status, r.out + r.err};
}

const fs::path kModels = fs::path(INHOUSE_TEST_DATA) / "models";

TEST(CliLogits, MatchesGolden) {
  std::ifstream in(kModels / "golden" / "stories260k-f32.json");
  const auto golden = nlohmann::json::parse(in).at("cases").at(0);
  const auto prompt = golden.at("prompt").get<std::vector<int>>();
  std::string tokens;
  for (int t : prompt) {
    if (!tokens.empty()) tokens += ',';
    tokens += std::to_string(t);
  }

  const Result r = run("logits -m " + (kModels / "stories260k-f32.gguf").string() + " --tokens " +
                       tokens + " --greedy 16 --threads 2");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  const auto logits = j.at("logits").get<std::vector<std::vector<float>>>();
  ASSERT_EQ(logits.size(), prompt.size());
  for (size_t p = 0; p < prompt.size(); ++p) {
    const auto want = golden.at("logits").at(p).get<std::vector<float>>();
    ASSERT_EQ(logits[p].size(), want.size());
    double diff = 0, ref = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      diff += (logits[p][i] - want[i]) * (logits[p][i] - want[i]);
      ref += want[i] * want[i];
    }
    EXPECT_LE(std::sqrt(diff / ref), 0.02) << "position " << p;
  }
  const auto greedy = j.at("greedy").get<std::vector<int>>();
  const auto want_greedy = golden.at("greedy").get<std::vector<int>>();
  ASSERT_EQ(greedy.size(), 16u);
  EXPECT_TRUE(std::equal(greedy.begin(), greedy.end(), want_greedy.begin()));
}

TEST(CliLogits, BadRequestsExitWithOneErrorLine) {
  const std::string model = (kModels / "stories260k-f32.gguf").string();
  Result r = run("logits -m " + model + " --tokens 1,99999");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("99999"), std::string::npos) << r.output;

  r = run("logits -m " + model + " --tokens 1 --greedy 200");  // 201 positions > 128
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("context overflow"), std::string::npos) << r.output;
}

}  // namespace
