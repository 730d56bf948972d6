// chat/value — Python semantics of interpreter values: str()/repr(), truthiness, equality,
// ordering, JSON in (nlohmann) and JSON out (Python json.dumps byte-for-byte).
#include "chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_set>

#include "chat/utf8.h"

namespace inhouse::chat::jinja {

// ---- containers and construction ----

const Value* ObjectData::find(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k == key) return &v;
  return nullptr;
}

namespace {

// Bounds recursion over values that contain themselves (a namespace can hold itself),
// which depth bookkeeping alone cannot catch.
struct RecursionGuard {
  static thread_local int active;
  RecursionGuard() {
    if (++active > kMaxValueDepth + 8) {
      --active;
      throw Error("value nested too deeply (or it contains itself)");
    }
  }
  ~RecursionGuard() { --active; }
  RecursionGuard(const RecursionGuard&) = delete;
  RecursionGuard& operator=(const RecursionGuard&) = delete;
};
thread_local int RecursionGuard::active = 0;

int child_depth(const Value& v) {
  int d = v.depth() + 1;
  if (d > kMaxValueDepth) throw Error("value nested too deeply (more than " + std::to_string(kMaxValueDepth) + " levels)");
  return d;
}

}  // namespace

void ObjectData::note(const Value& v) {
  depth = std::max(depth, child_depth(v));
  holds_mutable = holds_mutable || v.reaches_mutable();
}

void ObjectData::set(const std::string& key, Value v) {
  note(v);
  for (auto& [k, old] : entries)
    if (k == key) {
      old = std::move(v);
      return;
    }
  entries.emplace_back(key, std::move(v));
}

void ObjectData::set_at(size_t index, Value v) {
  note(v);
  entries.at(index).second = std::move(v);
}

void ObjectData::add(std::string key, Value v) {
  note(v);
  entries.emplace_back(std::move(key), std::move(v));
}

Value Value::undefined(std::string hint) {
  Value v;
  v.v_ = Undef{std::make_shared<const std::string>(std::move(hint))};
  return v;
}

namespace {

int items_depth(const std::vector<Value>& items) {
  int d = 1;
  for (const Value& v : items) d = std::max(d, child_depth(v));
  return d;
}

bool any_mutable(const std::vector<Value>& items) {
  for (const Value& v : items)
    if (v.reaches_mutable()) return true;
  return false;
}

}  // namespace

Value Value::make_array(std::vector<Value> items) {
  Value v;
  int d = items_depth(items);
  bool m = any_mutable(items);
  v.v_ = std::make_shared<ArrayData>(ArrayData{std::move(items), false, d, m});
  return v;
}

Value Value::make_tuple(std::vector<Value> items) {
  Value v;
  int d = items_depth(items);
  bool m = any_mutable(items);
  v.v_ = std::make_shared<ArrayData>(ArrayData{std::move(items), true, d, m});
  return v;
}

int Value::depth() const {
  if (is_array()) return array().depth;
  if (is_object()) return object().depth;
  if (is_callable()) return callable().depth;
  return 0;
}

Value Value::make_object(ObjectData::Kind kind) {
  Value v;
  auto data = std::make_shared<ObjectData>();
  data->kind = kind;
  v.v_ = std::move(data);
  return v;
}

Value Value::make_callable(std::string name, NativeFn fn, const Value* held) {
  Value v;
  int d = held ? child_depth(*held) : 0;
  auto keep = held ? std::make_shared<const Value>(*held) : nullptr;
  v.v_ = std::make_shared<const CallableData>(CallableData{std::move(name), std::move(fn), std::move(keep), d});
  return v;
}

bool Value::reaches_mutable() const {
  switch (type()) {
    case Type::Array: return array().holds_mutable;
    case Type::Object: return object().kind != ObjectData::Kind::Dict || object().holds_mutable;
    case Type::Callable: return callable().held && callable().held->reaches_mutable();
    default: return false;
  }
}

namespace {

// Depth-first search through the values that can hold mutable objects; `seen` keeps
// shared sub-values from being walked twice.
bool reaches_impl(const Value& v, const ObjectData* target, std::unordered_set<const void*>& seen) {
  if (!v.reaches_mutable()) return false;
  if (v.is_callable()) return reaches_impl(*v.callable().held, target, seen);
  const void* id = v.is_object() ? static_cast<const void*>(&v.object()) : static_cast<const void*>(&v.array());
  if (id == target || (v.is_object() && v.object().kind == ObjectData::Kind::Loop)) return true;
  if (!seen.insert(id).second) return false;
  if (v.is_array()) {
    for (const Value& item : v.items())
      if (reaches_impl(item, target, seen)) return true;
    return false;
  }
  for (const auto& kv : v.object().entries)
    if (reaches_impl(kv.second, target, seen)) return true;
  return false;
}

}  // namespace

bool reaches(const Value& v, const ObjectData* object) {
  std::unordered_set<const void*> seen;
  return reaches_impl(v, object, seen);
}

int64_t Value::as_int() const { return is_bool() ? int64_t{get_bool()} : get_int(); }

double Value::as_double() const {
  if (is_float()) return get_float();
  return static_cast<double>(as_int());
}

const std::string& Value::undefined_hint() const {
  static const std::string none = "value is undefined";
  const auto& h = std::get<Undef>(v_).hint;
  return h ? *h : none;
}

bool Value::same_object(const Value& o) const {
  if (type() != o.type()) return false;
  switch (type()) {
    case Type::Array: return std::get<ArrPtr>(v_) == std::get<ArrPtr>(o.v_);
    case Type::Object: return std::get<ObjPtr>(v_) == std::get<ObjPtr>(o.v_);
    case Type::Callable: return std::get<FnPtr>(v_) == std::get<FnPtr>(o.v_);
    default: return equals(*this, o);
  }
}

const Value* CallArgs::find(std::string_view name) const {
  for (const auto& [k, v] : named)
    if (k == name) return &v;
  return nullptr;
}

Value CallArgs::get(size_t index, std::string_view name, Value fallback) const {
  if (index < positional.size()) return positional[index];
  if (const Value* v = find(name)) return *v;
  return fallback;
}

// ---- names and undefined ----

std::string type_name(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined: return "Undefined";
    case Value::Type::None: return "NoneType";
    case Value::Type::Bool: return "bool";
    case Value::Type::Int: return "int";
    case Value::Type::Float: return "float";
    case Value::Type::String: return "str";
    case Value::Type::Array: return v.array().is_tuple ? "tuple" : "list";
    case Value::Type::Object:
      switch (v.object().kind) {
        case ObjectData::Kind::Namespace: return "Namespace";
        case ObjectData::Kind::Loop: return "LoopContext";
        default: return "dict";
      }
    case Value::Type::Callable: return "function";
  }
  return "object";
}

std::string object_description(const Value& v) {
  if (v.is_none()) return "'None'";
  std::string d = "'";
  d += type_name(v);
  return d + " object'";
}

void throw_undefined(const Value& v) { throw Error(v.undefined_hint()); }

void check_defined(const Value& v) {
  if (v.is_undefined()) throw_undefined(v);
}

bool truthy(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined: case Value::Type::None: return false;
    case Value::Type::Bool: return v.get_bool();
    case Value::Type::Int: return v.get_int() != 0;
    case Value::Type::Float: return v.get_float() != 0.0;
    case Value::Type::String: return !v.str().empty();
    case Value::Type::Array: return !v.items().empty();
    case Value::Type::Object:
      return v.object().kind != ObjectData::Kind::Dict || !v.object().entries.empty();
    case Value::Type::Callable: return true;
  }
  return false;
}

// ---- str() and repr() ----

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "-1.2345e+02": shortest digits that round-trip
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  int exp = std::stoi(sci.substr(e + 1));
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out = neg ? "-" : "";
  // Python's repr switches to exponent notation outside 1e-5 <= |d| < 1e16.
  if (exp < -4 || exp >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return out + eb;
  }
  if (exp < 0) return out + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  size_t int_len = static_cast<size_t>(exp) + 1;
  if (digits.size() <= int_len) return out + digits + std::string(int_len - digits.size(), '0') + ".0";
  return out + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

namespace {

// Code points Python's str.isprintable() rejects beyond ASCII controls (repr escapes them).
bool non_printable(char32_t c) {
  return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0xA0) || c == 0xAD || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
         (c >= 0x205F && c <= 0x2064) || c == 0x3000 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB);
}

std::string string_repr(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    char32_t c = utf8::next(s, i);
    char buf[16];
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (non_printable(c)) {
      if (c < 0x100) std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      else std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      utf8::append(out, c);
    }
  }
  return out + quote;
}

std::string array_repr(const ArrayData& a) {
  RecursionGuard guard;
  std::string out = a.is_tuple ? "(" : "[";
  for (size_t i = 0; i < a.items.size(); ++i) out += (i ? ", " : "") + repr(a.items[i]);
  if (a.is_tuple && a.items.size() == 1) out += ",";
  return out + (a.is_tuple ? ")" : "]");
}

std::string dict_repr(const ObjectData& o) {
  RecursionGuard guard;
  std::string out = "{";
  for (size_t i = 0; i < o.entries.size(); ++i)
    out += (i ? ", " : "") + string_repr(o.entries[i].first) + ": " + repr(o.entries[i].second);
  return out + "}";
}

}  // namespace

std::string to_str(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined: return "";
    case Value::Type::String: return v.str();
    default: return repr(v);
  }
}

std::string repr(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined: return "Undefined";
    case Value::Type::None: return "None";
    case Value::Type::Bool: return v.get_bool() ? "True" : "False";
    case Value::Type::Int: return std::to_string(v.get_int());
    case Value::Type::Float: return float_repr(v.get_float());
    case Value::Type::String: return string_repr(v.str());
    case Value::Type::Array: return array_repr(v.array());
    case Value::Type::Object:
      switch (v.object().kind) {
        case ObjectData::Kind::Namespace: return "<Namespace " + dict_repr(v.object()) + ">";
        case ObjectData::Kind::Loop: return "<LoopContext>";
        default: return dict_repr(v.object());
      }
    case Value::Type::Callable: return "<function " + v.callable().name + ">";
  }
  return "";
}

// ---- equality and ordering ----

namespace {

bool dict_equals(const ObjectData& a, const ObjectData& b) {
  if (a.kind != b.kind) return false;
  if (a.kind != ObjectData::Kind::Dict) return &a == &b;  // identity, like Python objects
  if (a.entries.size() != b.entries.size()) return false;
  for (const auto& [k, v] : a.entries) {
    const Value* other = b.find(k);
    if (!other || !equals(v, *other)) return false;
  }
  return true;
}

}  // namespace

bool equals(const Value& a, const Value& b) {
  RecursionGuard guard;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::Undefined: case Value::Type::None: return true;
    case Value::Type::String: return a.str() == b.str();
    case Value::Type::Array: {
      const auto &x = a.items(), &y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!equals(x[i], y[i])) return false;
      return true;
    }
    case Value::Type::Object: return dict_equals(a.object(), b.object());
    case Value::Type::Callable: return a.same_object(b);
    default: return false;
  }
}

int compare(const Value& a, const Value& b, const char* op) {
  RecursionGuard guard;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_double(), y = b.as_double();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.str().compare(b.str());  // UTF-8 byte order is code point order
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_array() && b.is_array()) {
    const auto &x = a.items(), &y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!equals(x[i], y[i])) return compare(x[i], y[i], op);
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  check_defined(a);
  check_defined(b);
  throw Error(std::string("'") + op + "' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

// ---- JSON in ----

namespace {

template <class J>
Value json_to_value(const J& j, int depth) {
  if (depth > kMaxValueDepth) throw Error("JSON value nested too deeply (more than " + std::to_string(kMaxValueDepth) + " levels)");
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value(nullptr);
    case nlohmann::json::value_t::boolean: return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.template get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<int64_t>(u));
      return Value(static_cast<double>(u));
    }
    case nlohmann::json::value_t::number_float: return Value(j.template get<double>());
    case nlohmann::json::value_t::string: return Value(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(json_to_value(e, depth + 1));
      return Value::make_array(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value obj = Value::make_object();
      for (auto it = j.begin(); it != j.end(); ++it) obj.object().add(it.key(), json_to_value(it.value(), depth + 1));
      return obj;
    }
    default: return Value(nullptr);  // binary / discarded: not produced by parsing text
  }
}

}  // namespace

Value from_json(const nlohmann::json& j) { return json_to_value(j, 0); }
Value from_json(const nlohmann::ordered_json& j) { return json_to_value(j, 0); }

// ---- JSON out (Python json.dumps) ----

namespace {

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  char buf[16];
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t c = utf8::next(s, i);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
      if (c >= 0x10000) {  // surrogate pair, as Python writes it
        char32_t v = c - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 | (v >> 10)),
                      static_cast<unsigned>(0xDC00 | (v & 0x3FF)));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      }
      out += buf;
    } else {
      out.append(s, start, i - start);  // keep the original bytes
    }
  }
  out += '"';
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return float_repr(d);
}

struct JsonWriter {
  const JsonOptions& opts;
  std::string out;
  int depth = 0;

  void newline(int level) {
    out += '\n';
    for (int i = 0; i < level; ++i) out += *opts.indent;
  }

  void write(const Value& v, int level) {
    if (++depth > 512) throw Error("tojson: value nested too deeply");
    switch (v.type()) {
      case Value::Type::None: out += "null"; break;
      case Value::Type::Bool: out += v.get_bool() ? "true" : "false"; break;
      case Value::Type::Int: out += std::to_string(v.get_int()); break;
      case Value::Type::Float: out += json_float(v.get_float()); break;
      case Value::Type::String: json_string(out, v.str(), opts.ensure_ascii); break;
      case Value::Type::Array: write_array(v.items(), level); break;
      case Value::Type::Object:
        if (!v.is_dict()) throw Error("Object of type " + type_name(v) + " is not JSON serializable");
        write_object(v.object(), level);
        break;
      default: throw Error("Object of type " + type_name(v) + " is not JSON serializable");
    }
    --depth;
  }

  void write_array(const std::vector<Value>& items, int level) {
    if (items.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += opts.item_separator;
      if (opts.indent) newline(level + 1);
      write(items[i], level + 1);
    }
    if (opts.indent) newline(level);
    out += ']';
  }

  void write_object(const ObjectData& o, int level) {
    if (o.entries.empty()) {
      out += "{}";
      return;
    }
    std::vector<const std::pair<std::string, Value>*> order;
    for (const auto& e : o.entries) order.push_back(&e);
    if (opts.sort_keys)
      std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
    out += '{';
    for (size_t i = 0; i < order.size(); ++i) {
      if (i) out += opts.item_separator;
      if (opts.indent) newline(level + 1);
      json_string(out, order[i]->first, opts.ensure_ascii);
      out += opts.key_separator;
      write(order[i]->second, level + 1);
    }
    if (opts.indent) newline(level);
    out += '}';
  }
};

}  // namespace

std::string to_json(const Value& v, const JsonOptions& opts) {
  JsonWriter w{opts, {}, 0};
  w.write(v, 0);
  return std::move(w.out);
}

}  // namespace inhouse::chat::jinja
