// chat/builtin_tests — Jinja's tests (`x is defined`, `x is divisibleby 3`, ...) with the
// Python type rules behind them (a bool is a number; a dict is a sequence; ...).
#include <cmath>
#include <functional>
#include <unordered_map>

#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/utf8.h"

namespace inhouse::chat::jinja {
namespace {

using TestFn = std::function<bool(Interpreter&, const Value&, CallArgs&)>;

Value first_arg(CallArgs& a, const char* test) {
  if (a.positional.empty() && a.named.empty()) throw Error(std::string("test '") + test + "' needs an argument");
  return a.positional.empty() ? a.named.front().second : a.positional[0];
}

// Python's str.islower()/isupper(): some cased character, and all cased ones in that case.
bool string_case(const Value& v, bool want_lower) {
  if (!v.is_string()) return false;
  bool cased = false;
  const std::string& s = v.str();
  for (size_t i = 0; i < s.size();) {
    char32_t c = utf8::next(s, i);
    if (utf8::is_upper(c)) {
      if (want_lower) return false;
      cased = true;
    } else if (utf8::is_lower(c)) {
      if (!want_lower) return false;
      cased = true;
    }
  }
  return cased;
}

// Python's `value % divisor` for the numeric tests (floats included: 0.5 is not even).
double py_mod(const Value& v, double divisor, const char* test) {
  if (!v.is_number()) {
    check_defined(v);
    throw Error(std::string("test '") + test + "' needs a number, not " + type_name(v));
  }
  if (divisor == 0) throw Error("integer division or modulo by zero");
  double m = std::fmod(v.as_double(), divisor);
  if (m != 0 && ((m < 0) != (divisor < 0))) m += divisor;
  return m;
}

bool contains_value(Interpreter& in, const Value& container, const Value& item) {
  if (container.is_string()) return item.is_string() && container.str().find(item.str()) != std::string::npos;
  if (container.is_dict()) return item.is_string() && container.object().find(item.str());
  for (const Value& v : in.iterate(container))
    if (equals(v, item)) return true;
  return false;
}

TestFn comparison(int want_sign, bool or_equal, const char* op) {
  return [=](Interpreter&, const Value& v, CallArgs& a) {
    int c = compare(v, first_arg(a, op), op);
    return c == want_sign || (or_equal && c == 0);
  };
}

const std::unordered_map<std::string_view, TestFn>& tests() {
  static const std::unordered_map<std::string_view, TestFn> table = [] {
    std::unordered_map<std::string_view, TestFn> t;
    t["defined"] = [](Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); };
    t["undefined"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); };
    t["none"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_none(); };
    t["boolean"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_bool(); };
    t["true"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && v.get_bool(); };
    t["false"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && !v.get_bool(); };
    t["integer"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_int(); };
    t["float"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_float(); };
    t["number"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_number(); };
    t["string"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_string(); };
    t["mapping"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_dict(); };
    t["sequence"] = [](Interpreter&, const Value& v, CallArgs&) {
      return v.is_string() || v.is_array() || v.is_dict() || v.is_undefined();
    };
    t["iterable"] = [](Interpreter&, const Value& v, CallArgs&) {
      return v.is_string() || v.is_array() || v.is_dict() || v.is_undefined();
    };
    t["callable"] = [](Interpreter&, const Value& v, CallArgs&) {
      return v.is_callable() || (v.is_object() && v.object().find("__call__"));
    };
    t["escaped"] = [](Interpreter&, const Value&, CallArgs&) { return false; };  // no Markup here
    t["lower"] = [](Interpreter&, const Value& v, CallArgs&) { return string_case(v, true); };
    t["upper"] = [](Interpreter&, const Value& v, CallArgs&) { return string_case(v, false); };
    t["odd"] = [](Interpreter&, const Value& v, CallArgs&) { return py_mod(v, 2, "odd") == 1; };
    t["even"] = [](Interpreter&, const Value& v, CallArgs&) { return py_mod(v, 2, "even") == 0; };
    t["divisibleby"] = [](Interpreter&, const Value& v, CallArgs& a) {
      Value d = first_arg(a, "divisibleby");
      if (!d.is_number()) throw Error("divisibleby needs a number, not " + type_name(d));
      return py_mod(v, d.as_double(), "divisibleby") == 0;
    };
    t["sameas"] = [](Interpreter&, const Value& v, CallArgs& a) { return v.same_object(first_arg(a, "sameas")); };
    t["in"] = [](Interpreter& in, const Value& v, CallArgs& a) { return contains_value(in, first_arg(a, "in"), v); };
    t["filter"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_string() && has_filter(v.str()); };
    t["test"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_string() && has_test(v.str()); };
    TestFn eq = [](Interpreter&, const Value& v, CallArgs& a) { return equals(v, first_arg(a, "eq")); };
    TestFn ne = [](Interpreter&, const Value& v, CallArgs& a) { return !equals(v, first_arg(a, "ne")); };
    for (const char* n : {"eq", "equalto", "=="}) t[n] = eq;
    for (const char* n : {"ne", "!="}) t[n] = ne;
    for (const char* n : {"lt", "lessthan", "<"}) t[n] = comparison(-1, false, "<");
    for (const char* n : {"le", "<="}) t[n] = comparison(-1, true, "<=");
    for (const char* n : {"gt", "greaterthan", ">"}) t[n] = comparison(1, false, ">");
    for (const char* n : {"ge", ">="}) t[n] = comparison(1, true, ">=");
    return t;
  }();
  return table;
}

}  // namespace

bool has_test(std::string_view name) { return tests().count(name) != 0; }

bool call_test(Interpreter& in, std::string_view name, const Value& subject, CallArgs& args) {
  auto it = tests().find(name);
  if (it == tests().end()) throw Error("no test named '" + std::string(name) + "'");
  return it->second(in, subject, args);
}

}  // namespace inhouse::chat::jinja
