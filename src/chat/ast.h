// chat/ast — owns the syntax tree the parser builds and the interpreter walks: expression
// nodes and statement nodes, each with the line/column it came from (for error messages).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace inhouse::chat::jinja {

struct Pos {
  int line = 0, column = 0;
};

// ---- expressions ----

struct Expr {
  enum class Kind {
    Literal, Name, List, Tuple, Dict, Not, Neg, Plus, Binary, And, Or, Compare, Cond,
    GetAttr, GetItem, Slice, Call, Filter, Test,
  };
  Expr(Kind k, Pos p) : kind(k), pos(p) {}
  virtual ~Expr() = default;
  Kind kind;
  Pos pos;
  int height = 1;  // depth of the subtree; the parser bounds it so evaluation cannot overflow the stack
};
using ExprPtr = std::unique_ptr<Expr>;

struct LiteralExpr : Expr {
  LiteralExpr(Pos p, Value v) : Expr(Kind::Literal, p), value(std::move(v)) {}
  Value value;
};

struct NameExpr : Expr {
  NameExpr(Pos p, std::string n) : Expr(Kind::Name, p), name(std::move(n)) {}
  std::string name;
};

struct ListExpr : Expr {  // Kind::List or Kind::Tuple
  using Expr::Expr;
  std::vector<ExprPtr> items;
};

struct DictExpr : Expr {
  explicit DictExpr(Pos p) : Expr(Kind::Dict, p) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct UnaryExpr : Expr {  // Kind::Not, Kind::Neg, Kind::Plus
  UnaryExpr(Kind k, Pos p, ExprPtr e) : Expr(k, p), operand(std::move(e)) {}
  ExprPtr operand;
};

enum class BinOp { Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Concat };

struct BinaryExpr : Expr {  // Kind::Binary, Kind::And, Kind::Or (op unused for the last two)
  BinaryExpr(Kind k, Pos p, BinOp o, ExprPtr l, ExprPtr r)
      : Expr(k, p), op(o), left(std::move(l)), right(std::move(r)) {}
  BinOp op;
  ExprPtr left, right;
};

enum class CmpOp { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };

// a < b <= c: Python chains comparisons.
struct CompareExpr : Expr {
  struct Operand {
    CmpOp op;
    Pos pos;
    ExprPtr expr;
  };
  CompareExpr(Pos p, ExprPtr f) : Expr(Kind::Compare, p), first(std::move(f)) {}
  ExprPtr first;
  std::vector<Operand> rest;
};

struct CondExpr : Expr {  // `then if cond else otherwise`; otherwise may be null
  explicit CondExpr(Pos p) : Expr(Kind::Cond, p) {}
  ExprPtr cond, then, otherwise;
};

struct GetAttrExpr : Expr {
  GetAttrExpr(Pos p, ExprPtr o, std::string n) : Expr(Kind::GetAttr, p), object(std::move(o)), name(std::move(n)) {}
  ExprPtr object;
  std::string name;
};

struct GetItemExpr : Expr {
  GetItemExpr(Pos p, ExprPtr o, ExprPtr i) : Expr(Kind::GetItem, p), object(std::move(o)), index(std::move(i)) {}
  ExprPtr object, index;
};

struct SliceExpr : Expr {  // object[start:stop:step]; any part may be null
  SliceExpr(Pos p, ExprPtr o) : Expr(Kind::Slice, p), object(std::move(o)) {}
  ExprPtr object, start, stop, step;
};

struct ArgList {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> named;
};

struct CallExpr : Expr {
  CallExpr(Pos p, ExprPtr c) : Expr(Kind::Call, p), callee(std::move(c)) {}
  ExprPtr callee;
  ArgList args;
};

// `subject | name(args)`. In {% filter %} and {% set x | f %} the innermost subject is null
// and stands for the block's output.
struct FilterExpr : Expr {
  FilterExpr(Pos p, ExprPtr s, std::string n) : Expr(Kind::Filter, p), subject(std::move(s)), name(std::move(n)) {}
  ExprPtr subject;
  std::string name;
  ArgList args;
};

struct TestExpr : Expr {  // `subject is [not] name(args)`
  TestExpr(Pos p, ExprPtr s, std::string n) : Expr(Kind::Test, p), subject(std::move(s)), name(std::move(n)) {}
  ExprPtr subject;
  std::string name;
  ArgList args;
  bool negated = false;
};

// ---- statements ----

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind { Text, Output, If, For, Set, SetBlock, Macro, CallBlock, FilterBlock, With, Break, Continue, Block };
  Stmt(Kind k, Pos p) : kind(k), pos(p) {}
  virtual ~Stmt() = default;
  Kind kind;
  Pos pos;
};

// What `set`, `for` and `with` assign to: a name, `ns.attr`, or a tuple of targets.
struct Target {
  enum class Kind { Name, Attr, Tuple };
  Kind kind = Kind::Name;
  Pos pos;
  std::string name;  // the variable (for Attr: the namespace variable)
  std::string attr;
  std::vector<Target> items;
};

struct TextStmt : Stmt {
  TextStmt(Pos p, std::string t) : Stmt(Kind::Text, p), text(std::move(t)) {}
  std::string text;
};

struct ExprStmt : Stmt {  // Kind::Output: {{ expr }}
  ExprStmt(Kind k, Pos p, ExprPtr e) : Stmt(k, p), expr(std::move(e)) {}
  ExprPtr expr;
};

struct IfStmt : Stmt {
  explicit IfStmt(Pos p) : Stmt(Kind::If, p) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, elif...
  Body otherwise;
};

struct ForStmt : Stmt {
  explicit ForStmt(Pos p) : Stmt(Kind::For, p) {}
  Target target;
  ExprPtr iter, filter;  // filter: `for x in xs if cond`, may be null
  Body body, otherwise;
  bool recursive = false;
};

struct SetStmt : Stmt {
  explicit SetStmt(Pos p) : Stmt(Kind::Set, p) {}
  Target target;
  ExprPtr value;
};

struct SetBlockStmt : Stmt {  // {% set x | filter %}...{% endset %}
  explicit SetBlockStmt(Pos p) : Stmt(Kind::SetBlock, p) {}
  Target target;
  ExprPtr filter;  // may be null
  Body body;
};

struct Param {
  std::string name;
  ExprPtr default_value;  // may be null
};

// A macro (or the body of a {% call %} block, which becomes the `caller` macro). The flags
// say whether the body names varargs/kwargs/caller: like Jinja, only then does a call
// accept extra positional/keyword arguments or a caller.
struct MacroDef {
  std::string name;
  std::vector<Param> params;
  Body body;
  bool uses_varargs = false, uses_kwargs = false, uses_caller = false;
};

struct MacroStmt : Stmt {
  explicit MacroStmt(Pos p) : Stmt(Kind::Macro, p) {}
  MacroDef def;
};

struct CallBlockStmt : Stmt {  // {% call(params) macro(args) %}body{% endcall %}
  explicit CallBlockStmt(Pos p) : Stmt(Kind::CallBlock, p) {}
  MacroDef caller;
  ExprPtr call;
};

struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(Pos p) : Stmt(Kind::FilterBlock, p) {}
  ExprPtr filter;
  Body body;
};

struct WithStmt : Stmt {
  explicit WithStmt(Pos p) : Stmt(Kind::With, p) {}
  std::vector<std::pair<Target, ExprPtr>> assigns;
  Body body;
};

struct BlockStmt : Stmt {  // Kind::Block: a body with no semantics of its own ({% generation %})
  explicit BlockStmt(Pos p) : Stmt(Kind::Block, p) {}
  Body body;
};

struct SimpleStmt : Stmt {  // Kind::Break, Kind::Continue
  using Stmt::Stmt;
};

}  // namespace inhouse::chat::jinja
