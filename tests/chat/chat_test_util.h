// Helpers shared by the chat tests: rendering snippets, catching TemplateErrors, the
// fixture cases, running the `inhouse` binary, and writing small temp files (including a
// hand-built GGUF with a chat template).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "common/run_cli.h"

namespace inhouse::chat::testing {

using nlohmann::json;
using nlohmann::ordered_json;

inline std::string render(const std::string& tpl, const json& ctx = json::object()) {
  return ChatTemplate(tpl).render(ctx);
}

// The TemplateError that parsing or rendering `tpl` throws; a test failure if none is thrown.
inline TemplateError render_error(const std::string& tpl, const json& ctx = json::object()) {
  try {
    std::string out = render(tpl, ctx);
    ADD_FAILURE() << "expected a TemplateError, got output: " << out;
  } catch (const TemplateError& e) {
    return e;
  }
  return TemplateError("no error");
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::string chat_data_dir() { return std::string(INHOUSE_TEST_DATA) + "/chat"; }

// ---- the fixture cases (tests/data/chat/chat_templates.json) ----

struct FixtureCase {
  std::string name;  // e.g. "deepseek_v3_multi_gen", usable as a test name
  std::string template_name;
  ordered_json messages;
  bool add_generation_prompt = false;
  std::string prompt;
  std::string bos, eos;
};

inline void PrintTo(const FixtureCase& c, std::ostream* os) { *os << c.name; }

inline std::vector<FixtureCase> load_fixture_cases() {
  std::vector<FixtureCase> cases;
  std::string text = read_file(chat_data_dir() + "/chat_templates.json");
  if (text.empty()) return cases;
  for (const auto& c : ordered_json::parse(text)) {
    FixtureCase fc;
    fc.template_name = c["template"].get<std::string>();
    fc.messages = c["messages"];
    fc.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    fc.prompt = c["prompt"].get<std::string>();
    bool deepseek = fc.template_name.rfind("deepseek", 0) == 0;
    fc.bos = deepseek ? "<｜begin▁of▁sentence｜>" : "";
    fc.eos = deepseek ? "<｜end▁of▁sentence｜>" : "<|im_end|>";
    fc.name = fc.template_name + "_" + c["conversation"].get<std::string>() + (fc.add_generation_prompt ? "_gen" : "");
    for (char& ch : fc.name)
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    cases.push_back(std::move(fc));
  }
  return cases;
}

inline std::string template_path(const std::string& name) { return chat_data_dir() + "/tpl-" + name + ".jinja"; }

// ggml-vocab-NAME.gguf from the repo's test data, else the shared fixtures; nullopt if neither.
inline std::optional<std::string> vocab_path(const std::string& name) {
  for (const std::string& dir : {std::string(INHOUSE_TEST_DATA) + "/tokenizers", std::string(INHOUSE_SHARED_FIXTURES) + "/tokenizers"}) {
    std::string path = dir + "/ggml-vocab-" + name + ".gguf";
    if (std::filesystem::exists(path)) return path;
  }
  return std::nullopt;
}

// ---- temp files and the CLI ----

// A fresh file under the system temp dir holding `content`; returns its path.
inline std::string write_temp(const std::string& name, const std::string& content) {
  auto dir = std::filesystem::temp_directory_path() / ("inhouse_chat_tests_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// Removes this process's temp dir when the test program ends.
class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("inhouse_chat_tests_" + std::to_string(::getpid())), ec);
  }
};
inline ::testing::Environment* const kTempDirCleanup = ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

using test_util::CliResult;
using test_util::run_cli;  // stdout and stderr captured byte for byte
using test_util::shell_quote;

// A minimal GGUF v3 file (no tensors) with a token list, bos/eos ids and optionally a chat
// template: enough for `inhouse template render -m`.
inline std::string write_tiny_gguf(const std::string& name, const std::optional<std::string>& chat_template,
                                   const std::vector<std::string>& tokens, uint32_t bos_id, uint32_t eos_id) {
  std::string b;
  auto u32 = [&](uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); };
  auto u64 = [&](uint64_t v) { b.append(reinterpret_cast<const char*>(&v), 8); };
  auto str = [&](const std::string& s) {
    u64(s.size());
    b += s;
  };
  b += "GGUF";
  u32(3);
  u64(0);                              // tensors
  u64(chat_template ? 4 : 3);          // key/value pairs
  str("tokenizer.ggml.tokens");
  u32(9);  // array
  u32(8);  // of strings
  u64(tokens.size());
  for (const auto& t : tokens) str(t);
  str("tokenizer.ggml.bos_token_id");
  u32(4);  // uint32
  u32(bos_id);
  str("tokenizer.ggml.eos_token_id");
  u32(4);
  u32(eos_id);
  if (chat_template) {
    str("tokenizer.chat_template");
    u32(8);  // string
    str(*chat_template);
  }
  while (b.size() % 32) b += '\0';
  return write_temp(name, b);
}

}  // namespace inhouse::chat::testing
