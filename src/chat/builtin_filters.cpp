// chat/builtin_filters — Jinja's filters (`value | name(args)`) as Jinja 3 defines them,
// with Hugging Face's `tojson` (Python json.dumps, non-ASCII kept, no HTML escaping).
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <unordered_map>
#include <utility>

#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/pystr.h"
#include "chat/utf8.h"

namespace inhouse::chat::jinja {
namespace {

using FilterFn = std::function<Value(Interpreter&, const Value&, CallArgs&)>;
using FilterTable = std::unordered_map<std::string_view, FilterFn>;

Value string_result(Interpreter& in, std::string s) {
  in.check_size(s.size());
  return Value(std::move(s));
}

// ---- numbers from strings (Python int()/float() rules) ----

std::string without_underscores(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  return s;
}

std::optional<double> parse_float(const std::string& text) {
  std::string s = without_underscores(pystr::strip(text, std::nullopt, true, true));
  std::string low = utf8::lower(s);
  size_t sign = (!low.empty() && (low[0] == '+' || low[0] == '-')) ? 1 : 0;
  std::string body = low.substr(sign);
  double sgn = sign && low[0] == '-' ? -1.0 : 1.0;
  if (body == "inf" || body == "infinity") return sgn * INFINITY;
  if (body == "nan") return NAN;
  size_t i = 0, digits = 0;
  while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, ++digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < body.size() && body[i] == 'e') {
    size_t j = i + 1;
    if (j < body.size() && (body[j] == '+' || body[j] == '-')) ++j;
    size_t exp_start = j;
    while (j < body.size() && std::isdigit(static_cast<unsigned char>(body[j]))) ++j;
    if (j == exp_start) return std::nullopt;
    i = j;
  }
  if (i != body.size()) return std::nullopt;
  return std::strtod(s.c_str(), nullptr);
}

std::optional<int64_t> parse_int(const std::string& text, int base) {
  std::string s = without_underscores(pystr::strip(text, std::nullopt, true, true));
  bool neg = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.erase(0, 1);
  std::string low = utf8::lower(s);
  auto has_prefix = [&](const char* p) { return low.rfind(p, 0) == 0; };
  if (base == 0) base = has_prefix("0x") ? 16 : has_prefix("0o") ? 8 : has_prefix("0b") ? 2 : 10;
  if ((base == 16 && has_prefix("0x")) || (base == 8 && has_prefix("0o")) || (base == 2 && has_prefix("0b"))) s.erase(0, 2);
  if (s.empty() || base < 2 || base > 36) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, base);
  if (*end != '\0' || errno == ERANGE || !std::isalnum(static_cast<unsigned char>(s[0]))) return std::nullopt;
  return neg ? -v : v;
}

// ---- sizes and items ----

Value f_length(Interpreter&, const Value& v, CallArgs&) {
  switch (v.type()) {
    case Value::Type::Undefined: return Value(0);
    case Value::Type::String: return Value(utf8::length(v.str()));
    case Value::Type::Array: return Value(v.items().size());
    case Value::Type::Object:
      if (v.is_dict()) return Value(v.object().entries.size());
      break;
    default: break;
  }
  throw Error("object of type '" + type_name(v) + "' has no len()");
}

Value f_first(Interpreter& in, const Value& v, CallArgs&) {
  std::vector<Value> items = in.iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(Interpreter& in, const Value& v, CallArgs&) {
  std::vector<Value> items = in.iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_list(Interpreter& in, const Value& v, CallArgs&) { return Value::make_array(in.iterate(v)); }

Value f_reverse(Interpreter& in, const Value& v, CallArgs&) {
  if (v.is_string()) {
    std::vector<char32_t> cps = utf8::decode(v.str());
    std::reverse(cps.begin(), cps.end());
    return Value(utf8::encode(cps));
  }
  std::vector<Value> items = in.iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::make_array(std::move(items));
}

Value f_items(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_undefined()) return Value::make_array();
  if (!v.is_dict()) throw Error("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, x] : v.object().entries) out.push_back(Value::make_tuple({Value(k), x}));
  return Value::make_array(std::move(out));
}

Value f_batch(Interpreter& in, const Value& v, CallArgs& a) {
  int64_t n = arg_int(a.get(0, "linecount"), "linecount");
  if (n <= 0) throw Error("batch size must be positive");
  Value fill = a.get(1, "fill_with", Value(nullptr));
  std::vector<Value> out, cur;
  for (const Value& item : in.iterate(v)) {
    if (static_cast<int64_t>(cur.size()) == n) out.push_back(Value::make_array(std::exchange(cur, {})));
    cur.push_back(item);
  }
  if (!cur.empty()) {
    while (!fill.is_none() && static_cast<int64_t>(cur.size()) < n) cur.push_back(fill);
    out.push_back(Value::make_array(std::move(cur)));
  }
  return Value::make_array(std::move(out));
}

// ---- strings ----

Value f_string(Interpreter& in, const Value& v, CallArgs&) { return string_result(in, to_str(v)); }
Value f_upper(Interpreter&, const Value& v, CallArgs&) { return Value(utf8::upper(to_str(v))); }
Value f_lower(Interpreter&, const Value& v, CallArgs&) { return Value(utf8::lower(to_str(v))); }
Value f_capitalize(Interpreter&, const Value& v, CallArgs&) { return Value(pystr::capitalize(to_str(v))); }
Value f_title(Interpreter&, const Value& v, CallArgs&) { return Value(pystr::jinja_title(to_str(v))); }

Value f_trim(Interpreter&, const Value& v, CallArgs& a) {
  Value chars = a.get(0, "chars", Value(nullptr));
  std::optional<std::string> set;
  if (!chars.is_none() && !chars.is_undefined()) set = arg_str(chars, "trim() chars");
  return Value(pystr::strip(to_str(v), set, true, true));
}

Value f_replace(Interpreter& in, const Value& v, CallArgs& a) {
  auto count = arg_opt_int(a.get(2, "count", Value(nullptr)), "count");
  return string_result(in, pystr::replace(to_str(v), to_str(a.get(0, "old")), to_str(a.get(1, "new")), count.value_or(-1)));
}

std::string indent_string(const Value& width) {
  if (width.is_string()) return width.str();
  int64_t n = arg_int(width, "indent width");
  return std::string(static_cast<size_t>(std::max<int64_t>(n, 0)), ' ');
}

// Filters that only make sense on text fail on other types, as Jinja's do.
const std::string& text_arg(const Value& v, const char* filter) {
  if (v.is_string()) return v.str();
  check_defined(v);
  throw Error(std::string("the '") + filter + "' filter needs a string, not " + type_name(v));
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& a) {
  std::string ind = indent_string(a.get(0, "width", Value(4)));
  bool first = truthy(a.get(1, "first", Value(false))), blank = truthy(a.get(2, "blank", Value(false)));
  // Jinja appends a newline before splitting, so a trailing newline is not kept.
  std::vector<std::string> lines = pystr::splitlines(text_arg(v, "indent") + "\n", false);
  std::string rv;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) rv += "\n";
    if (i > 0 && (blank || !lines[i].empty())) rv += ind;
    rv += lines[i];
    in.check_size(rv.size());
  }
  return string_result(in, first ? ind + rv : rv);
}

Value f_center(Interpreter& in, const Value& v, CallArgs& a) {
  return string_result(in, pystr::pad(to_str(v), arg_int(a.get(0, "width", Value(80)), "width"), U' ', 'c'));
}

Value f_escape(Interpreter& in, const Value& v, CallArgs&) {
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return string_result(in, std::move(out));
}

Value f_striptags(Interpreter&, const Value& v, CallArgs&) {
  std::string s = to_str(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 4, "<!--") == 0) {
      size_t e = s.find("-->", i);
      i = e == std::string::npos ? s.size() : e + 2;
    } else if (s[i] == '<' && s.find('>', i) != std::string::npos) {
      i = s.find('>', i);
    } else {
      out += s[i];
    }
  }
  std::vector<std::string> words = pystr::split(out, std::nullopt, -1);
  std::string joined;
  for (size_t k = 0; k < words.size(); ++k) joined += (k ? " " : "") + words[k];
  return Value(joined);
}

Value f_truncate(Interpreter& in, const Value& v, CallArgs& a) {
  int64_t length = arg_int(a.get(0, "length", Value(255)), "length");
  int64_t leeway = arg_int(a.get(3, "leeway", Value(5)), "leeway");
  if (!v.is_string()) {  // Python returns short sized values unchanged
    CallArgs none;
    if (v.is_undefined() || f_length(in, v, none).get_int() <= length + leeway) return v;
  }
  std::string s = text_arg(v, "truncate");
  bool killwords = truthy(a.get(1, "killwords", Value(false)));
  std::string end = to_str(a.get(2, "end", Value("...")));
  std::vector<size_t> offs = utf8::offsets(s);
  int64_t n = static_cast<int64_t>(offs.size()) - 1;
  if (n <= length + leeway) return Value(s);
  int64_t keep = std::clamp<int64_t>(length - static_cast<int64_t>(utf8::length(end)), 0, n);
  std::string head = s.substr(0, offs[static_cast<size_t>(keep)]);
  if (!killwords) {
    size_t sp = head.rfind(' ');
    if (sp != std::string::npos) head.resize(sp);
  }
  return Value(head + end);
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs&) {
  std::string s = to_str(v);
  int64_t words = 0;
  bool in_word = false;
  for (size_t i = 0; i < s.size();) {
    char32_t c = utf8::next(s, i);
    bool w = utf8::is_alpha(c) || utf8::is_digit(c) || c == '_';
    if (w && !in_word) ++words;
    in_word = w;
  }
  return Value(words);
}

Value f_format(Interpreter& in, const Value& v, CallArgs& a) {
  if (!a.positional.empty() && !a.named.empty())
    throw Error("can't handle positional and keyword arguments at the same time");
  Value args = Value::make_tuple(a.positional);
  if (!a.named.empty()) {
    args = Value::make_object();
    for (const auto& [k, x] : a.named) args.object().set(k, x);
  }
  return string_result(in, pystr::percent_format(to_str(v), args));
}

// ---- numbers ----

Value f_int(Interpreter&, const Value& v, CallArgs& a) {
  Value dflt = a.get(0, "default", Value(0));
  int base = static_cast<int>(arg_int(a.get(1, "base", Value(10)), "base"));
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) {
    double d = v.get_float();
    return std::isfinite(d) && std::fabs(d) < 9.2e18 ? Value(static_cast<int64_t>(d)) : dflt;
  }
  if (!v.is_string()) return dflt;
  if (auto i = parse_int(v.str(), base)) return Value(*i);
  if (auto d = parse_float(v.str()); d && std::isfinite(*d) && std::fabs(*d) < 9.2e18) return Value(static_cast<int64_t>(*d));
  return dflt;
}

Value f_float(Interpreter&, const Value& v, CallArgs& a) {
  Value dflt = a.get(0, "default", Value(0.0));
  if (v.is_number()) return Value(v.as_double());
  if (v.is_string())
    if (auto d = parse_float(v.str())) return Value(*d);
  return dflt;
}

Value f_abs(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_float()) return Value(std::fabs(v.get_float()));
  if (v.is_int() || v.is_bool()) {
    int64_t i = v.as_int();
    if (i == INT64_MIN) throw Error("integer overflow");
    return Value(i < 0 ? -i : i);
  }
  check_defined(v);
  throw Error("bad operand type for abs(): '" + type_name(v) + "'");
}

// Python's round(x, n): correctly rounded, ties to even (printf rounds the same way).
double round_common(double x, int64_t n) {
  if (!std::isfinite(x)) return x;
  if (n < 0) {
    double p = std::pow(10.0, static_cast<double>(-n));
    return std::nearbyint(x / p) * p;
  }
  char buf[400];
  std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::min<int64_t>(n, 340)), x);
  return std::strtod(buf, nullptr);
}

// Python's round(int, n): exact, ties to even; n >= 0 leaves the int unchanged.
int64_t round_int(int64_t x, int64_t n) {
  if (n >= 0) return x;
  if (n < -18) return 0;
  int64_t p = 1;
  for (int64_t k = 0; k < -n; ++k) p *= 10;
  int64_t q = x / p, r = x % p;
  if (r < 0) r += p, --q;  // floor division
  if (2 * r > p || (2 * r == p && (q % 2 != 0))) ++q;
  int64_t out;
  if (__builtin_mul_overflow(q, p, &out)) throw Error("integer overflow");
  return out;
}

Value f_round(Interpreter&, const Value& v, CallArgs& a) {
  int64_t precision = arg_int(a.get(0, "precision", Value(0)), "precision");
  std::string method = to_str(a.get(1, "method", Value("common")));
  if (method != "common" && method != "ceil" && method != "floor")
    throw Error("method must be common, ceil or floor");
  if (!v.is_number()) {
    check_defined(v);
    throw Error("round() needs a number, not " + type_name(v));
  }
  if (method == "common") {
    if (v.is_float()) return Value(round_common(v.get_float(), precision));
    return Value(round_int(v.as_int(), precision));  // round() of an int stays an int
  }
  double p = std::pow(10.0, static_cast<double>(precision));
  double x = v.as_double() * p;
  return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / p);
}

// ---- attribute-driven helpers ----

Value case_key(const Value& v, bool case_sensitive) {
  return !case_sensitive && v.is_string() ? Value(utf8::lower(v.str())) : v;
}

// The sort/unique key of `item`: item itself or its attribute(s) "a.b,c".
Value item_key(Interpreter& in, const Value& item, const Value& attribute, bool case_sensitive) {
  if (attribute.is_none() || attribute.is_undefined()) return case_key(item, case_sensitive);
  std::string spec = to_str(attribute);
  std::vector<std::string> parts = pystr::split(spec, std::string(","), -1);
  if (parts.size() == 1) return case_key(attribute_path(in, item, parts[0]), case_sensitive);
  std::vector<Value> keys;
  for (const auto& p : parts) keys.push_back(case_key(attribute_path(in, item, p), case_sensitive));
  return Value::make_tuple(std::move(keys));
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& a) {
  bool reverse = truthy(a.get(0, "reverse", Value(false)));
  bool cs = truthy(a.get(1, "case_sensitive", Value(false)));
  Value attribute = a.get(2, "attribute", Value(nullptr));
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value& item : in.iterate(v)) keyed.emplace_back(item_key(in, item, attribute, cs), item);
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& x, const auto& y) {
    return reverse ? compare(y.first, x.first) < 0 : compare(x.first, y.first) < 0;
  });
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return Value::make_array(std::move(out));
}

Value f_dictsort(Interpreter& in, const Value& v, CallArgs& a) {
  bool cs = truthy(a.get(0, "case_sensitive", Value(false)));
  std::string by = to_str(a.get(1, "by", Value("key")));
  bool reverse = truthy(a.get(2, "reverse", Value(false)));
  if (by != "key" && by != "value") throw Error("You can only sort by either \"key\" or \"value\"");
  if (!v.is_dict()) throw Error("dictsort needs a mapping, not " + type_name(v));
  size_t pos = by == "key" ? 0 : 1;
  CallArgs none;
  std::vector<Value> pairs = f_items(in, v, none).items();
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
    Value kx = case_key(x.items()[pos], cs), ky = case_key(y.items()[pos], cs);
    return reverse ? compare(ky, kx) < 0 : compare(kx, ky) < 0;
  });
  return Value::make_array(std::move(pairs));
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& a) {
  bool cs = truthy(a.get(0, "case_sensitive", Value(false)));
  Value attribute = a.get(1, "attribute", Value(nullptr));
  std::vector<Value> seen, out;
  for (const Value& item : in.iterate(v)) {
    Value key = item_key(in, item, attribute, cs);
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::make_array(std::move(out));
}

Value min_max(Interpreter& in, const Value& v, CallArgs& a, bool want_max) {
  bool cs = truthy(a.get(0, "case_sensitive", Value(false)));
  Value attribute = a.get(1, "attribute", Value(nullptr));
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = item_key(in, items[0], attribute, cs);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = item_key(in, items[i], attribute, cs);
    int c = compare(k, best_key);
    if (want_max ? c > 0 : c < 0) best = i, best_key = k;
  }
  return items[best];
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& a) {
  Value attribute = a.get(0, "attribute", Value(nullptr));
  Value total = a.get(1, "start", Value(0));
  for (Value item : in.iterate(v)) {
    if (!attribute.is_none() && !attribute.is_undefined()) item = attribute_path(in, item, to_str(attribute));
    if (total.is_number() && item.is_number()) {
      if (total.is_float() || item.is_float()) total = Value(total.as_double() + item.as_double());
      else if (int64_t r; !__builtin_add_overflow(total.as_int(), item.as_int(), &r)) total = Value(r);
      else throw Error("integer overflow");
    } else if (total.is_array() && item.is_array()) {
      std::vector<Value> joined = total.items();
      joined.insert(joined.end(), item.items().begin(), item.items().end());
      total = Value::make_array(std::move(joined));
    } else {
      check_defined(item);
      throw Error("unsupported operand type(s) for +: '" + type_name(total) + "' and '" + type_name(item) + "'");
    }
  }
  return total;
}

Value f_join(Interpreter& in, const Value& v, CallArgs& a) {
  std::string sep = to_str(a.get(0, "d", Value("")));
  Value attribute = a.get(1, "attribute", Value(nullptr));
  std::string out;
  bool first = true;
  for (Value item : in.iterate(v)) {
    if (!attribute.is_none() && !attribute.is_undefined()) item = attribute_path(in, item, to_str(attribute));
    if (!first) out += sep;
    out += to_str(item);
    first = false;
    in.check_size(out.size());
  }
  return Value(std::move(out));
}

Value f_map(Interpreter& in, const Value& v, CallArgs& a) {
  std::vector<Value> out;
  if (a.positional.empty() && a.find("attribute")) {
    std::string attr = to_str(*a.find("attribute"));
    const Value* dflt = a.find("default");
    for (const Value& item : in.iterate(v)) {
      Value x = attribute_path(in, item, attr);
      out.push_back(dflt && x.is_undefined() ? *dflt : x);
    }
    return Value::make_array(std::move(out));
  }
  if (a.positional.empty()) throw Error("map requires a filter argument");
  std::string name = arg_str(a.positional[0], "map filter name");
  if (!has_filter(name)) throw Error("no filter named '" + name + "'");
  for (const Value& item : in.iterate(v)) {
    CallArgs rest{{a.positional.begin() + 1, a.positional.end()}, a.named};
    out.push_back(call_filter(in, name, item, rest));
  }
  return Value::make_array(std::move(out));
}

// select/reject/selectattr/rejectattr: keep items whose (attribute's) test result is `keep`.
Value select_impl(Interpreter& in, const Value& v, CallArgs& a, bool by_attr, bool keep) {
  size_t off = by_attr ? 1 : 0;
  if (by_attr && a.positional.empty()) throw Error("Missing parameter for attribute name");
  std::string attr = by_attr ? to_str(a.positional[0]) : "";
  std::string test = a.positional.size() > off ? arg_str(a.positional[off], "test name") : "";
  if (!test.empty() && !has_test(test)) throw Error("no test named '" + test + "'");
  std::vector<Value> out;
  if (!truthy(v)) return Value::make_array();
  for (const Value& item : in.iterate(v)) {
    Value subject = by_attr ? attribute_path(in, item, attr) : item;
    bool r;
    if (test.empty()) {
      r = truthy(subject);
    } else {
      CallArgs rest{{a.positional.begin() + static_cast<std::ptrdiff_t>(off + 1), a.positional.end()}, a.named};
      r = call_test(in, test, subject, rest);
    }
    if (r == keep) out.push_back(item);
  }
  return Value::make_array(std::move(out));
}

Value f_attr(Interpreter& in, const Value& v, CallArgs& a) {
  std::string name = arg_str(a.get(0, "name"), "attribute name");
  check_defined(v);
  if (has_method(v, name)) return in.getattr(v, name);
  if (v.is_object() && !v.is_dict())
    if (const Value* x = v.object().find(name)) return *x;
  return Value::undefined(object_description(v) + " has no attribute '" + name + "'");
}

// ---- JSON ----

// Hugging Face's override: tojson(x, ensure_ascii=False, indent=None, separators=None,
// sort_keys=False) = json.dumps with those arguments (note: positional order starts with
// ensure_ascii, unlike Jinja's own tojson(indent)).
Value f_tojson(Interpreter& in, const Value& v, CallArgs& a) {
  JsonOptions o;
  o.ensure_ascii = truthy(a.get(0, "ensure_ascii", Value(false)));
  Value indent = a.get(1, "indent", Value(nullptr));
  if (!indent.is_none() && !indent.is_undefined()) {
    o.indent = indent_string(indent);
    o.item_separator = ",";
  }
  Value seps = a.get(2, "separators", Value(nullptr));
  if (!seps.is_none() && !seps.is_undefined()) {
    if (!seps.is_array() || seps.items().size() != 2) throw Error("tojson separators must be a pair of strings");
    o.item_separator = arg_str(seps.items()[0], "item separator");
    o.key_separator = arg_str(seps.items()[1], "key separator");
  }
  o.sort_keys = truthy(a.get(3, "sort_keys", Value(false)));
  return string_result(in, to_json(v, o));
}

// ---- table ----

const FilterTable& filters() {
  static const FilterTable table = [] {
    FilterTable t;
    t["length"] = t["count"] = f_length;
    t["first"] = f_first;
    t["last"] = f_last;
    t["list"] = f_list;
    t["reverse"] = f_reverse;
    t["items"] = f_items;
    t["batch"] = f_batch;
    t["string"] = f_string;
    t["safe"] = f_string;  // no autoescaping here, so "safe" only stringifies
    t["upper"] = f_upper;
    t["lower"] = f_lower;
    t["capitalize"] = f_capitalize;
    t["title"] = f_title;
    t["trim"] = f_trim;
    t["replace"] = f_replace;
    t["indent"] = f_indent;
    t["center"] = f_center;
    t["e"] = t["escape"] = t["forceescape"] = f_escape;
    t["striptags"] = f_striptags;
    t["truncate"] = f_truncate;
    t["wordcount"] = f_wordcount;
    t["format"] = f_format;
    t["int"] = f_int;
    t["float"] = f_float;
    t["abs"] = f_abs;
    t["round"] = f_round;
    t["sort"] = f_sort;
    t["dictsort"] = f_dictsort;
    t["unique"] = f_unique;
    t["min"] = [](Interpreter& in, const Value& v, CallArgs& a) { return min_max(in, v, a, false); };
    t["max"] = [](Interpreter& in, const Value& v, CallArgs& a) { return min_max(in, v, a, true); };
    t["sum"] = f_sum;
    t["join"] = f_join;
    t["map"] = f_map;
    t["select"] = [](Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, true); };
    t["reject"] = [](Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, false); };
    t["selectattr"] = [](Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, true); };
    t["rejectattr"] = [](Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, false); };
    t["attr"] = f_attr;
    t["tojson"] = f_tojson;
    t["d"] = t["default"] = [](Interpreter&, const Value& v, CallArgs& a) {
      Value d = a.get(0, "default_value", Value(""));
      bool boolean = truthy(a.get(1, "boolean", Value(false)));
      return v.is_undefined() || (boolean && !truthy(v)) ? d : v;
    };
    t["pprint"] = [](Interpreter&, const Value& v, CallArgs&) { return Value(repr(v)); };
    return t;
  }();
  return table;
}

// Jinja filters this interpreter does not implement: templates naming them still parse,
// and fail only if the filter actually runs.
bool unsupported_filter(std::string_view name) {
  static const char* const names[] = {"groupby", "slice", "urlize", "urlencode", "wordwrap",
                                      "xmlattr", "filesizeformat", "random", "mark_unsafe"};
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

}  // namespace

bool has_filter(std::string_view name) { return filters().count(name) != 0 || unsupported_filter(name); }

Value call_filter(Interpreter& in, std::string_view name, const Value& subject, CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) throw Error("filter '" + std::string(name) + "' is not supported");
  return it->second(in, subject, args);
}

}  // namespace inhouse::chat::jinja
