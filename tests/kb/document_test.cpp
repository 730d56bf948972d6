// Tests for the other document formats: format detection, UTF-8 checks, plain text, HTML
// (gumbo) and PDF (poppler-cpp), and chunking what they produce. Fixtures: tests/data/kb/
// (the PDFs are written by tests/data/kb/make_pdfs.py).
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "kb/kb.h"

using namespace inhouse::kb;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream f(std::string(INHOUSE_TEST_DATA) + "/kb/" + name, std::ios::binary);
  EXPECT_TRUE(f) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ParseError& e) {
    return e.what();
  }
  return "(no ParseError)";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

size_t word_count(std::string_view s) {
  size_t n = 0;
  bool in_word = false;
  for (char c : s) {
    const bool space = c == ' ' || c == '\n' || c == '\t';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

using Headings = std::vector<std::string>;

// ---- formats and UTF-8 -----------------------------------------------------------------------

TEST(Document, FormatOfExtension) {
  EXPECT_EQ(format_of("a/b/Note.md"), Format::Markdown);
  EXPECT_EQ(format_of("x.MARKDOWN"), Format::Markdown);
  EXPECT_EQ(format_of("page.HTM"), Format::Html);
  EXPECT_EQ(format_of("page.xhtml"), Format::Html);
  EXPECT_EQ(format_of("paper.Pdf"), Format::Pdf);
  EXPECT_EQ(format_of("readme.txt"), Format::Text);
  EXPECT_EQ(format_of("doc.rst"), Format::Text);
  EXPECT_EQ(format_of("todo.org"), Format::Text);
  EXPECT_EQ(format_of("image.png"), std::nullopt);
  EXPECT_EQ(format_of("Makefile"), std::nullopt);
  EXPECT_EQ(format_of(".md"), std::nullopt);  // a hidden file named ".md", no extension
  EXPECT_STREQ(format_name(Format::Markdown), "markdown");
  EXPECT_STREQ(format_name(Format::Html), "html");
  EXPECT_STREQ(format_name(Format::Pdf), "pdf");
  EXPECT_STREQ(format_name(Format::Text), "text");
}

TEST(Document, FindInvalidUtf8) {
  EXPECT_EQ(find_invalid_utf8(""), std::nullopt);
  EXPECT_EQ(find_invalid_utf8("plain ascii"), std::nullopt);
  EXPECT_EQ(find_invalid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"), std::nullopt);
  EXPECT_EQ(find_invalid_utf8("ab\x80"), 2u);                // stray continuation byte
  EXPECT_EQ(find_invalid_utf8("ab\xC3"), 2u);                // truncated at the end
  EXPECT_EQ(find_invalid_utf8("a\xC3(b"), 1u);               // bad continuation
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);              // overlong '/'
  EXPECT_EQ(find_invalid_utf8("x\xE0\x80\xAF"), 1u);         // overlong 3-byte form
  EXPECT_EQ(find_invalid_utf8("xy\xED\xA0\x80"), 2u);        // UTF-16 surrogate
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);      // past U+10FFFF
  EXPECT_EQ(find_invalid_utf8("\xFF"), 0u);
}

TEST(Document, InvalidUtf8NamesTheByteOffset) {
  const std::string bytes = fixture("invalid_utf8.txt");
  for (Format f : {Format::Text, Format::Markdown, Format::Html}) {
    const std::string e = error_of([&] { parse_document(f, bytes, "bad"); });
    EXPECT_TRUE(contains(e, "invalid UTF-8 at byte 28")) << format_name(f) << ": " << e;
  }
  // The offset counts the BOM, so it points into the file as it is on disk.
  EXPECT_TRUE(contains(error_of([] { parse_document(Format::Text, "\xEF\xBB\xBF" "ab\xFF", "x"); }), "byte 5"));
  EXPECT_THROW(parse_text("ab\xFF", "x"), ParseError);
}

// ---- plain text ------------------------------------------------------------------------------

TEST(Text, BomAndCrlfAreNormalisedAndParagraphsSplitAtBlankLines) {
  const Note n = parse_document(Format::Text, fixture("crlf_bom.txt"), "crlf_bom");
  EXPECT_EQ(n.title, "crlf_bom");
  EXPECT_TRUE(n.metadata.is_object());
  ASSERT_EQ(n.sections.size(), 1u);
  EXPECT_TRUE(n.sections[0].headings.empty());
  EXPECT_EQ(n.sections[0].text, "First line\nsecond line\n\nNew paragraph.\nAfter a lone CR.");
  // parse_text alone does the same.
  EXPECT_EQ(parse_text(fixture("crlf_bom.txt"), "x").sections[0].text, n.sections[0].text);
}

TEST(Text, EmptyFilesGiveANoteWithoutSections) {
  for (Format f : {Format::Text, Format::Markdown, Format::Html}) {
    for (const char* bytes : {"", "\xEF\xBB\xBF", "  \n\r\n\t\n"}) {
      const Note n = parse_document(f, bytes, "empty");
      EXPECT_EQ(n.title, "empty") << format_name(f);
      EXPECT_TRUE(n.sections.empty()) << format_name(f);
    }
  }
  // An empty "PDF" is not a PDF.
  EXPECT_TRUE(contains(error_of([] { parse_document(Format::Pdf, "", "x"); }), "not a PDF"));
}

TEST(Document, MarkdownGoesThroughParseMarkdown) {
  const Note n = parse_document(Format::Markdown, "\xEF\xBB\xBF# Notes\r\n\r\nSee [[Widgets]].\r\n", "notes");
  EXPECT_EQ(n.title, "Notes");
  ASSERT_EQ(n.sections.size(), 1u);
  EXPECT_EQ(n.sections[0].text, "See Widgets.");
  EXPECT_EQ(n.links, std::vector<Link>{(Link{"Widgets", "", ""})});
}

// ---- HTML ------------------------------------------------------------------------------------

TEST(Html, FullPage) {
  const Note n = parse_document(Format::Html, fixture("page.html"), "page");
  EXPECT_EQ(n.title, "Widget Manual & Guide");
  EXPECT_EQ(n.metadata["author"], "Ana Lima");
  EXPECT_EQ(n.metadata["og:type"], "article");
  EXPECT_EQ(n.tags, (std::vector<std::string>{"widgets", "manual", "setup"}));
  // Relative links to documents only; nav is dropped with its links.
  EXPECT_EQ(n.links, (std::vector<Link>{{"setup", "install", ""}, {"Getting Started", "", ""}}));

  ASSERT_EQ(n.sections.size(), 6u);
  EXPECT_EQ(n.sections[0].headings, Headings{});
  EXPECT_EQ(n.sections[0].text, "Intro text before any heading, with a no-break space.");
  EXPECT_EQ(n.sections[1].headings, Headings{"Widgets"});
  EXPECT_EQ(n.sections[1].text,
            "Widgets are small parts. See the setup page, getting started, an external page, a local anchor, "
            "mail and the logo.");
  EXPECT_EQ(n.sections[2].headings, (Headings{"Widgets", "Kinds"}));
  EXPECT_EQ(n.sections[2].text, "- Round widgets\n- Square widgets\n  1. small\n  2. large");
  EXPECT_EQ(n.sections[3].headings, (Headings{"Widgets", "Kinds", "Sizes"}));
  EXPECT_EQ(n.sections[3].text, "Name | Size\nRound | 10 cm\nSquare | 20 cm");
  EXPECT_EQ(n.sections[4].headings, (Headings{"Widgets", "Code"}));
  EXPECT_EQ(n.sections[4].text,
            "int main() {\n    return 0;   // spaces kept\n}\n\n"
            "Fish & chips <3 \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80\nsecond line");
  EXPECT_EQ(n.sections[5].headings, Headings{"Appendix"});
  EXPECT_EQ(n.sections[5].text, "Last words.");

  for (const Section& s : n.sections)
    for (const char* dropped : {"color: red", "not text", "hidden", "Enable JavaScript", "template text", "Home", "Invisible", "Next page"})
      EXPECT_FALSE(contains(s.text, dropped)) << dropped;
}

TEST(Html, NoTitleNestedAndSkippedHeadings) {
  const Note n = parse_html(fixture("no_title.html"), "no_title");
  EXPECT_EQ(n.title, "Main heading");  // the first <h1>, though an <h2> came before it
  ASSERT_EQ(n.sections.size(), 3u);
  EXPECT_EQ(n.sections[0].headings, Headings{});
  EXPECT_EQ(n.sections[1].headings, Headings{"Second level first"});
  EXPECT_EQ(n.sections[1].text, "Under a level-two heading.");
  EXPECT_EQ(n.sections[2].headings, (Headings{"Main heading", "Skipped a level"}));
  EXPECT_EQ(n.sections[2].text, "Deep text.");
  // No <title> and no <h1>: the stem.
  EXPECT_EQ(parse_html("<p>just a fragment</p>", "stem").title, "stem");
  EXPECT_EQ(parse_html("<p>just a fragment</p>", "stem").sections[0].text, "just a fragment");
}

TEST(Html, MalformedHtmlIsRecoveredAsABrowserWould) {
  const Note n = parse_document(Format::Html, fixture("malformed.html"), "malformed");
  EXPECT_EQ(n.title, "Broken page");
  ASSERT_GE(n.sections.size(), 1u);
  // The unclosed <h1> would swallow the page; its first block ends it.
  EXPECT_EQ(n.sections[0].headings, Headings{"Unclosed bold heading"});
  EXPECT_EQ(n.sections[0].text,
            "First paragraph italic\n\nSecond paragraph still going\n\n- one\n- two\n\na | b\nc\n\ndangling\n\n"
            "Tail &unknown; & <");
}

TEST(Html, WhitespaceCollapsesOutsidePre) {
  const Note n = parse_html("<p>  a \n\t b<span> c </span>d<br>  e  </p><div>f</div>g", "w");
  ASSERT_EQ(n.sections.size(), 1u);
  EXPECT_EQ(n.sections[0].text, "a b c d\ne\n\nf\n\ng");
}

TEST(Html, HeadingPathFollowsLevels) {
  const Note n = parse_html("<h1>A</h1><p>a</p><h2>B</h2><p>b</p><h3>C</h3><p>c</p><h2>D</h2><p>d</p>"
                            "<h4>E</h4><p>e</p><h1>F</h1><p>f</p>", "h");
  ASSERT_EQ(n.sections.size(), 6u);
  EXPECT_EQ(n.sections[2].headings, (Headings{"A", "B", "C"}));
  EXPECT_EQ(n.sections[3].headings, (Headings{"A", "D"}));
  EXPECT_EQ(n.sections[4].headings, (Headings{"A", "D", "E"}));
  EXPECT_EQ(n.sections[5].headings, Headings{"F"});
  EXPECT_EQ(n.title, "A");
}

TEST(Html, LinksAreUniqueAndDecoded) {
  const Note n = parse_html("<a href='a.html'>1</a><a href='./a.html'>2</a><a href='/docs/b.htm?x=1#Sec%20One'>3</a>"
                            "<a href='notes/c.md'>4</a><a href='d'>5</a><a href='e.css'>6</a><a href='ftp://f/g.html'>7</a>"
                            "<a href='//cdn/h.html'>8</a><a href='../'>9</a><a>10</a><a href='%FF.html'>11</a>", "l");
  EXPECT_EQ(n.links, (std::vector<Link>{{"a", "", ""}, {"b", "Sec One", ""}, {"c", "", ""}, {"d", "", ""},
                                        {"%FF", "", ""}}));
}

TEST(Html, DeepNestingIsAParseErrorNotAHang) {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "<div>";
  EXPECT_TRUE(contains(error_of([&] { parse_html(deep, "deep"); }), "nested too deeply"));
  // Misnested formatting end tags leave the blocks open: still deep.
  std::string misnested;
  for (int i = 0; i < 20000; ++i) misnested += "<b><div></b>";
  EXPECT_THROW(parse_html(misnested, "deep"), ParseError);
  // Many siblings and implicitly closed elements are not deep.
  std::string wide;
  for (int i = 0; i < 20000; ++i) wide += "<p>para<li>item<div>block</div><b>bold</b><br>";
  EXPECT_NO_THROW(parse_html(wide, "wide"));
  // Tags inside scripts and comments do not count.
  std::string hidden = "<script>";
  for (int i = 0; i < 10000; ++i) hidden += "<div>";
  hidden += "</script><!--" + hidden + "--><p>ok</p>";
  EXPECT_EQ(parse_html(hidden, "h").sections.at(0).text, "ok");
}

TEST(Html, InvalidUtf8IsReplacedByParseHtmlButRejectedByParseDocument) {
  const std::string bad = "<p>caf\xE9</p>";  // Latin-1
  const Note n = parse_html(bad, "x");
  EXPECT_EQ(n.sections.at(0).text, "caf\xEF\xBF\xBD");
  EXPECT_EQ(find_invalid_utf8(n.sections[0].text), std::nullopt);
  EXPECT_THROW(parse_document(Format::Html, bad, "x"), ParseError);
}

// ---- PDF -------------------------------------------------------------------------------------

TEST(Pdf, TwoPagesOfKnownText) {
  const Note n = parse_document(Format::Pdf, fixture("two_pages.pdf"), "two_pages");
  EXPECT_EQ(n.title, "Two Page Fixture");
  EXPECT_EQ(n.metadata["author"], "kbdocs");
  EXPECT_EQ(n.metadata["pages"], 2);
  EXPECT_EQ(n.metadata["created"], "2026-01-02T03:04:05Z");
  EXPECT_EQ(n.tags, (std::vector<std::string>{"fixture", "pdf"}));
  ASSERT_EQ(n.sections.size(), 2u);
  EXPECT_EQ(n.sections[0].headings, Headings{"Page 1"});
  EXPECT_EQ(n.sections[0].text, "Alpha page one says hello.\nThe caf\xC3\xA9 opens at nine.");
  EXPECT_EQ(n.sections[1].headings, Headings{"Page 2"});
  EXPECT_EQ(n.sections[1].text, "Beta page two: the quick brown fox.\nIt jumps over the lazy dog.");
}

TEST(Pdf, UnreadableFilesAreParseErrors) {
  EXPECT_TRUE(contains(error_of([] { parse_pdf(fixture("encrypted.pdf"), "e"); }), "encrypted"));
  EXPECT_TRUE(contains(error_of([] { parse_pdf(fixture("no_text.pdf"), "n"); }), "no extractable text"));
  EXPECT_TRUE(contains(error_of([] { parse_pdf(fixture("corrupt.pdf"), "c"); }), "cannot be opened"));
  // Cut before its cross-reference table and trailer: past repair.
  EXPECT_TRUE(contains(error_of([] { parse_pdf(fixture("truncated.pdf"), "t"); }), "cannot be opened"));
  EXPECT_TRUE(contains(error_of([] { parse_pdf("<html>not a pdf</html>", "h"); }), "not a PDF"));
}

TEST(Pdf, TruncatedAndDamagedFilesNeverCrash) {
  const std::string good = fixture("two_pages.pdf");
  // Every prefix length (step 7) and a copy with its xref offsets broken: an error or a note.
  for (size_t len = 0; len <= good.size(); len += 7) {
    try {
      const Note n = parse_pdf(std::string_view(good).substr(0, len), "t");
      EXPECT_FALSE(n.sections.empty());
    } catch (const ParseError&) {
    }
  }
  std::string damaged = good;
  damaged.replace(damaged.find("startxref\n") + 10, 3, "999");
  const Note repaired = parse_pdf(damaged, "d");  // poppler rebuilds the xref by scanning
  EXPECT_EQ(repaired.sections.size(), 2u);
}

TEST(Pdf, GarbageBytesNeverCrash) {
  std::mt19937 rng(42);
  const std::string good = fixture("two_pages.pdf");
  for (int round = 0; round < 200; ++round) {
    std::string bytes = round % 2 ? good : "%PDF-1.4\n";
    if (round % 2) {  // flip some bytes of a real file
      for (int k = 0; k < 8; ++k) bytes[rng() % bytes.size()] = char(rng());
    } else {
      for (int k = 0; k < 512; ++k) bytes += char(rng());
    }
    try {
      parse_pdf(bytes, "g");
    } catch (const ParseError&) {
    }
  }
}

// ---- chunking parsed documents ---------------------------------------------------------------

TEST(Document, ChunkNoteWorksOnHtmlAndPdfNotes) {
  const TokenCounter words = [](std::string_view s) { return word_count(s); };
  const Note html = parse_document(Format::Html, fixture("page.html"), "page");
  const auto chunks = chunk_note(html, {8, 2}, words);
  ASSERT_FALSE(chunks.empty());
  for (const Chunk& c : chunks) {
    EXPECT_LE(c.tokens, 8u);
    EXPECT_FALSE(c.text.empty());
  }
  EXPECT_EQ(chunks.front().headings, Headings{});
  EXPECT_EQ(chunks.back().headings, Headings{"Appendix"});
  EXPECT_EQ(chunks.back().with_context(html.title), "Widget Manual & Guide > Appendix\n\nLast words.");

  const Note pdf = parse_document(Format::Pdf, fixture("two_pages.pdf"), "two_pages");
  const auto pieces = chunk_note(pdf, {256, 32}, words);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[1].headings, Headings{"Page 2"});
  EXPECT_EQ(pieces[1].with_context(pdf.title),
            "Two Page Fixture > Page 2\n\nBeta page two: the quick brown fox.\nIt jumps over the lazy dog.");
}

}  // namespace
