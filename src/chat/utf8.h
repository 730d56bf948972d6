// chat/utf8 — owns the code-point view of UTF-8 strings that Python semantics need: Jinja
// strings are Python str, so len(), indexing, slicing, strip() and upper() count and test
// code points, not bytes. Invalid bytes count as one code point each (never throw).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace inhouse::chat::utf8 {

// Decodes the code point at s[i] and advances i past it.
char32_t next(std::string_view s, size_t& i);
void append(std::string& out, char32_t cp);

bool is_ascii(std::string_view s);
size_t length(std::string_view s);  // code points
// Byte offset of every code point plus s.size() at the end (size length()+1).
std::vector<size_t> offsets(std::string_view s);
std::vector<char32_t> decode(std::string_view s);
std::string encode(const std::vector<char32_t>& cps);

// Python's str.isspace() for one code point (Unicode White_Space plus \x1c-\x1f).
bool is_space(char32_t cp);
bool is_alpha(char32_t cp);
bool is_digit(char32_t cp);
bool is_upper(char32_t cp);
bool is_lower(char32_t cp);
char32_t to_upper(char32_t cp);
char32_t to_lower(char32_t cp);

std::string upper(std::string_view s);
std::string lower(std::string_view s);

}  // namespace inhouse::chat::utf8
