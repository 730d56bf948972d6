// `inhouse run --chat` end to end on the bundled llama-tiny model (greedy, so deterministic):
// the prompt is rendered with the model's own chat template (a copy of the model carrying the
// DeepSeek-R1 distill template) with exactly one BOS, reasoning and answer land on the streams
// --reasoning names, --chat-template overrides, --stop cuts, and bad input is one error line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "common/run_cli.h"
#include "engine/engine.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace inhouse {
namespace {

namespace fs = std::filesystem;
using test_util::CliResult;
using test_util::run_cli;

const std::string kModel = std::string(INHOUSE_TEST_DATA) + "/models/llama-tiny-q8_0.gguf";
const std::string kR1Template = std::string(INHOUSE_TEST_DATA) + "/chat/tpl-deepseek-r1-distill.jinja";
// A template without a think block: everything the model says is the answer.
const std::string kPlainTemplate =
    "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}";
constexpr int kTokens = 12;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

fs::path temp_dir() {
  fs::path dir = fs::temp_directory_path() / ("inhouse_cli_tests_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = (temp_dir() / name).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// A copy of `model` whose metadata also carries tokenizer.chat_template = tpl.
std::string model_with_template(const std::string& model, const std::string& tpl, const std::string& name) {
  const gguf::GgufFile file = gguf::GgufFile::open(model);
  gguf::GgufWriter w(uint32_t(file.alignment()));
  w.copy_metadata(file);
  w.set_string("tokenizer.chat_template", tpl);
  for (const gguf::TensorInfo& t : file.tensors()) w.add_tensor(t.name, t.type, t.shape, t.data, t.n_bytes);
  const std::string path = (temp_dir() / name).string();
  w.write(path);
  return path;
}

class RunChat : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    r1_model_ = new std::string(model_with_template(kModel, read_file(kR1Template), "llama-tiny-r1.gguf"));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(temp_dir(), ec);
    delete r1_model_;
  }

  // What the CLI should print for `tpl` rendering {system?, user} with greedy decoding: the
  // rendered prompt, its tokens, and the reasoning/answer split of the greedy continuation.
  struct Expected {
    std::string prompt;
    std::vector<int32_t> tokens;
    engine::TokenTextStream::Delta text;
  };
  static Expected expect(const std::string& tpl, const std::string& user, const std::string& system = "",
                         std::vector<std::string> stop = {}) {
    model::Model m = model::Model::open(kModel, {.threads = 1});
    const auto tok = tokenizer::Tokenizer::from_gguf(m.file());
    const auto& v = tok.vocab();
    nlohmann::json messages = nlohmann::json::array();
    if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
    messages.push_back({{"role", "user"}, {"content", user}});
    Expected e;
    e.prompt = chat::ChatTemplate(tpl).apply(messages, true, v.tokens[size_t(v.bos)], v.tokens[size_t(v.eos)]);
    e.tokens = tok.encode(e.prompt, /*add_special=*/false, /*parse_special=*/true);  // BOS rendered
    engine::TokenTextStream stream(tok, {.stop = std::move(stop),
                                         .split_reasoning = true,
                                         .start_in_reasoning = engine::prompt_opens_reasoning(e.prompt)});
    for (int32_t id : model::greedy(m, e.tokens, kTokens)) {
      auto d = stream.push(id);
      e.text.reasoning += d.reasoning;
      e.text.content += d.content;
      if (stream.stopped()) break;
    }
    auto d = stream.finish();
    e.text.reasoning += d.reasoning;
    e.text.content += d.content;
    return e;
  }

  static CliResult run_chat(const std::string& model, std::vector<std::string> extra) {
    std::vector<std::string> args{"run", "-m", model, "-p", "Hi there", "--chat", "-n", std::to_string(kTokens),
                                  "--temp", "0", "--ignore-eos", "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  }

  static std::string thinking_block(const std::string& reasoning) {
    return "[thinking]\n" + reasoning + (reasoning.ends_with('\n') ? "" : "\n") + "[/thinking]\n";
  }

  static std::string* r1_model_;
};
std::string* RunChat::r1_model_ = nullptr;

TEST_F(RunChat, RendersTheModelsTemplateWithOneBos) {
  const Expected e = expect(read_file(kR1Template), "Hi there", "Be brief.");
  const CliResult r = run_chat(*r1_model_, {"--system", "Be brief.", "--verbose-prompt"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("[prompt]\n" + e.prompt + "\n[/prompt]\n"), std::string::npos) << r.err;
  std::string ids;
  for (int32_t id : e.tokens) ids += (ids.empty() ? "" : " ") + std::to_string(id);
  EXPECT_NE(r.err.find("[prompt tokens: " + std::to_string(e.tokens.size()) + "] " + ids + "\n"),
            std::string::npos) << r.err;
  ASSERT_GE(e.tokens.size(), 2u);
  EXPECT_EQ(e.tokens[0], 1);  // <s>, rendered by the template ...
  EXPECT_NE(e.tokens[1], 1);  // ... and not added a second time
  EXPECT_TRUE(e.prompt.ends_with("<think>\n"));
}

TEST_F(RunChat, ReasoningGoesToStderrAnswerToStdout) {
  const Expected e = expect(read_file(kR1Template), "Hi there");
  ASSERT_FALSE(e.text.reasoning.empty());  // the template opened <think>: all of it is reasoning
  const CliResult r = run_chat(*r1_model_, {});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, e.text.content + "\n");
  EXPECT_EQ(r.err.find(thinking_block(e.text.reasoning)), 0u) << r.err;
}

TEST_F(RunChat, ReasoningStdoutAndHide) {
  const Expected e = expect(read_file(kR1Template), "Hi there");
  CliResult r = run_chat(*r1_model_, {"--reasoning", "stdout"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, thinking_block(e.text.reasoning) + e.text.content + "\n");
  EXPECT_EQ(r.err.find("[thinking]"), std::string::npos);

  r = run_chat(*r1_model_, {"--reasoning", "hide"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, e.text.content + "\n");
  EXPECT_EQ(r.err.find("[thinking]"), std::string::npos);

  r = run_chat(*r1_model_, {"--reasoning", "elsewhere"});
  EXPECT_NE(r.status, 0);
}

TEST_F(RunChat, TemplateFileOverridesAndAnswerIsStdout) {
  const Expected e = expect(kPlainTemplate, "Hi there");
  ASSERT_TRUE(e.text.reasoning.empty());
  ASSERT_FALSE(e.text.content.empty());
  const std::string tpl = write_temp("plain.jinja", kPlainTemplate);
  for (const std::string& model : {kModel, *r1_model_}) {  // the file wins over the model's own
    const CliResult r = run_chat(model, {"--chat-template", tpl});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, e.text.content + "\n");
    EXPECT_EQ(r.err.find("[thinking]"), std::string::npos) << r.err;
  }
}

TEST_F(RunChat, StopStringCutsTheAnswer) {
  const Expected full = expect(kPlainTemplate, "Hi there");
  ASSERT_GE(full.text.content.size(), 6u);
  // A stop string from the middle of the greedy answer (ASCII-safe cut not needed: byte match).
  const std::string stop = full.text.content.substr(full.text.content.size() / 2, 2);
  const Expected e = expect(kPlainTemplate, "Hi there", "", {stop});
  EXPECT_EQ(e.text.content, full.text.content.substr(0, full.text.content.find(stop)));
  const CliResult r = run_chat(kModel, {"--chat-template", write_temp("plain.jinja", kPlainTemplate), "--stop", stop});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, e.text.content + "\n");
}

TEST_F(RunChat, ClearErrors) {
  CliResult r = run_chat(kModel, {});  // the bundled model has no template
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "error: the model has no chat template (GGUF key tokenizer.chat_template); "
                   "pass one with --chat-template FILE\n");
  EXPECT_EQ(r.out, "");

  r = run_chat(kModel, {"--chat-template", write_temp("broken.jinja", "{% if %}")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("error: chat template: ", 0), 0u) << r.err;

  r = run_chat(kModel, {"--chat-template", "/nonexistent.jinja"});
  EXPECT_NE(r.status, 0);

  r = run_cli({"run", "-m", kModel, "-p", "hi", "--system", "S"});  // --system needs --chat
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--chat"), std::string::npos) << r.err;
}

TEST(RunPlain, StopStringWithoutChat) {
  // Without --chat the prompt is echoed and the output is cut at the stop string.
  const CliResult full = run_cli({"run", "-m", kModel, "-p", "Hi", "-n", "12", "--temp", "0", "--ignore-eos"});
  ASSERT_EQ(full.status, 0) << full.err;
  ASSERT_GE(full.out.size(), 10u);
  const std::string stop = full.out.substr(6, 2);
  const CliResult r = run_cli({"run", "-m", kModel, "-p", "Hi", "-n", "12", "--temp", "0", "--ignore-eos", "--stop", stop});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, full.out.substr(0, full.out.find(stop, 2)) + "\n");
}

}  // namespace
}  // namespace inhouse
