// chat/interpreter — owns rendering a parsed template: variable scopes (Jinja's rules: a
// loop iteration, macro call or `with` opens a scope, `if` does not), statement execution,
// expression evaluation with Python semantics, macros, and the resource bounds that keep a
// hostile template from exhausting the stack, memory or time.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/ast.h"
#include "chat/value.h"

namespace inhouse::chat::jinja {

inline constexpr int kMaxCallDepth = 200;                    // nested macro / recursive-loop calls
inline constexpr size_t kMaxStackBytes = 2u << 20;           // stack a render may use
inline constexpr size_t kMaxStringBytes = 64u << 20;         // any string, the output included
inline constexpr size_t kMaxItems = 10'000'000;              // any list built by the template
inline constexpr int64_t kMaxSteps = 5'000'000;              // loop iterations + calls per render

class Interpreter {
 public:
  // `context`: the variables the template sees (messages, bos_token, ...); must be a dict.
  Interpreter(const Body& body, const Value& context);
  std::string render();  // throws TemplateError

  // For builtins.
  Value call(const Value& callee, CallArgs& args);
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  std::vector<Value> iterate(const Value& v) const;  // Python iteration (dict -> keys)
  void check_size(size_t bytes) const;                // throws when over kMaxStringBytes
  void step();                                         // counts toward kMaxSteps

 private:
  struct Scope {
    std::unordered_map<std::string, Value> vars;
    std::shared_ptr<Scope> parent;
    const Value* find(const std::string& name) const;
  };
  using ScopePtr = std::shared_ptr<Scope>;
  enum class Flow { Normal, Break, Continue };
  struct ScopeGuard;
  struct DepthGuard;
  struct CallGuard;

  const Body& body_;
  ScopePtr root_;
  ScopePtr scope_;
  Pos pos_;
  const char* stack_base_ = nullptr;
  int call_depth_ = 0;
  int64_t steps_ = 0;

  // statements
  Flow exec(const Body& body, std::string& out);
  Flow exec_stmt(const Stmt& s, std::string& out);
  Flow exec_if(const IfStmt& s, std::string& out);
  Flow exec_for(const ForStmt& s, std::string& out);
  void run_loop(const ForStmt& s, const Value& iterable, int depth, const ScopePtr& outer, std::string& out);
  Value make_loop_object(const ForStmt& s, int depth, const ScopePtr& outer, const std::shared_ptr<int64_t>& index0);
  void advance_loop(ObjectData& loop, const std::vector<Value>& items, size_t i);
  Value recursive_loop_callable(const ForStmt& s, int depth, const ScopePtr& outer);
  Flow exec_set_block(const SetBlockStmt& s);
  Flow exec_filter_block(const FilterBlockStmt& s, std::string& out);
  void exec_macro(const MacroStmt& s);
  void exec_call_block(const CallBlockStmt& s, std::string& out);
  Flow exec_with(const WithStmt& s, std::string& out);
  void assign(const Target& t, const Value& v);
  std::string render_body(const Body& body, Flow& flow);

  // macros
  Value make_macro(const MacroDef& def, const ScopePtr& defining);
  Value call_macro(const MacroDef& def, const std::weak_ptr<Scope>& defining, CallArgs& args);
  ScopePtr bind_macro_args(const MacroDef& def, const ScopePtr& parent, CallArgs& args, std::vector<bool>& bound);

  // expressions
  Value eval(const Expr& e);
  Value lookup(const std::string& name) const;
  Value eval_list(const ListExpr& e);
  Value eval_dict(const DictExpr& e);
  Value eval_unary(const UnaryExpr& e);
  Value eval_logical(const BinaryExpr& e);
  Value eval_compare(const CompareExpr& e);
  Value eval_cond(const CondExpr& e);
  Value eval_slice(const SliceExpr& e);
  Value eval_call(const CallExpr& e);
  Value eval_filter(const FilterExpr& e, const Value* input);
  Value eval_test(const TestExpr& e);
  CallArgs eval_args(const ArgList& a);
  Value binary(BinOp op, const Value& a, const Value& b);
  bool contains(const Value& container, const Value& item) const;
  Value checked(Value v) const;  // size bounds on strings and lists

  [[noreturn]] void rethrow_with_position();
};

}  // namespace inhouse::chat::jinja
