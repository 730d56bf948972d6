// `inhouse quantize`, `inhouse synth` and `inhouse bench` end to end through the binary: output
// files and JSON fields (never timing values), and one clear error line for bad requests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/run_cli.h"

namespace {

namespace fs = std::filesystem;
using inhouse::test_util::CliResult;
using inhouse::test_util::run_cli;

const fs::path kData = fs::path(INHOUSE_TEST_DATA) / "models";

fs::path temp_path(const std::string& name) { return fs::temp_directory_path() / ("inhouse_cli_tools_" + std::to_string(::getpid()) + "_" + name); }

TEST(CliQuantize, WritesTheFileAndInfoShowsTheTypes) {
  const fs::path out = temp_path("stories-q8_0.gguf");
  const CliResult r = run_cli({"quantize", (kData / "stories260k-f32.gguf").string(), out.string(), "Q8_0", "-t", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("q8_0"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("token_embd.weight"), std::string::npos) << r.err;  // progress on stderr
  const CliResult info = run_cli({"info", out.string(), "--json"});
  ASSERT_EQ(info.status, 0) << info.err;
  EXPECT_NE(info.out.find("q8_0"), std::string::npos);
  fs::remove(out);
}

TEST(CliQuantize, BadRequestsExitOneWithoutAFile) {
  const fs::path out = temp_path("bad.gguf");
  fs::remove(out);
  const std::string in = (kData / "stories260k-f32.gguf").string();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"quantize", in, out.string(), "Q3_K_XL"}, "unknown type 'Q3_K_XL'"},
      {{"quantize", (kData / "nope.gguf").string(), out.string(), "Q8_0"}, "nope.gguf"},
      {{"quantize", (kData / "qwen2-tiny-q4_0.gguf").string(), out.string(), "Q4_K_M"}, "already quantised"},
      {{"quantize", in, "/nonexistent-dir/out.gguf", "Q8_0"}, "cannot create"},
  };
  for (const Case& c : cases) {
    const CliResult r = run_cli(c.args);
    EXPECT_EQ(r.status, 1) << c.message;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
  }
}

TEST(CliSynthAndBench, BenchJsonHasEveryField) {
  const fs::path model = temp_path("tiny.gguf");
  const CliResult s = run_cli({"synth", "--arch", "qwen2", "--shape", "tiny-qwen2", "--type", "Q4_K_M", "--seed", "3",
                               "-q", model.string()});
  ASSERT_EQ(s.status, 0) << s.err;
  const CliResult r = run_cli({"bench", "-m", model.string(), "-p", "16", "-n", "4", "-t", "2", "-r", "2",
                               "--depth", "8", "--bw-mib", "16", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* test : {"pp", "tg"})
    for (const char* field : {"tokens_per_s", "min", "max"}) EXPECT_GT(j.at(test).at(field).get<double>(), 0.0) << test << field;
  EXPECT_LE(j["tg"]["min"].get<double>(), j["tg"]["tokens_per_s"].get<double>());
  EXPECT_GE(j["tg"]["max"].get<double>(), j["tg"]["tokens_per_s"].get<double>());
  EXPECT_EQ(j.at("threads"), 2);
  EXPECT_EQ(j.at("model_bytes").get<uint64_t>(), fs::file_size(model));
  for (const char* field : {"bytes_per_token", "weight_bytes_per_token", "kv_bytes_per_token", "kv_cache_bytes",
                            "peak_rss_bytes", "bandwidth_gb_s", "tg_roofline_ratio", "tg_roofline_tokens_per_s"})
    EXPECT_GT(j.at(field).get<double>(), 0.0) << field;
  EXPECT_GT(j.at("ttft_ms").at("median").get<double>(), 0.0);
  EXPECT_LT(j.at("bytes_per_token").get<uint64_t>(), j.at("model_bytes").get<uint64_t>());
  EXPECT_TRUE(j.at("peak_rss_ok").is_boolean());
  // A bandwidth probe after each decode repetition, each paired with it; the ratio is their median.
  const auto probes = j.at("bandwidth_probes_gb_s").get<std::vector<double>>();
  const auto ratios = j.at("tg_roofline_ratio_per_rep").get<std::vector<double>>();
  ASSERT_EQ(probes.size(), 2u);
  ASSERT_EQ(ratios.size(), 2u);
  EXPECT_DOUBLE_EQ(j.at("tg_roofline_ratio").get<double>(), (ratios[0] + ratios[1]) / 2);
  EXPECT_DOUBLE_EQ(j.at("bandwidth_gb_s").get<double>(), (probes[0] + probes[1]) / 2);

  const CliResult text = run_cli({"bench", "-m", model.string(), "-p", "8", "-n", "2", "-r", "1", "--bw-mib", "8"});
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("| pp8 |"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("roofline"), std::string::npos) << text.out;
  fs::remove(model);
}

TEST(CliSynthAndBench, PeakRssLeavesOutTheBandwidthProbesBuffer) {
  const fs::path model = temp_path("tiny-rss.gguf");
  ASSERT_EQ(run_cli({"synth", "--shape", "tiny-qwen2", "--type", "Q8_0", "-q", model.string()}).status, 0);
  auto peak_mib = [&](const char* bw_mib, size_t probes) {
    const CliResult r = run_cli({"bench", "-m", model.string(), "-p", "8", "-n", "2", "-r", "3", "--bw-mib", bw_mib,
                                 "--bw-passes", "1", "--json"});
    EXPECT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("bandwidth_probes_gb_s").size(), probes);
    return double(j.at("peak_rss_bytes").get<uint64_t>()) / (1 << 20);
  };
  // Three probes of a 256 MiB buffer: the peak stays that of the run without them (whatever a
  // sanitizer adds to both), far from the buffer's size.
  const double without = peak_mib("0", 0), with = peak_mib("256", 3);
  EXPECT_LT(with, without + 64) << "without probes " << without << " MiB";
  fs::remove(model);
}

TEST(CliSynthAndBench, BadRequests) {
  const CliResult s = run_cli({"synth", "--shape", "nope", temp_path("x.gguf").string()});
  EXPECT_EQ(s.status, 1);
  EXPECT_NE(s.err.find("unknown shape 'nope'"), std::string::npos) << s.err;
  const CliResult t = run_cli({"synth", "--shape", "tiny-qwen2", "--type", "q9", temp_path("x.gguf").string()});
  EXPECT_EQ(t.status, 1);
  EXPECT_NE(t.err.find("unknown type 'q9'"), std::string::npos) << t.err;
  EXPECT_FALSE(fs::exists(temp_path("x.gguf")));
  const CliResult b = run_cli({"bench", "-m", (kData / "stories260k-f32.gguf").string(), "-p", "0", "-n", "4",
                               "--depth", "100000", "--bw-mib", "0"});
  EXPECT_NE(b.status, 0);  // beyond the model's context
}

}  // namespace
