// The acceptance cases: every rendering in tests/data/chat/chat_templates.json (produced by
// Hugging Face's reference implementation) reproduced byte for byte, through the library,
// through `inhouse template render --template`, and through `-m` with the real vocab GGUFs
// that embed the same templates.
#include <gtest/gtest.h>

#include "chat_test_util.h"

namespace inhouse::chat::testing {
namespace {

TEST(ChatFixtures, AllCasesPresent) { EXPECT_EQ(load_fixture_cases().size(), 24u); }

class ChatFixture : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(ChatFixture, Library) {
  const FixtureCase& c = GetParam();
  ChatTemplate tpl(read_file(template_path(c.template_name)));
  EXPECT_EQ(tpl.apply(json::parse(c.messages.dump()), c.add_generation_prompt, c.bos, c.eos), c.prompt);
}

TEST_P(ChatFixture, LibraryOrdered) {
  const FixtureCase& c = GetParam();
  ordered_json ctx = {{"messages", c.messages}, {"add_generation_prompt", c.add_generation_prompt},
                      {"bos_token", c.bos},     {"eos_token", c.eos}};
  EXPECT_EQ(ChatTemplate(read_file(template_path(c.template_name))).render_ordered(ctx), c.prompt);
}

TEST_P(ChatFixture, Cli) {
  const FixtureCase& c = GetParam();
  std::string messages = write_temp(c.name + ".json", c.messages.dump());
  std::vector<std::string> args = {"template", "render", "--template", template_path(c.template_name),
                                   "--messages", messages, "--bos", c.bos, "--eos", c.eos};
  if (c.add_generation_prompt) args.push_back("--add-generation-prompt");
  CliResult r = run_cli(args);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, c.prompt);
}

INSTANTIATE_TEST_SUITE_P(Cases, ChatFixture, ::testing::ValuesIn(load_fixture_cases()),
                         [](const ::testing::TestParamInfo<FixtureCase>& info) { return info.param.name; });

// The cases whose template a real vocab GGUF embeds (DeepSeek-V3 and Qwen3 ship them).
std::vector<FixtureCase> gguf_cases() {
  std::vector<FixtureCase> out;
  for (auto& c : load_fixture_cases())
    if (c.template_name == "deepseek-v3" || c.template_name == "qwen3") out.push_back(std::move(c));
  return out;
}

class ChatFixtureGguf : public ::testing::TestWithParam<FixtureCase> {};

// With -m the template and bos/eos come from the GGUF itself.
TEST_P(ChatFixtureGguf, Cli) {
  const FixtureCase& c = GetParam();
  const std::string& vocab = c.template_name;
  auto path = vocab_path(vocab);
  if (!path) GTEST_SKIP() << "ggml-vocab-" << vocab << ".gguf not found";
  std::string messages = write_temp(c.name + ".json", c.messages.dump());
  std::vector<std::string> args = {"template", "render", "-m", *path, "--messages", messages};
  if (c.add_generation_prompt) args.push_back("--add-generation-prompt");
  CliResult r = run_cli(args);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, c.prompt);
}

INSTANTIATE_TEST_SUITE_P(Cases, ChatFixtureGguf, ::testing::ValuesIn(gguf_cases()),
                         [](const ::testing::TestParamInfo<FixtureCase>& info) { return info.param.name; });

}  // namespace
}  // namespace inhouse::chat::testing
