// Expressions with Python semantics: literals and how values print, arithmetic and
// precedence, comparisons, and/or/not, `in`, conditionals, attribute vs item lookup,
// slicing, and the str/dict/list methods templates call.
#include <gtest/gtest.h>

#include "chat_test_util.h"

namespace inhouse::chat::testing {
namespace {

TEST(JinjaLiterals, PrintLikePython) {
  EXPECT_EQ(render("{{ none }}|{{ None }}|{{ true }}|{{ False }}|{{ 42 }}|{{ 1_000 }}|{{ 0x1F }}|{{ 0b101 }}"),
            "None|None|True|False|42|1000|31|5");
  EXPECT_EQ(render("{{ 1.0 }}|{{ 2.50 }}|{{ 1e3 }}|{{ 1e16 }}|{{ 1e-5 }}|{{ 0.0001 }}|{{ 0.1 + 0.2 }}|{{ -0.0 }}"),
            "1.0|2.5|1000.0|1e+16|1e-05|0.0001|0.30000000000000004|-0.0");
  EXPECT_EQ(render("{{ [1, 'a', none, true, 1.5] }}|{{ {'k': [1]} }}|{{ (1,) }}|{{ () }}|{{ (1, 'b') }}"),
            "[1, 'a', None, True, 1.5]|{'k': [1]}|(1,)|()|(1, 'b')");
  EXPECT_EQ(render(R"({{ ["it's", 'say "hi"', 'tab\there'] }})"), R"(["it's", 'say "hi"', 'tab\there'])");
}

TEST(JinjaLiterals, StringEscapesAndAdjacentStrings) {
  EXPECT_EQ(render(R"({{ 'a\nb' }}|{{ "q\"q" }}|{{ 'it\'s' }}|{{ '\u00e9\x41' }}|{{ '\\' }}|{{ 'a' "b" 'c' }})"),
            "a\nb|q\"q|it's|éA|\\|abc");
}

TEST(JinjaArithmetic, OperatorsAndPrecedence) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }}"),
            "7 9 3.5 2.0 3 -4 1 2");
  EXPECT_EQ(render("{{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 1 - -1 }} {{ 5.5 % 2 }} {{ true + 1 }}"),
            "1024 0.5 64 4 2 1.5 2");  // Jinja's ** is left-associative and binds looser than unary minus
  EXPECT_EQ(render("{{ 'ab' + 'cd' }} {{ [1] + [2] }} {{ 'ab' * 2 }} {{ 3 * 'x' }} {{ [0] * 2 }}"), "abcd [1, 2] abab xxx [0, 0]");
}

TEST(JinjaArithmetic, TildeConcatenatesStrings) {
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none ~ true ~ 1.5 ~ missing }}"), "a1NoneTrue1.5");
  EXPECT_EQ(render("{{ 2 * 3 ~ 4 }}"), "64");  // * binds tighter than ~, which binds tighter than +
  EXPECT_NE(std::string(render_error("{{ 1 + 2 ~ 3 }}").what()).find("unsupported operand"), std::string::npos);
}

TEST(JinjaArithmetic, PercentFormatting) {
  EXPECT_EQ(render("{{ '%s is %d' % ('x', 3) }}|{{ '%05.2f' % 3.14159 }}|{{ '%-4s|' % 'a' }}|{{ '%(k)s' % {'k': 1} }}|{{ '%x%%' % 255 }}"),
            "x is 3|03.14|a   ||1|ff%");
}

TEST(JinjaCompare, ComparisonsChainsAndMembership) {
  EXPECT_EQ(render("{{ 1 == 1.0 }}{{ 1 != 2 }}{{ 'a' < 'b' }}{{ 2 >= 2 }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ [1, 2] == [1, 2] }}"),
            "TrueTrueTrueTrueTrueFalseTrue");
  EXPECT_EQ(render("{{ 'ell' in 'hello' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 'z' not in 'abc' }}{{ 'a' in missing }}"),
            "TrueTrueTrueTrueFalse");
}

TEST(JinjaLogic, AndOrReturnOperandsNotBindsLoosely) {
  EXPECT_EQ(render("{{ 0 or 'fallback' }}|{{ 'a' and 'b' }}|{{ '' and 'x' }}|{{ not 0 }}|{{ not 1 == 2 }}|{{ true and not false }}"),
            "fallback|b||True|True|True");
}

TEST(JinjaConditional, InlineIfElse) {
  EXPECT_EQ(render("{{ 'y' if x else 'n' }}{{ 'y' if not x else 'n' }}[{{ 'only' if x }}]", {{"x", false}}), "ny[]");
}

TEST(JinjaLookup, AttributeAndSubscript) {
  json ctx = {{"m", {{"role", "user"}, {"content", "hi"}, {"items", "key"}}}, {"l", {10, 20, 30}}};
  EXPECT_EQ(render("{{ m.role }}{{ m['content'] }}{{ l[0] }}{{ l[-1] }}{{ l.1 }}", ctx), "userhi103020");
  // `.name` prefers the Python attribute (dict.items), `['name']` the item: Jinja's rules.
  EXPECT_EQ(render("{{ m['items'] }}|{{ m.items() | length }}", ctx), "key|3");
  EXPECT_EQ(render("[{{ m.missing }}][{{ l[10] }}]{{ m.missing is defined }}", ctx), "[][]False");
  EXPECT_EQ(render("{{ 'héllo'[1] }}{{ 'abc'[-1] }}"), "éc");
}

TEST(JinjaLookup, Slicing) {
  EXPECT_EQ(render("{{ [1, 2, 3][::-1] }}{{ [1, 2, 3][1:] }}{{ [1, 2, 3][:-1] }}{{ [1, 2, 3, 4, 5][1:4:2] }}{{ [1, 2][5:] }}"),
            "[3, 2, 1][2, 3][1, 2][2, 4][]");
  EXPECT_EQ(render("{{ 'hello'[1:3] }}|{{ 'hello'[::2] }}|{{ 'héllo'[::-1] }}|{{ 'abc'[-10:2] }}"), "el|hlo|olléh|ab");
}

TEST(JinjaMethods, Strings) {
  EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }}{{ '  a  b '.split() }}{{ 'a,b,c'.split(',', 1) }}{{ 'a,b,c'.rsplit(',', 1) }}"),
            "['a', 'b', '', 'c']['a', 'b']['a', 'b,c']['a,b', 'c']");
  EXPECT_EQ(render("[{{ '  x  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\\n\\nq\\n'.lstrip('\\n') }}][{{ 'q\\n\\n'.rstrip('\\n') }}]"),
            "[x][a][q\n][q]");
  EXPECT_EQ(render("{{ 'Hello'.startswith('He') }}{{ 'Hello'.endswith(('x', 'lo')) }}{{ 'Hello'.replace('l', 'L') }}"
                   "{{ 'Hello'.upper() }}{{ 'Hello'.lower() }}"),
            "TrueTrueHeLLoHELLOhello");
  EXPECT_EQ(render("{{ 'hello world'.title() }}|{{ 'hELLO wORLD'.capitalize() }}|{{ 'héllo'.find('l') }}|{{ 'abc'.find('z') }}"
                   "|{{ '-'.join(['a', 'b']) }}|{{ 'a b'.count(' ') }}|{{ 'ab'.center(6, '*') }}|{{ '{}-{x}'.format(1, x=2) }}"),
            "Hello World|Hello world|2|-1|a-b|1|**ab**|1-2");
  EXPECT_EQ(render("{{ 'abc'.isalpha() }}{{ '12'.isdigit() }}{{ ' '.isspace() }}{{ 'ab'.islower() }}{{ 'AB'.isupper() }}"),
            "TrueTrueTrueTrueTrue");
}

TEST(JinjaMethods, DictsAndLists) {
  json ctx = {{"d", {{"a", 1}, {"b", 2}}}};
  EXPECT_EQ(render("{{ d.items() | list }}{{ d.keys() | list }}{{ d.values() | list }}{{ d.get('a') }}{{ d.get('z') }}"
                   "{{ d.get('z', 0) }}",
                   ctx),
            "[('a', 1), ('b', 2)]['a', 'b'][1, 2]1None0");
  EXPECT_EQ(render("{{ [1, 2, 1].count(1) }}{{ [5, 6].index(6) }}"), "21");
}

TEST(JinjaMethods, MutationIsRefusedLikeTheImmutableSandbox) {
  EXPECT_NE(std::string(render_error("{{ [1].append(2) }}").what()).find("access to attribute 'append' of 'list' object is unsafe"),
            std::string::npos);
  EXPECT_NE(std::string(render_error("{{ {}.update({'a': 1}) }}").what()).find("unsafe"), std::string::npos);
}

TEST(JinjaUndefined, BehavesLikeJinjaDefaultUndefined) {
  EXPECT_EQ(render("[{{ missing }}][{{ missing | length }}][{{ missing is defined }}][{{ missing is undefined }}]"
                   "[{{ missing == missing }}][{{ missing | default('d') }}][{% for x in missing %}x{% endfor %}]"),
            "[][0][False][True][True][d][]");
  EXPECT_EQ(render("{{ 'yes' if not missing }}"), "yes");
  EXPECT_NE(std::string(render_error("{{ missing() }}").what()).find("'missing' is undefined"), std::string::npos);
  EXPECT_NE(std::string(render_error("{{ missing.attr }}").what()).find("'missing' is undefined"), std::string::npos);
  EXPECT_NE(std::string(render_error("{{ missing + 1 }}").what()).find("'missing' is undefined"), std::string::npos);
  EXPECT_NE(std::string(render_error("{{ d.nope.x }}", {{"d", json::object()}}).what())
                .find("'dict object' has no attribute 'nope'"),
            std::string::npos);
}

}  // namespace
}  // namespace inhouse::chat::testing
