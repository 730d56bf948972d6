// chat/interpreter — executes the syntax tree: statements, scopes, macros, loops, and
// expression evaluation with Python semantics (operators, attribute/item lookup, calls).
#include "chat/interpreter.h"

#include <cmath>
#include <cstdint>
#include <new>

#include "chat/builtins.h"
#include "chat/chat_template.h"
#include "chat/pystr.h"
#include "chat/utf8.h"

namespace inhouse::chat::jinja {

// ---- scopes and guards ----

const Value* Interpreter::Scope::find(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent.get()) {
    auto it = s->vars.find(name);
    if (it != s->vars.end()) return &it->second;
  }
  return nullptr;
}

// Makes `scope` current until the guard ends, whatever is thrown.
struct Interpreter::ScopeGuard {
  Interpreter& in;
  ScopePtr saved;
  ScopeGuard(Interpreter& i, ScopePtr scope) : in(i), saved(std::move(i.scope_)) { in.scope_ = std::move(scope); }
  ~ScopeGuard() { in.scope_ = std::move(saved); }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
};

// Refuses to go deeper once the render has used kMaxStackBytes of stack: template
// recursion then fails with an error instead of crashing the process.
struct Interpreter::DepthGuard {
  explicit DepthGuard(const Interpreter& in) {
    char here = 0;
    auto used = reinterpret_cast<uintptr_t>(in.stack_base_) - reinterpret_cast<uintptr_t>(&here);
    if (in.stack_base_ && used > kMaxStackBytes) throw Error("template recursion or nesting too deep");
  }
};

// Counts nested macro / recursive-loop calls against kMaxCallDepth.
struct Interpreter::CallGuard {
  Interpreter& in;
  CallGuard(Interpreter& i, const std::string& what) : in(i) {
    if (in.call_depth_ >= kMaxCallDepth) throw Error("maximum recursion depth exceeded in " + what);
    ++in.call_depth_;
  }
  ~CallGuard() { --in.call_depth_; }
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;
};

Interpreter::Interpreter(const Body& body, const Value& context) : body_(body) {
  auto globals = std::make_shared<Scope>();
  globals->vars = make_globals();
  root_ = std::make_shared<Scope>();
  root_->parent = std::move(globals);
  if (context.is_object())
    for (const auto& [k, v] : context.object().entries) root_->vars[k] = v;
  scope_ = root_;
}

std::string Interpreter::render() {
  char base = 0;
  stack_base_ = &base;
  std::string out;
  try {
    exec(body_, out);
  } catch (const TemplateError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw TemplateError("out of memory while rendering the template", pos_.line, pos_.column);
  } catch (const std::exception& e) {
    throw TemplateError(e.what(), pos_.line, pos_.column);
  }
  return out;
}

void Interpreter::check_size(size_t bytes) const {
  if (bytes > kMaxStringBytes)
    throw Error("string or output longer than " + std::to_string(kMaxStringBytes >> 20) + " MiB");
}

void Interpreter::step() {
  if (++steps_ > kMaxSteps)
    throw Error("template exceeded " + std::to_string(kMaxSteps) + " loop iterations and calls");
}

Value Interpreter::checked(Value v) const {
  if (v.is_string()) check_size(v.str().size());
  else if (v.is_array() && v.items().size() > kMaxItems) throw Error("list longer than " + std::to_string(kMaxItems) + " items");
  return v;
}

// ---- statements ----

Interpreter::Flow Interpreter::exec(const Body& body, std::string& out) {
  DepthGuard guard(*this);
  for (const auto& s : body) {
    Flow f = exec_stmt(*s, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_stmt(const Stmt& s, std::string& out) {
  switch (s.kind) {
    case Stmt::Kind::Text:
      out += static_cast<const TextStmt&>(s).text;
      check_size(out.size());
      return Flow::Normal;
    case Stmt::Kind::Output: {
      Value v = eval(*static_cast<const ExprStmt&>(s).expr);
      out += to_str(v);
      check_size(out.size());
      return Flow::Normal;
    }
    case Stmt::Kind::If: return exec_if(static_cast<const IfStmt&>(s), out);
    case Stmt::Kind::For: return exec_for(static_cast<const ForStmt&>(s), out);
    case Stmt::Kind::Set: {
      const auto& set = static_cast<const SetStmt&>(s);
      Value v = eval(*set.value);
      pos_ = s.pos;
      assign(set.target, v);
      return Flow::Normal;
    }
    case Stmt::Kind::SetBlock: return exec_set_block(static_cast<const SetBlockStmt&>(s));
    case Stmt::Kind::Macro: exec_macro(static_cast<const MacroStmt&>(s)); return Flow::Normal;
    case Stmt::Kind::CallBlock: exec_call_block(static_cast<const CallBlockStmt&>(s), out); return Flow::Normal;
    case Stmt::Kind::FilterBlock: return exec_filter_block(static_cast<const FilterBlockStmt&>(s), out);
    case Stmt::Kind::With: return exec_with(static_cast<const WithStmt&>(s), out);
    case Stmt::Kind::Break: return Flow::Break;
    case Stmt::Kind::Continue: return Flow::Continue;
    case Stmt::Kind::Block: return exec(static_cast<const BlockStmt&>(s).body, out);
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_if(const IfStmt& s, std::string& out) {
  for (const auto& [cond, body] : s.branches)
    if (truthy(eval(*cond))) return exec(body, out);
  return exec(s.otherwise, out);
}

Interpreter::Flow Interpreter::exec_for(const ForStmt& s, std::string& out) {
  Value iterable = eval(*s.iter);
  pos_ = s.pos;
  run_loop(s, iterable, 1, scope_, out);
  return Flow::Normal;
}

// One run of a loop over `iterable`; recursive loops call this again through `loop(...)`.
// Each iteration gets a fresh scope under `outer`, so `set` inside the body does not leak.
void Interpreter::run_loop(const ForStmt& s, const Value& iterable, int depth, const ScopePtr& outer, std::string& out) {
  std::vector<Value> items = iterate(iterable);
  if (s.filter) {
    std::vector<Value> kept;
    for (const Value& item : items) {
      step();
      auto scope = std::make_shared<Scope>();
      scope->parent = outer;
      ScopeGuard guard(*this, scope);
      assign(s.target, item);
      if (truthy(eval(*s.filter))) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    auto scope = std::make_shared<Scope>();
    scope->parent = outer;
    ScopeGuard guard(*this, scope);
    exec(s.otherwise, out);
    return;
  }
  auto index0 = std::make_shared<int64_t>(0);  // shared with loop.cycle()
  Value loop = make_loop_object(s, depth, outer, index0);
  for (size_t i = 0; i < items.size(); ++i) {
    step();
    auto scope = std::make_shared<Scope>();
    scope->parent = outer;
    ScopeGuard guard(*this, scope);
    pos_ = s.pos;
    assign(s.target, items[i]);
    *index0 = static_cast<int64_t>(i);
    advance_loop(loop.object(), items, i);
    scope->vars["loop"] = loop;
    if (exec(s.body, out) == Flow::Break) break;
  }
}

// Field order of the loop object; advance_loop() rewrites the per-iteration ones in place.
enum LoopField { kIndex, kIndex0, kRevindex, kRevindex0, kFirst, kLast, kLength, kPrevitem, kNextitem };

// Like Jinja's LoopContext, one object per loop run whose fields move with the iteration.
Value Interpreter::make_loop_object(const ForStmt& s, int depth, const ScopePtr& outer,
                                    const std::shared_ptr<int64_t>& index0) {
  Value loop = Value::make_object(ObjectData::Kind::Loop);
  ObjectData& o = loop.object();
  for (const char* name : {"index", "index0", "revindex", "revindex0", "first", "last", "length", "previtem", "nextitem"})
    o.add(name, Value());
  o.add("depth", Value(depth));
  o.add("depth0", Value(depth - 1));
  o.add("cycle", Value::make_callable("cycle", [index0](Interpreter&, CallArgs& a) {
          if (a.positional.empty()) throw Error("no items for cycling given");
          return a.positional[static_cast<size_t>(*index0) % a.positional.size()];
        }));
  // changed() compares printed forms: holding the previous values could chain memory.
  auto last = std::make_shared<std::string>();
  o.add("changed", Value::make_callable("changed", [last](Interpreter&, CallArgs& a) {
          std::string now = repr(Value::make_tuple(a.positional));
          bool changed = now != *last;
          *last = std::move(now);
          return Value(changed);
        }));
  if (s.recursive) o.add("__call__", recursive_loop_callable(s, depth, outer));
  return loop;
}

void Interpreter::advance_loop(ObjectData& o, const std::vector<Value>& items, size_t i) {
  int64_t n = static_cast<int64_t>(items.size()), k = static_cast<int64_t>(i);
  o.set_at(kIndex, Value(k + 1));
  o.set_at(kIndex0, Value(k));
  o.set_at(kRevindex, Value(n - k));
  o.set_at(kRevindex0, Value(n - k - 1));
  o.set_at(kFirst, Value(k == 0));
  o.set_at(kLast, Value(k == n - 1));
  o.set_at(kLength, Value(n));
  o.set_at(kPrevitem, k > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
  o.set_at(kNextitem, k + 1 < n ? items[i + 1] : Value::undefined("there is no next item"));
}

// `loop(children)` inside a recursive loop renders the loop body again for `children`.
Value Interpreter::recursive_loop_callable(const ForStmt& s, int depth, const ScopePtr& outer) {
  std::weak_ptr<Scope> weak = outer;
  const ForStmt* stmt = &s;
  return Value::make_callable("loop", [stmt, depth, weak](Interpreter& in, CallArgs& a) {
    if (a.positional.size() != 1) throw Error("loop() takes exactly one argument");
    CallGuard guard(in, "a recursive loop");
    std::string text;
    ScopePtr outer_scope = weak.lock();
    in.run_loop(*stmt, a.positional[0], depth + 1, outer_scope ? outer_scope : in.root_, text);
    return Value(std::move(text));
  });
}

// Renders a block body in its own scope; `flow` reports a break/continue inside it (which,
// as in Jinja, leaves the enclosing loop before the block's result is used).
std::string Interpreter::render_body(const Body& body, Flow& flow) {
  auto scope = std::make_shared<Scope>();
  scope->parent = scope_;
  ScopeGuard guard(*this, scope);
  std::string out;
  flow = exec(body, out);
  return out;
}

Interpreter::Flow Interpreter::exec_set_block(const SetBlockStmt& s) {
  Flow flow;
  Value v(render_body(s.body, flow));
  if (flow != Flow::Normal) return flow;
  if (s.filter) v = eval_filter(static_cast<const FilterExpr&>(*s.filter), &v);
  pos_ = s.pos;
  assign(s.target, v);
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_filter_block(const FilterBlockStmt& s, std::string& out) {
  Flow flow;
  Value text(render_body(s.body, flow));
  if (flow != Flow::Normal) return flow;
  out += to_str(eval_filter(static_cast<const FilterExpr&>(*s.filter), &text));
  check_size(out.size());
  return Flow::Normal;
}

void Interpreter::exec_macro(const MacroStmt& s) {
  scope_->vars[s.def.name] = make_macro(s.def, scope_);
}

void Interpreter::exec_call_block(const CallBlockStmt& s, std::string& out) {
  const auto& call_expr = static_cast<const CallExpr&>(*s.call);
  Value callee = eval(*call_expr.callee);
  CallArgs args = eval_args(call_expr.args);
  args.named.emplace_back("caller", make_macro(s.caller, scope_));
  pos_ = s.pos;
  out += to_str(call(callee, args));
  check_size(out.size());
}

Interpreter::Flow Interpreter::exec_with(const WithStmt& s, std::string& out) {
  auto scope = std::make_shared<Scope>();
  scope->parent = scope_;
  ScopeGuard guard(*this, scope);
  for (const auto& [target, expr] : s.assigns) {
    Value v = eval(*expr);
    assign(target, v);
  }
  return exec(s.body, out);
}

namespace {

// The values a tuple target takes from `v` (Python unpacking).
std::vector<Value> unpack(Interpreter& in, const Value& v, size_t want) {
  if (!v.is_array() && !v.is_string() && !v.is_dict())
    throw Error("cannot unpack non-iterable " + type_name(v) + " object");
  std::vector<Value> items = in.iterate(v);
  if (items.size() > want) throw Error("too many values to unpack (expected " + std::to_string(want) + ")");
  if (items.size() < want)
    throw Error("not enough values to unpack (expected " + std::to_string(want) + ", got " + std::to_string(items.size()) + ")");
  return items;
}

}  // namespace

void Interpreter::assign(const Target& t, const Value& v) {
  switch (t.kind) {
    case Target::Kind::Name: scope_->vars[t.name] = v; return;
    case Target::Kind::Attr: {
      const Value* ns = scope_->find(t.name);
      if (!ns || !ns->is_object() || ns->object().kind != ObjectData::Kind::Namespace)
        throw Error("cannot assign attribute on non-namespace object '" + t.name + "'");
      if (reaches(v, &ns->object()))
        throw Error("a namespace cannot contain itself or a loop object ('" + t.name + "." + t.attr + "')");
      ns->object().set(t.attr, v);
      return;
    }
    case Target::Kind::Tuple: {
      std::vector<Value> items = unpack(*this, v, t.items.size());
      for (size_t i = 0; i < items.size(); ++i) assign(t.items[i], items[i]);
      return;
    }
  }
}

// ---- macros ----

Value Interpreter::make_macro(const MacroDef& def, const ScopePtr& defining) {
  // A weak reference: the macro usually lives in the scope it captures, and a strong one
  // would make a cycle. A macro that outlives its scope resolves free names at the top level.
  std::weak_ptr<Scope> weak = defining;
  const MacroDef* d = &def;
  return Value::make_callable(def.name, [d, weak](Interpreter& in, CallArgs& args) { return in.call_macro(*d, weak, args); });
}

// A new scope under `parent` holding the macro's parameters (Jinja's argument rules).
Interpreter::ScopePtr Interpreter::bind_macro_args(const MacroDef& def, const ScopePtr& parent, CallArgs& args,
                                                   std::vector<bool>& bound) {
  auto scope = std::make_shared<Scope>();
  scope->parent = parent;
  const auto& params = def.params;
  if (args.positional.size() > params.size() && !def.uses_varargs)
    throw Error("macro '" + def.name + "' takes not more than " + std::to_string(params.size()) + " argument(s)");
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i >= params.size()) {
      varargs.push_back(args.positional[i]);
      continue;
    }
    scope->vars[params[i].name] = args.positional[i];
    bound[i] = true;
  }
  Value kwargs = Value::make_object();
  for (const auto& [key, v] : args.named) {
    size_t k = 0;
    while (k < params.size() && params[k].name != key) ++k;
    if (k < params.size()) {
      if (bound[k]) throw Error("macro '" + def.name + "' got multiple values for argument '" + key + "'");
      scope->vars[key] = v;
      bound[k] = true;
    } else if (key == "caller" && def.uses_caller) {
      scope->vars["caller"] = v;
    } else if (def.uses_kwargs) {
      kwargs.object().set(key, v);
    } else {
      throw Error("macro '" + def.name + "' takes no keyword argument '" + key + "'");
    }
  }
  scope->vars["varargs"] = Value::make_tuple(std::move(varargs));
  scope->vars["kwargs"] = kwargs;
  return scope;
}

Value Interpreter::call_macro(const MacroDef& def, const std::weak_ptr<Scope>& defining, CallArgs& args) {
  CallGuard depth_guard(*this, "macro '" + def.name + "'");
  ScopePtr parent = defining.lock();
  std::vector<bool> bound(def.params.size(), false);
  ScopeGuard guard(*this, bind_macro_args(def, parent ? parent : root_, args, bound));
  for (size_t k = 0; k < def.params.size(); ++k) {  // defaults may use earlier parameters
    if (bound[k]) continue;
    const Param& p = def.params[k];
    scope_->vars[p.name] = p.default_value ? eval(*p.default_value)
                                           : Value::undefined("parameter '" + p.name + "' was not provided");
  }
  std::string out;
  exec(def.body, out);
  return Value(std::move(out));
}

// ---- expressions ----

Value Interpreter::eval(const Expr& e) {
  DepthGuard guard(*this);
  switch (e.kind) {
    case Expr::Kind::Literal: return static_cast<const LiteralExpr&>(e).value;
    case Expr::Kind::Name: return lookup(static_cast<const NameExpr&>(e).name);
    case Expr::Kind::List: case Expr::Kind::Tuple: return eval_list(static_cast<const ListExpr&>(e));
    case Expr::Kind::Dict: return eval_dict(static_cast<const DictExpr&>(e));
    case Expr::Kind::Not: return Value(!truthy(eval(*static_cast<const UnaryExpr&>(e).operand)));
    case Expr::Kind::Neg: case Expr::Kind::Plus: return eval_unary(static_cast<const UnaryExpr&>(e));
    case Expr::Kind::Binary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      Value l = eval(*b.left), r = eval(*b.right);
      pos_ = e.pos;
      return checked(binary(b.op, l, r));
    }
    case Expr::Kind::And: case Expr::Kind::Or: return eval_logical(static_cast<const BinaryExpr&>(e));
    case Expr::Kind::Compare: return eval_compare(static_cast<const CompareExpr&>(e));
    case Expr::Kind::Cond: return eval_cond(static_cast<const CondExpr&>(e));
    case Expr::Kind::GetAttr: {
      const auto& g = static_cast<const GetAttrExpr&>(e);
      Value obj = eval(*g.object);
      pos_ = e.pos;
      return getattr(obj, g.name);
    }
    case Expr::Kind::GetItem: {
      const auto& g = static_cast<const GetItemExpr&>(e);
      Value obj = eval(*g.object), key = eval(*g.index);
      pos_ = e.pos;
      return getitem(obj, key);
    }
    case Expr::Kind::Slice: return eval_slice(static_cast<const SliceExpr&>(e));
    case Expr::Kind::Call: return eval_call(static_cast<const CallExpr&>(e));
    case Expr::Kind::Filter: return eval_filter(static_cast<const FilterExpr&>(e), nullptr);
    case Expr::Kind::Test: return eval_test(static_cast<const TestExpr&>(e));
  }
  return Value();
}

Value Interpreter::lookup(const std::string& name) const {
  if (const Value* v = scope_->find(name)) return *v;
  return Value::undefined("'" + name + "' is undefined");
}

Value Interpreter::eval_list(const ListExpr& e) {
  std::vector<Value> items;
  items.reserve(e.items.size());
  for (const auto& it : e.items) items.push_back(eval(*it));
  pos_ = e.pos;
  return e.kind == Expr::Kind::Tuple ? Value::make_tuple(std::move(items)) : Value::make_array(std::move(items));
}

Value Interpreter::eval_dict(const DictExpr& e) {
  Value d = Value::make_object();
  for (const auto& [k, v] : e.items) {
    Value key = eval(*k), val = eval(*v);
    pos_ = k->pos;
    if (!key.is_string()) throw Error("dict keys must be strings here, got " + type_name(key));
    d.object().set(key.str(), val);
  }
  return d;
}

Value Interpreter::eval_unary(const UnaryExpr& e) {
  Value v = eval(*e.operand);
  pos_ = e.pos;
  check_defined(v);
  bool neg = e.kind == Expr::Kind::Neg;
  if (v.is_float()) return Value(neg ? -v.get_float() : v.get_float());
  if (v.is_int() || v.is_bool()) {
    int64_t i = v.as_int();
    if (neg && i == INT64_MIN) throw Error("integer overflow");
    return Value(neg ? -i : i);
  }
  throw Error(std::string("bad operand type for unary ") + (neg ? "-" : "+") + ": '" + type_name(v) + "'");
}

Value Interpreter::eval_logical(const BinaryExpr& e) {
  Value l = eval(*e.left);
  // Python's and/or return an operand, not a bool: `x or 'default'`.
  if (e.kind == Expr::Kind::And ? !truthy(l) : truthy(l)) return l;
  return eval(*e.right);
}

Value Interpreter::eval_compare(const CompareExpr& e) {
  Value left = eval(*e.first);
  for (const auto& operand : e.rest) {
    Value right = eval(*operand.expr);
    pos_ = operand.pos;
    bool ok = false;
    switch (operand.op) {
      case CmpOp::Eq: ok = equals(left, right); break;
      case CmpOp::Ne: ok = !equals(left, right); break;
      case CmpOp::Lt: ok = compare(left, right, "<") < 0; break;
      case CmpOp::Le: ok = compare(left, right, "<=") <= 0; break;
      case CmpOp::Gt: ok = compare(left, right, ">") > 0; break;
      case CmpOp::Ge: ok = compare(left, right, ">=") >= 0; break;
      case CmpOp::In: ok = contains(right, left); break;
      case CmpOp::NotIn: ok = !contains(right, left); break;
    }
    if (!ok) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Value Interpreter::eval_cond(const CondExpr& e) {
  if (truthy(eval(*e.cond))) return eval(*e.then);
  if (e.otherwise) return eval(*e.otherwise);
  return Value::undefined("the inline if-expression on line " + std::to_string(e.pos.line) +
                          " evaluated to false and no else section was defined");
}

Value Interpreter::eval_slice(const SliceExpr& e) {
  Value obj = eval(*e.object);
  auto bound = [&](const ExprPtr& x) { return x ? arg_opt_int(eval(*x), "slice index") : std::nullopt; };
  auto start = bound(e.start), stop = bound(e.stop), step_v = bound(e.step);
  pos_ = e.pos;
  check_defined(obj);
  if (obj.is_string()) {
    const std::string& s = obj.str();
    std::vector<size_t> offs = utf8::offsets(s);
    std::vector<int64_t> idx = pystr::slice_indices(static_cast<int64_t>(offs.size()) - 1, start, stop, step_v);
    if (step_v.value_or(1) == 1) {
      if (idx.empty()) return Value("");
      return Value(s.substr(offs[idx.front()], offs[idx.back() + 1] - offs[idx.front()]));
    }
    std::string out;
    for (int64_t k : idx) out.append(s, offs[k], offs[k + 1] - offs[k]);
    return Value(std::move(out));
  }
  if (obj.is_array()) {
    std::vector<int64_t> idx = pystr::slice_indices(static_cast<int64_t>(obj.items().size()), start, stop, step_v);
    std::vector<Value> out;
    out.reserve(idx.size());
    for (int64_t k : idx) out.push_back(obj.items()[static_cast<size_t>(k)]);
    return obj.array().is_tuple ? Value::make_tuple(std::move(out)) : Value::make_array(std::move(out));
  }
  throw Error("'" + type_name(obj) + "' object is not subscriptable");  // Jinja slices bypass getitem
}

CallArgs Interpreter::eval_args(const ArgList& a) {
  CallArgs args;
  args.positional.reserve(a.positional.size());
  for (const auto& p : a.positional) args.positional.push_back(eval(*p));
  for (const auto& [name, expr] : a.named) args.named.emplace_back(name, eval(*expr));
  return args;
}

Value Interpreter::eval_call(const CallExpr& e) {
  if (e.callee->kind == Expr::Kind::GetAttr) {  // obj.method(...): no bound-method object needed
    const auto& g = static_cast<const GetAttrExpr&>(*e.callee);
    Value obj = eval(*g.object);
    CallArgs args = eval_args(e.args);
    pos_ = e.pos;
    check_defined(obj);
    if (has_method(obj, g.name)) return checked(call_method(*this, obj, g.name, args));
    Value callee = getattr(obj, g.name);
    return checked(call(callee, args));
  }
  Value callee = eval(*e.callee);
  CallArgs args = eval_args(e.args);
  pos_ = e.pos;
  return checked(call(callee, args));
}

Value Interpreter::eval_filter(const FilterExpr& e, const Value* input) {
  Value subject;
  if (!e.subject) subject = input ? *input : Value();
  else if (input && e.subject->kind == Expr::Kind::Filter) subject = eval_filter(static_cast<const FilterExpr&>(*e.subject), input);
  else subject = eval(*e.subject);
  CallArgs args = eval_args(e.args);
  pos_ = e.pos;
  return checked(call_filter(*this, e.name, subject, args));
}

Value Interpreter::eval_test(const TestExpr& e) {
  Value subject = eval(*e.subject);
  CallArgs args = eval_args(e.args);
  pos_ = e.pos;
  bool r = call_test(*this, e.name, subject, args);
  return Value(e.negated ? !r : r);
}

// ---- object protocol ----

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_callable()) {
    step();
    return callee.callable().fn(*this, args);
  }
  check_defined(callee);
  if (callee.is_object() && callee.object().kind == ObjectData::Kind::Loop)
    if (const Value* fn = callee.object().find("__call__")) return call(*fn, args);
  throw Error("'" + type_name(callee) + "' object is not callable");
}

namespace {

Value bound_method(const Value& obj, const std::string& name) {
  return Value::make_callable(name, [obj, name](Interpreter& in, CallArgs& a) { return call_method(in, obj, name, a); },
                              &obj);
}

Value missing(const Value& obj, const std::string& name) {
  return Value::undefined(object_description(obj) + " has no attribute '" + name + "'");
}

}  // namespace

// Jinja's getattr: a Python attribute (a method here) first, then the item of that name.
Value Interpreter::getattr(const Value& obj, const std::string& name) {
  check_defined(obj);
  if (has_method(obj, name)) return bound_method(obj, name);
  if (obj.is_object()) {
    if (const Value* v = obj.object().find(name)) return *v;
  }
  return missing(obj, name);
}

// Jinja's getitem: the item first, then an attribute of that name.
Value Interpreter::getitem(const Value& obj, const Value& key) {
  check_defined(obj);
  if (key.is_string()) {
    if (obj.is_object())
      if (const Value* v = obj.object().find(key.str())) return *v;
    if (has_method(obj, key.str())) return bound_method(obj, key.str());
    return missing(obj, key.str());
  }
  if ((obj.is_array() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.as_int();
    if (obj.is_array()) {
      int64_t n = static_cast<int64_t>(obj.items().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.items()[static_cast<size_t>(i)];
    } else {
      std::vector<size_t> offs = utf8::offsets(obj.str());
      int64_t n = static_cast<int64_t>(offs.size()) - 1;
      if (i < 0) i += n;
      if (i >= 0 && i < n) return Value(obj.str().substr(offs[i], offs[i + 1] - offs[i]));
    }
  }
  return Value::undefined(object_description(obj) + " has no element " + repr(key));
}

std::vector<Value> Interpreter::iterate(const Value& v) const {
  switch (v.type()) {
    case Value::Type::Undefined: return {};  // Jinja's default Undefined iterates as empty
    case Value::Type::Array: return v.items();
    case Value::Type::String: {
      std::vector<Value> out;
      const std::string& s = v.str();
      for (size_t i = 0; i < s.size();) {
        size_t b = i;
        utf8::next(s, i);
        out.emplace_back(s.substr(b, i - b));
      }
      return out;
    }
    case Value::Type::Object:
      if (v.is_dict()) {
        std::vector<Value> keys;
        keys.reserve(v.object().entries.size());
        for (const auto& kv : v.object().entries) keys.emplace_back(kv.first);
        return keys;
      }
      break;
    default: break;
  }
  throw Error("'" + type_name(v) + "' object is not iterable");
}

bool Interpreter::contains(const Value& container, const Value& item) const {
  switch (container.type()) {
    case Value::Type::Undefined: return false;
    case Value::Type::String:
      if (!item.is_string()) throw Error("'in <string>' requires string as left operand, not " + type_name(item));
      return container.str().find(item.str()) != std::string::npos;
    case Value::Type::Array:
      for (const Value& v : container.items())
        if (equals(v, item)) return true;
      return false;
    case Value::Type::Object:
      if (container.is_dict()) return item.is_string() && container.object().find(item.str()) != nullptr;
      break;
    default: break;
  }
  throw Error("argument of type '" + type_name(container) + "' is not iterable");
}

// ---- arithmetic ----

namespace {

[[noreturn]] void unsupported(const char* op, const Value& a, const Value& b) {
  throw Error(std::string("unsupported operand type(s) for ") + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

Value repeat(const Value& seq, int64_t times) {
  size_t n = times > 0 ? static_cast<size_t>(times) : 0;
  if (seq.is_string()) {
    if (n && seq.str().size() * n / n != seq.str().size()) throw Error("repeated string too long");
    if (seq.str().size() * n > kMaxStringBytes) throw Error("repeated string too long");
    std::string out;
    out.reserve(seq.str().size() * n);
    for (size_t i = 0; i < n; ++i) out += seq.str();
    return Value(std::move(out));
  }
  if (seq.items().size() * n > kMaxItems) throw Error("repeated list too long");
  std::vector<Value> out;
  for (size_t i = 0; i < n; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return seq.array().is_tuple ? Value::make_tuple(std::move(out)) : Value::make_array(std::move(out));
}

Value int_op(BinOp op, int64_t x, int64_t y) {
  int64_t r = 0;
  switch (op) {
    case BinOp::Add: if (__builtin_add_overflow(x, y, &r)) throw Error("integer overflow"); return Value(r);
    case BinOp::Sub: if (__builtin_sub_overflow(x, y, &r)) throw Error("integer overflow"); return Value(r);
    case BinOp::Mul: if (__builtin_mul_overflow(x, y, &r)) throw Error("integer overflow"); return Value(r);
    case BinOp::Div:
      if (y == 0) throw Error("division by zero");
      return Value(static_cast<double>(x) / static_cast<double>(y));
    case BinOp::FloorDiv: case BinOp::Mod: {
      if (y == 0) throw Error(op == BinOp::Mod ? "integer modulo by zero" : "integer division or modulo by zero");
      if (x == INT64_MIN && y == -1) throw Error("integer overflow");
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors toward negative infinity
        --q;
        m += y;
      }
      return op == BinOp::Mod ? Value(m) : Value(q);
    }
    case BinOp::Pow: {
      if (y < 0) return Value(std::pow(static_cast<double>(x), static_cast<double>(y)));
      int64_t result = 1, base = x;
      for (int64_t e = y; e > 0; e >>= 1) {
        if ((e & 1) && __builtin_mul_overflow(result, base, &result)) throw Error("integer overflow");
        if (e > 1 && __builtin_mul_overflow(base, base, &base)) throw Error("integer overflow");
      }
      return Value(result);
    }
    default: return Value();
  }
}

Value float_op(BinOp op, double x, double y) {
  switch (op) {
    case BinOp::Add: return Value(x + y);
    case BinOp::Sub: return Value(x - y);
    case BinOp::Mul: return Value(x * y);
    case BinOp::Div:
      if (y == 0) throw Error("float division by zero");
      return Value(x / y);
    case BinOp::FloorDiv:
      if (y == 0) throw Error("float floor division by zero");
      return Value(std::floor(x / y));
    case BinOp::Mod: {
      if (y == 0) throw Error("float modulo");
      double m = std::fmod(x, y);
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return Value(m);
    }
    case BinOp::Pow:
      if (x == 0 && y < 0) throw Error("0.0 cannot be raised to a negative power");
      return Value(std::pow(x, y));
    default: return Value();
  }
}

const char* op_symbol(BinOp op) {
  switch (op) {
    case BinOp::Add: return "+";
    case BinOp::Sub: return "-";
    case BinOp::Mul: return "*";
    case BinOp::Div: return "/";
    case BinOp::FloorDiv: return "//";
    case BinOp::Mod: return "%";
    case BinOp::Pow: return "** or pow()";
    case BinOp::Concat: return "~";
  }
  return "?";
}

Value concat_seq(const Value& a, const Value& b) {
  if (a.is_string()) return Value(a.str() + b.str());
  std::vector<Value> out = a.items();
  out.insert(out.end(), b.items().begin(), b.items().end());
  return a.array().is_tuple ? Value::make_tuple(std::move(out)) : Value::make_array(std::move(out));
}

}  // namespace

Value Interpreter::binary(BinOp op, const Value& a, const Value& b) {
  if (op == BinOp::Concat) {
    check_size(to_str(a).size() + to_str(b).size());
    return Value(to_str(a) + to_str(b));
  }
  check_defined(a);
  check_defined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return float_op(op, a.as_double(), b.as_double());
    return int_op(op, a.as_int(), b.as_int());
  }
  if (op == BinOp::Add) {
    bool same_seq = (a.is_string() && b.is_string()) ||
                    (a.is_array() && b.is_array() && a.array().is_tuple == b.array().is_tuple);
    if (same_seq) {
      if (a.is_string()) check_size(a.str().size() + b.str().size());
      return concat_seq(a, b);
    }
    if (a.is_string() || (a.is_array() && !a.array().is_tuple))
      throw Error("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " + type_name(a));
  }
  if (op == BinOp::Mul) {
    if ((a.is_string() || a.is_array()) && (b.is_int() || b.is_bool())) return repeat(a, b.as_int());
    if ((b.is_string() || b.is_array()) && (a.is_int() || a.is_bool())) return repeat(b, a.as_int());
  }
  if (op == BinOp::Mod && a.is_string()) return Value(pystr::percent_format(a.str(), b));
  unsupported(op_symbol(op), a, b);
}

}  // namespace inhouse::chat::jinja
