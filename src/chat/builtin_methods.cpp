// chat/builtin_methods — the Python methods templates call on values: str methods
// (split, strip, startswith, format, ...), dict methods (items, keys, values, get) and list
// methods (index, count). Mutating methods fail like in Hugging Face's immutable sandbox.
#include <functional>
#include <unordered_map>

#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/pystr.h"
#include "chat/utf8.h"

namespace inhouse::chat::jinja {
namespace {

using Method = std::function<Value(Interpreter&, const Value&, CallArgs&)>;
using MethodTable = std::unordered_map<std::string_view, Method>;

std::optional<std::string> opt_str(const Value& v, const char* what) {
  if (v.is_none() || v.is_undefined()) return std::nullopt;
  return arg_str(v, what);
}

Value string_list(std::vector<std::string> parts) {
  std::vector<Value> out;
  out.reserve(parts.size());
  for (auto& p : parts) out.emplace_back(std::move(p));
  return Value::make_array(std::move(out));
}

// startswith/endswith accept one string or a tuple of them.
Value affix_test(const Value& self, CallArgs& a, bool prefix) {
  Value what = a.get(0, prefix ? "prefix" : "suffix");
  auto start = arg_opt_int(a.get(1, "start", Value(nullptr)), "start");
  auto end = arg_opt_int(a.get(2, "end", Value(nullptr)), "end");
  std::vector<Value> options = what.is_array() ? what.items() : std::vector<Value>{what};
  for (const Value& o : options) {
    std::string s = arg_str(o, prefix ? "startswith() argument" : "endswith() argument");
    if (prefix ? pystr::starts_with(self.str(), s, start, end) : pystr::ends_with(self.str(), s, start, end))
      return Value(true);
  }
  return Value(false);
}

Value find_method(const Value& self, CallArgs& a, bool from_right, bool raise) {
  std::string sub = arg_str(a.get(0, "sub"), "substring");
  int64_t r = pystr::find(self.str(), sub, arg_opt_int(a.get(1, "start", Value(nullptr)), "start"),
                          arg_opt_int(a.get(2, "end", Value(nullptr)), "end"), from_right);
  if (r < 0 && raise) throw Error("substring not found");
  return Value(r);
}

Value join_method(const Value& self, Interpreter& in, CallArgs& a) {
  std::string out;
  size_t i = 0;
  for (const Value& item : in.iterate(a.get(0, "iterable"))) {
    if (!item.is_string())
      throw Error("sequence item " + std::to_string(i) + ": expected str instance, " + type_name(item) + " found");
    if (i++) out += self.str();
    out += item.str();
    in.check_size(out.size());
  }
  return Value(std::move(out));
}

Value partition(const Value& self, CallArgs& a, bool from_right) {
  std::string sep = arg_str(a.get(0, "sep"), "separator");
  if (sep.empty()) throw Error("empty separator");
  const std::string& s = self.str();
  size_t hit = from_right ? s.rfind(sep) : s.find(sep);
  if (hit == std::string::npos)
    return from_right ? Value::make_tuple({Value(""), Value(""), self}) : Value::make_tuple({self, Value(""), Value("")});
  return Value::make_tuple({Value(s.substr(0, hit)), Value(sep), Value(s.substr(hit + sep.size()))});
}

// Every code point satisfies `pred` and there is at least one (str.isalpha() and friends).
Value all_chars(const Value& self, bool (*pred)(char32_t)) {
  const std::string& s = self.str();
  if (s.empty()) return Value(false);
  for (size_t i = 0; i < s.size();)
    if (!pred(utf8::next(s, i))) return Value(false);
  return Value(true);
}

bool is_alnum(char32_t c) { return utf8::is_alpha(c) || utf8::is_digit(c); }

Value is_title(const Value& self) {
  bool cased = false, prev_cased = false;
  const std::string& s = self.str();
  for (size_t i = 0; i < s.size();) {
    char32_t c = utf8::next(s, i);
    if (utf8::is_upper(c)) {
      if (prev_cased) return Value(false);
      prev_cased = cased = true;
    } else if (utf8::is_lower(c)) {
      if (!prev_cased) return Value(false);
      prev_cased = cased = true;
    } else {
      prev_cased = false;
    }
  }
  return Value(cased);
}

Value strip_method(const Value& self, CallArgs& a, bool left, bool right) {
  return Value(pystr::strip(self.str(), opt_str(a.get(0, "chars", Value(nullptr)), "strip() argument"), left, right));
}

Value split_method(const Value& self, CallArgs& a, bool from_right) {
  auto sep = opt_str(a.get(0, "sep", Value(nullptr)), "separator");
  int64_t maxsplit = arg_int(a.get(1, "maxsplit", Value(-1)), "maxsplit");
  return string_list(from_right ? pystr::rsplit(self.str(), sep, maxsplit) : pystr::split(self.str(), sep, maxsplit));
}

Value pad_method(const Value& self, CallArgs& a, char align) {
  int64_t width = arg_int(a.get(0, "width"), "width");
  std::string fill = arg_str(a.get(1, "fillchar", Value(" ")), "fillchar");
  if (utf8::length(fill) != 1) throw Error("The fill character must be exactly one character long");
  size_t i = 0;
  return Value(pystr::pad(self.str(), width, utf8::next(fill, i), align));
}

Value affix_remove(const Value& self, CallArgs& a, bool prefix) {
  std::string x = arg_str(a.get(0, prefix ? "prefix" : "suffix"), "argument");
  const std::string& s = self.str();
  if (prefix && s.compare(0, x.size(), x) == 0) return Value(s.substr(x.size()));
  if (!prefix && s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0)
    return Value(s.substr(0, s.size() - x.size()));
  return self;
}

const MethodTable& string_methods() {
  static const MethodTable table = [] {
    MethodTable t;
    t["upper"] = [](Interpreter&, const Value& s, CallArgs&) { return Value(utf8::upper(s.str())); };
    t["lower"] = [](Interpreter&, const Value& s, CallArgs&) { return Value(utf8::lower(s.str())); };
    t["casefold"] = t["lower"];
    t["title"] = [](Interpreter&, const Value& s, CallArgs&) { return Value(pystr::title(s.str())); };
    t["capitalize"] = [](Interpreter&, const Value& s, CallArgs&) { return Value(pystr::capitalize(s.str())); };
    t["swapcase"] = [](Interpreter&, const Value& s, CallArgs&) { return Value(pystr::swapcase(s.str())); };
    t["strip"] = [](Interpreter&, const Value& s, CallArgs& a) { return strip_method(s, a, true, true); };
    t["lstrip"] = [](Interpreter&, const Value& s, CallArgs& a) { return strip_method(s, a, true, false); };
    t["rstrip"] = [](Interpreter&, const Value& s, CallArgs& a) { return strip_method(s, a, false, true); };
    t["split"] = [](Interpreter&, const Value& s, CallArgs& a) { return split_method(s, a, false); };
    t["rsplit"] = [](Interpreter&, const Value& s, CallArgs& a) { return split_method(s, a, true); };
    t["splitlines"] = [](Interpreter&, const Value& s, CallArgs& a) {
      return string_list(pystr::splitlines(s.str(), truthy(a.get(0, "keepends", Value(false)))));
    };
    t["startswith"] = [](Interpreter&, const Value& s, CallArgs& a) { return affix_test(s, a, true); };
    t["endswith"] = [](Interpreter&, const Value& s, CallArgs& a) { return affix_test(s, a, false); };
    t["removeprefix"] = [](Interpreter&, const Value& s, CallArgs& a) { return affix_remove(s, a, true); };
    t["removesuffix"] = [](Interpreter&, const Value& s, CallArgs& a) { return affix_remove(s, a, false); };
    t["find"] = [](Interpreter&, const Value& s, CallArgs& a) { return find_method(s, a, false, false); };
    t["rfind"] = [](Interpreter&, const Value& s, CallArgs& a) { return find_method(s, a, true, false); };
    t["index"] = [](Interpreter&, const Value& s, CallArgs& a) { return find_method(s, a, false, true); };
    t["rindex"] = [](Interpreter&, const Value& s, CallArgs& a) { return find_method(s, a, true, true); };
    t["count"] = [](Interpreter&, const Value& s, CallArgs& a) {
      return Value(pystr::count(s.str(), arg_str(a.get(0, "sub"), "substring"),
                                arg_opt_int(a.get(1, "start", Value(nullptr)), "start"),
                                arg_opt_int(a.get(2, "end", Value(nullptr)), "end")));
    };
    t["replace"] = [](Interpreter& in, const Value& s, CallArgs& a) {
      std::string r = pystr::replace(s.str(), arg_str(a.get(0, "old"), "old"), arg_str(a.get(1, "new"), "new"),
                                     arg_int(a.get(2, "count", Value(-1)), "count"));
      in.check_size(r.size());
      return Value(std::move(r));
    };
    t["join"] = [](Interpreter& in, const Value& s, CallArgs& a) { return join_method(s, in, a); };
    t["partition"] = [](Interpreter&, const Value& s, CallArgs& a) { return partition(s, a, false); };
    t["rpartition"] = [](Interpreter&, const Value& s, CallArgs& a) { return partition(s, a, true); };
    t["center"] = [](Interpreter&, const Value& s, CallArgs& a) { return pad_method(s, a, 'c'); };
    t["ljust"] = [](Interpreter&, const Value& s, CallArgs& a) { return pad_method(s, a, '<'); };
    t["rjust"] = [](Interpreter&, const Value& s, CallArgs& a) { return pad_method(s, a, '>'); };
    t["zfill"] = [](Interpreter&, const Value& s, CallArgs& a) {
      return Value(pystr::zfill(s.str(), arg_int(a.get(0, "width"), "width")));
    };
    t["format"] = [](Interpreter&, const Value& s, CallArgs& a) { return Value(pystr::format(s.str(), a)); };
    t["isalpha"] = [](Interpreter&, const Value& s, CallArgs&) { return all_chars(s, utf8::is_alpha); };
    t["isdigit"] = [](Interpreter&, const Value& s, CallArgs&) { return all_chars(s, utf8::is_digit); };
    t["isdecimal"] = t["isdigit"];
    t["isnumeric"] = t["isdigit"];
    t["isalnum"] = [](Interpreter&, const Value& s, CallArgs&) { return all_chars(s, is_alnum); };
    t["isspace"] = [](Interpreter&, const Value& s, CallArgs&) { return all_chars(s, utf8::is_space); };
    t["islower"] = [](Interpreter& in, const Value& s, CallArgs& a) { return Value(call_test(in, "lower", s, a)); };
    t["isupper"] = [](Interpreter& in, const Value& s, CallArgs& a) { return Value(call_test(in, "upper", s, a)); };
    t["istitle"] = [](Interpreter&, const Value& s, CallArgs&) { return is_title(s); };
    return t;
  }();
  return table;
}

Value dict_items(const Value& d) {
  std::vector<Value> out;
  out.reserve(d.object().entries.size());
  for (const auto& [k, v] : d.object().entries) out.push_back(Value::make_tuple({Value(k), v}));
  return Value::make_array(std::move(out));
}

const MethodTable& dict_methods() {
  static const MethodTable table = [] {
    MethodTable t;
    t["items"] = [](Interpreter&, const Value& d, CallArgs&) { return dict_items(d); };
    t["keys"] = [](Interpreter& in, const Value& d, CallArgs&) { return Value::make_array(in.iterate(d)); };
    t["values"] = [](Interpreter&, const Value& d, CallArgs&) {
      std::vector<Value> out;
      for (const auto& kv : d.object().entries) out.push_back(kv.second);
      return Value::make_array(std::move(out));
    };
    t["get"] = [](Interpreter&, const Value& d, CallArgs& a) {
      Value key = a.get(0, "key");
      const Value* v = key.is_string() ? d.object().find(key.str()) : nullptr;
      return v ? *v : a.get(1, "default", Value(nullptr));
    };
    t["copy"] = [](Interpreter&, const Value& d, CallArgs&) {
      Value c = Value::make_object();
      for (const auto& [k, v] : d.object().entries) c.object().add(k, v);
      return c;
    };
    return t;
  }();
  return table;
}

const MethodTable& list_methods() {
  static const MethodTable table = [] {
    MethodTable t;
    t["count"] = [](Interpreter&, const Value& l, CallArgs& a) {
      Value x = a.get(0, "value");
      int64_t n = 0;
      for (const Value& v : l.items()) n += equals(v, x) ? 1 : 0;
      return Value(n);
    };
    t["index"] = [](Interpreter&, const Value& l, CallArgs& a) {
      Value x = a.get(0, "value");
      for (size_t i = 0; i < l.items().size(); ++i)
        if (equals(l.items()[i], x)) return Value(i);
      throw Error(repr(x) + " is not in list");
    };
    t["copy"] = [](Interpreter&, const Value& l, CallArgs&) { return Value::make_array(l.items()); };
    return t;
  }();
  return table;
}

bool is_mutator(const Value& obj, std::string_view name) {
  static const char* const dict_mut[] = {"clear", "pop", "popitem", "setdefault", "update"};
  static const char* const list_mut[] = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};
  if (obj.is_dict())
    for (const char* m : dict_mut)
      if (name == m) return true;
  if (obj.is_array() && !obj.array().is_tuple)
    for (const char* m : list_mut)
      if (name == m) return true;
  return false;
}

const MethodTable* methods_of(const Value& obj) {
  if (obj.is_string()) return &string_methods();
  if (obj.is_dict()) return &dict_methods();
  if (obj.is_array()) return &list_methods();
  return nullptr;
}

}  // namespace

bool has_method(const Value& obj, std::string_view name) {
  const MethodTable* t = methods_of(obj);
  return (t && t->count(name)) || is_mutator(obj, name);
}

Value call_method(Interpreter& in, const Value& obj, const std::string& name, CallArgs& args) {
  if (is_mutator(obj, name))
    throw Error("access to attribute '" + name + "' of '" + type_name(obj) +
                "' object is unsafe (templates cannot modify lists or dicts; use a namespace)");
  if (const MethodTable* t = methods_of(obj)) {
    auto it = t->find(name);
    if (it != t->end()) return it->second(in, obj, args);
  }
  throw Error(object_description(obj) + " has no attribute '" + name + "'");
}

}  // namespace inhouse::chat::jinja
