// chat/builtins — owns what templates can call by name: filters (`x | trim`), tests
// (`x is defined`), methods of str/dict/list (`s.split(',')`), and globals (`range`,
// `namespace`, `raise_exception`, ...). Each lives in its own builtin_*.cpp file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "chat/value.h"

namespace inhouse::chat::jinja {

class Interpreter;

bool has_filter(std::string_view name);
bool has_test(std::string_view name);
Value call_filter(Interpreter& in, std::string_view name, const Value& subject, CallArgs& args);
bool call_test(Interpreter& in, std::string_view name, const Value& subject, CallArgs& args);

// Methods the sandbox allows on str, dict and list values. has_method is also true for
// the mutating ones (append, pop, update, ...) so that calling them fails clearly, as in
// Hugging Face's immutable sandbox.
bool has_method(const Value& obj, std::string_view name);
Value call_method(Interpreter& in, const Value& obj, const std::string& name, CallArgs& args);

// range, dict, namespace, raise_exception, strftime_now, joiner, cycler.
std::unordered_map<std::string, Value> make_globals();

// Helpers shared by the builtin files.
int64_t arg_int(const Value& v, const char* what);  // int (or bool), else Error
std::optional<int64_t> arg_opt_int(const Value& v, const char* what);  // none/undefined -> nullopt
std::string arg_str(const Value& v, const char* what);  // str, else Error
Value attribute_path(Interpreter& in, Value item, const std::string& path);  // "a.b.0" lookups

}  // namespace inhouse::chat::jinja
