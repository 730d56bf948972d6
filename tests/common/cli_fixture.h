// A gtest fixture for tests that drive `inhouse` against a data directory of their own: a temp
// root per test (named by process and test, removed afterwards) with `data/` as --data-dir,
// and helpers that run a command there and check its status. Include as
// "common/cli_fixture.h".
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/run_cli.h"

namespace inhouse::test_util {

class DataDirCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("inhouse_cli_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    data_ = (root_ / "data").string();
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // `inhouse ARGS... --data-dir DATA`.
  CliResult cli(std::vector<std::string> args) const {
    args.push_back("--data-dir");
    args.push_back(data_);
    return run_cli(args);
  }
  // The same, expected to succeed.
  CliResult ok(const std::vector<std::string>& args) const {
    CliResult r = cli(args);
    EXPECT_EQ(r.status, 0) << args[0] << (args.size() > 1 ? " " + args[1] : "") << ": " << r.err;
    return r;
  }
  // The same with --json, its output parsed.
  nlohmann::json ok_json(std::vector<std::string> args) const {
    args.push_back("--json");
    return nlohmann::json::parse(ok(args).out);
  }
  // Writes `text` to root/relative (directories created) and returns the full path.
  std::string write(const std::string& relative, const std::string& text) const {
    const std::filesystem::path p = root_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  std::filesystem::path root_;
  std::string data_;
};

}  // namespace inhouse::test_util
