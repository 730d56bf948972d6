// chat/parser — recursive-descent parser for Jinja statements and expressions. Grammar and
// precedence mirror jinja2/parser.py so templates mean what they mean under Hugging Face.
#include "chat/parser.h"

#include <algorithm>
#include <deque>
#include <initializer_list>

#include "chat/builtins.h"
#include "chat/chat_template.h"
#include "chat/lexer.h"

namespace inhouse::chat::jinja {
namespace {

int height_of(const ExprPtr& e) { return e ? e->height : 0; }

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Body parse_template() {
    Body body = parse_body({}, nullptr);
    return body;
  }

 private:
  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;       // current recursion depth (blocks, brackets, unary operators)
  int loop_depth_ = 0;  // for-loops around the current point (break/continue need one)

  // An open block: its tag, where it started, and the tags that may continue/close it.
  struct OpenBlock {
    std::string tag;
    Pos pos;
    std::vector<std::string_view> ends;
  };
  std::deque<OpenBlock> open_;  // deque: references to outer blocks stay valid while nesting
  std::vector<MacroDef*> macros_;  // macro bodies being parsed, innermost last

  // ---- token helpers ----

  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t n = 1) const { return t_[std::min(i_ + n, t_.size() - 1)]; }
  static Pos pos_of(const Token& t) { return {t.line, t.column}; }
  Pos pos() const { return pos_of(cur()); }
  const Token& take() {
    const Token& t = t_[i_];
    if (i_ + 1 < t_.size()) ++i_;
    return t;
  }
  bool is_op(const char* op) const { return cur().type == TokenType::Operator && cur().value == op; }
  bool is_name(const char* n) const { return cur().type == TokenType::Name && cur().value == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    take();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    take();
    return true;
  }

  [[noreturn]] void fail(const std::string& msg, Pos p) const { throw TemplateError(msg, p.line, p.column); }
  [[noreturn]] void fail(const std::string& msg) const { fail(msg, pos()); }

  std::string describe(const Token& t) const {
    switch (t.type) {
      case TokenType::Name: case TokenType::Operator: return "'" + t.value + "'";
      case TokenType::String: return "string literal";
      case TokenType::Integer: case TokenType::Float: return "number " + t.value;
      default: return token_type_name(t.type);
    }
  }

  void expect_op(const char* op) {
    if (!skip_op(op)) fail(std::string("expected '") + op + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != TokenType::Name) fail("expected a name, got " + describe(cur()));
    return take().value;
  }
  void expect_block_end() {
    if (cur().type != TokenType::BlockEnd) fail("expected end of statement block '%}', got " + describe(cur()));
    take();
  }

  // RAII bound on recursion depth.
  struct Nest {
    Parser& p;
    explicit Nest(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxNesting) p.fail("template nested too deeply (more than " + std::to_string(kMaxNesting) + " levels)");
    }
    ~Nest() { --p.depth_; }
  };

  template <class T>
  std::unique_ptr<T> bounded(std::unique_ptr<T> e, std::initializer_list<int> child_heights) {
    e->height = 1 + std::max(child_heights);
    if (e->height > kMaxExprHeight) fail("expression too deeply nested", e->pos);
    return e;
  }

  // ---- statements ----

  static bool contains(const std::vector<std::string_view>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }

  // Parses statements until a block tag named in `ends`; leaves the cursor on that name.
  Body parse_body(std::vector<std::string_view> ends, const OpenBlock* block) {
    Nest nest(*this);
    Body body;
    while (true) {
      const Token& t = cur();
      switch (t.type) {
        case TokenType::Data: body.push_back(std::make_unique<TextStmt>(pos_of(t), t.value)); take(); break;
        case TokenType::VarBegin: body.push_back(parse_output()); break;
        case TokenType::BlockBegin:
          if (peek().type == TokenType::Name && contains(ends, peek().value)) {
            take();
            return body;
          }
          take();
          if (auto s = parse_statement()) body.push_back(std::move(s));
          break;
        case TokenType::Eof:
          if (block) fail(unclosed_message(*block), block->pos);
          return body;
        default: fail("unexpected " + describe(t));
      }
    }
  }

  static std::string quoted_list(const std::vector<std::string_view>& names) {
    std::string s;
    for (size_t k = 0; k < names.size(); ++k) {
      s += (k == 0 ? "" : k + 1 == names.size() ? " or " : ", ");
      s += "'" + std::string(names[k]) + "'";
    }
    return s;
  }

  static std::string unclosed_message(const OpenBlock& b) {
    return "unexpected end of template: '" + b.tag + "' block was never closed (expected " + quoted_list(b.ends) + ")";
  }

  // Body of a block tag: parses up to one of `ends` with the block registered for messages.
  Body block_body(const std::string& tag, Pos p, std::vector<std::string_view> ends) {
    open_.push_back({tag, p, ends});
    Body b = parse_body(ends, &open_.back());
    open_.pop_back();
    return b;
  }

  // The end tag the cursor is on (after block_body): consumes "endX %}".
  std::string take_end_tag() {
    std::string name = take().value;
    expect_block_end();
    return name;
  }

  StmtPtr parse_output() {
    Pos p = pos();
    take();
    ExprPtr e = parse_tuple(true, {});
    if (cur().type != TokenType::VarEnd) fail("expected end of print statement '}}', got " + describe(cur()));
    take();
    return std::make_unique<ExprStmt>(Stmt::Kind::Output, p, std::move(e));
  }

  StmtPtr parse_statement() {
    if (cur().type != TokenType::Name) fail("expected a tag name after '{%', got " + describe(cur()));
    Pos p = pos();
    std::string tag = take().value;
    if (tag == "if") return parse_if(p);
    if (tag == "for") return parse_for(p);
    if (tag == "set") return parse_set(p);
    if (tag == "macro") return parse_macro(p);
    if (tag == "call") return parse_call_block(p);
    if (tag == "filter") return parse_filter_block(p);
    if (tag == "with") return parse_with(p);
    if (tag == "break" || tag == "continue") return parse_loop_control(p, tag);
    if (tag == "generation" || tag == "autoescape") return parse_plain_block(p, tag);
    static const char* const unsupported[] = {"include", "import", "from", "extends", "block", "trans", "raw"};
    for (const char* u : unsupported)
      if (tag == u) fail("unsupported tag '" + tag + "'", p);
    fail_unexpected_tag(tag, p);
  }

  [[noreturn]] void fail_unexpected_tag(const std::string& tag, Pos p) {
    bool is_end = tag.rfind("end", 0) == 0 || tag == "elif" || tag == "else";
    if (!is_end) fail("unknown tag '" + tag + "'", p);
    if (open_.empty()) fail("unexpected '" + tag + "' outside of any block", p);
    const OpenBlock& b = open_.back();
    fail("unexpected '" + tag + "': the innermost open block is '" + b.tag + "' (line " + std::to_string(b.pos.line) +
             "), which expects " + quoted_list(b.ends),
         p);
  }

  StmtPtr parse_if(Pos p) {
    auto s = std::make_unique<IfStmt>(p);
    ExprPtr cond = parse_tuple(false, {});
    expect_block_end();
    while (true) {
      Body body = block_body("if", p, {"elif", "else", "endif"});
      s->branches.emplace_back(std::move(cond), std::move(body));
      std::string tag = take().value;
      if (tag == "elif") {
        cond = parse_tuple(false, {});
        expect_block_end();
        continue;
      }
      expect_block_end();
      if (tag == "else") {
        s->otherwise = block_body("if", p, {"endif"});
        take_end_tag();
      }
      return s;
    }
  }

  StmtPtr parse_for(Pos p) {
    auto s = std::make_unique<ForStmt>(p);
    s->target = parse_target(false, "in");
    if (!skip_name("in")) fail("expected 'in' in for loop, got " + describe(cur()));
    s->iter = parse_tuple(false, {"recursive"});
    if (skip_name("if")) s->filter = parse_expression();
    s->recursive = skip_name("recursive");
    expect_block_end();
    ++loop_depth_;
    s->body = block_body("for", p, {"else", "endfor"});
    --loop_depth_;
    if (take_end_tag() == "else") {
      s->otherwise = block_body("for", p, {"endfor"});
      take_end_tag();
    }
    return s;
  }

  StmtPtr parse_set(Pos p) {
    Target target = parse_target(true, nullptr);
    if (skip_op("=")) {
      auto s = std::make_unique<SetStmt>(p);
      s->target = std::move(target);
      s->value = parse_tuple(true, {});
      expect_block_end();
      return s;
    }
    auto s = std::make_unique<SetBlockStmt>(p);
    s->target = std::move(target);
    if (is_op("|")) s->filter = parse_filters(nullptr, false);
    expect_block_end();
    s->body = block_body("set", p, {"endset"});
    take_end_tag();
    return s;
  }

  StmtPtr parse_macro(Pos p) {
    auto s = std::make_unique<MacroStmt>(p);
    s->def.name = expect_name();
    s->def.params = parse_signature(true);
    expect_block_end();
    function_body(s->def, "macro", p, "endmacro");
    return s;
  }

  // Macro and call bodies start a new function: loops outside do not enclose them, and the
  // names the body uses decide which extra arguments calls may pass.
  void function_body(MacroDef& def, const std::string& tag, Pos p, std::string_view end) {
    int saved = loop_depth_;
    loop_depth_ = 0;
    macros_.push_back(&def);
    def.body = block_body(tag, p, {end});
    macros_.pop_back();
    loop_depth_ = saved;
    take_end_tag();
  }

  StmtPtr parse_call_block(Pos p) {
    auto s = std::make_unique<CallBlockStmt>(p);
    s->caller.name = "caller";
    if (is_op("(")) s->caller.params = parse_signature(false);
    Pos call_pos = pos();
    s->call = parse_expression();
    if (s->call->kind != Expr::Kind::Call) fail("expected a call after 'call'", call_pos);
    expect_block_end();
    function_body(s->caller, "call", p, "endcall");
    return s;
  }

  StmtPtr parse_filter_block(Pos p) {
    auto s = std::make_unique<FilterBlockStmt>(p);
    s->filter = parse_filters(nullptr, true);
    expect_block_end();
    s->body = block_body("filter", p, {"endfilter"});
    take_end_tag();
    return s;
  }

  StmtPtr parse_with(Pos p) {
    auto s = std::make_unique<WithStmt>(p);
    while (cur().type != TokenType::BlockEnd) {
      if (!s->assigns.empty()) expect_op(",");
      Target t = parse_target(false, nullptr);
      expect_op("=");
      s->assigns.emplace_back(std::move(t), parse_expression());
    }
    expect_block_end();
    s->body = block_body("with", p, {"endwith"});
    take_end_tag();
    return s;
  }

  StmtPtr parse_loop_control(Pos p, const std::string& tag) {
    if (loop_depth_ == 0) fail("'" + tag + "' outside of a loop", p);
    expect_block_end();
    return std::make_unique<SimpleStmt>(tag == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, p);
  }

  // {% generation %} (Hugging Face's assistant-mask marker) and {% autoescape %}: the body
  // renders as is (no autoescaping exists here).
  StmtPtr parse_plain_block(Pos p, const std::string& tag) {
    if (tag == "autoescape") parse_expression();
    expect_block_end();
    auto s = std::make_unique<BlockStmt>(p);
    s->body = block_body(tag, p, {tag == "generation" ? "endgeneration" : "endautoescape"});
    take_end_tag();
    return s;
  }

  // `name`, `ns.attr` (when allow_attr), `(a, b)`, or `a, b`. Stops before `stop_name`.
  Target parse_target(bool allow_attr, const char* stop_name) {
    Target first = parse_target_item(allow_attr);
    if (!is_op(",")) return first;
    Target tuple;
    tuple.kind = Target::Kind::Tuple;
    tuple.pos = first.pos;
    tuple.items.push_back(std::move(first));
    while (skip_op(",")) {
      if (is_op("=") || cur().type == TokenType::BlockEnd || (stop_name && is_name(stop_name))) break;
      tuple.items.push_back(parse_target_item(allow_attr));
    }
    return tuple;
  }

  Target parse_target_item(bool allow_attr) {
    Target t;
    t.pos = pos();
    if (skip_op("(")) {
      Nest nest(*this);
      t = parse_target(allow_attr, nullptr);
      if (t.kind != Target::Kind::Tuple) {
        Target wrapped;
        wrapped.kind = Target::Kind::Tuple;
        wrapped.pos = t.pos;
        wrapped.items.push_back(std::move(t));
        t = std::move(wrapped);
      }
      expect_op(")");
      return t;
    }
    t.name = expect_name();
    static const char* const reserved[] = {"true", "false", "none", "True", "False", "None"};
    for (const char* r : reserved)
      if (t.name == r) fail("cannot assign to '" + t.name + "'", t.pos);
    if (allow_attr && skip_op(".")) {
      t.kind = Target::Kind::Attr;
      t.attr = expect_name();
    }
    return t;
  }

  // `(a, b=1, ...)` of a macro or call block.
  std::vector<Param> parse_signature(bool required) {
    std::vector<Param> params;
    if (!is_op("(")) {
      if (required) fail("expected '(' after the macro name, got " + describe(cur()));
      return params;
    }
    take();
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      if (is_op(")")) break;
      Param prm;
      Pos p = pos();
      prm.name = expect_name();
      if (skip_op("=")) prm.default_value = parse_expression();
      else if (!params.empty() && params.back().default_value)
        fail("parameter '" + prm.name + "' without a default follows one with a default", p);
      params.push_back(std::move(prm));
    }
    take();
    return params;
  }

  // ---- expressions ----

  bool is_tuple_end(const std::vector<std::string_view>& extra_end) const {
    TokenType ty = cur().type;
    if (ty == TokenType::VarEnd || ty == TokenType::BlockEnd || is_op(")")) return true;
    return ty == TokenType::Name && contains(extra_end, cur().value);
  }

  // Comma-separated expressions: one expression, or a tuple when a comma is present.
  ExprPtr parse_tuple(bool with_condexpr, std::vector<std::string_view> extra_end, bool explicit_parens = false) {
    Pos p = pos();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(with_condexpr ? parse_expression() : parse_or());
      if (!is_op(",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) fail("expected an expression, got " + describe(cur()));
    }
    return make_list(Expr::Kind::Tuple, p, std::move(items));
  }

  ExprPtr make_list(Expr::Kind kind, Pos p, std::vector<ExprPtr> items) {
    auto e = std::make_unique<ListExpr>(kind, p);
    int h = 0;
    for (const auto& it : items) h = std::max(h, it->height);
    e->items = std::move(items);
    return bounded(std::move(e), {h});
  }

  ExprPtr parse_expression() {
    Pos p = pos();
    ExprPtr e = parse_or();
    while (skip_name("if")) {
      auto c = std::make_unique<CondExpr>(p);
      c->then = std::move(e);
      c->cond = parse_or();
      if (skip_name("else")) {
        Nest nest(*this);
        c->otherwise = parse_expression();
      }
      int h1 = height_of(c->then), h2 = height_of(c->cond), h3 = height_of(c->otherwise);
      e = bounded(std::move(c), {h1, h2, h3});
    }
    return e;
  }

  ExprPtr binary(Expr::Kind kind, Pos p, BinOp op, ExprPtr l, ExprPtr r) {
    int hl = l->height, hr = r->height;
    return bounded(std::make_unique<BinaryExpr>(kind, p, op, std::move(l), std::move(r)), {hl, hr});
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      Pos p = pos_of(take());
      e = binary(Expr::Kind::Or, p, BinOp::Add, std::move(e), parse_and());
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      Pos p = pos_of(take());
      e = binary(Expr::Kind::And, p, BinOp::Add, std::move(e), parse_not());
    }
    return e;
  }

  ExprPtr parse_not() {
    if (!is_name("not")) return parse_compare();
    Pos p = pos_of(take());
    Nest nest(*this);
    ExprPtr operand = parse_not();
    int h = operand->height;
    return bounded(std::make_unique<UnaryExpr>(Expr::Kind::Not, p, std::move(operand)), {h});
  }

  bool compare_op(CmpOp& op) {
    static const std::pair<const char*, CmpOp> ops[] = {{"==", CmpOp::Eq}, {"!=", CmpOp::Ne}, {"<", CmpOp::Lt},
                                                        {"<=", CmpOp::Le}, {">", CmpOp::Gt},  {">=", CmpOp::Ge}};
    for (const auto& [s, o] : ops)
      if (is_op(s)) {
        take();
        op = o;
        return true;
      }
    if (skip_name("in")) {
      op = CmpOp::In;
      return true;
    }
    if (is_name("not") && peek().type == TokenType::Name && peek().value == "in") {
      take();
      take();
      op = CmpOp::NotIn;
      return true;
    }
    return false;
  }

  ExprPtr parse_compare() {
    Pos p = pos();
    ExprPtr first = parse_math1();
    auto c = std::make_unique<CompareExpr>(p, nullptr);
    int h = first->height;
    c->first = std::move(first);
    CmpOp op;
    while (true) {
      Pos op_pos = pos();
      if (!compare_op(op)) break;
      ExprPtr rhs = parse_math1();
      h = std::max(h, rhs->height);
      c->rest.push_back({op, op_pos, std::move(rhs)});
    }
    if (c->rest.empty()) return std::move(c->first);
    return bounded(std::move(c), {h});
  }

  // Left-associative binary levels: + - ; ~ ; * / // % ; ** (Jinja makes ** left-associative too).
  template <class Next>
  ExprPtr binary_level(std::initializer_list<std::pair<const char*, BinOp>> ops, Next next) {
    ExprPtr e = (this->*next)();
    while (true) {
      const std::pair<const char*, BinOp>* hit = nullptr;
      for (const auto& o : ops)
        if (is_op(o.first)) hit = &o;
      if (!hit) return e;
      Pos p = pos_of(take());
      e = binary(Expr::Kind::Binary, p, hit->second, std::move(e), (this->*next)());
    }
  }

  ExprPtr parse_math1() { return binary_level({{"+", BinOp::Add}, {"-", BinOp::Sub}}, &Parser::parse_concat); }
  ExprPtr parse_concat() { return binary_level({{"~", BinOp::Concat}}, &Parser::parse_math2); }
  ExprPtr parse_math2() {
    return binary_level({{"*", BinOp::Mul}, {"/", BinOp::Div}, {"//", BinOp::FloorDiv}, {"%", BinOp::Mod}},
                        &Parser::parse_pow);
  }
  ExprPtr parse_pow() { return binary_level({{"**", BinOp::Pow}}, &Parser::parse_unary_filtered); }
  ExprPtr parse_unary_filtered() { return parse_unary(true); }

  ExprPtr parse_unary(bool with_filter) {
    Nest nest(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      Expr::Kind kind = is_op("-") ? Expr::Kind::Neg : Expr::Kind::Plus;
      Pos p = pos_of(take());
      ExprPtr operand = parse_unary(false);
      int h = operand->height;
      e = bounded(std::make_unique<UnaryExpr>(kind, p, std::move(operand)), {h});
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    return with_filter ? parse_filter_expr(std::move(e)) : std::move(e);
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    Pos p = pos_of(t);
    switch (t.type) {
      case TokenType::Name: return parse_name_primary();
      case TokenType::String: {
        std::string s;
        while (cur().type == TokenType::String) s += take().value;  // adjacent literals join
        return std::make_unique<LiteralExpr>(p, Value(std::move(s)));
      }
      case TokenType::Integer: take(); return std::make_unique<LiteralExpr>(p, Value(t.int_value));
      case TokenType::Float: take(); return std::make_unique<LiteralExpr>(p, Value(t.float_value));
      default: break;
    }
    if (skip_op("(")) {
      ExprPtr e = parse_tuple(true, {}, true);
      expect_op(")");
      return e;
    }
    if (is_op("[")) return parse_list();
    if (is_op("{")) return parse_dict();
    fail("unexpected " + describe(t));
  }

  ExprPtr parse_name_primary() {
    Pos p = pos();
    std::string n = take().value;
    if (n == "true" || n == "True") return std::make_unique<LiteralExpr>(p, Value(true));
    if (n == "false" || n == "False") return std::make_unique<LiteralExpr>(p, Value(false));
    if (n == "none" || n == "None") return std::make_unique<LiteralExpr>(p, Value(nullptr));
    if (!macros_.empty()) {
      MacroDef& m = *macros_.back();
      m.uses_varargs |= n == "varargs";
      m.uses_kwargs |= n == "kwargs";
      m.uses_caller |= n == "caller";
    }
    return std::make_unique<NameExpr>(p, n);
  }

  ExprPtr parse_list() {
    Pos p = pos_of(take());
    std::vector<ExprPtr> items;
    while (!is_op("]")) {
      if (!items.empty()) expect_op(",");
      if (is_op("]")) break;
      items.push_back(parse_expression());
    }
    take();
    return make_list(Expr::Kind::List, p, std::move(items));
  }

  ExprPtr parse_dict() {
    Pos p = pos_of(take());
    auto d = std::make_unique<DictExpr>(p);
    int h = 0;
    while (!is_op("}")) {
      if (!d->items.empty()) expect_op(",");
      if (is_op("}")) break;
      ExprPtr k = parse_expression();
      expect_op(":");
      ExprPtr v = parse_expression();
      h = std::max({h, k->height, v->height});
      d->items.emplace_back(std::move(k), std::move(v));
    }
    take();
    return bounded(std::move(d), {h});
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) e = parse_dot(std::move(e));
      else if (is_op("[")) e = parse_subscript(std::move(e));
      else if (is_op("(")) e = parse_call(std::move(e));
      else return e;
    }
  }

  ExprPtr parse_dot(ExprPtr obj) {
    Pos p = pos_of(take());
    int h = obj->height;
    if (cur().type == TokenType::Name) return bounded(std::make_unique<GetAttrExpr>(p, std::move(obj), take().value), {h});
    if (cur().type != TokenType::Integer) fail("expected a name or number after '.', got " + describe(cur()));
    auto idx = std::make_unique<LiteralExpr>(pos(), Value(take().int_value));
    return bounded(std::make_unique<GetItemExpr>(p, std::move(obj), std::move(idx)), {h});
  }

  ExprPtr parse_subscript(ExprPtr obj) {
    Pos p = pos_of(take());
    Nest nest(*this);
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression();
      if (skip_op("]")) {
        int h1 = obj->height, h2 = start->height;
        return bounded(std::make_unique<GetItemExpr>(p, std::move(obj), std::move(start)), {h1, h2});
      }
      if (is_op(",")) fail("tuple subscripts are not supported");
    }
    auto s = std::make_unique<SliceExpr>(p, std::move(obj));
    s->start = std::move(start);
    expect_op(":");
    if (!is_op(":") && !is_op("]")) s->stop = parse_expression();
    if (skip_op(":") && !is_op("]")) s->step = parse_expression();
    expect_op("]");
    int h0 = height_of(s->object), h1 = height_of(s->start), h2 = height_of(s->stop), h3 = height_of(s->step);
    return bounded(std::move(s), {h0, h1, h2, h3});
  }

  // `(args)`; returns the height of the tallest argument.
  int parse_args(ArgList& args) {
    Nest nest(*this);
    expect_op("(");
    int h = 0;
    while (!is_op(")")) {
      if (!args.positional.empty() || !args.named.empty()) expect_op(",");
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) fail("*args and **kwargs in calls are not supported");
      if (cur().type == TokenType::Name && peek().type == TokenType::Operator && peek().value == "=") {
        std::string name = take().value;
        take();
        ExprPtr v = parse_expression();
        h = std::max(h, v->height);
        args.named.emplace_back(std::move(name), std::move(v));
        continue;
      }
      if (!args.named.empty()) fail("positional argument after keyword argument");
      ExprPtr v = parse_expression();
      h = std::max(h, v->height);
      args.positional.push_back(std::move(v));
    }
    take();
    return h;
  }

  ExprPtr parse_call(ExprPtr callee) {
    Pos p = pos();
    int hc = callee->height;
    auto c = std::make_unique<CallExpr>(p, std::move(callee));
    int ha = parse_args(c->args);
    return bounded(std::move(c), {hc, ha});
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) e = parse_filters(std::move(e), false);
      else if (is_name("is")) e = parse_test(std::move(e));
      else if (is_op("(")) e = parse_call(std::move(e));
      else return e;
    }
  }

  std::string dotted_name() {
    std::string name = expect_name();
    while (skip_op(".")) {
      name += '.';
      name += expect_name();
    }
    return name;
  }

  // `| f(args) | g ...`; with start_inline the first filter has no leading '|'.
  ExprPtr parse_filters(ExprPtr subject, bool start_inline) {
    while (start_inline || is_op("|")) {
      if (!start_inline) take();
      start_inline = false;
      Pos p = pos();
      std::string name = dotted_name();
      if (!has_filter(name)) fail("no filter named '" + name + "'", p);
      int hs = height_of(subject);
      auto f = std::make_unique<FilterExpr>(p, std::move(subject), name);
      int ha = is_op("(") ? parse_args(f->args) : 0;
      subject = bounded(std::move(f), {hs, ha});
    }
    return subject;
  }

  ExprPtr parse_test(ExprPtr subject) {
    take();  // 'is'
    bool negated = skip_name("not");
    Pos p = pos();
    std::string name = dotted_name();
    if (!has_test(name)) fail("no test named '" + name + "'", p);
    int hs = subject->height;
    auto t = std::make_unique<TestExpr>(p, std::move(subject), name);
    t->negated = negated;
    int ha = 0;
    if (is_op("(")) {
      ha = parse_args(t->args);
    } else if (starts_test_arg()) {
      if (is_name("is")) fail("you cannot chain tests with 'is'");
      Nest nest(*this);
      ExprPtr arg = parse_postfix(parse_primary());
      ha = arg->height;
      t->args.positional.push_back(std::move(arg));
    }
    return bounded(std::move(t), {hs, ha});
  }

  // Jinja lets a test take one argument without parentheses: `x is divisibleby 3`.
  bool starts_test_arg() const {
    const Token& t = cur();
    if (t.type == TokenType::Name) return t.value != "else" && t.value != "or" && t.value != "and";
    if (t.type == TokenType::String || t.type == TokenType::Integer || t.type == TokenType::Float) return true;
    return is_op("(") || is_op("[") || is_op("{");
  }
};

}  // namespace

Body parse(std::string_view source) { return Parser(tokenize(source)).parse_template(); }

}  // namespace inhouse::chat::jinja
