// kb/document.cpp — which format a file is, UTF-8 validation, plain text notes, and the one
// entry point (parse_document) that checks text formats before handing them to their parser.
#include <algorithm>
#include <cctype>

#include "kb/kb.h"

namespace inhouse::kb {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// CRLF and lone CR → LF.
std::string normalise_newlines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r') {
      out += text[i];
    } else {
      out += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    }
  }
  return out;
}

std::string_view rtrim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

void check_utf8(std::string_view text, size_t offset_base) {
  if (const auto bad = find_invalid_utf8(text))
    throw ParseError("invalid UTF-8 at byte " + std::to_string(*bad + offset_base) +
                     " (text files must be UTF-8)");
}

}  // namespace

const char* format_name(Format f) {
  switch (f) {
    case Format::Markdown: return "markdown";
    case Format::Html: return "html";
    case Format::Pdf: return "pdf";
    case Format::Text: return "text";
  }
  return "unknown";
}

std::optional<Format> format_of(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (ext == ".md" || ext == ".markdown") return Format::Markdown;
  if (ext == ".html" || ext == ".htm" || ext == ".xhtml") return Format::Html;
  if (ext == ".pdf") return Format::Pdf;
  if (ext == ".txt" || ext == ".text" || ext == ".rst" || ext == ".org") return Format::Text;
  return std::nullopt;
}

std::optional<size_t> find_invalid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // Length and the allowed range of the second byte (which rules out overlong forms,
    // surrogates and code points past U+10FFFF), as in the Unicode standard's table 3-7.
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if (c == 0xED) len = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c == 0xF4) len = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else return i;
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::nullopt;
}

Note parse_text(std::string_view text, std::string_view file_stem) {
  check_utf8(text, 0);
  const std::string normalised = normalise_newlines(text.starts_with(kBom) ? text.substr(kBom.size()) : text);

  std::string body, paragraph;
  auto end_paragraph = [&] {
    const std::string_view p = rtrim(paragraph);
    if (!p.empty()) body.append(body.empty() ? "" : "\n\n").append(p);
    paragraph.clear();
  };
  std::string_view rest = normalised;
  while (!rest.empty()) {
    const size_t eol = std::min(rest.find('\n'), rest.size());
    const std::string_view line = rtrim(rest.substr(0, eol));
    rest.remove_prefix(std::min(eol + 1, rest.size()));
    if (line.find_first_not_of(" \t\f\v") == std::string_view::npos) {
      end_paragraph();
    } else {
      paragraph.append(paragraph.empty() ? "" : "\n").append(line);
    }
  }
  end_paragraph();

  Note note;
  note.title = std::string(file_stem);
  note.metadata = nlohmann::json::object();
  if (!body.empty()) note.sections.push_back(Section{{}, std::move(body)});
  return note;
}

Note parse_document(Format format, std::string_view bytes, std::string_view file_stem) {
  if (format == Format::Pdf) return parse_pdf(bytes, file_stem);

  // Offsets in errors count from the start of the file, BOM included.
  const bool bom = bytes.starts_with(kBom);
  const std::string_view text = bom ? bytes.substr(kBom.size()) : bytes;
  check_utf8(text, bom ? kBom.size() : 0);
  const std::string normalised = normalise_newlines(text);
  switch (format) {
    case Format::Markdown: return parse_markdown(normalised, file_stem);
    case Format::Html: return parse_html(normalised, file_stem);
    case Format::Text: return parse_text(normalised, file_stem);
    case Format::Pdf: break;
  }
  throw ParseError("unknown document format");
}

}  // namespace inhouse::kb
