// chat/pystr — Python str algorithms on UTF-8 strings, indexed by code point.
#include "chat/pystr.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "chat/utf8.h"

namespace inhouse::chat::jinja::pystr {

// ---- indices ----

std::vector<int64_t> slice_indices(int64_t len, OptInt start, OptInt stop, OptInt step_opt) {
  int64_t step = step_opt.value_or(1);
  if (step == 0) throw Error("slice step cannot be zero");
  auto clamp = [&](OptInt v, int64_t dflt) {
    if (!v) return dflt;
    int64_t i = *v;
    if (i < 0) {
      i += len;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= len) {
      i = step < 0 ? len - 1 : len;
    }
    return i;
  };
  int64_t b = clamp(start, step < 0 ? len - 1 : 0);
  int64_t e = clamp(stop, step < 0 ? -1 : len);
  std::vector<int64_t> out;
  for (int64_t i = b; step > 0 ? i < e : i > e; i += step) out.push_back(i);
  return out;
}

namespace {

// Byte range of code points [start, end) (Python-normalised, clamped) within s.
std::pair<size_t, size_t> byte_range(std::string_view s, const std::vector<size_t>& offs, OptInt start, OptInt end) {
  int64_t n = static_cast<int64_t>(offs.size()) - 1;
  auto norm = [n](OptInt v, int64_t dflt) {
    int64_t i = v.value_or(dflt);
    if (i < 0) i = std::max<int64_t>(0, i + n);
    return std::min(i, n);
  };
  int64_t b = norm(start, 0), e = norm(end, n);
  if (e < b) e = b;
  (void)s;
  return {offs[static_cast<size_t>(b)], offs[static_cast<size_t>(e)]};
}

int64_t cp_index(const std::vector<size_t>& offs, size_t byte) {
  return static_cast<int64_t>(std::lower_bound(offs.begin(), offs.end(), byte) - offs.begin());
}

bool is_space_at(std::string_view s, size_t i, size_t& next) {
  next = i;
  return utf8::is_space(utf8::next(s, next));
}

}  // namespace

// ---- split / strip ----

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) throw Error("empty separator");
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      size_t hit = s.find(*sep, pos);
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(pos, hit - pos));
      pos = hit + sep->size();
    }
    out.emplace_back(s.substr(pos));
    return out;
  }
  size_t i = 0, next = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space_at(s, i, next)) i = next;
    if (i >= s.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      out.emplace_back(s.substr(i));  // the remainder is kept as is, trailing whitespace too
      return out;
    }
    size_t b = i;
    while (i < s.size() && !is_space_at(s, i, next)) i = next;
    out.emplace_back(s.substr(b, i - b));
  }
  return out;
}

std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  if (maxsplit < 0) return split(s, sep, -1);
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) throw Error("empty separator");
    size_t end = s.size();
    while (static_cast<int64_t>(out.size()) < maxsplit) {
      size_t hit = end >= sep->size() ? s.rfind(*sep, end - sep->size()) : std::string_view::npos;
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
      end = hit;
    }
    out.emplace_back(s.substr(0, end));
    std::reverse(out.begin(), out.end());
    return out;
  }
  std::vector<size_t> offs = utf8::offsets(s);
  auto space_before = [&](size_t k) {  // is code point k-1 whitespace
    size_t i = offs[k - 1];
    return utf8::is_space(utf8::next(s, i));
  };
  size_t k = offs.size() - 1;
  while (k > 0) {
    while (k > 0 && space_before(k)) --k;
    if (k == 0) break;
    if (static_cast<int64_t>(out.size()) == maxsplit) {
      out.emplace_back(s.substr(0, offs[k]));  // the remainder keeps its leading whitespace
      break;
    }
    size_t e = k;
    while (k > 0 && !space_before(k)) --k;
    out.emplace_back(s.substr(offs[k], offs[e] - offs[k]));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> out;
  size_t b = 0;
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t c = utf8::next(s, i);
    bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) || c == 0x85 ||
               c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    if (c == '\r' && i < s.size() && s[i] == '\n') ++i;
    out.emplace_back(s.substr(b, (keepends ? i : start) - b));
    b = i;
  }
  if (b < s.size()) out.emplace_back(s.substr(b));
  return out;
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  std::vector<char32_t> set;
  if (chars) set = utf8::decode(*chars);
  auto strippable = [&](char32_t c) {
    return chars ? std::find(set.begin(), set.end(), c) != set.end() : utf8::is_space(c);
  };
  std::vector<size_t> offs = utf8::offsets(s);
  size_t b = 0, e = offs.size() - 1;
  auto cp_at = [&](size_t k) {
    size_t i = offs[k];
    return utf8::next(s, i);
  };
  if (left)
    while (b < e && strippable(cp_at(b))) ++b;
  if (right)
    while (e > b && strippable(cp_at(e - 1))) --e;
  return std::string(s.substr(offs[b], offs[e] - offs[b]));
}

// ---- search / replace ----

int64_t find(std::string_view s, std::string_view sub, OptInt start, OptInt end, bool from_right) {
  std::vector<size_t> offs = utf8::offsets(s);
  auto [b, e] = byte_range(s, offs, start, end);
  int64_t n = static_cast<int64_t>(offs.size()) - 1;
  if (start && *start > n) return -1;
  if (e - b < sub.size()) return -1;
  std::string_view window = s.substr(b, e - b);
  size_t hit = from_right ? window.rfind(sub) : window.find(sub);
  if (hit == std::string_view::npos) return -1;
  return cp_index(offs, b + hit);
}

int64_t count(std::string_view s, std::string_view sub, OptInt start, OptInt end) {
  std::vector<size_t> offs = utf8::offsets(s);
  auto [b, e] = byte_range(s, offs, start, end);
  std::string_view window = s.substr(b, e - b);
  if (sub.empty()) return static_cast<int64_t>(utf8::length(window)) + 1;
  int64_t n = 0;
  for (size_t p = window.find(sub); p != std::string_view::npos; p = window.find(sub, p + sub.size())) ++n;
  return n;
}

bool starts_with(std::string_view s, std::string_view prefix, OptInt start, OptInt end) {
  std::vector<size_t> offs = utf8::offsets(s);
  auto [b, e] = byte_range(s, offs, start, end);
  return s.substr(b, e - b).substr(0, prefix.size()) == prefix && e - b >= prefix.size();
}

bool ends_with(std::string_view s, std::string_view suffix, OptInt start, OptInt end) {
  std::vector<size_t> offs = utf8::offsets(s);
  auto [b, e] = byte_range(s, offs, start, end);
  std::string_view w = s.substr(b, e - b);
  return w.size() >= suffix.size() && w.substr(w.size() - suffix.size()) == suffix;
}

std::string replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count) {
  std::string out;
  if (old.empty()) {  // Python inserts repl before every code point and at the end
    int64_t done = 0;
    for (size_t i = 0; i < s.size();) {
      if (count < 0 || done < count) {
        out += repl;
        ++done;
      }
      size_t start = i;
      utf8::next(s, i);
      out.append(s.substr(start, i - start));
    }
    if (count < 0 || done < count) out += repl;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  for (size_t hit = s.find(old); hit != std::string_view::npos && (count < 0 || done < count);
       hit = s.find(old, pos), ++done) {
    out.append(s.substr(pos, hit - pos));
    out += repl;
    pos = hit + old.size();
  }
  out.append(s.substr(pos));
  return out;
}

// ---- case ----

std::string capitalize(std::string_view s) {
  std::string out;
  bool first = true;
  for (size_t i = 0; i < s.size();) {
    char32_t c = utf8::next(s, i);
    utf8::append(out, first ? utf8::to_upper(c) : utf8::to_lower(c));
    first = false;
  }
  return out;
}

std::string title(std::string_view s) {
  std::string out;
  bool prev_cased = false;
  for (size_t i = 0; i < s.size();) {
    char32_t c = utf8::next(s, i);
    bool cased = utf8::is_upper(c) || utf8::is_lower(c);
    utf8::append(out, cased ? (prev_cased ? utf8::to_lower(c) : utf8::to_upper(c)) : c);
    prev_cased = cased;
  }
  return out;
}

std::string jinja_title(std::string_view s) {
  std::string out;
  bool word_start = true;
  for (size_t i = 0; i < s.size();) {
    char32_t c = utf8::next(s, i);
    bool sep = utf8::is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) utf8::append(out, c);
    else utf8::append(out, word_start ? utf8::to_upper(c) : utf8::to_lower(c));
    word_start = sep;
  }
  return out;
}

std::string swapcase(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    char32_t c = utf8::next(s, i);
    utf8::append(out, utf8::is_upper(c) ? utf8::to_lower(c) : utf8::is_lower(c) ? utf8::to_upper(c) : c);
  }
  return out;
}

std::string pad(std::string_view s, int64_t width, char32_t fill, char align) {
  int64_t len = static_cast<int64_t>(utf8::length(s));
  if (width <= len) return std::string(s);
  int64_t total = width - len;
  int64_t left = align == '>' ? total : align == '^' ? total / 2 : align == 'c' ? total / 2 + (total & width & 1) : 0;
  std::string f;
  utf8::append(f, fill);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += f;
  out += s;
  for (int64_t i = 0; i < total - left; ++i) out += f;
  return out;
}

std::string zfill(std::string_view s, int64_t width) {
  int64_t len = static_cast<int64_t>(utf8::length(s));
  if (width <= len) return std::string(s);
  std::string zeros(static_cast<size_t>(width - len), '0');
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) return std::string(1, s[0]) + zeros + std::string(s.substr(1));
  return zeros + std::string(s);
}

// ---- formatting ----

namespace {

struct Spec {
  char32_t fill = ' ';
  char align = 0;  // '<' '>' '^' '=' or 0
  char sign = '-';
  bool alt = false, zero = false;
  int64_t width = -1, precision = -1;
  char grouping = 0;
  char type = 0;
};

std::string group_digits(const std::string& digits, char sep) {
  std::string out;
  int n = 0;
  for (size_t i = digits.size(); i > 0; --i) {
    if (n && n % 3 == 0) out += sep;
    out += digits[i - 1];
    ++n;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string c_format(char conv, int64_t precision, double d) {
  int p = static_cast<int>(std::min<int64_t>(precision, 1000));
  const char fmt[] = {'%', '.', '*', conv, '\0'};
  int n = std::snprintf(nullptr, 0, fmt, p, d);
  std::string out(static_cast<size_t>(n), '\0');
  std::snprintf(out.data(), out.size() + 1, fmt, p, d);
  return out;
}

// The digits of a number (no sign) per the spec's type; sets `negative`.
std::string number_body(const Value& v, const Spec& sp, bool& negative) {
  char t = sp.type;
  if (t == 'd' || t == 'i' || t == 'x' || t == 'X' || t == 'o' || t == 'b' || t == 'c' || (t == 0 && !v.is_float())) {
    int64_t i = v.is_float() ? static_cast<int64_t>(v.get_float()) : v.as_int();
    negative = i < 0;
    uint64_t u = negative ? 0 - static_cast<uint64_t>(i) : static_cast<uint64_t>(i);
    if (t == 'c') {
      std::string s;
      utf8::append(s, static_cast<char32_t>(u));
      negative = false;
      return s;
    }
    int base = (t == 'x' || t == 'X') ? 16 : t == 'o' ? 8 : t == 'b' ? 2 : 10;
    std::string digits;
    do {
      digits += "0123456789abcdef"[u % base];
      u /= base;
    } while (u);
    std::reverse(digits.begin(), digits.end());
    if (t == 'X') std::transform(digits.begin(), digits.end(), digits.begin(), ::toupper);
    if (sp.grouping) digits = group_digits(digits, sp.grouping);
    if (sp.alt && base != 10) digits = std::string("0") + (t == 'X' ? 'X' : t == 'o' ? 'o' : t == 'b' ? 'b' : 'x') + digits;
    return digits;
  }
  double d = v.as_double();
  negative = std::signbit(d) && !std::isnan(d);
  double a = std::fabs(d);
  if (std::isinf(a)) return (t == 'F' || t == 'E' || t == 'G') ? "INF" : "inf";
  if (std::isnan(a)) return (t == 'F' || t == 'E' || t == 'G') ? "NAN" : "nan";
  int64_t prec = sp.precision < 0 ? 6 : sp.precision;
  std::string s;
  switch (t) {
    case 'f': case 'F': s = c_format('f', prec, a); break;
    case 'e': case 'E': s = c_format(t, prec, a); break;
    case 'g': case 'G': s = c_format(t, prec == 0 ? 1 : prec, a); break;
    case '%': s = c_format('f', prec, a * 100) + "%"; break;
    default: s = sp.precision < 0 ? float_repr(a) : c_format('g', prec == 0 ? 1 : prec, a); break;
  }
  if (sp.grouping) {
    size_t dot = s.find_first_not_of("0123456789");
    s = group_digits(s.substr(0, dot), sp.grouping) + (dot == std::string::npos ? "" : s.substr(dot));
  }
  return s;
}

std::string apply_spec(const Value& v, const Spec& sp) {
  std::string body, sign;
  char align = sp.align;
  if (v.is_number() && !(v.is_bool() && sp.type == 0) && sp.type != 's' && sp.type != 'r') {
    bool negative = false;
    body = number_body(v, sp, negative);
    if (negative || sp.sign == '+' || sp.sign == ' ') sign.push_back(negative ? '-' : sp.sign);
    if (!align) align = sp.zero ? '=' : '>';
  } else {
    body = sp.type == 'r' ? repr(v) : to_str(v);
    if (sp.precision >= 0) {
      std::vector<size_t> offs = utf8::offsets(body);
      if (static_cast<int64_t>(offs.size()) - 1 > sp.precision) body.resize(offs[static_cast<size_t>(sp.precision)]);
    }
    if (!align) align = '<';
  }
  char32_t fill = sp.zero && !sp.align ? U'0' : sp.fill;
  int64_t width = sp.width - static_cast<int64_t>(utf8::length(sign));
  if (align == '=') return sign + pad(body, width, fill, '>');
  return pad(sign + body, sp.width, fill, align);
}

int64_t parse_int(std::string_view s, size_t& i) {
  int64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') n = std::min<int64_t>(n * 10 + (s[i++] - '0'), 1 << 20);
  return n;
}

Spec parse_format_spec(std::string_view s) {
  Spec sp;
  size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  size_t after_first = 0;
  if (!s.empty()) utf8::next(s, after_first);
  if (after_first < s.size() && is_align(s[after_first])) {
    size_t k = 0;
    sp.fill = utf8::next(s, k);
    sp.align = s[after_first];
    i = after_first + 1;
  } else if (!s.empty() && is_align(s[0])) {
    sp.align = s[0];
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) sp.sign = s[i++];
  if (i < s.size() && s[i] == '#') sp.alt = true, ++i;
  if (i < s.size() && s[i] == '0') sp.zero = true, ++i;
  if (i < s.size() && s[i] >= '0' && s[i] <= '9') sp.width = parse_int(s, i);
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) sp.grouping = s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    sp.precision = parse_int(s, i);
  }
  if (i < s.size()) sp.type = s[i++];
  if (i != s.size()) throw Error("invalid format specifier '" + std::string(s) + "'");
  return sp;
}

// `name`, `0`, `name.attr`, `name[key]` of a str.format field.
Value resolve_field(std::string_view field, const CallArgs& args, size_t& auto_index) {
  size_t end = field.find_first_of(".[");
  std::string_view head = field.substr(0, end);
  Value v;
  if (head.empty()) {
    if (auto_index >= args.positional.size()) throw Error("Replacement index " + std::to_string(auto_index) + " out of range for positional args tuple");
    v = args.positional[auto_index++];
  } else if (std::all_of(head.begin(), head.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    size_t k = std::stoul(std::string(head));
    if (k >= args.positional.size()) throw Error("Replacement index " + std::to_string(k) + " out of range for positional args tuple");
    v = args.positional[k];
  } else {
    const Value* found = args.find(head);
    if (!found) throw Error("KeyError: '" + std::string(head) + "'");
    v = *found;
  }
  while (end != std::string_view::npos) {
    bool bracket = field[end] == '[';
    size_t stop = bracket ? field.find(']', end) : field.find_first_of(".[", end + 1);
    std::string key(field.substr(end + 1, (stop == std::string_view::npos ? field.size() : stop) - end - 1));
    if (v.is_object()) {
      const Value* f = v.object().find(key);
      if (!f) throw Error("KeyError: '" + key + "'");
      v = *f;
    } else if (v.is_array() && !key.empty() && std::isdigit(static_cast<unsigned char>(key[0]))) {
      size_t k = std::stoul(key);
      if (k >= v.items().size()) throw Error("IndexError: list index out of range");
      v = v.items()[k];
    } else {
      throw Error("cannot look up '" + key + "' in a " + type_name(v));
    }
    end = bracket ? (stop == std::string_view::npos ? stop : (stop + 1 < field.size() ? stop + 1 : std::string_view::npos)) : stop;
  }
  return v;
}

}  // namespace

std::string format(std::string_view fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') ++i;
      else throw Error("Single '}' encountered in format string");
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    size_t close = fmt.find('}', i);
    if (close == std::string_view::npos) throw Error("Single '{' encountered in format string");
    std::string_view field = fmt.substr(i + 1, close - i - 1);
    std::string_view spec;
    char conv = 0;
    if (size_t colon = field.find(':'); colon != std::string_view::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (size_t bang = field.find('!'); bang != std::string_view::npos) {
      conv = bang + 1 < field.size() ? field[bang + 1] : 's';
      field = field.substr(0, bang);
    }
    Value v = resolve_field(field, args, auto_index);
    if (conv == 'r') v = Value(repr(v));
    else if (conv == 's') v = Value(to_str(v));
    out += spec.empty() ? to_str(v) : apply_spec(v, parse_format_spec(spec));
    i = close;
  }
  return out;
}

namespace {

// One % conversion: `%[(key)][flags][width][.precision]type` starting after the '%'.
std::string percent_one(std::string_view fmt, size_t& i, const Value& args, size_t& next_arg) {
  Value arg;
  bool keyed = false;
  if (fmt[i] == '(') {
    size_t close = fmt.find(')', i);
    if (close == std::string_view::npos) throw Error("incomplete format key");
    if (!args.is_dict()) throw Error("format requires a mapping");
    const Value* f = args.object().find(fmt.substr(i + 1, close - i - 1));
    if (!f) throw Error("KeyError: '" + std::string(fmt.substr(i + 1, close - i - 1)) + "'");
    arg = *f;
    keyed = true;
    i = close + 1;
  }
  Spec sp;
  sp.align = '>';
  for (; i < fmt.size() && std::string_view("-+ #0").find(fmt[i]) != std::string_view::npos; ++i) {
    if (fmt[i] == '-') sp.align = '<';
    else if (fmt[i] == '+' || fmt[i] == ' ') sp.sign = sp.sign == '+' ? '+' : fmt[i];
    else if (fmt[i] == '#') sp.alt = true;
    else sp.zero = true;
  }
  if (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') sp.width = parse_int(fmt, i);
  if (i < fmt.size() && fmt[i] == '.') {
    ++i;
    sp.precision = parse_int(fmt, i);
  }
  while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
  if (i >= fmt.size()) throw Error("incomplete format");
  char t = fmt[i++];
  if (t == '%') return "%";
  if (!keyed) {
    const std::vector<Value>* list = args.is_array() && args.array().is_tuple ? &args.items() : nullptr;
    if (list) {
      if (next_arg >= list->size()) throw Error("not enough arguments for format string");
      arg = (*list)[next_arg++];
    } else {
      if (next_arg++ > 0) throw Error("not enough arguments for format string");
      arg = args;
    }
  }
  if (std::string_view("sr").find(t) != std::string_view::npos) {
    sp.type = t;
    sp.zero = false;  // Python ignores the '0' flag for strings
    return apply_spec(arg, sp);
  }
  if (sp.zero && sp.align == '>') sp.align = '=';
  if (std::string_view("diuxXoceEfFgG").find(t) == std::string_view::npos)
    throw Error(std::string("unsupported format character '") + t + "'");
  if (!arg.is_number()) throw Error(std::string("%") + t + " format: a number is required, not " + type_name(arg));
  sp.type = t == 'i' || t == 'u' ? 'd' : t;
  if (sp.align == '=') sp.fill = U'0';  // '0' flag: zero padding after the sign
  return apply_spec(arg, sp);
}

}  // namespace

std::string percent_format(std::string_view fmt, const Value& args) {
  std::string out;
  size_t next_arg = 0;
  for (size_t i = 0; i < fmt.size();) {
    if (fmt[i] != '%') {
      out += fmt[i++];
      continue;
    }
    ++i;
    if (i >= fmt.size()) throw Error("incomplete format");
    out += percent_one(fmt, i, args, next_arg);
  }
  bool tuple = args.is_array() && args.array().is_tuple;
  bool unused = tuple ? next_arg < args.items().size() : (next_arg == 0 && !args.is_dict());
  if (unused) throw Error("not all arguments converted during string formatting");
  return out;
}

}  // namespace inhouse::chat::jinja::pystr
