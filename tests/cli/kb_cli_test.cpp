// `inhouse kb ...` end to end through the binary, in a temp data directory: create (with and
// without the bundled bert-tiny embedding model), add a small vault (a bad file reported, the
// rest kept), list/show/search/links with --json, sync after edits, rm, ask and summarize with
// the bundled tiny chat model (random weights: the text is noise, the plumbing is checked), and
// clear one-line errors for bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/cli_fixture.h"

namespace inhouse {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_util::CliResult;
using test_util::run_cli;

const std::string kBert = std::string(INHOUSE_TEST_DATA) + "/models/bert-tiny-q8_0.gguf";
const std::string kChat = std::string(INHOUSE_TEST_DATA) + "/models/qwen2-tiny-chat-q4_0.gguf";

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

class KbCliTest : public test_util::DataDirCliTest {
 protected:
  void SetUp() override {
    DataDirCliTest::SetUp();
    vault_ = root_ / "vault";
    write("vault/Espresso.md",
          "---\naliases: [coffee]\n---\n# Espresso\n\nGrind fine and extract for 25 seconds. See [[Milk]].\n");
    write("vault/Milk.md", "# Milk\n\nSteam milk to 60 degrees for a flat white.\n");
    write("vault/page.html", "<title>Tea</title><h1>Green tea</h1><p>Brew green tea at 80 degrees.</p>");
    write("vault/bad.md", std::string("\xFF\xFE not utf-8"));
  }

  CliResult kb(std::vector<std::string> args) const {
    args.insert(args.begin(), "kb");
    return cli(args);
  }
  json kb_json(std::vector<std::string> args) const {
    args.push_back("--json");
    const CliResult r = kb(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }

  fs::path vault_;
};

TEST_F(KbCliTest, KeywordOnlyKnowledgeBaseLifecycle) {
  CliResult r = kb({"create", "coffee"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("keyword search only"), std::string::npos);

  const json added = kb_json({"add", "coffee", vault_.string()});
  EXPECT_EQ(added["added"], 3);
  EXPECT_EQ(added["failed"], 1);
  ASSERT_EQ(added["problems"].size(), 1u);
  EXPECT_NE(added["problems"][0]["path"].get<std::string>().find("bad.md"), std::string::npos);

  const json shown = kb_json({"show", "coffee"});
  EXPECT_EQ(shown["documents"], 3);
  EXPECT_EQ(shown["files"].size(), 3u);

  const json listed = kb_json({"list"});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["name"], "coffee");

  const json found = kb_json({"search", "coffee", "green tea", "-k", "3"});
  EXPECT_EQ(found["mode"], "keyword");
  EXPECT_FALSE(found["note"].get<std::string>().empty());
  ASSERT_FALSE(found["hits"].empty());
  EXPECT_EQ(found["hits"][0]["title"], "Tea");
  EXPECT_EQ(found["hits"][0]["rank"], 1);

  const json links = kb_json({"links", "coffee", "Milk"});
  ASSERT_EQ(links["backlinks"].size(), 1u);
  EXPECT_EQ(links["backlinks"][0]["from_title"], "Espresso");

  write_file(vault_ / "Milk.md", "# Milk\n\nOat milk foams less.\n");
  fs::remove(vault_ / "page.html");
  const json synced = kb_json({"sync", "coffee"});
  EXPECT_EQ(synced["updated"], 1);
  EXPECT_EQ(synced["removed"], 1);
  EXPECT_EQ(kb_json({"show", "coffee"})["documents"], 2);

  r = kb({"rm", "coffee", "Espresso"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(kb_json({"show", "coffee"})["documents"], 1);
  r = kb({"rm", "coffee"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(kb_json({"list"}).empty());
}

TEST_F(KbCliTest, HybridSearchWithTheEmbeddingModel) {
  if (!fs::exists(kBert)) GTEST_SKIP() << "no " << kBert;
  ASSERT_EQ(kb({"create", "coffee", "--embed-model", kBert}).status, 0);
  ASSERT_EQ(kb_json({"add", "coffee", vault_.string()})["added"], 3);
  for (const char* mode : {"hybrid", "vector", "keyword"}) {
    const json found = kb_json({"search", "coffee", "steam milk", "--mode", mode});
    EXPECT_EQ(found["mode"], mode);
    EXPECT_TRUE(found["note"].get<std::string>().empty());
    ASSERT_FALSE(found["hits"].empty()) << mode;
  }
  // Only Milk has the word: its keyword rank 1 outweighs any vector rank of the others.
  const json hybrid = kb_json({"search", "coffee", "steam"});
  EXPECT_EQ(hybrid["hits"][0]["title"], "Milk");
  EXPECT_FALSE(hybrid["hits"][0]["keyword_rank"].is_null());
}

TEST_F(KbCliTest, AskAndSummarizeRunTheChatModel) {
  if (!fs::exists(kChat)) GTEST_SKIP() << "no " << kChat;
  ASSERT_EQ(kb({"create", "coffee"}).status, 0);
  ASSERT_EQ(kb({"add", "coffee", vault_.string()}).status, 0);
  CliResult r = kb({"ask", "coffee", "espresso grind", "-m", kChat, "-n", "8"});
  ASSERT_EQ(r.status, 0) << r.err;
  // The random-weight model cites nothing, so every retrieved source is listed, labelled so.
  EXPECT_NE(r.out.find("Sources (retrieved; the answer cites none):\n[1] Espresso"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[2] Milk (linked)"), std::string::npos) << r.out;  // pulled in through [[Milk]]

  r = kb({"ask", "coffee", "zebra migration", "-m", kChat});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "The notes do not contain an answer to this question.\n");

  r = kb({"summarize", "coffee", "coffee", "-m", kChat, "-n", "8"});  // by alias
  ASSERT_EQ(r.status, 0) << r.err;
}

TEST_F(KbCliTest, BadInputIsOneClearError) {
  CliResult r = kb({"search", "nope", "x"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("error: "), std::string::npos);
  EXPECT_NE(r.err.find("nope"), std::string::npos);
  ASSERT_EQ(kb({"create", "k1"}).status, 0);
  r = kb({"create", "k1"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("k1"), std::string::npos);
  r = kb({"create", "bad name!"});
  EXPECT_EQ(r.status, 1);
  r = kb({"add", "k1", (root_ / "missing").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("missing"), std::string::npos);
  r = kb({"create", "k2", "--embed-model", kChat});  // a decoder, not an embedding model
  EXPECT_EQ(r.status, 1);
  r = kb({"summarize", "k1", "no-such-note", "-m", kChat});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no-such-note"), std::string::npos);
}

}  // namespace
}  // namespace inhouse
