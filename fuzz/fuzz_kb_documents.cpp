// libFuzzer target for the document parsers (HTML, PDF, Markdown, plain text). The first byte
// picks the parser, the rest is the file. Any input must parse or throw ParseError; what parses
// must be valid UTF-8 where the parser promises it (HTML, PDF, checked text) and must chunk.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kb/kb.h"

using namespace inhouse::kb;

namespace {

void check(const Note& note, bool promises_utf8) {
  if (promises_utf8) {
    if (find_invalid_utf8(note.title)) std::abort();
    for (const Section& s : note.sections) {
      if (find_invalid_utf8(s.text)) std::abort();
      for (const std::string& h : s.headings)
        if (find_invalid_utf8(h)) std::abort();
    }
    (void)note.metadata.dump();  // throws on invalid UTF-8
  }
  const TokenCounter bytes = [](std::string_view s) { return s.size() / 4 + 1; };
  (void)chunk_note(note, {64, 8}, bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 5) {
      case 0: check(parse_html(bytes, "f"), true); break;
      case 1: check(parse_pdf(bytes, "f"), true); break;
      case 2: check(parse_markdown(bytes, "f"), false); break;
      case 3: check(parse_document(Format::Html, bytes, "f"), true); break;
      case 4: check(parse_document(Format::Text, bytes, "f"), true); break;
    }
  } catch (const ParseError&) {
  }
  return 0;
}
