// Filters, tests (`is ...`) and globals, each checked against what Python Jinja2 (with
// Hugging Face's tojson and raise_exception) produces.
#include <gtest/gtest.h>

#include <ctime>

#include "chat_test_util.h"

namespace inhouse::chat::testing {
namespace {

const json kPeople = {{"people",
                       {{{"name", "bo"}, {"age", 30}, {"role", "user"}},
                        {{"name", "al"}, {"age", 25}, {"role", "assistant"}},
                        {{"name", "cy"}, {"age", 35}, {"role", "user"}}}}};

TEST(JinjaFilters, StringFilters) {
  EXPECT_EQ(render("[{{ '  t  ' | trim }}][{{ 'xxyxx' | trim('x') }}][{{ 'Ab' | lower }}][{{ 'Ab' | upper }}]"
                   "[{{ 'hELLO there' | capitalize }}][{{ 'hello-world foo' | title }}][{{ 'aXa' | replace('a', 'b') }}]"),
            "[t][y][ab][AB][Hello there][Hello-World Foo][bXb]");
  EXPECT_EQ(render("{{ 3 | string }}{{ none | string }}{{ [1] | string }}"), "3None[1]");
  EXPECT_EQ(render("{{ '<a href=\"x\">&\\'</a>' | e }}|{{ '<b>' | escape }}|{{ '<b>' | safe }}"),
            "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;|&lt;b&gt;|<b>");
  EXPECT_EQ(render("{{ 'a b  c' | wordcount }}|{{ 'hello world foo' | truncate(9) }}|{{ 'ab' | center(6) }}|"), "3|hello...|  ab  |");
  EXPECT_EQ(render("{{ '%s-%s' | format('a', 'b') }}{{ 'abc' | reverse }}"), "a-bcba");
}

TEST(JinjaFilters, Indent) {
  EXPECT_EQ(render("{{ 'a\\n  b\\n\\nc' | indent(2) }}"), "a\n    b\n\n  c");
  EXPECT_EQ(render("{{ 'a\\nb' | indent(2, first=true) }}|{{ 'a\\n\\nb' | indent(1, blank=true) }}|{{ 'a\\nb' | indent('> ') }}"),
            "  a\n  b|a\n \n b|a\n> b");
}

TEST(JinjaFilters, SequenceFilters) {
  EXPECT_EQ(render("{{ [1, 2, 3] | length }}{{ 'héllo' | count }}{{ {'a': 1} | length }}{{ [3, 1] | first }}{{ [3, 1] | last }}"),
            "351" "31");
  EXPECT_EQ(render("{{ 'ab' | list }}{{ [1, 2, 3] | reverse | list }}{{ [3, 1, 2] | sort }}{{ [3, 1, 2] | sort(reverse=true) }}"),
            "['a', 'b'][3, 2, 1][1, 2, 3][3, 2, 1]");
  EXPECT_EQ(render("{{ ['b', 'A', 'a'] | sort }}{{ ['b', 'A', 'a'] | sort(case_sensitive=true) }}{{ ['a', 'A', 'b', 'a'] | unique | list }}"),
            "['A', 'a', 'b']['A', 'a', 'b']['a', 'b']");
  EXPECT_EQ(render("{{ [1, 2, 3] | join(',') }}|{{ [1, 2, 3] | sum }}|{{ [1.5, 2] | sum }}|{{ [3, 9, 4] | max }}|{{ [3, 9, 4] | min }}"),
            "1,2,3|6|3.5|9|3");
  EXPECT_EQ(render("{{ [1, 2, 3, 4, 5] | batch(2) | list }}{{ [1, 2, 3] | batch(2, 0) | list }}"), "[[1, 2], [3, 4], [5]][[1, 2], [3, 0]]");
}

TEST(JinjaFilters, AttributeDrivenFilters) {
  EXPECT_EQ(render("{{ people | map(attribute='name') | join(',') }}", kPeople), "bo,al,cy");
  EXPECT_EQ(render("{{ people | selectattr('role', 'equalto', 'user') | map(attribute='name') | list }}", kPeople), "['bo', 'cy']");
  EXPECT_EQ(render("{{ people | rejectattr('role', 'eq', 'user') | map(attribute='name') | first }}", kPeople), "al");
  EXPECT_EQ(render("{{ people | sort(attribute='age') | map(attribute='name') | join }}{{ people | sum(attribute='age') }}", kPeople),
            "albocy90");
  EXPECT_EQ(render("{{ (people | max(attribute='age')).name }}{{ people | unique(attribute='role') | list | length }}", kPeople), "cy2");
  // attr() is Python getattr only: a dict's keys are not attributes.
  EXPECT_EQ(render("[{{ people[0] | attr('name') }}]{{ people[0] | attr('items') is callable }}", kPeople), "[]True");
  EXPECT_EQ(render("{{ people | join(', ', attribute='name') }}", kPeople), "bo, al, cy");
  EXPECT_EQ(render("{{ [1, 2, 3, 4] | select('odd') | list }}{{ [1, 2, 3, 4] | reject('odd') | list }}{{ [0, 1, '', 'a'] | select | list }}"),
            "[1, 3][2, 4][1, 'a']");
  EXPECT_EQ(render("{{ [1, 5, 9] | select('gt', 3) | list }}{{ ['a', 'b'] | map('upper') | list }}"), "[5, 9]['A', 'B']");
}

TEST(JinjaFilters, DictFilters) {
  json ctx = {{"d", {{"b", 1}, {"A", 2}}}};
  EXPECT_EQ(render("{{ d | dictsort }}{{ d | dictsort(by='value', reverse=true) }}{{ d | items | list }}", ctx),
            "[('A', 2), ('b', 1)][('A', 2), ('b', 1)][('A', 2), ('b', 1)]");
}

TEST(JinjaFilters, Numbers) {
  EXPECT_EQ(render("{{ '42' | int + 1 }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ '0x1f' | int(base=16) }} {{ 3.9 | int }}"),
            "43 4 0 7 31 3");
  EXPECT_EQ(render("{{ '4.5' | float }} {{ 3 | float }} {{ 'x' | float }} {{ -3 | abs }} {{ -2.5 | abs }}"), "4.5 3.0 0.0 3 2.5");
  EXPECT_EQ(render("{{ 3.14159 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(0, 'floor') }} {{ 3 | round }}"),
            "3.14 2.0 4.0 3.0 2.0 3");
}

TEST(JinjaFilters, DefaultAndFriends) {
  EXPECT_EQ(render("{{ missing | default('d') }}|{{ none | default('d') }}|{{ '' | default('d') }}|{{ '' | default('d', true) }}|{{ x | d('y') }}"),
            "d|None||d|y");
}

TEST(JinjaFilters, ToJsonMatchesHuggingFace) {
  json ctx = {{"v", {{"name", "é\"<>&'\n"}, {"n", 1}, {"f", 1.0}, {"l", {true, nullptr}}, {"e", json::object()}}}};
  // HF's tojson is json.dumps(ensure_ascii=False): no HTML escaping, Python separators, float repr.
  EXPECT_EQ(render("{{ v | tojson }}", ctx), R"({"e": {}, "f": 1.0, "l": [true, null], "n": 1, "name": "é\"<>&'\n"})");
  EXPECT_EQ(render("{{ v.l | tojson(indent=2) }}", ctx), "[\n  true,\n  null\n]");
  EXPECT_EQ(render("{{ v.name | tojson(ensure_ascii=true) }}", ctx), R"("\u00e9\"<>&'\n")");
  EXPECT_EQ(render("{{ {'b': 1, 'a': [1, 2]} | tojson(separators=(',', ':'), sort_keys=true) }}"), R"({"a":[1,2],"b":1})");
  EXPECT_EQ(render("{{ '\\x01😀' | tojson }}{{ '😀' | tojson(ensure_ascii=true) }}"), "\"\\u0001😀\"\"\\ud83d\\ude00\"");
  ordered_json ordered = {{"v", {{"z", 1}, {"a", 2}}}};
  EXPECT_EQ(ChatTemplate("{{ v | tojson }}").render_ordered(ordered), R"({"z": 1, "a": 2})");  // input key order kept
}

TEST(JinjaTests, TypeTests) {
  EXPECT_EQ(render("{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is mapping }}"),
            "FalseTrueTrueTrueTrueFalse");
  EXPECT_EQ(render("{{ [] is iterable }}{{ 'a' is iterable }}{{ 1 is iterable }}{{ [] is sequence }}{{ 1 is sequence }}"),
            "TrueTrueFalseTrueFalse");
  EXPECT_EQ(render("{{ 1 is number }}{{ 1.5 is number }}{{ true is number }}{{ 'a' is number }}{{ 1 is integer }}{{ 1.0 is integer }}"
                   "{{ 1.0 is float }}{{ true is boolean }}{{ 1 is boolean }}"),
            "TrueTrueTrueFalseTrueFalseTrueTrueFalse");
  EXPECT_EQ(render("{{ true is true }}{{ 1 is true }}{{ false is false }}{{ range is callable }}{{ 'a' is callable }}"),
            "TrueFalseTrueTrueFalse");
}

TEST(JinjaTests, ValueTests) {
  EXPECT_EQ(render("{{ 4 is divisibleby 2 }}{{ 3 is odd }}{{ 3 is even }}{{ 'ab' is lower }}{{ 'AB' is upper }}{{ 2 is in [1, 2] }}"),
            "TrueTrueFalseTrueTrueTrue");
  EXPECT_EQ(render("{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 1 is ne 2 }}{{ 2 is gt 1 }}{{ 2 is ge 3 }}{{ 1 is lt 2 }}{{ 2 is le 2 }}"
                   "{{ none is sameas none }}{{ x is not defined }}"),
            "TrueFalseTrueTrueFalseTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ 'trim' is filter }}{{ 'nope' is filter }}{{ 'odd' is test }}"), "TrueFalseTrue");
}

TEST(JinjaGlobals, RangeDictNamespaceJoiner) {
  EXPECT_EQ(render("{{ range(3) | list }}{{ range(1, 7, 2) | list }}{{ range(3, 0, -1) | list }}"), "[0, 1, 2][1, 3, 5][3, 2, 1]");
  EXPECT_EQ(render("{{ dict(a=1, b='x') }}{{ dict({'k': 2}).k }}"), "{'a': 1, 'b': 'x'}2");
  EXPECT_EQ(render("{% set j = joiner(', ') %}{% for i in range(3) %}{{ j() }}{{ i }}{% endfor %}"), "0, 1, 2");
}

TEST(JinjaGlobals, RaiseException) {
  TemplateError e = render_error("ok {{ raise_exception('Conversation roles must alternate') }}");
  EXPECT_STREQ(e.what(), "line 1, column 22: Conversation roles must alternate");
  EXPECT_EQ(e.line(), 1);
  EXPECT_EQ(e.column(), 22);  // the call's opening parenthesis
}

TEST(JinjaGlobals, StrftimeNow) {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char year[8];
  std::strftime(year, sizeof year, "%Y", &local);
  EXPECT_EQ(render("{{ strftime_now('%Y') }}"), year);
}

}  // namespace
}  // namespace inhouse::chat::testing
