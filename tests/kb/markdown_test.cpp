// Tests for Markdown note parsing (Obsidian and Logseq flavours) and chunking.
#include <gtest/gtest.h>

#include <sstream>

#include "kb/kb.h"

using namespace inhouse::kb;

namespace {

TEST(Markdown, FrontMatterTitleTagsAliases) {
  const Note n = parse_markdown(
      "---\ntitle: Quarterly plan\ntags: [finance, q3]\naliases:\n  - Q3 plan\nowner: ana\nyear: 2026\n"
      "draft: true\n---\n# Heading one\nBody text.\n",
      "plan");
  EXPECT_EQ(n.title, "Quarterly plan");
  EXPECT_EQ(n.tags, (std::vector<std::string>{"finance", "q3"}));
  EXPECT_EQ(n.aliases, std::vector<std::string>{"Q3 plan"});
  EXPECT_EQ(n.metadata["owner"], "ana");
  EXPECT_EQ(n.metadata["year"], 2026);
  EXPECT_EQ(n.metadata["draft"], true);
  ASSERT_EQ(n.sections.size(), 1u);
  EXPECT_EQ(n.sections[0].headings, std::vector<std::string>{"Heading one"});
  EXPECT_EQ(n.sections[0].text, "Body text.");
}

TEST(Markdown, TitleFallsBackToH1ThenStem) {
  EXPECT_EQ(parse_markdown("intro\n# Real title\ntext", "stem").title, "Real title");
  EXPECT_EQ(parse_markdown("just text", "stem").title, "stem");
}

TEST(Markdown, MalformedFrontMatterIsAParseError) {
  try {
    parse_markdown("---\ntitle: [unclosed\n---\nbody", "x");
    FAIL() << "no error";
  } catch (const ParseError& e) {
    EXPECT_NE(std::string(e.what()).find("front matter"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_markdown("---\n- a\n- b\n---\nbody", "x"), ParseError);
  // A lone "---" (thematic break) without a closing line is just text.
  EXPECT_NO_THROW(parse_markdown("---\nno closing", "x"));
}

TEST(Markdown, WikilinksWithHeadingsAliasesAndEmbeds) {
  const Note n = parse_markdown(
      "See [[Project Alpha]] and [[Budget#Q3|the budget]], ![[diagram.png]], [[Project Alpha]] again, "
      "[docs](Setup%20Guide.md) and [web](https://example.com/x.md).",
      "n");
  ASSERT_EQ(n.links.size(), 4u);
  EXPECT_EQ(n.links[0], (Link{"Project Alpha", "", ""}));
  EXPECT_EQ(n.links[1], (Link{"Budget", "Q3", "the budget"}));
  EXPECT_EQ(n.links[2].target, "diagram.png");
  EXPECT_EQ(n.links[3].target, "Setup Guide");
  EXPECT_EQ(n.sections[0].text,
            "See Project Alpha and the budget, diagram.png, Project Alpha again, docs and web.");
}

TEST(Markdown, TagsButNotHeadingsNumbersOrCode) {
  const Note n = parse_markdown("# Title\nWork on #project/alpha and #urgent, issue #42, a#b, `#notatag`, "
                                "#[[multi word]] and #中文.\n```\n#nope [[nolink]]\n```\n",
                                "n");
  EXPECT_EQ(n.tags, (std::vector<std::string>{"project/alpha", "urgent", "multi word", "中文"}));
  EXPECT_TRUE(n.links.empty());
  EXPECT_NE(n.sections[0].text.find("#nope [[nolink]]"), std::string::npos);  // code kept verbatim
}

TEST(Markdown, HeadingPathsNest) {
  const Note n = parse_markdown("# A\na\n## B\nb\n### C\nc\n## D\nd\n# E\ne\n", "n");
  ASSERT_EQ(n.sections.size(), 5u);
  EXPECT_EQ(n.sections[2].headings, (std::vector<std::string>{"A", "B", "C"}));
  EXPECT_EQ(n.sections[3].headings, (std::vector<std::string>{"A", "D"}));
  EXPECT_EQ(n.sections[4].headings, std::vector<std::string>{"E"});
  EXPECT_EQ(n.sections[2].text, "c");
}

TEST(Markdown, LogseqPropertiesAndBlocks) {
  const Note n = parse_markdown(
      "title:: Meeting notes\ntags:: meetings, [[team a]]\nalias:: standup\n\n"
      "- Discussed [[Roadmap]]\n  - owner:: bob\n  - child detail\n- Second block #followup\n\t- nested\n",
      "2026_11_29");
  EXPECT_EQ(n.metadata["title"], "Meeting notes");
  EXPECT_FALSE(n.metadata.contains("owner"));  // a block property, not the page's
  EXPECT_EQ(n.tags, (std::vector<std::string>{"meetings", "team a", "followup"}));
  EXPECT_EQ(n.aliases, std::vector<std::string>{"standup"});
  ASSERT_EQ(n.links.size(), 1u);
  EXPECT_EQ(n.links[0].target, "Roadmap");
  EXPECT_EQ(n.sections[0].text, "Discussed Roadmap\nchild detail\n\nSecond block #followup\nnested");
}

TEST(Markdown, CrLfAndBomAreNormalised) {
  const Note n = parse_markdown("\xEF\xBB\xBF# T\r\nline one\r\n\r\nline two\r\n", "x");
  EXPECT_EQ(n.title, "T");
  EXPECT_EQ(n.sections[0].text, "line one\n\nline two");
}

// One token per whitespace-separated word: simple and predictable.
size_t words(std::string_view s) {
  std::istringstream in{std::string(s)};
  size_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

TEST(Chunker, RespectsBudgetAndOverlaps) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "Sentence number " + std::to_string(i) + " is here. ";
  Note note;
  note.title = "T";
  note.sections.push_back({{"H"}, text});
  const auto chunks = chunk_note(note, {.max_tokens = 40, .overlap_tokens = 10}, words);
  ASSERT_GT(chunks.size(), 10u);
  for (const Chunk& c : chunks) {
    EXPECT_LE(c.tokens, 40u);
    EXPECT_EQ(c.tokens, words(c.text));
    EXPECT_EQ(c.headings, std::vector<std::string>{"H"});
  }
  // Consecutive chunks share text (the overlap), and together they cover every sentence.
  for (size_t i = 1; i < chunks.size(); ++i) {
    const std::string tail = chunks[i - 1].text.substr(chunks[i - 1].text.rfind("Sentence"));
    const std::string head = chunks[i].text.substr(0, chunks[i].text.find('.') + 1);
    EXPECT_NE(chunks[i].text.find(tail), std::string::npos) << i;
    EXPECT_NE(chunks[i - 1].text.find(head), std::string::npos) << i;
  }
  for (int i = 0; i < 100; ++i) {
    const std::string s = "Sentence number " + std::to_string(i) + " is here.";
    bool found = false;
    for (const Chunk& c : chunks) found = found || c.text.find(s) != std::string::npos;
    EXPECT_TRUE(found) << s;
  }
  EXPECT_EQ(chunks[0].with_context("T"), "T > H\n\n" + chunks[0].text);
}

TEST(Chunker, SplitsHugeWordsAndKeepsSectionsApart) {
  Note note;
  note.sections.push_back({{"A"}, "short"});
  note.sections.push_back({{"B"}, std::string(1000, 'x')});
  // One token per 10 bytes: the 1000-byte word must be cut into pieces.
  const auto bytes10 = [](std::string_view s) { return (s.size() + 9) / 10; };
  const auto chunks = chunk_note(note, {.max_tokens = 16, .overlap_tokens = 0}, bytes10);
  ASSERT_GE(chunks.size(), 8u);
  EXPECT_EQ(chunks[0].text, "short");
  size_t total = 0;
  for (size_t i = 1; i < chunks.size(); ++i) {
    EXPECT_LE(chunks[i].tokens, 16u);
    EXPECT_EQ(chunks[i].headings, std::vector<std::string>{"B"});
    total += chunks[i].text.size();
  }
  EXPECT_EQ(total, 1000u);
  EXPECT_THROW(chunk_note(note, {.max_tokens = 8, .overlap_tokens = 8}, bytes10), std::invalid_argument);
}

TEST(Chunker, ChineseSentencesSplitOnFullWidthPunctuation) {
  Note note;
  std::string text;
  for (int i = 0; i < 30; ++i) text += "这是第" + std::to_string(i) + "句话。";
  note.sections.push_back({{}, text});
  const auto per_char = [](std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  const auto chunks = chunk_note(note, {.max_tokens = 30, .overlap_tokens = 5}, per_char);
  ASSERT_GT(chunks.size(), 5u);
  for (const Chunk& c : chunks) {
    EXPECT_LE(c.tokens, 30u);
    EXPECT_TRUE(c.text.ends_with("。")) << c.text;  // cut at sentence ends
  }
}

}  // namespace
