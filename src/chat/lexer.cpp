// chat/lexer — a hand-written equivalent of Jinja's regex lexer (jinja2/lexer.py) with
// trim_blocks and lstrip_blocks on, which is how Hugging Face renders chat templates.
#include "chat/lexer.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "chat/chat_template.h"
#include "chat/utf8.h"

namespace inhouse::chat::jinja {

const char* token_type_name(TokenType t) {
  switch (t) {
    case TokenType::Data: return "template text";
    case TokenType::VarBegin: return "'{{'";
    case TokenType::VarEnd: return "end of print statement '}}'";
    case TokenType::BlockBegin: return "'{%'";
    case TokenType::BlockEnd: return "end of statement block '%}'";
    case TokenType::Name: return "name";
    case TokenType::String: return "string";
    case TokenType::Integer: return "integer";
    case TokenType::Float: return "float";
    case TokenType::Operator: return "operator";
    case TokenType::Eof: return "end of template";
  }
  return "token";
}

namespace {

bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool name_char(char c) { return name_start(c) || is_digit(c); }

// Jinja normalises \r\n and \r to \n and drops one trailing newline (keep_trailing_newline=False).
std::string normalize(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out += src[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Python's str.rstrip(): strips Unicode whitespace from the end.
std::string rstrip_ws(std::string_view s) {
  std::vector<size_t> offs = utf8::offsets(s);
  size_t n = offs.size() - 1;
  while (n > 0) {
    size_t i = offs[n - 1];
    if (!utf8::is_space(utf8::next(s, i))) break;
    --n;
  }
  return std::string(s.substr(0, offs[n]));
}

bool all_space(std::string_view s) {
  for (size_t i = 0; i < s.size();)
    if (!utf8::is_space(utf8::next(s, i))) return false;
  return true;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(normalize(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    while (pos_ < src_.size()) lex_root();
    push(TokenType::Eof, "", src_.size());
    return std::move(out_);
  }

 private:
  std::string src_;
  size_t pos_ = 0;
  bool line_starting_ = true;  // the last match ended with a newline (or nothing matched yet)
  std::vector<size_t> line_starts_;
  std::vector<Token> out_;

  // ---- positions and errors ----

  void locate(size_t offset, int& line, int& column) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    size_t line_idx = static_cast<size_t>(it - line_starts_.begin()) - 1;
    line = static_cast<int>(line_idx + 1);
    size_t start = line_starts_[line_idx];
    column = static_cast<int>(utf8::length(std::string_view(src_).substr(start, offset - start))) + 1;
  }

  [[noreturn]] void fail(const std::string& msg, size_t offset) const {
    int line, column;
    locate(offset, line, column);
    throw TemplateError(msg, line, column);
  }

  Token& push(TokenType type, std::string value, size_t offset) {
    Token t;
    t.type = type;
    t.value = std::move(value);
    locate(offset, t.line, t.column);
    out_.push_back(std::move(t));
    return out_.back();
  }

  bool at(size_t p, const char* s) const { return src_.compare(p, std::strlen(s), s) == 0; }

  size_t skip_space(size_t p) const {
    while (p < src_.size() && ascii_space(src_[p])) ++p;
    return p;
  }

  // ---- text between tags ----

  // The earliest "{{", "{%" or "{#" at or after `from`; npos when none.
  size_t find_tag(size_t from) const {
    for (size_t p = src_.find('{', from); p != std::string::npos; p = src_.find('{', p + 1)) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) return p;
    }
    return std::string::npos;
  }

  // Whitespace control for the text before a tag: '-' strips all trailing whitespace;
  // lstrip_blocks removes spaces between a line start and a block/comment tag.
  std::string control_text(std::string_view text, char sign, bool is_variable) const {
    if (sign == '-') return rstrip_ws(text);
    if (sign == '+' || is_variable) return std::string(text);
    size_t nl = text.rfind('\n');
    size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
    if ((l_pos > 0 || line_starting_) && l_pos < text.size() && all_space(text.substr(l_pos)))
      return std::string(text.substr(0, l_pos));
    return std::string(text);
  }

  void emit_data(std::string text, size_t offset) {
    if (!text.empty()) push(TokenType::Data, std::move(text), offset);
  }

  void lex_root() {
    size_t tag = find_tag(pos_);
    if (tag == std::string::npos) {
      emit_data(src_.substr(pos_), pos_);
      pos_ = src_.size();
      return;
    }
    char kind = src_[tag + 1];
    size_t after = tag + 2;
    char sign = after < src_.size() && (src_[after] == '-' || src_[after] == '+') ? src_[after] : 0;
    if (sign) ++after;
    std::string_view text = std::string_view(src_).substr(pos_, tag - pos_);
    emit_data(control_text(text, sign, kind == '{'), pos_);
    line_starting_ = false;
    if (kind == '#') return lex_comment(tag, after);
    if (kind == '%' && lex_raw(tag, after)) return;
    lex_tag(kind == '%', tag, after);
  }

  // ---- comments and raw blocks ----

  void lex_comment(size_t open, size_t content) {
    size_t close = src_.find("#}", content);
    if (close == std::string::npos) fail("missing end of comment tag", open);
    pos_ = finish_block_end(close, close > content ? src_[close - 1] : 0, 2);
  }

  // After a block/comment end delimiter at `close` (length len): '-' eats following
  // whitespace, '+' keeps it, otherwise trim_blocks eats one newline.
  size_t finish_block_end(size_t close, char sign, size_t len) {
    size_t end = close + len;
    if (sign == '-') end = skip_space(end);
    else if (sign != '+' && end < src_.size() && src_[end] == '\n') ++end;
    line_starting_ = end > 0 && src_[end - 1] == '\n';
    return end;
  }

  // `{% raw %}...{% endraw %}` becomes one text token. Returns false when the block tag at
  // `open` is not a raw tag.
  bool lex_raw(size_t open, size_t after) {
    size_t p = skip_space(after);
    if (!at(p, "raw")) return false;
    p = skip_space(p + 3);
    if (at(p, "-%}")) p = skip_space(p + 3);
    else if (at(p, "%}")) p += 2;
    else return false;
    line_starting_ = src_[p - 1] == '\n';
    size_t body = p;
    for (size_t q = src_.find("{%", body); q != std::string::npos; q = src_.find("{%", q + 1)) {
      size_t e = q + 2;
      char sign = e < src_.size() && (src_[e] == '-' || src_[e] == '+') ? src_[e] : 0;
      if (sign) ++e;
      e = skip_space(e);
      if (!at(e, "endraw")) continue;
      e = skip_space(e + 6);
      char end_sign = at(e, "-%}") ? '-' : at(e, "+%}") ? '+' : 0;
      if (end_sign) ++e;
      if (!at(e, "%}")) continue;
      emit_data(control_text(std::string_view(src_).substr(body, q - body), sign, false), body);
      pos_ = finish_block_end(e, end_sign, 2);
      return true;
    }
    fail("missing end of raw directive", open);
  }

  // ---- inside {% %} and {{ }} ----

  void lex_tag(bool block, size_t open, size_t p) {
    push(block ? TokenType::BlockBegin : TokenType::VarBegin, block ? "{%" : "{{", open);
    std::vector<char> balance;  // closing brackets we still expect; ends only count at zero
    while (true) {
      if (p >= src_.size())
        fail(std::string("unexpected end of template: '") + (block ? "{%" : "{{") + "' was never closed", open);
      if (balance.empty() && try_tag_end(block, p)) return;
      if (ascii_space(src_[p])) {
        ++p;
        continue;
      }
      p = lex_token(p, balance);
    }
  }

  bool try_tag_end(bool block, size_t p) {
    if (block) {
      char sign = (at(p, "-%}") || at(p, "+%}")) ? src_[p] : 0;
      size_t close = sign ? p + 1 : p;
      if (!at(close, "%}")) return false;
      push(TokenType::BlockEnd, "%}", p);
      pos_ = finish_block_end(close, sign, 2);
      return true;
    }
    bool minus = at(p, "-}}");
    if (!minus && !at(p, "}}")) return false;
    push(TokenType::VarEnd, "}}", p);
    size_t end = p + (minus ? 3 : 2);
    if (minus) end = skip_space(end);
    line_starting_ = src_[end - 1] == '\n';
    pos_ = end;
    return true;
  }

  size_t lex_token(size_t p, std::vector<char>& balance) {
    char c = src_[p];
    if (is_digit(c)) return lex_number(p);
    if (name_start(c)) {
      size_t e = p;
      while (e < src_.size() && name_char(src_[e])) ++e;
      push(TokenType::Name, src_.substr(p, e - p), p);
      return e;
    }
    if (c == '\'' || c == '"') return lex_string(p);
    return lex_operator(p, balance);
  }

  size_t scan_digits(size_t p, bool (*ok)(char)) const {
    // digits with single '_' separators between them, as Python literals allow
    while (p < src_.size() && (ok(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() && ok(src_[p + 1])))) ++p;
    return p;
  }

  size_t lex_number(size_t p) {
    size_t e = scan_digits(p, is_digit);
    bool is_float = false;
    // Jinja's float rule does not apply right after a '.', so `x.0.1` stays attribute access.
    bool after_dot = p > 0 && src_[p - 1] == '.';
    if (!after_dot && e + 1 < src_.size() && src_[e] == '.' && is_digit(src_[e + 1])) {
      e = scan_digits(e + 1, is_digit);
      is_float = true;
    }
    if (!after_dot && e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t x = e + 1;
      if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
      if (x < src_.size() && is_digit(src_[x])) {
        e = scan_digits(x, is_digit);
        is_float = true;
      }
    }
    std::string text = src_.substr(p, e - p);
    text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
    if (is_float) {
      push(TokenType::Float, text, p).float_value = std::strtod(text.c_str(), nullptr);
      return e;
    }
    return lex_integer(p, e, text);
  }

  size_t lex_integer(size_t p, size_t e, std::string text) {
    int base = 10;
    if (text == "0" && e < src_.size()) {
      char x = static_cast<char>(src_[e] | 0x20);
      base = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 10;
      if (base != 10) {
        auto ok = base == 16 ? +[](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) != 0; }
                  : base == 8 ? +[](char ch) { return ch >= '0' && ch <= '7'; }
                              : +[](char ch) { return ch == '0' || ch == '1'; };
        size_t q = e + 1;
        if (q < src_.size() && src_[q] == '_') ++q;
        size_t end = scan_digits(q, ok);
        if (end == q) fail("invalid integer literal", p);
        text = src_.substr(q, end - q);
        text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
        e = end;
      }
    }
    errno = 0;
    char* stop = nullptr;
    long long v = std::strtoll(text.c_str(), &stop, base);
    if (errno == ERANGE) fail("integer literal too large", p);
    push(TokenType::Integer, src_.substr(p, e - p), p).int_value = v;
    return e;
  }

  size_t lex_string(size_t p) {
    char quote = src_[p];
    std::string value;
    size_t i = p + 1;
    while (true) {
      if (i >= src_.size()) fail("unterminated string literal", p);
      char c = src_[i];
      if (c == quote) break;
      if (c == '\\' && i + 1 < src_.size()) {
        i = decode_escape(i, value);
        continue;
      }
      value += c;
      ++i;
    }
    push(TokenType::String, std::move(value), p);
    return i + 1;
  }

  // Python "unicode-escape" decoding of one backslash sequence starting at src_[i].
  size_t decode_escape(size_t i, std::string& out) {
    char e = src_[i + 1];
    switch (e) {
      case '\n': return i + 2;  // line continuation
      case '\\': out += '\\'; return i + 2;
      case '\'': out += '\''; return i + 2;
      case '"': out += '"'; return i + 2;
      case 'a': out += '\a'; return i + 2;
      case 'b': out += '\b'; return i + 2;
      case 'f': out += '\f'; return i + 2;
      case 'n': out += '\n'; return i + 2;
      case 'r': out += '\r'; return i + 2;
      case 't': out += '\t'; return i + 2;
      case 'v': out += '\v'; return i + 2;
      case 'x': return decode_hex(i, 2, out);
      case 'u': return decode_hex(i, 4, out);
      case 'U': return decode_hex(i, 8, out);
      default: break;
    }
    if (e >= '0' && e <= '7') {
      size_t j = i + 1;
      char32_t cp = 0;
      for (int k = 0; k < 3 && j < src_.size() && src_[j] >= '0' && src_[j] <= '7'; ++k, ++j) cp = cp * 8 + (src_[j] - '0');
      utf8::append(out, cp);
      return j;
    }
    out += '\\';  // unknown escapes stay as written, like Python
    return i + 1;
  }

  size_t decode_hex(size_t i, int digits, std::string& out) {
    size_t j = i + 2;
    char32_t cp = 0;
    for (int k = 0; k < digits; ++k, ++j) {
      if (j >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[j])))
        fail("truncated \\" + std::string(1, src_[i + 1]) + " escape in string literal", i);
      char h = src_[j];
      cp = cp * 16 + static_cast<char32_t>(is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    if (cp > 0x10FFFF) fail("illegal Unicode character in string literal", i);
    utf8::append(out, cp);
    return j;
  }

  size_t lex_operator(size_t p, std::vector<char>& balance) {
    static const char* const two[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : two)
      if (at(p, op)) {
        push(TokenType::Operator, op, p);
        return p + 2;
      }
    char c = src_[p];
    if (!std::strchr("+-/*%~[](){}><=.:|,;", c)) {
      size_t i = p;
      std::string ch;
      utf8::append(ch, utf8::next(src_, i));
      fail("unexpected char '" + ch + "'", p);
    }
    track_brackets(c, p, balance);
    push(TokenType::Operator, std::string(1, c), p);
    return p + 1;
  }

  void track_brackets(char c, size_t p, std::vector<char>& balance) const {
    if (c == '(') balance.push_back(')');
    else if (c == '[') balance.push_back(']');
    else if (c == '{') balance.push_back('}');
    else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) fail(std::string("unexpected '") + c + "'", p);
      if (balance.back() != c) fail(std::string("unexpected '") + c + "', expected '" + balance.back() + "'", p);
      balance.pop_back();
    }
  }
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace inhouse::chat::jinja
