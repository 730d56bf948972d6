// chat/builtin_globals — the global functions a template can call: Jinja's range, dict,
// namespace, joiner, plus Hugging Face's raise_exception and strftime_now. Also the
// argument helpers the builtin files share.
#include <ctime>

#include "chat/builtins.h"
#include "chat/interpreter.h"

namespace inhouse::chat::jinja {

// ---- shared argument helpers ----

int64_t arg_int(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  check_defined(v);
  throw Error(std::string(what) + " must be an integer, not " + type_name(v));
}

std::optional<int64_t> arg_opt_int(const Value& v, const char* what) {
  if (v.is_none() || v.is_undefined()) return std::nullopt;
  return arg_int(v, what);
}

std::string arg_str(const Value& v, const char* what) {
  if (v.is_string()) return v.str();
  check_defined(v);
  throw Error(std::string(what) + " must be a string, not " + type_name(v));
}

// Jinja's attribute paths: "a.b.0" looks up a, then b, then item 0.
Value attribute_path(Interpreter& in, Value item, const std::string& path) {
  size_t b = 0;
  while (true) {
    size_t e = path.find('.', b);
    std::string part = path.substr(b, e == std::string::npos ? std::string::npos : e - b);
    bool digits = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    item = digits ? in.getitem(item, Value(static_cast<int64_t>(std::stoll(part)))) : in.getitem(item, Value(part));
    if (e == std::string::npos) return item;
    b = e + 1;
  }
}

// ---- globals ----

namespace {

// The sandbox's MAX_RANGE: Hugging Face refuses bigger ranges, and so do we.
constexpr int64_t kMaxRange = 100000;

Value range_fn(Interpreter&, CallArgs& a) {
  if (a.positional.empty() || a.positional.size() > 3) throw Error("range expected 1 to 3 arguments");
  int64_t start = 0, stop = 0, step = 1;
  if (a.positional.size() == 1) {
    stop = arg_int(a.positional[0], "range() argument");
  } else {
    start = arg_int(a.positional[0], "range() argument");
    stop = arg_int(a.positional[1], "range() argument");
    if (a.positional.size() == 3) step = arg_int(a.positional[2], "range() argument");
  }
  if (step == 0) throw Error("range() arg 3 must not be zero");
  std::vector<Value> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(out.size()) >= kMaxRange)
      throw Error("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    out.emplace_back(i);
  }
  return Value::make_array(std::move(out));
}

// dict(mapping or pairs, **kwargs) and namespace(...) share their argument handling.
Value build_object(ObjectData::Kind kind, CallArgs& a, const char* fname) {
  Value obj = Value::make_object(kind);
  if (a.positional.size() > 1) throw Error(std::string(fname) + "() takes at most 1 positional argument");
  if (!a.positional.empty()) {
    const Value& init = a.positional[0];
    if (init.is_dict()) {
      for (const auto& [k, v] : init.object().entries) obj.object().set(k, v);
    } else if (init.is_array()) {
      for (const Value& pair : init.items()) {
        if (!pair.is_array() || pair.items().size() != 2 || !pair.items()[0].is_string())
          throw Error(std::string(fname) + "(): each item must be a (key, value) pair with a string key");
        obj.object().set(pair.items()[0].str(), pair.items()[1]);
      }
    } else {
      throw Error(std::string(fname) + "(): cannot build from " + type_name(init));
    }
  }
  for (const auto& [k, v] : a.named) obj.object().set(k, v);
  return obj;
}

Value raise_exception_fn(Interpreter&, CallArgs& a) {
  throw Error(a.positional.empty() ? std::string("raise_exception() called") : to_str(a.positional[0]));
}

Value strftime_now_fn(Interpreter&, CallArgs& a) {
  std::string fmt = arg_str(a.get(0, "format"), "strftime_now() format");
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[512];
  size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &local);
  return Value(std::string(buf, n));
}

Value joiner_fn(Interpreter&, CallArgs& a) {
  std::string sep = to_str(a.get(0, "sep", Value(", ")));
  auto used = std::make_shared<bool>(false);
  return Value::make_callable("joiner", [sep, used](Interpreter&, CallArgs&) {
    if (!*used) {
      *used = true;
      return Value("");
    }
    return Value(sep);
  });
}

}  // namespace

std::unordered_map<std::string, Value> make_globals() {
  std::unordered_map<std::string, Value> g;
  g["range"] = Value::make_callable("range", range_fn);
  g["dict"] = Value::make_callable("dict", [](Interpreter&, CallArgs& a) { return build_object(ObjectData::Kind::Dict, a, "dict"); });
  g["namespace"] = Value::make_callable(
      "namespace", [](Interpreter&, CallArgs& a) { return build_object(ObjectData::Kind::Namespace, a, "namespace"); });
  g["raise_exception"] = Value::make_callable("raise_exception", raise_exception_fn);
  g["strftime_now"] = Value::make_callable("strftime_now", strftime_now_fn);
  g["joiner"] = Value::make_callable("joiner", joiner_fn);
  return g;
}

}  // namespace inhouse::chat::jinja
