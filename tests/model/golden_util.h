// Shared by the golden-logit tests: reading a golden file (llama.cpp reference outputs) and
// the error measures of the fixtures README (relative RMS error per position, percentiles).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace inhouse::model::testing {

struct GoldenCase {
  std::vector<int32_t> prompt;
  std::vector<std::vector<float>> logits;
  std::vector<int32_t> greedy;
};

inline std::vector<GoldenCase> read_golden(const std::filesystem::path& path) {
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in);
  std::vector<GoldenCase> cases;
  for (const auto& c : j.at("cases"))
    cases.push_back({c.at("prompt").get<std::vector<int32_t>>(),
                     c.at("logits").get<std::vector<std::vector<float>>>(),
                     c.at("greedy").get<std::vector<int32_t>>()});
  return cases;
}

// RMS(ours - golden) / RMS(golden) over one position's logits.
inline double relative_error(const float* ours, const std::vector<float>& golden) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < golden.size(); ++i) {
    diff += (double(ours[i]) - golden[i]) * (double(ours[i]) - golden[i]);
    ref += double(golden[i]) * golden[i];
  }
  return std::sqrt(diff / ref);
}

// Linear interpolation between order statistics (numpy's default).
inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p * double(v.size() - 1);
  const size_t lo = size_t(pos), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

inline bool is_float_model(const std::string& name) {
  for (const char* s : {"-f32", "-f16", "-bf16"})
    if (name.find(s) != std::string::npos) return true;
  return false;
}

}  // namespace inhouse::model::testing
