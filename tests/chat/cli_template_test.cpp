// `inhouse template render`: option handling, exact output bytes, the messages file forms,
// bos/eos defaults from a GGUF, and clear errors (bad JSON, no template, bad template).
#include <gtest/gtest.h>

#include "chat_test_util.h"

namespace inhouse::chat::testing {
namespace {

const char* kEcho = "{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
                    "{% if add_generation_prompt %}<gen>{% endif %}|{{ bos_token }}|{{ eos_token }}|";

std::string echo_template() { return write_temp("echo.jinja", kEcho); }
std::string one_message() { return write_temp("one.json", R"([{"role": "user", "content": "hi"}])"); }

TEST(CliTemplate, PrintsExactlyTheRenderingWithoutNewline) {
  CliResult r = run_cli({"template", "render", "--template", echo_template(), "--messages", one_message()});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "[user:hi]|||");
}

TEST(CliTemplate, FlagsSetGenerationPromptBosAndEos) {
  CliResult r = run_cli({"template", "render", "--template", echo_template(), "--messages", one_message(),
                         "--add-generation-prompt", "--bos", "<s>", "--eos", "</s>"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "[user:hi]<gen>|<s>|</s>|");
}

TEST(CliTemplate, KeepsTrailingNewlinesTheTemplateProduces) {
  std::string tpl = write_temp("nl.jinja", "{{ messages[0].content }}\n\n{{ '\\n' }}");
  CliResult r = run_cli({"template", "render", "--template", tpl, "--messages", one_message()});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hi\n\n\n");  // Jinja drops only the source's own final newline
}

TEST(CliTemplate, MessagesObjectAddsContextVariables) {
  std::string msgs = write_temp("obj.json", R"({"messages": [{"role": "user", "content": "q"}],
      "tools": [{"name": "f", "b": 1, "a": 2}], "enable_thinking": false})");
  std::string tpl = write_temp("ctx.jinja", "{{ tools | tojson }}|{{ enable_thinking }}|{{ messages | length }}");
  CliResult r = run_cli({"template", "render", "--template", tpl, "--messages", msgs});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, R"([{"name": "f", "b": 1, "a": 2}]|False|1)");  // key order as written
}

TEST(CliTemplate, ToolsAndDocumentsAreNoneByDefault) {
  std::string tpl = write_temp("tools.jinja", "{{ tools is none }}{{ documents is none }}");
  CliResult r = run_cli({"template", "render", "--template", tpl, "--messages", one_message()});
  EXPECT_EQ(r.out, "TrueTrue") << r.err;
}

TEST(CliTemplate, BadJsonIsAClearError) {
  std::string bad = write_temp("bad.json", "[{\"role\": ");
  CliResult r = run_cli({"template", "render", "--template", echo_template(), "--messages", bad});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(CliTemplate, MessagesMustBeAnArray) {
  std::string bad = write_temp("notarray.json", R"({"messages": "hi"})");
  CliResult r = run_cli({"template", "render", "--template", echo_template(), "--messages", bad});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("must be a JSON array"), std::string::npos) << r.err;
  std::string none = write_temp("nomessages.json", R"({"msgs": []})");
  r = run_cli({"template", "render", "--template", echo_template(), "--messages", none});
  EXPECT_NE(r.err.find("has no \"messages\""), std::string::npos) << r.err;
}

TEST(CliTemplate, MissingFilesAreClearErrors) {
  CliResult r = run_cli({"template", "render", "--template", "/nonexistent.jinja", "--messages", one_message()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot open template file"), std::string::npos) << r.err;
  r = run_cli({"template", "render", "--template", echo_template(), "--messages", "/nonexistent.json"});
  EXPECT_NE(r.err.find("cannot open messages file"), std::string::npos) << r.err;
}

TEST(CliTemplate, NeedsExactlyOneTemplateSource) {
  CliResult r = run_cli({"template", "render", "--messages", one_message()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("exactly one of --template"), std::string::npos) << r.err;
  r = run_cli({"template", "render", "--template", echo_template(), "-m", "x.gguf", "--messages", one_message()});
  EXPECT_NE(r.status, 0);
}

TEST(CliTemplate, TemplateErrorsCarryLineAndColumn) {
  std::string tpl = write_temp("broken.jinja", "ok\n{% foo %}");
  CliResult r = run_cli({"template", "render", "--template", tpl, "--messages", one_message()});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "error: line 2, column 4: unknown tag 'foo'\n");
  std::string raising = write_temp("raise.jinja", "{{ raise_exception('roles must alternate') }}");
  r = run_cli({"template", "render", "--template", raising, "--messages", one_message()});
  EXPECT_NE(r.err.find("roles must alternate"), std::string::npos) << r.err;
}

TEST(CliTemplate, GgufTemplateWithBosEosFromTokens) {
  std::string gguf = write_tiny_gguf("tpl.gguf", std::string(kEcho), {"<unk>", "<BOS>", "<EOS>"}, 1, 2);
  CliResult r = run_cli({"template", "render", "-m", gguf, "--messages", one_message()});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "[user:hi]|<BOS>|<EOS>|");
  r = run_cli({"template", "render", "-m", gguf, "--messages", one_message(), "--bos", "", "--eos", "E"});
  EXPECT_EQ(r.out, "[user:hi]||E|") << r.err;  // explicit flags win, even empty ones
}

TEST(CliTemplate, GgufWithoutTemplateIsAClearError) {
  std::string gguf = write_tiny_gguf("notpl.gguf", std::nullopt, {"a"}, 0, 0);
  CliResult r = run_cli({"template", "render", "-m", gguf, "--messages", one_message()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("has no chat template"), std::string::npos) << r.err;
}

TEST(CliTemplate, RealDeepSeekVocabEmbedsItsTemplate) {
  auto path = vocab_path("deepseek-v3");
  if (!path) GTEST_SKIP() << "ggml-vocab-deepseek-v3.gguf not found";
  CliResult r = run_cli({"template", "render", "-m", *path, "--messages", one_message(), "--add-generation-prompt"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜>");
}

}  // namespace
}  // namespace inhouse::chat::testing
