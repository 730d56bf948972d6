// kb/pdf.cpp — PDF files as notes, through poppler-cpp: the text of each page in reading order
// becomes a section, the document information dictionary becomes metadata. poppler repairs
// what it can (a broken cross-reference table is rebuilt by scanning); what it cannot open is
// a ParseError, with poppler's first complaint attached.
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <algorithm>
#include <climits>
#include <ctime>
#include <memory>
#include <mutex>

#include "kb/kb.h"

namespace inhouse::kb {
namespace {

// poppler reports problems through one process-wide callback (by default: print to stderr).
// It is pointed here once; each parse collects the first message on its own thread.
thread_local std::string* t_first_error = nullptr;

void on_poppler_error(const std::string& message, void*) {
  if (t_first_error && t_first_error->empty()) *t_first_error = message;
}

void quiet_poppler() {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function(on_poppler_error, nullptr); });
}

// Valid UTF-8 with every invalid sequence replaced by U+FFFD and control characters other than
// newline and tab dropped (form feeds end pages; NULs come from broken font encodings).
std::string clean_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    const auto bad = find_invalid_utf8(s);
    const std::string_view good = s.substr(0, bad.value_or(s.size()));
    for (char c : good)
      if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') out += c;
    if (!bad) break;
    out += "\xEF\xBF\xBD";
    s.remove_prefix(*bad + 1);
  }
  return out;
}

std::string utf8(const poppler::ustring& u) {
  const poppler::byte_array bytes = u.to_utf8();
  return clean_utf8(std::string_view(bytes.data(), bytes.size()));
}

std::string trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\n");
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, s.find_last_not_of(" \t\n") - b + 1));
}

// One page's text: lines trimmed, runs of spaces as one, at most one blank line in a row.
std::string page_text(std::string_view raw) {
  std::string out;
  size_t blank_run = 0;
  while (!raw.empty()) {
    const size_t eol = std::min(raw.find('\n'), raw.size());
    std::string line;
    for (char c : trim(raw.substr(0, eol))) {
      if (c == '\t') c = ' ';
      if (c != ' ' || line.empty() || line.back() != ' ') line += c;
    }
    raw.remove_prefix(std::min(eol + 1, raw.size()));
    if (line.empty()) {
      ++blank_run;
      continue;
    }
    if (!out.empty()) out += blank_run > 0 ? "\n\n" : "\n";
    out += line;
    blank_run = 0;
  }
  return out;
}

std::string iso_date(time_t t) {
  std::tm tm{};
  if (t <= 0 || !gmtime_r(&t, &tm)) return "";
  char buf[32];
  return std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) ? buf : "";
}

void read_info(const poppler::document& doc, Note& note) {
  auto put = [&](const char* key, const std::string& value) {
    if (!value.empty()) note.metadata[key] = value;
  };
  put("title", trim(utf8(doc.get_title())));
  put("author", trim(utf8(doc.get_author())));
  put("subject", trim(utf8(doc.get_subject())));
  put("keywords", trim(utf8(doc.get_keywords())));
  put("creator", trim(utf8(doc.get_creator())));
  put("producer", trim(utf8(doc.get_producer())));
  put("created", iso_date(doc.get_creation_date_t()));
  put("modified", iso_date(doc.get_modification_date_t()));
  note.metadata["pages"] = doc.pages();

  if (note.metadata.contains("title")) note.title = note.metadata["title"].get<std::string>();
  if (note.metadata.contains("keywords")) {
    const std::string k = note.metadata["keywords"].get<std::string>();
    size_t start = 0;
    for (size_t i = 0; i <= k.size(); ++i)
      if (i == k.size() || k[i] == ',' || k[i] == ';') {
        std::string tag = trim(std::string_view(k).substr(start, i - start));
        if (!tag.empty() && std::find(note.tags.begin(), note.tags.end(), tag) == note.tags.end())
          note.tags.push_back(std::move(tag));
        start = i + 1;
      }
  }
}

}  // namespace

Note parse_pdf(std::string_view bytes, std::string_view file_stem) {
  if (!bytes.starts_with("%PDF-") && bytes.substr(0, 1024).find("%PDF-") == std::string_view::npos)
    throw ParseError("not a PDF file (no %PDF- header)");
  if (bytes.size() > size_t(INT_MAX)) throw ParseError("PDF larger than 2 GiB");

  quiet_poppler();
  std::string first_error;
  t_first_error = &first_error;
  struct Reset {
    ~Reset() { t_first_error = nullptr; }
  } reset;

  // poppler reads the bytes in place: they must outlive the document, which they do here.
  std::unique_ptr<poppler::document> doc(poppler::document::load_from_raw_data(bytes.data(), int(bytes.size())));
  if (!doc) {
    throw ParseError("PDF cannot be opened (corrupt or truncated)" +
                     (first_error.empty() ? std::string() : ": " + first_error));
  }
  if (doc->is_locked()) throw ParseError("PDF is encrypted and needs a password");

  Note note;
  note.metadata = nlohmann::json::object();
  read_info(*doc, note);
  if (note.title.empty()) note.title = std::string(file_stem);

  const int pages = doc->pages();
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page) continue;
    std::string text = page_text(utf8(page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout)));
    if (!text.empty()) note.sections.push_back(Section{{"Page " + std::to_string(i + 1)}, std::move(text)});
  }
  if (note.sections.empty()) {
    throw ParseError("PDF has no extractable text (" + std::to_string(pages) +
                     (pages == 1 ? " page" : " pages") + "; scanned pages would need OCR, which is not done)");
  }
  return note;
}

}  // namespace inhouse::kb
