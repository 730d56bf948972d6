// kb/markdown.cpp — Markdown notes as Obsidian and Logseq write them: YAML front matter
// (yaml-cpp), ATX headings, fenced code (left alone), [[wikilinks]] with #heading and |alias,
// ![[embeds]], [text](Note.md) links, #tags and #[[multi word]] tags, Logseq `key:: value`
// properties and `- ` bullet blocks (a top-level bullet and its children form one paragraph).
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

#include "kb/kb.h"

namespace inhouse::kb {
namespace {

using nlohmann::json;

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

template <typename T>
void add_unique(std::vector<T>& v, T x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(std::move(x));
}

// ---- front matter ----------------------------------------------------------------------------

json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& item : n) a.push_back(yaml_to_json(item));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted: always a string
      try { return n.as<int64_t>(); } catch (const YAML::Exception&) {}
      try { return n.as<double>(); } catch (const YAML::Exception&) {}
      if (s == "true" || s == "false") return s == "true";
      return s;
    }
    default:
      return nullptr;
  }
}

// Splits "---\n...\n---\n" off the start of text; returns the YAML (empty if none).
std::string_view split_front_matter(std::string_view& text) {
  if (!text.starts_with("---\n")) return {};
  size_t pos = 4;
  while (pos <= text.size()) {
    const size_t eol = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, eol - pos);
    if (line == "---" || line == "...") {
      const std::string_view yaml = text.substr(4, pos - 4);
      text.remove_prefix(std::min(eol + 1, text.size()));
      return yaml.empty() ? std::string_view(" ") : yaml;
    }
    pos = eol + 1;
  }
  return {};  // no closing line: not front matter, just a thematic break
}

std::vector<std::string> string_list(const json& v) {
  std::vector<std::string> out;
  auto add = [&](std::string s) {
    s = trim(s);
    if (s.starts_with("#")) s.erase(0, 1);
    if (s.starts_with("[[") && s.ends_with("]]")) s = s.substr(2, s.size() - 4);
    if (!s.empty()) add_unique(out, s);
  };
  if (v.is_array()) {
    for (const json& x : v) if (x.is_string()) add(x.get<std::string>());
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    size_t start = 0;
    for (size_t i = 0; i <= s.size(); ++i)
      if (i == s.size() || s[i] == ',') {
        add(s.substr(start, i - start));
        start = i + 1;
      }
  }
  return out;
}

// ---- inline markup ---------------------------------------------------------------------------

bool is_tag_char(unsigned char c) {
  return c >= 0x80 || std::isalnum(c) || c == '_' || c == '-' || c == '/';
}

class InlineParser {
 public:
  explicit InlineParser(Note& note) : note_(note) {}

  // The line's display text; records links and tags.
  std::string run(std::string_view s) {
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
      if (s[i] == '`') {  // inline code: copied untouched
        const size_t end = s.find('`', i + 1);
        const size_t stop = end == std::string_view::npos ? s.size() : end + 1;
        out.append(s.substr(i, stop - i));
        i = stop;
      } else if (s.substr(i).starts_with("![[") || s.substr(i).starts_with("[[")) {
        const size_t open = s[i] == '!' ? i + 3 : i + 2;
        const size_t close = s.find("]]", open);
        if (close == std::string_view::npos) { out += s[i++]; continue; }
        out += wikilink(s.substr(open, close - open));
        i = close + 2;
      } else if (s[i] == '[') {
        i = markdown_link(s, i, out);
      } else if (s[i] == '#' && (i == 0 || std::isspace(static_cast<unsigned char>(s[i - 1])))) {
        i = tag(s, i, out);
      } else {
        out += s[i++];
      }
    }
    return out;
  }

 private:
  std::string wikilink(std::string_view inner) {
    Link link;
    std::string_view target = inner;
    if (const size_t bar = inner.find('|'); bar != std::string_view::npos) {
      link.alias = trim(inner.substr(bar + 1));
      target = inner.substr(0, bar);
    }
    if (const size_t hash = target.find('#'); hash != std::string_view::npos) {
      link.heading = trim(target.substr(hash + 1));
      target = target.substr(0, hash);
    }
    link.target = trim(target);
    if (link.target.ends_with(".md")) link.target.resize(link.target.size() - 3);
    const std::string shown = !link.alias.empty() ? link.alias : !link.target.empty() ? link.target : link.heading;
    if (!link.target.empty()) add_unique(note_.links, link);
    return shown;
  }

  // [text](url): the text stays; a relative .md target is a link to that note.
  size_t markdown_link(std::string_view s, size_t i, std::string& out) {
    const size_t close = s.find("](", i);
    const size_t end = close == std::string_view::npos ? close : s.find(')', close);
    if (end == std::string_view::npos || s.substr(i + 1, close - i - 1).find('[') != std::string_view::npos) {
      out += s[i];
      return i + 1;
    }
    const std::string_view text = s.substr(i + 1, close - i - 1);
    const std::string url(s.substr(close + 2, end - close - 2));
    if (url.find("://") == std::string::npos && url.ends_with(".md")) {
      std::string target = url.substr(0, url.size() - 3);
      if (const size_t slash = target.rfind('/'); slash != std::string::npos) target.erase(0, slash + 1);
      for (size_t p; (p = target.find("%20")) != std::string::npos;) target.replace(p, 3, " ");
      add_unique(note_.links, Link{target, "", ""});
    }
    out += run(text);
    return end + 1;
  }

  // #tag, #nested/tag, #[[multi word tag]]; a run of digits alone is not a tag (#1).
  size_t tag(std::string_view s, size_t i, std::string& out) {
    if (s.substr(i).starts_with("#[[")) {
      const size_t close = s.find("]]", i + 3);
      if (close != std::string_view::npos) {
        const std::string t = trim(s.substr(i + 3, close - i - 3));
        if (!t.empty()) add_unique(note_.tags, t);
        out += t;
        return close + 2;
      }
    }
    size_t j = i + 1;
    while (j < s.size() && is_tag_char(static_cast<unsigned char>(s[j]))) ++j;
    const std::string_view t = s.substr(i + 1, j - i - 1);
    const bool all_digits = std::all_of(t.begin(), t.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (t.empty() || all_digits) {
      out += '#';
      return i + 1;
    }
    add_unique(note_.tags, std::string(t));
    out.append(s.substr(i, j - i));
    return j;
  }

  Note& note_;
};

// ---- block structure -------------------------------------------------------------------------

struct Line {
  size_t indent = 0;      // leading spaces (a tab counts 4)
  bool bullet = false;    // "- " / "* " / "+ " list item or Logseq block
  std::string_view body;  // after indentation and bullet marker
};

Line split_line(std::string_view raw) {
  Line l;
  size_t i = 0;
  for (; i < raw.size() && (raw[i] == ' ' || raw[i] == '\t'); ++i) l.indent += raw[i] == '\t' ? 4 : 1;
  std::string_view rest = raw.substr(i);
  if (rest.size() >= 2 && (rest[0] == '-' || rest[0] == '*' || rest[0] == '+') && rest[1] == ' ') {
    l.bullet = true;
    rest.remove_prefix(2);
  } else if (rest == "-") {
    l.bullet = true;
    rest = {};
  }
  l.body = rest;
  return l;
}

// "key:: value" (Logseq property); key is [A-Za-z0-9_-]+.
bool property(std::string_view body, std::string& key, std::string& value) {
  const size_t sep = body.find(":: ");
  const size_t sep_end = body.size() >= 2 && body.ends_with("::") ? body.size() - 2 : std::string_view::npos;
  const size_t p = sep != std::string_view::npos ? sep : sep_end;
  if (p == std::string_view::npos || p == 0) return false;
  for (char c : body.substr(0, p))
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  key = std::string(body.substr(0, p));
  value = p + 3 <= body.size() ? trim(body.substr(p + 3)) : "";
  return true;
}

// "# Heading" -> level 1..6 and text; 0 when not a heading.
int heading(std::string_view body, std::string& text) {
  int level = 0;
  while (level < int(body.size()) && body[size_t(level)] == '#') ++level;
  if (level == 0 || level > 6 || (size_t(level) < body.size() && body[size_t(level)] != ' ')) return 0;
  std::string t = trim(body.substr(size_t(level)));
  while (!t.empty() && t.back() == '#') t.pop_back();
  text = trim(t);
  return level;
}

class NoteBuilder {
 public:
  NoteBuilder(Note& note) : note_(note), inline_(note) { note_.sections.emplace_back(); }

  void line(std::string_view raw) {
    const std::string_view stripped = std::string_view(raw).substr(std::min(raw.find_first_not_of(" \t"), raw.size()));
    if (stripped.starts_with("```") || stripped.starts_with("~~~")) {
      in_code_ = !in_code_;
      text_line(std::string(raw));
      return;
    }
    if (in_code_) {
      text_line(std::string(raw));
      return;
    }
    const Line l = split_line(raw);
    std::string key, value, title;
    if (property(l.body, key, value)) {
      page_property(key, value);
      return;
    }
    seen_content_ = seen_content_ || !trim(l.body).empty();
    if (const int level = heading(l.body, title)) {
      start_section(level, inline_.run(title));
      return;
    }
    if (trim(l.body).empty() && !l.bullet) {
      paragraph_break();
      return;
    }
    if (l.bullet && l.indent == 0) paragraph_break();  // a top-level block starts a paragraph
    text_line(inline_.run(trim(l.body)));
  }

  void finish() {
    paragraph_break();
    auto& s = note_.sections;
    s.erase(std::remove_if(s.begin(), s.end(), [](const Section& x) { return trim(x.text).empty(); }), s.end());
  }

 private:
  void page_property(const std::string& key, const std::string& value) {
    if (key == "tags") {
      for (auto& t : string_list(value)) add_unique(note_.tags, t);
    } else if (key == "alias") {
      for (auto& a : string_list(value)) add_unique(note_.aliases, a);
    }
    // Properties before any content describe the page; later ones describe a block.
    if (!seen_content_ && !note_.metadata.contains(key)) note_.metadata[key] = value;
  }

  void start_section(int level, std::string title) {
    paragraph_break();
    if (level == 1 && note_.title.empty()) note_.title = title;
    path_.resize(std::min(path_.size(), size_t(level) - 1));
    while (path_.size() < size_t(level) - 1) path_.emplace_back();  // skipped levels
    path_.push_back(std::move(title));
    Section s;
    for (const auto& h : path_) if (!h.empty()) s.headings.push_back(h);
    note_.sections.push_back(std::move(s));
  }

  void text_line(const std::string& text) {
    if (!paragraph_.empty()) paragraph_ += '\n';
    paragraph_ += text;
  }

  void paragraph_break() {
    if (trim(paragraph_).empty()) {
      paragraph_.clear();
      return;
    }
    std::string& body = note_.sections.back().text;
    if (!body.empty()) body += "\n\n";
    body += paragraph_;
    paragraph_.clear();
  }

  Note& note_;
  InlineParser inline_;
  std::vector<std::string> path_;
  std::string paragraph_;
  bool in_code_ = false;
  bool seen_content_ = false;
};

}  // namespace

Note parse_markdown(std::string_view text, std::string_view file_stem) {
  std::string normalised(text.starts_with("\xEF\xBB\xBF") ? text.substr(3) : text);
  normalised.erase(std::remove(normalised.begin(), normalised.end(), '\r'), normalised.end());
  std::string_view body = normalised;

  Note note;
  note.metadata = json::object();
  if (const std::string_view yaml = split_front_matter(body); !yaml.empty()) {
    try {
      const YAML::Node root = YAML::Load(std::string(yaml));
      if (root.IsMap()) {
        note.metadata = yaml_to_json(root);
      } else if (!root.IsNull() && !(root.IsScalar() && trim(root.Scalar()).empty())) {
        throw ParseError("front matter must be a YAML mapping (key: value lines)");
      }
    } catch (const YAML::Exception& e) {
      throw ParseError("front matter, line " + std::to_string(e.mark.line + 2) + ": " + e.msg);
    }
    for (const char* key : {"tags", "tag"})
      if (note.metadata.contains(key))
        for (auto& t : string_list(note.metadata[key])) add_unique(note.tags, t);
    for (const char* key : {"aliases", "alias"})
      if (note.metadata.contains(key))
        for (auto& a : string_list(note.metadata[key])) add_unique(note.aliases, a);
    if (note.metadata.contains("title") && note.metadata["title"].is_string())
      note.title = note.metadata["title"].get<std::string>();
  }

  const std::string fm_title = note.title;
  note.title.clear();
  NoteBuilder builder(note);
  size_t start = 0;
  while (start <= body.size()) {
    const size_t eol = std::min(body.find('\n', start), body.size());
    builder.line(body.substr(start, eol - start));
    start = eol + 1;
  }
  builder.finish();
  if (!fm_title.empty()) note.title = fm_title;
  if (note.title.empty()) note.title = std::string(file_stem);
  return note;
}

}  // namespace inhouse::kb
