// chat/value — owns the runtime value of the Jinja interpreter and its Python semantics:
// truthiness, str()/repr(), equality and ordering, and conversion from/to JSON. Lists, dicts
// and namespaces are shared by reference like Python objects (so `ns.x = ...` is seen by
// every holder); strings are immutable and shared to keep copies cheap.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace inhouse::chat::jinja {

class Interpreter;
class Value;
struct CallArgs;

// A render-time error without a place; the interpreter adds the line/column of the node
// being evaluated when it turns this into a TemplateError.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using NativeFn = std::function<Value(Interpreter&, CallArgs&)>;

// Containers deeper than this are refused (an Error), so printing, comparing or freeing a
// value can never recurse deep enough to overflow the stack, whatever a template builds.
inline constexpr int kMaxValueDepth = 500;

// Build the item vector first, then wrap it with Value::array/tuple (which sets depth).
// `holds_mutable`: some value inside is a namespace or loop object (the only values that
// change after creation), so storing this into a namespace could close a reference cycle.
struct ArrayData {
  std::vector<Value> items;
  bool is_tuple = false;  // only changes how it prints: (1, 2) instead of [1, 2]
  int depth = 1;
  bool holds_mutable = false;
};

struct ObjectData {
  enum class Kind { Dict, Namespace, Loop };
  Kind kind = Kind::Dict;
  std::vector<std::pair<std::string, Value>> entries;  // insertion order, like Python dicts
  int depth = 1;
  bool holds_mutable = false;

  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value v);  // replaces or appends; keeps depth/holds_mutable
  void add(std::string key, Value v);         // appends (key known to be new)
  void set_at(size_t index, Value v);         // replaces the value of entry `index`

 private:
  void note(const Value& v);
};

struct CallableData {
  std::string name;
  NativeFn fn;
  std::shared_ptr<const Value> held;  // the value `fn` keeps alive (a bound method's object)
  int depth = 0;
};

class Value {
 public:
  enum class Type : uint8_t { Undefined, None, Bool, Int, Float, String, Array, Object, Callable };

  Value() : v_(Undef{}) {}  // undefined, no hint
  Value(std::nullptr_t) : v_(nullptr) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(int64_t{i}) {}
  Value(int64_t i) : v_(i) {}
  Value(size_t i) : v_(static_cast<int64_t>(i)) {}
  Value(double d) : v_(d) {}
  Value(const char* s) : v_(std::make_shared<const std::string>(s)) {}
  Value(std::string s) : v_(std::make_shared<const std::string>(std::move(s))) {}
  Value(std::string_view s) : v_(std::make_shared<const std::string>(s)) {}

  // `hint` is what an UndefinedError says when the value is used: "'x' is undefined".
  static Value undefined(std::string hint);
  static Value make_array(std::vector<Value> items = {});
  static Value make_tuple(std::vector<Value> items);
  static Value make_object(ObjectData::Kind kind = ObjectData::Kind::Dict);
  // `held`: the value `fn` keeps alive, if any (for depth and cycle bookkeeping).
  static Value make_callable(std::string name, NativeFn fn, const Value* held = nullptr);

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_undefined() const { return type() == Type::Undefined; }
  bool is_none() const { return type() == Type::None; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_int() const { return type() == Type::Int; }
  bool is_float() const { return type() == Type::Float; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python: bool is an int
  bool is_string() const { return type() == Type::String; }
  bool is_array() const { return type() == Type::Array; }
  bool is_object() const { return type() == Type::Object; }
  bool is_dict() const { return is_object() && object().kind == ObjectData::Kind::Dict; }
  bool is_callable() const { return type() == Type::Callable; }

  bool get_bool() const { return std::get<bool>(v_); }
  int64_t get_int() const { return std::get<int64_t>(v_); }
  double get_float() const { return std::get<double>(v_); }
  int64_t as_int() const;     // int or bool
  double as_double() const;   // int, float or bool
  const std::string& str() const { return *std::get<StrPtr>(v_); }
  ArrayData& array() const { return *std::get<ArrPtr>(v_); }
  std::vector<Value>& items() const { return array().items; }
  ObjectData& object() const { return *std::get<ObjPtr>(v_); }
  const CallableData& callable() const { return *std::get<FnPtr>(v_); }
  const std::string& undefined_hint() const;
  int depth() const;  // 0 for scalars, 1 + deepest item for containers
  // Is or contains a namespace/loop object (see ArrayData::holds_mutable).
  bool reaches_mutable() const;

  // Same underlying list/dict/function (Jinja's `sameas` for containers).
  bool same_object(const Value& other) const;

 private:
  struct Undef {
    std::shared_ptr<const std::string> hint;
  };
  using StrPtr = std::shared_ptr<const std::string>;
  using ArrPtr = std::shared_ptr<ArrayData>;
  using ObjPtr = std::shared_ptr<ObjectData>;
  using FnPtr = std::shared_ptr<const CallableData>;
  std::variant<Undef, std::nullptr_t, bool, int64_t, double, StrPtr, ArrPtr, ObjPtr, FnPtr> v_;
};

// Arguments of a call: positional then keyword, as written.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;

  const Value* find(std::string_view name) const;
  // Positional `index` if given, else keyword `name`, else `fallback`.
  Value get(size_t index, std::string_view name, Value fallback = Value()) const;
};

// Python-style type name for messages: "int", "str", "list", "dict", "NoneType", ...
std::string type_name(const Value& v);
// "'dict object'", "'None'": how Jinja names an object in undefined-attribute messages.
std::string object_description(const Value& v);

// Throws the UndefinedError a use of `v` causes, if v is undefined.
void check_defined(const Value& v);
[[noreturn]] void throw_undefined(const Value& v);

bool truthy(const Value& v);
std::string to_str(const Value& v);  // Python str()
std::string repr(const Value& v);    // Python repr()
std::string float_repr(double d);    // Python repr(float): shortest round-trip

bool equals(const Value& a, const Value& b);
// <0, 0, >0 like Python's ordering; throws Error for types Python cannot order (`op` is
// the operator named in that message).
int compare(const Value& a, const Value& b, const char* op = "<");

// Whether `object` or any loop object can be reached from `v`. Storing such a value into
// the namespace `object` could make a reference cycle (a loop object's previtem/nextitem
// change as it runs), which reference counting would never free.
bool reaches(const Value& v, const ObjectData* object);

Value from_json(const nlohmann::json& j);
Value from_json(const nlohmann::ordered_json& j);

// Python json.dumps(value, ensure_ascii, indent, separators, sort_keys): what Hugging Face's
// `tojson` filter produces. indent: nullopt = single line; otherwise the indent string.
struct JsonOptions {
  std::optional<std::string> indent;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};
std::string to_json(const Value& v, const JsonOptions& opts);

}  // namespace inhouse::chat::jinja
