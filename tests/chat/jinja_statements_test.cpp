// Statements: if/elif/else, for (loop variables, else, unpacking, filtering, break/continue,
// recursion), set (names, tuples, namespaces, blocks), macros and call blocks, raw, filter,
// with, and Jinja's scoping rules. Expected values match Python Jinja2 with HF settings.
#include <gtest/gtest.h>

#include "chat_test_util.h"

namespace inhouse::chat::testing {
namespace {

const json kMessages = {{"messages",
                         {{{"role", "system"}, {"content", "S"}},
                          {{"role", "user"}, {"content", "U1"}},
                          {{"role", "assistant"}, {"content", "A1"}},
                          {{"role", "user"}, {"content", "U2"}}}}};

TEST(JinjaIf, IfElifElse) {
  const char* t = "{% if x == 1 %}one{% elif x == 2 %}two{% elif x == 3 %}three{% else %}many{% endif %}";
  EXPECT_EQ(render(t, {{"x", 1}}), "one");
  EXPECT_EQ(render(t, {{"x", 2}}), "two");
  EXPECT_EQ(render(t, {{"x", 3}}), "three");
  EXPECT_EQ(render(t, {{"x", 9}}), "many");
  EXPECT_EQ(render("{% if x %}yes{% endif %}"), "");  // undefined is falsy
}

TEST(JinjaFor, LoopVariables) {
  EXPECT_EQ(render("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
                   "{{ loop.revindex0 }}{{ loop.length }}{{ loop.first }}{{ loop.last }};{% endfor %}",
                   kMessages),
            "10434TrueFalse;21324FalseFalse;32214FalseFalse;43104FalseTrue;");
}

TEST(JinjaFor, PrevNextItemCycleAndDepth) {
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.previtem if loop.previtem is defined else '-' }}"
                   "{{ loop.nextitem if loop.nextitem is defined else '-' }}{{ loop.cycle('a', 'b') }}"
                   "{{ loop.depth }}{{ loop.depth0 }} {% endfor %}"),
            "-2a10 13b10 2-a10 ");
  EXPECT_EQ(render("{% for x in [1, 1, 2] %}{{ loop.changed(x) }}{% endfor %}"), "TrueFalseTrue");
}

TEST(JinjaFor, ElseBranchRunsOnlyWhenNothingIterates) {
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in [1] %}x{% else %}empty{% endfor %}"), "x");
  EXPECT_EQ(render("{% for x in [1, 2] if x > 5 %}x{% else %}none kept{% endfor %}"), "none kept");
  EXPECT_EQ(render("{% for x in missing %}x{% else %}undefined iterates as empty{% endfor %}"),
            "undefined iterates as empty");
}

TEST(JinjaFor, FilterConditionCountsOnlyKeptItems) {
  EXPECT_EQ(render("{% for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }}"
                   "{{ m.content }}{% if not loop.last %},{% endif %}{% endfor %}",
                   kMessages),
            "1/3U1,2/3A1,3/3U2");
}

TEST(JinjaFor, UnpackingDictsStringsAndNesting) {
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {{"d", {{"a", 1}, {"b", 2}}}}),
            "a=1;b=2;");
  EXPECT_EQ(render("{% for k in {'z': 1, 'a': 2} %}{{ k }}{% endfor %}"), "za");  // dict order kept
  EXPECT_EQ(render("{% for (a, b) in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}"), "37");
  EXPECT_EQ(render("{% for c in 'héllo' %}{{ c }}.{% endfor %}"), "h.é.l.l.o.");
  EXPECT_EQ(render("{% for r in [[1, 2], [3]] %}{% for c in r %}{{ loop.index }}{{ c }}{% endfor %}"
                   "|{{ loop.index }};{% endfor %}"),
            "1122|1;13|2;");
}

TEST(JinjaFor, BreakAndContinue) {
  EXPECT_EQ(render("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}"
                   "{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
            "0134");
}

TEST(JinjaFor, BreakAndContinueInsideNestedBlocks) {
  EXPECT_EQ(render("{% for i in range(5) %}{% with %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endwith %}{% endfor %}"), "01");
  EXPECT_EQ(render("{% for i in range(3) %}{% set x %}{{ i }}{% if i == 1 %}{% continue %}{% endif %}{% endset %}"
                   "{{ x }}{% endfor %}"),
            "02");
}

TEST(JinjaFor, RecursiveLoop) {
  json tree = {{"tree", {{{"n", "a"}, {"c", {{{"n", "b"}, {"c", json::array()}}}}}, {{"n", "c"}, {"c", json::array()}}}}};
  EXPECT_EQ(render("{% for x in tree recursive %}{{ x.n }}{{ loop.depth }}"
                   "{% if x.c %}[{{ loop(x.c) }}]{% endif %}{% endfor %}",
                   tree),
            "a1[b2]c1");
}

TEST(JinjaSet, AssignmentsAndTuples) {
  EXPECT_EQ(render("{% set x = 1 + 2 %}{{ x }}"), "3");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(render("{% set t = 1, 2 %}{{ t }}"), "(1, 2)");
  EXPECT_EQ(render("{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}"), "2");  // if has no scope
}

TEST(JinjaSet, LoopBodiesDoNotLeak) {
  // Each iteration starts from the outer value; assignments vanish after the loop.
  EXPECT_EQ(render("{% set x = 'out' %}{% for i in range(2) %}{{ x }}{% set x = i %}{{ x }};{% endfor %}{{ x }}"),
            "out0;out1;out");
  EXPECT_EQ(render("{% for i in range(3) %}{% if i == 0 %}{% set y = 'set' %}{% endif %}[{{ y }}]{% endfor %}"),
            "[set][][]");
}

TEST(JinjaSet, NamespaceCarriesStateOutOfLoops) {
  EXPECT_EQ(render("{% set ns = namespace(count=0, last='') %}{% for m in messages %}"
                   "{% if m.role == 'user' %}{% set ns.count = ns.count + 1 %}{% set ns.last = m.content %}{% endif %}"
                   "{% endfor %}{{ ns.count }} {{ ns.last }}",
                   kMessages),
            "2 U2");
  EXPECT_EQ(render("{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.missing is defined }}"), "12False");
}

TEST(JinjaSet, BlockSetWithAndWithoutFilter) {
  EXPECT_EQ(render("{% set x %}Hello {{ 'world' }}{% endset %}[{{ x }}]"), "[Hello world]");
  EXPECT_EQ(render("{% set x | upper | trim %}  abc  {% endset %}[{{ x }}]"), "[ABC]");
}

TEST(JinjaMacro, DefaultsKeywordsVarargsKwargs) {
  const std::string m = "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}";
  EXPECT_EQ(render(m + "{{ greet('Ann') }}"), "Hello, Ann!");
  EXPECT_EQ(render(m + "{{ greet('Bo', punct='?') }}"), "Hello, Bo?");
  EXPECT_EQ(render(m + "{{ greet(greeting='Hi', name='Cy') }}"), "Hi, Cy!");
  EXPECT_EQ(render("{% macro f(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, 3, k=4) }}"),
            "1(2, 3){'k': 4}");
  EXPECT_EQ(render("{% macro f(a, b) %}{{ a }}[{{ b }}]{{ b is defined }}{% endmacro %}{{ f(1) }}"), "1[]False");
  EXPECT_EQ(render("{% macro f(a, b=a * 2) %}{{ b }}{% endmacro %}{{ f(4) }}"), "8");  // defaults see earlier params
}

TEST(JinjaMacro, ArgumentErrors) {
  EXPECT_NE(std::string(render_error("{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}").what())
                .find("macro 'f' takes not more than 1 argument(s)"),
            std::string::npos);
  EXPECT_NE(std::string(render_error("{% macro f(a) %}{% endmacro %}{{ f(b=1) }}").what())
                .find("macro 'f' takes no keyword argument 'b'"),
            std::string::npos);
  EXPECT_NE(std::string(render_error("{% macro f(a) %}{% endmacro %}{{ f(1, a=2) }}").what())
                .find("multiple values for argument 'a'"),
            std::string::npos);
}

TEST(JinjaMacro, RecursionAndScope) {
  EXPECT_EQ(render("{% macro down(n) %}{{ n }}{% if n > 0 %}{{ down(n - 1) }}{% endif %}{% endmacro %}{{ down(3) }}"),
            "3210");
  // Macros see the variables of the scope they were defined in, as they are at call time.
  EXPECT_EQ(render("{% set x = 1 %}{% macro show() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ show() }}"), "2");
  EXPECT_EQ(render("{% macro m() %}{% set x = 'inner' %}{{ x }}{% endmacro %}{% set x = 'outer' %}{{ m() }}{{ x }}"),
            "innerouter");
}

TEST(JinjaMacro, CallBlocksAndCaller) {
  EXPECT_EQ(render("{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}body{% endcall %}"), "<body>");
  EXPECT_EQ(render("{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}"
                   "{% call(item) each([1, 2]) %}[{{ item }}]{% endcall %}"),
            "[1][2]");
}

TEST(JinjaBlocks, RawFilterWithAndGeneration) {
  EXPECT_EQ(render("{% raw %}{{ not rendered }} {% if %}{% endraw %}"), "{{ not rendered }} {% if %}");
  EXPECT_EQ(render("{% filter upper %}a{{ 'b' }}c{% endfilter %}"), "ABC");
  EXPECT_EQ(render("{% filter replace('a', 'o') | upper %}banana{% endfilter %}"), "BONONO");
  EXPECT_EQ(render("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]"), "3[]");
  EXPECT_EQ(render("{% generation %}kept{% endgeneration %}"), "kept");  // HF's assistant-mask marker
}

TEST(JinjaBlocks, Comments) {
  EXPECT_EQ(render("a{# comment {{ x }} #}b"), "ab");
  EXPECT_EQ(render("a {#- trimmed -#} b"), "ab");
}

}  // namespace
}  // namespace inhouse::chat::testing
