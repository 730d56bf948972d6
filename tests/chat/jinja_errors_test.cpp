// Errors: parse errors and runtime errors name the line and column; unsupported syntax is
// refused clearly; hostile templates (deep nesting, runaway recursion, huge loops or
// strings, self-containing values) end in a TemplateError, never a crash or a hang.
#include <gtest/gtest.h>

#include "chat_test_util.h"

namespace inhouse::chat::testing {
namespace {

void expect_error(const std::string& tpl, const std::string& what, const json& ctx = json::object()) {
  TemplateError e = render_error(tpl, ctx);
  EXPECT_EQ(std::string(e.what()), what) << "template: " << tpl;
}

void expect_error_containing(const std::string& tpl, const std::string& part) {
  TemplateError e = render_error(tpl);
  EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << "template: " << tpl << "\nerror: " << e.what();
}

TEST(JinjaErrors, ParseErrorsHaveLineAndColumn) {
  expect_error("line one\nline two\nabc {% if x %}{% foo %}", "line 3, column 18: unknown tag 'foo'");
  expect_error("{% if x %}\n  open", "line 1, column 4: unexpected end of template: 'if' block was never closed "
                                     "(expected 'elif', 'else' or 'endif')");
  expect_error("{% for x in y %}{% endif %}",
               "line 1, column 20: unexpected 'endif': the innermost open block is 'for' (line 1), which expects 'else' or 'endfor'");
  expect_error("{% endfor %}", "line 1, column 4: unexpected 'endfor' outside of any block");
  expect_error("a\n{{ x", "line 2, column 1: unexpected end of template: '{{' was never closed");
  expect_error("{{ 'abc }}", "line 1, column 4: unterminated string literal");
  expect_error("{# never closed", "line 1, column 1: missing end of comment tag");
  expect_error("{% raw %}never closed", "line 1, column 1: missing end of raw directive");
  expect_error("{{ a b }}", "line 1, column 6: expected end of print statement '}}', got 'b'");
  expect_error("{{ 1 +* 2 }}", "line 1, column 7: unexpected '*'");
  expect_error("{{ (1, 2] }}", "line 1, column 9: unexpected ']', expected ')'");
  expect_error("{{ x | nosuch }}", "line 1, column 8: no filter named 'nosuch'");
  expect_error("{{ x is nosuch }}", "line 1, column 9: no test named 'nosuch'");
  expect_error("{% break %}", "line 1, column 4: 'break' outside of a loop");
  expect_error("{{ x $ y }}", "line 1, column 6: unexpected char '$'");
}

TEST(JinjaErrors, ConstructionThrowsForBadSyntax) {
  EXPECT_THROW(ChatTemplate("{% if %}"), TemplateError);
  EXPECT_NO_THROW(ChatTemplate("{% if x %}{{ missing | trim }}{% endif %}"));
}

TEST(JinjaErrors, UnsupportedSyntaxIsNamed) {
  expect_error("{% include 'x.jinja' %}", "line 1, column 4: unsupported tag 'include'");
  expect_error("{% extends 'base' %}", "line 1, column 4: unsupported tag 'extends'");
  expect_error_containing("{{ f(*args) }}", "*args and **kwargs in calls are not supported");
  expect_error_containing("{{ x[1, 2] }}", "tuple subscripts are not supported");
  expect_error_containing("{{ {1: 'a'} }}", "dict keys must be strings");
  expect_error_containing("{% if true %}{{ [1] | groupby('x') }}{% endif %}", "filter 'groupby' is not supported");
}

TEST(JinjaErrors, RuntimeErrorsHaveLineAndColumn) {
  expect_error("{{ 1 }}\n{{ 1 + 'a' }}", "line 2, column 6: unsupported operand type(s) for +: 'int' and 'str'");
  expect_error("{{ 'a' + 1 }}", "line 1, column 8: can only concatenate str (not \"int\") to str");
  expect_error("{{ 1 / 0 }}", "line 1, column 6: division by zero");
  expect_error("{{ 'a' < 1 }}", "line 1, column 8: '<' not supported between instances of 'str' and 'int'");
  expect_error("{% for x in 5 %}{% endfor %}", "line 1, column 4: 'int' object is not iterable");
  expect_error("{{ nofunc() }}", "line 1, column 10: 'nofunc' is undefined");
  expect_error("{% set x = 1 %}{% set x.y = 2 %}", "line 1, column 19: cannot assign attribute on non-namespace object 'x'");
  expect_error("{% set a, b = [1] %}", "line 1, column 4: not enough values to unpack (expected 2, got 1)");
  expect_error("{{ 9223372036854775807 + 1 }}", "line 1, column 24: integer overflow");
}

TEST(JinjaErrors, DeepNestingIsRefused) {
  expect_error_containing("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}", "nested too deeply");
  expect_error_containing("{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}", "nested too deeply");
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  expect_error_containing(ifs, "nested too deeply");
  std::string sum = "{{ 1";
  for (int i = 0; i < 5000; ++i) sum += " + 1";
  expect_error_containing(sum + " }}", "expression too deeply nested");
  std::string nots = "{{ ";
  for (int i = 0; i < 5000; ++i) nots += "not ";
  expect_error_containing(nots + "1 }}", "nested too deeply");
  std::string attrs = "{{ x";
  for (int i = 0; i < 5000; ++i) attrs += ".a";
  expect_error_containing(attrs + " }}", "expression too deeply nested");
}

TEST(JinjaErrors, ReasonableNestingStillWorks) {
  EXPECT_EQ(render("{{ " + std::string(50, '(') + "1" + std::string(50, ')') + " }}"), "1");
  std::string sum = "{{ 0";
  for (int i = 0; i < 300; ++i) sum += " + 1";
  EXPECT_EQ(render(sum + " }}"), "300");
}

TEST(JinjaErrors, RunawayRecursionIsBounded) {
  expect_error_containing("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "maximum recursion depth exceeded in macro 'f'");
  expect_error_containing("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "maximum recursion depth exceeded");
  EXPECT_EQ(render("{% macro f(n) %}{% if n < 100 %}{{ f(n + 1) }}{% else %}deep{% endif %}{% endmacro %}{{ f(0) }}"), "deep");
}

TEST(JinjaErrors, RunawayWorkAndMemoryAreBounded) {
  expect_error_containing("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                          "loop iterations and calls");
  expect_error_containing("{{ range(1000000) | length }}", "Range too big");
  expect_error_containing("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                          "longer than 64 MiB");
  expect_error_containing("{{ 'x' * 1000000000 }}", "repeated string too long");
  expect_error_containing("{{ [1] * 1000000000 }}", "repeated list too long");
  expect_error_containing("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}",
                          "value nested too deeply");
}

TEST(JinjaErrors, SelfContainingNamespacesAreRefused) {
  // A reference cycle could never be freed, and printing it would recurse forever.
  expect_error_containing("{% set ns = namespace() %}{% set ns.me = ns %}", "a namespace cannot contain itself");
  expect_error_containing("{% set ns = namespace() %}{% set ns.l = [1, {'k': ns}] %}", "cannot contain itself");
  expect_error_containing("{% set ns = namespace() %}{% for x in [ns, 1] %}{% set ns.l = [loop] %}{% endfor %}",
                          "cannot contain itself or a loop object");
  expect_error_containing("{% set ns = namespace(l=[]) %}{% set ns.l = [ns] %}{% set ns.f = ns.l.count %}", "cannot contain itself");
  EXPECT_EQ(render("{% set a = namespace(v=1) %}{% set b = namespace(a=a) %}{% set a.v = 2 %}{{ b.a.v }}"), "2");
}

TEST(JinjaErrors, DeeplyNestedInputIsRefused) {
  json deep = json::array();
  for (int i = 0; i < 2000; ++i) deep = json::array({deep});
  EXPECT_THROW(ChatTemplate("{{ x }}").render({{"x", deep}}), TemplateError);
}

TEST(JinjaErrors, ContextMustBeAnObject) { EXPECT_THROW(ChatTemplate("x").render(json::array()), TemplateError); }

TEST(JinjaErrors, GarbageInputNeverCrashes) {
  // A few hostile shapes: stray delimiters, binary bytes, unbalanced brackets.
  const std::vector<std::string> sources = {"{%", "{{", "{#", "%}", "}}", "{%-%}", "{{-}}", "{% %}", "{{ }}", "{{ ] }}",
                                "{{ (((( }}", "{% for %}", "{% set %}", "{% macro %}", "{% if %}{% else %}{% else %}",
                                std::string("\xff\xfe{{ '\x80' }}", 12), "{{ 'a' ~ }}", "{{ |upper }}", "{% endraw %}"};
  for (const std::string& src : sources) {
    try {
      ChatTemplate(src).render(json::object());
    } catch (const TemplateError&) {
    }
  }
  SUCCEED();
}

}  // namespace
}  // namespace inhouse::chat::testing
