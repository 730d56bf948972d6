// kb/html.cpp — HTML pages as notes. gumbo builds the tree a browser would (recovering from
// malformed markup, decoding entities); one iterative walk over it turns headings into
// sections and block elements into paragraphs, keeping the text a reader would see.
#include <gumbo.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "kb/kb.h"

namespace inhouse::kb {
namespace {

using nlohmann::json;

// Past this many open elements gumbo's tree builder slows down superlinearly (seconds at
// 20k); real pages stay in the tens.
constexpr size_t kMaxNesting = 4096;

bool is_html_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_html_space(s[b])) ++b;
  while (e > b && is_html_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

template <typename T>
void add_unique(std::vector<T>& v, T x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(std::move(x));
}

// ---- nesting guard ---------------------------------------------------------------------------

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_void(std::string_view n) {
  return one_of(n, {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
                    "source", "track", "wbr", "keygen", "basefont", "bgsound", "frame", "image"});
}
bool is_formatting(std::string_view n) {
  return one_of(n, {"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong",
                    "tt", "u"});
}
// Start tags that close an open element of the same name (a new <p> ends the last one).
bool closes_same(std::string_view n) {
  return one_of(n, {"p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "tbody", "thead",
                    "tfoot", "rb", "rp", "rt", "rtc", "caption", "colgroup"});
}
bool is_raw_text(std::string_view n) {
  return one_of(n, {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
                    "noscript"});
}

// An estimate of the deepest element nesting the tree builder will reach, from a tokenizer-
// level pass that models the common implied ends (void elements, <p>/<li>/<td>... closing
// their predecessor, end tags popping to their element, misnested formatting end tags leaving
// the blocks above them open). It errs towards overestimating. Stops counting past `limit`.
size_t nesting_estimate(std::string_view html, size_t limit) {
  std::vector<std::string> open;
  size_t deepest = 0, i = 0;
  auto name_at = [&](size_t j) {
    size_t e = j;
    while (e < html.size() && (std::isalnum(static_cast<unsigned char>(html[e])) || html[e] == '-' || html[e] == ':')) ++e;
    return lower(html.substr(j, e - j));
  };
  auto skip_tag = [&](size_t j) {  // past the '>' that ends the tag, quotes respected
    char quote = 0;
    for (; j < html.size(); ++j) {
      if (quote) {
        if (html[j] == quote) quote = 0;
      } else if (html[j] == '"' || html[j] == '\'') {
        quote = html[j];
      } else if (html[j] == '>') {
        return j + 1;
      }
    }
    return html.size();
  };
  while ((i = html.find('<', i)) != std::string_view::npos && deepest <= limit) {
    if (html.substr(i).starts_with("<!--")) {
      const size_t e = html.find("-->", i + 4);
      i = e == std::string_view::npos ? html.size() : e + 3;
    } else if (i + 1 < html.size() && (html[i + 1] == '!' || html[i + 1] == '?')) {
      i = skip_tag(i + 1);
    } else if (i + 1 < html.size() && html[i + 1] == '/') {
      const std::string name = name_at(i + 2);
      const auto it = std::find(open.rbegin(), open.rend(), name);
      if (!name.empty() && it != open.rend()) {
        if (is_formatting(name)) open.erase(std::next(it).base());
        else open.erase(std::next(it).base(), open.end());
      }
      i = skip_tag(i + 2);
    } else if (i + 1 < html.size() && std::isalpha(static_cast<unsigned char>(html[i + 1]))) {
      const std::string name = name_at(i + 1);
      i = skip_tag(i + 1);
      if (name == "plaintext") break;
      if (is_void(name)) continue;
      if (is_raw_text(name)) {  // its content is text up to the matching end tag
        const std::string end = "</" + name;
        size_t j = i;
        while (j < html.size() && lower(html.substr(j, end.size())) != end) j = std::min(html.find('<', j + 1), html.size());
        i = j;
        continue;
      }
      if (closes_same(name)) {  // pop to an earlier one reachable through inline elements only
        for (size_t k = open.size(); k-- > 0;) {
          if (open[k] == name) {
            open.resize(k);
            break;
          }
          if (!is_formatting(open[k]) && !closes_same(open[k])) break;
        }
      }
      open.push_back(name);
      deepest = std::max(deepest, open.size());
    } else {
      ++i;
    }
  }
  return deepest;
}

// ---- links -----------------------------------------------------------------------------------

std::string percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += char(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  // A decoded %xx may have produced invalid UTF-8; such a link is kept undecoded.
  return find_invalid_utf8(out) ? std::string(s) : out;
}

// A relative href to another document → Link; nullopt for external URLs (any scheme or "//"),
// same-page anchors and assets (images, scripts, ...).
std::optional<Link> document_link(std::string_view href) {
  const std::string h = trim(href);
  if (h.empty() || h[0] == '#' || h.starts_with("//")) return std::nullopt;
  const size_t scheme_end = h.find_first_of(":/?#");
  if (scheme_end != std::string::npos && h[scheme_end] == ':') return std::nullopt;  // http:, mailto:, ...

  const size_t hash = h.find('#');
  const std::string fragment = hash == std::string::npos ? "" : h.substr(hash + 1);
  std::string path = h.substr(0, std::min(h.find_first_of("?#"), h.size()));
  path = percent_decode(path);
  const std::filesystem::path p(path);
  if (p.has_extension() && !format_of(p)) return std::nullopt;
  std::string stem = p.stem().string();
  if (stem.empty() || stem == "." || stem == "..") return std::nullopt;
  return Link{stem, percent_decode(fragment), ""};
}

// ---- the walk --------------------------------------------------------------------------------

const GumboVector* children_of(const GumboNode* n) {
  if (n->type == GUMBO_NODE_DOCUMENT) return &n->v.document.children;
  if (n->type == GUMBO_NODE_ELEMENT) return &n->v.element.children;
  return nullptr;
}

std::string attribute(const GumboNode* n, const char* name) {
  const GumboAttribute* a = gumbo_get_attribute(&n->v.element.attributes, name);
  return a ? std::string(a->value) : "";
}

int heading_level(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_H1: return 1;
    case GUMBO_TAG_H2: return 2;
    case GUMBO_TAG_H3: return 3;
    case GUMBO_TAG_H4: return 4;
    case GUMBO_TAG_H5: return 5;
    case GUMBO_TAG_H6: return 6;
    default: return 0;
  }
}

bool is_dropped(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_NAV: case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_SVG: case GUMBO_TAG_IFRAME: case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_SELECT: case GUMBO_TAG_HEAD:
      return true;
    default:
      return false;
  }
}

// Elements that end the paragraph before them and start a new one.
bool is_block(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_P: case GUMBO_TAG_DIV: case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_MAIN: case GUMBO_TAG_HEADER: case GUMBO_TAG_FOOTER: case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_ADDRESS: case GUMBO_TAG_FIGURE:
    case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_DL: case GUMBO_TAG_DT: case GUMBO_TAG_DD:
    case GUMBO_TAG_FORM: case GUMBO_TAG_FIELDSET: case GUMBO_TAG_LEGEND: case GUMBO_TAG_DETAILS:
    case GUMBO_TAG_SUMMARY: case GUMBO_TAG_HR: case GUMBO_TAG_CENTER: case GUMBO_TAG_HGROUP:
    case GUMBO_TAG_BODY: case GUMBO_TAG_CAPTION: case GUMBO_TAG_MENU:
      return true;
    default:
      return false;
  }
}

// Elements with structure of their own: lists, tables, preformatted text.
bool is_container(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_UL: case GUMBO_TAG_OL: case GUMBO_TAG_LI: case GUMBO_TAG_TABLE: case GUMBO_TAG_TR:
    case GUMBO_TAG_TD: case GUMBO_TAG_TH: case GUMBO_TAG_PRE: case GUMBO_TAG_LISTING:
    case GUMBO_TAG_XMP: case GUMBO_TAG_PLAINTEXT:
      return true;
    default:
      return false;
  }
}

class HtmlWalker {
 public:
  explicit HtmlWalker(Note& note) : note_(note) { note_.sections.emplace_back(); }

  // Depth-first without recursion: a page's depth is bounded only by kMaxNesting.
  void walk(const GumboNode* root) {
    struct Frame {
      const GumboNode* node;
      unsigned next;
    };
    std::vector<Frame> stack;
    if (enter(root)) stack.push_back({root, 0});
    while (!stack.empty()) {
      Frame& f = stack.back();
      const GumboVector* kids = children_of(f.node);
      if (kids && f.next < kids->length) {
        const auto* child = static_cast<const GumboNode*>(kids->data[f.next++]);
        if (enter(child)) stack.push_back({child, 0});
      } else {
        leave(f.node);
        stack.pop_back();
      }
    }
  }

  void finish() {
    end_paragraph();
    auto& s = note_.sections;
    s.erase(std::remove_if(s.begin(), s.end(), [](const Section& x) { return x.text.empty(); }), s.end());
    if (note_.title.empty()) note_.title = first_h1_;
  }

 private:
  // <head> is dropped from the walk; its title and meta are read here.
  void head(const GumboNode* n) {
    std::vector<const GumboNode*> todo{n};
    while (!todo.empty()) {
      const GumboNode* x = todo.back();
      todo.pop_back();
      if (x->type != GUMBO_NODE_ELEMENT) continue;
      if (x->v.element.tag_namespace == GUMBO_NAMESPACE_HTML) {
        if (x->v.element.tag == GUMBO_TAG_TITLE && note_.title.empty()) note_.title = collapsed_text(x);
        if (x->v.element.tag == GUMBO_TAG_META) meta(x);
      }
      const GumboVector& kids = x->v.element.children;
      for (unsigned i = kids.length; i-- > 0;) todo.push_back(static_cast<const GumboNode*>(kids.data[i]));
    }
  }

  // Returns whether to descend (and later call leave).
  bool enter(const GumboNode* n) {
    switch (n->type) {
      case GUMBO_NODE_DOCUMENT:
        return true;
      case GUMBO_NODE_TEXT: case GUMBO_NODE_CDATA: case GUMBO_NODE_WHITESPACE:
        text(n->v.text.text);
        return false;
      case GUMBO_NODE_ELEMENT:
        break;
      default:  // comments, templates
        return false;
    }
    const GumboElement& e = n->v.element;
    if (e.tag_namespace == GUMBO_NAMESPACE_SVG) return false;
    if (e.tag == GUMBO_TAG_HEAD) head(n);
    if (e.tag == GUMBO_TAG_TITLE && e.tag_namespace == GUMBO_NAMESPACE_HTML) {  // a title in <body>
      if (note_.title.empty()) note_.title = collapsed_text(n);
      return false;
    }
    if (e.tag == GUMBO_TAG_META) meta(n);
    if (is_dropped(e.tag)) return false;
    // Not shown (the hidden attribute) or marked as navigation the ARIA way: not content.
    if (gumbo_get_attribute(&e.attributes, "hidden") || lower(trim(attribute(n, "role"))) == "navigation")
      return false;

    if (e.tag == GUMBO_TAG_A) {
      if (auto link = document_link(attribute(n, "href"))) add_unique(note_.links, std::move(*link));
    }
    // A block inside a heading (an unclosed <h1> swallowing the page) ends the heading there.
    if (heading_node_ && (is_block(e.tag) || is_container(e.tag))) end_heading();
    if (const int level = heading_level(e.tag); level > 0 && !heading_node_) {
      end_paragraph();
      heading_node_ = n;
      heading_level_ = level;
      heading_.clear();
      heading_space_ = false;
      return true;
    }
    switch (e.tag) {
      case GUMBO_TAG_BR:
        if (heading_node_) heading_space_ = true;
        else if (pre_depth_) para_ += '\n';
        else line_break();
        return false;
      case GUMBO_TAG_PRE: case GUMBO_TAG_LISTING: case GUMBO_TAG_XMP: case GUMBO_TAG_PLAINTEXT:
        container_break();
        ++pre_depth_;
        return true;
      case GUMBO_TAG_UL: case GUMBO_TAG_OL:
        container_break();
        lists_.push_back(e.tag == GUMBO_TAG_OL ? 1 : 0);
        return true;
      case GUMBO_TAG_LI:
        list_item();
        return true;
      case GUMBO_TAG_TABLE:
        container_break();
        ++table_depth_;
        return true;
      case GUMBO_TAG_TR:
        line_break();
        row_cells_.push_back(0);
        return true;
      case GUMBO_TAG_TD: case GUMBO_TAG_TH:
        if (!row_cells_.empty() && row_cells_.back()++ > 0) raw(" | ");
        return true;
      default:
        break;
    }
    if (is_block(e.tag)) block_break();
    return true;
  }

  void leave(const GumboNode* n) {
    if (n->type != GUMBO_NODE_ELEMENT) return;
    const GumboTag tag = n->v.element.tag;
    if (n == heading_node_) {
      end_heading();
      return;
    }
    switch (tag) {
      case GUMBO_TAG_PRE: case GUMBO_TAG_LISTING: case GUMBO_TAG_XMP: case GUMBO_TAG_PLAINTEXT:
        --pre_depth_;
        container_break();
        return;
      case GUMBO_TAG_UL: case GUMBO_TAG_OL:
        lists_.pop_back();
        container_break();
        return;
      case GUMBO_TAG_TABLE:
        --table_depth_;
        container_break();
        return;
      case GUMBO_TAG_TR:
        if (!row_cells_.empty()) row_cells_.pop_back();
        line_break();
        return;
      default:
        break;
    }
    if (is_block(tag)) block_break();
  }

  void end_heading() {
    start_section(heading_level_, trim(heading_));
    heading_node_ = nullptr;
    heading_level_ = 0;
  }

  void meta(const GumboNode* n) {
    std::string name = lower(trim(attribute(n, "name")));
    if (name.empty()) name = lower(trim(attribute(n, "property")));
    if (name.empty() || !gumbo_get_attribute(&n->v.element.attributes, "content")) return;
    const std::string content = trim(attribute(n, "content"));
    if (!note_.metadata.contains(name)) note_.metadata[name] = content;
    if (name == "keywords") {
      size_t start = 0;
      for (size_t i = 0; i <= content.size(); ++i)
        if (i == content.size() || content[i] == ',' || content[i] == ';') {
          if (std::string t = trim(std::string_view(content).substr(start, i - start)); !t.empty())
            add_unique(note_.tags, std::move(t));
          start = i + 1;
        }
    }
  }

  // ---- text ----

  static std::string collapsed_text(const GumboNode* n) {
    std::string out;
    bool space = false;
    std::vector<const GumboNode*> todo{n};
    while (!todo.empty()) {
      const GumboNode* x = todo.back();
      todo.pop_back();
      if (x->type == GUMBO_NODE_TEXT || x->type == GUMBO_NODE_WHITESPACE || x->type == GUMBO_NODE_CDATA) {
        append_collapsed(out, space, x->v.text.text);
      } else if (x->type == GUMBO_NODE_ELEMENT) {
        const GumboVector& kids = x->v.element.children;
        for (unsigned i = kids.length; i-- > 0;) todo.push_back(static_cast<const GumboNode*>(kids.data[i]));
      }
    }
    return trim(out);
  }

  // Appends s with runs of whitespace (and no-break spaces) as one space, none at a line start.
  static void append_collapsed(std::string& out, bool& space, std::string_view s) {
    for (size_t i = 0; i < s.size(); ++i) {
      if (is_html_space(s[i])) {
        space = true;
      } else if (s[i] == '\xC2' && i + 1 < s.size() && s[i + 1] == '\xA0') {
        space = true;
        ++i;
      } else {
        if (space && !out.empty() && out.back() != '\n' && out.back() != ' ') out += ' ';
        space = false;
        out += s[i];
      }
    }
  }

  void text(std::string_view s) {
    if (heading_node_) {
      append_collapsed(heading_, heading_space_, s);
      return;
    }
    const size_t before = para_.size();
    if (pre_depth_) raw(s);
    else append_collapsed(para_, space_, s);
    has_text_ = has_text_ || para_.size() > before;
  }

  void raw(std::string_view s) {
    para_ += s;
    space_ = false;
  }

  void line_break() {
    if (para_.size() == marker_end_) para_.resize(marker_start_);  // an empty list item
    marker_start_ = marker_end_ = std::string::npos;
    while (!para_.empty() && para_.back() == ' ') para_.pop_back();
    if (!para_.empty() && para_.back() != '\n') para_ += '\n';
    space_ = false;
  }

  // Inside a list or table, blocks only separate words: the list or table is one paragraph.
  void block_break() {
    if (in_container()) space_ = true;
    else end_paragraph();
  }
  // A list, table or pre starts and ends a paragraph of its own, or a line inside another.
  void container_break() {
    if (in_container()) line_break();
    else end_paragraph();
  }
  bool in_container() const { return !lists_.empty() || table_depth_ > 0; }

  void list_item() {
    line_break();
    if (lists_.empty()) return;  // <li> outside a list (malformed HTML recovers into this)
    std::string marker(2 * (lists_.size() - 1), ' ');
    int& counter = lists_.back();
    marker += counter > 0 ? std::to_string(counter++) + ". " : "- ";
    marker_start_ = para_.size();
    raw(marker);
    marker_end_ = para_.size();
  }

  void end_paragraph() {
    std::string_view p = para_;
    while (!p.empty() && p.front() == '\n') p.remove_prefix(1);
    while (!p.empty() && is_html_space(p.back())) p.remove_suffix(1);
    if (has_text_ && !p.empty()) {  // not only list markers and cell separators
      std::string& body = note_.sections.back().text;
      body.append(body.empty() ? "" : "\n\n").append(p);
    }
    para_.clear();
    space_ = false;
    has_text_ = false;
    marker_start_ = marker_end_ = std::string::npos;
  }

  void start_section(int level, std::string title) {
    if (level == 1 && first_h1_.empty()) first_h1_ = title;
    path_.resize(std::min(path_.size(), size_t(level) - 1));
    while (path_.size() < size_t(level) - 1) path_.emplace_back();  // skipped levels
    path_.push_back(std::move(title));
    Section s;
    for (const auto& h : path_)
      if (!h.empty()) s.headings.push_back(h);
    note_.sections.push_back(std::move(s));
  }

  Note& note_;
  std::string para_;   // the paragraph being built
  bool space_ = false;  // whitespace seen since the last character of para_
  bool has_text_ = false;  // para_ holds text, not only list markers and cell separators
  size_t marker_start_ = std::string::npos, marker_end_ = std::string::npos;  // last list marker
  const GumboNode* heading_node_ = nullptr;  // the <hN> being read, its text goes to heading_
  int heading_level_ = 0;
  std::string heading_;
  bool heading_space_ = false;
  int pre_depth_ = 0;
  std::vector<int> lists_;  // per open list: next number (ol), 0 (ul)
  int table_depth_ = 0;
  std::vector<int> row_cells_;
  std::vector<std::string> path_;
  std::string first_h1_;
};

}  // namespace

Note parse_html(std::string_view html, std::string_view file_stem) {
  if (const size_t depth = nesting_estimate(html, kMaxNesting); depth > kMaxNesting)
    throw ParseError("HTML nested too deeply (over " + std::to_string(kMaxNesting) + " open elements)");

  GumboOptions options = kGumboDefaultOptions;
  options.max_errors = 0;  // recording parse errors copies the open-element stack each time
  std::unique_ptr<GumboOutput, void (*)(GumboOutput*)> out(
      gumbo_parse_with_options(&options, html.data(), html.size()),
      [](GumboOutput* o) { gumbo_destroy_output(&kGumboDefaultOptions, o); });
  if (!out) throw ParseError("HTML parser failed");

  Note note;
  note.metadata = json::object();
  HtmlWalker walker(note);
  walker.walk(out->document);
  walker.finish();
  if (note.title.empty()) note.title = std::string(file_stem);
  return note;
}

}  // namespace inhouse::kb
