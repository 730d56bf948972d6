// Logits and greedy continuations against reference outputs (golden files made by llama.cpp),
// with the acceptance tolerances of the fixtures README: per prompt position, relative error =
// RMS(ours - golden) / RMS(golden); float types: median <= 0.005 and every position <= 0.02;
// quantised types: median <= 0.02 and 90th percentile <= 0.04; f32/f16: first 16 greedy exact.
// Runs on the models copied into tests/data (always) and on the whole shared fixture matrix
// (skipped when ../shared/fixtures is absent).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "golden_util.h"
#include "model/model.h"

namespace inhouse::model {
namespace {

namespace fs = std::filesystem;

using testing::GoldenCase;
using testing::is_float_model;
using testing::percentile;
using testing::read_golden;
using testing::relative_error;

bool needs_exact_greedy(const std::string& name) {
  return name.find("-f32") != std::string::npos || name.find("-f16") != std::string::npos;
}

void check_model(const fs::path& dir, const std::string& name) {
  const fs::path gguf = dir / (name + ".gguf"), golden = dir / "golden" / (name + ".json");
  Model model = Model::open(gguf.string(), {.threads = 2});
  std::vector<double> errors;
  int greedy_match = 0, greedy_total = 0;
  for (const GoldenCase& c : read_golden(golden)) {
    std::vector<float> logits;
    const auto ids = greedy(model, c.prompt, int(c.greedy.size()), &logits);
    ASSERT_EQ(logits.size(), c.prompt.size() * size_t(model.n_vocab()));
    for (size_t p = 0; p < c.prompt.size(); ++p)
      errors.push_back(relative_error(logits.data() + p * size_t(model.n_vocab()), c.logits[p]));
    // Count the agreeing prefix: after the first divergence the contexts differ.
    size_t same = 0;
    while (same < ids.size() && ids[same] == c.greedy[same]) ++same;
    greedy_match += int(same);
    greedy_total += int(ids.size());
    if (needs_exact_greedy(name)) {
      EXPECT_GE(same, 16u) << name << ": greedy tokens diverge at step " << same << " for prompt of "
                           << c.prompt.size() << " tokens";
    }
  }
  const double median = percentile(errors, 0.5), p90 = percentile(errors, 0.9);
  const double worst = *std::max_element(errors.begin(), errors.end());
  std::cout << "  " << name << ": median " << median << ", p90 " << p90 << ", max " << worst
            << ", greedy prefix " << greedy_match << "/" << greedy_total << "\n";
  if (is_float_model(name)) {
    EXPECT_LE(median, 0.005) << name;
    EXPECT_LE(worst, 0.02) << name;
  } else {
    EXPECT_LE(median, 0.02) << name;
    EXPECT_LE(p90, 0.04) << name;
  }
}

const char* kDataModels[] = {"llama-tiny-q8_0", "qwen2-tiny-q4_0", "qwen2-tiny-q4_k_m",
                             "stories260k-f32"};

const char* kSharedModels[] = {
    "llama-tiny-f32",    "llama-tiny-f16",    "llama-tiny-bf16",   "llama-tiny-q8_0",
    "llama-tiny-q6_k",   "llama-tiny-q5_k_m", "llama-tiny-q4_k_m", "llama-tiny-q4_0",
    "qwen2-tiny-f32",    "qwen2-tiny-f16",    "qwen2-tiny-q8_0",   "qwen2-tiny-q6_k",
    "qwen2-tiny-q5_k_m", "qwen2-tiny-q4_k_m", "qwen2-tiny-q4_0",   "stories260k-f32",
};

std::string test_name(const ::testing::TestParamInfo<const char*>& info) {
  std::string s = info.param;
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

class DataGolden : public ::testing::TestWithParam<const char*> {};
TEST_P(DataGolden, MatchesReference) { check_model(fs::path(INHOUSE_TEST_DATA) / "models", GetParam()); }
INSTANTIATE_TEST_SUITE_P(TestData, DataGolden, ::testing::ValuesIn(kDataModels), test_name);

class SharedGolden : public ::testing::TestWithParam<const char*> {};
TEST_P(SharedGolden, MatchesReference) {
  const fs::path dir = fs::path(INHOUSE_SHARED_FIXTURES) / "models";
  if (!fs::exists(dir / (std::string(GetParam()) + ".gguf")))
    GTEST_SKIP() << "shared fixtures not found at " << dir;
  check_model(dir, GetParam());
}
INSTANTIATE_TEST_SUITE_P(SharedFixtures, SharedGolden, ::testing::ValuesIn(kSharedModels), test_name);

}  // namespace
}  // namespace inhouse::model
