// Whitespace: Hugging Face renders with trim_blocks and lstrip_blocks on and Jinja's default
// keep_trailing_newline=False; plus the explicit controls {%- -%} {{- -}} {#- -#} {%+ +%}.
#include <gtest/gtest.h>

#include "chat_test_util.h"

namespace inhouse::chat::testing {
namespace {

TEST(JinjaWhitespace, TrimBlocksRemovesTheNewlineAfterABlockTag) {
  EXPECT_EQ(render("{% if true %}\nx\n{% endif %}\ny"), "x\ny");
  EXPECT_EQ(render("{# c #}\nx"), "x");
  EXPECT_EQ(render("{{ 'v' }}\nx"), "v\nx");  // not after {{ }}
}

TEST(JinjaWhitespace, LstripBlocksRemovesIndentBeforeABlockTag) {
  EXPECT_EQ(render("  {% if true %}\n  x\n  {% endif %}\n  {{ 'y' }}  "), "  x\n  y  ");
  EXPECT_EQ(render("line\n\t {% if true %}tab{% endif %}"), "line\ntab");
  EXPECT_EQ(render("a  {% if true %}b{% endif %}"), "a  b");  // text before the tag on its line stays
}

TEST(JinjaWhitespace, TypicalIndentedTemplate) {
  EXPECT_EQ(render("{% for i in range(2) %}\n    {{ i }}\n{% endfor %}\ndone"), "    0\n    1\ndone");
  EXPECT_EQ(render("{%- for i in range(2) %}\n    {{- i }}\n{%- endfor %}"), "01");
}

TEST(JinjaWhitespace, MinusStripsAllAdjacentWhitespace) {
  EXPECT_EQ(render("a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}  \n  c"), "abc");
  EXPECT_EQ(render("{{- ' a ' -}}   \n {{- ' b ' -}}"), " a  b ");
  EXPECT_EQ(render("x \n {#- c -#} \n y"), "xy");
}

TEST(JinjaWhitespace, PlusDisablesLstripAndTrim) {
  EXPECT_EQ(render("a  {%+ if true %}b{% endif +%}\nc"), "a  b\nc");
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");
}

TEST(JinjaWhitespace, TrailingNewlineOfTheSourceIsDropped) {
  EXPECT_EQ(render("text\n"), "text");
  EXPECT_EQ(render("text\n\n"), "text\n");
  EXPECT_EQ(render("{{ 'a' }}\n"), "a");
}

TEST(JinjaWhitespace, LineEndingsAreNormalised) {
  EXPECT_EQ(render("a\r\nb\rc"), "a\nb\nc");
  EXPECT_EQ(render("{% if true %}\r\nx{% endif %}"), "x");
}

TEST(JinjaWhitespace, RawBlocksFollowTheSameRules) {
  EXPECT_EQ(render("{% raw %}\n{{ x }}\n{% endraw %}\nafter"), "\n{{ x }}\nafter");
  EXPECT_EQ(render("{% raw -%}\n  {{ x }}  {%- endraw %}"), "{{ x }}");
}

}  // namespace
}  // namespace inhouse::chat::testing
