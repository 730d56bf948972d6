// chat/pystr — owns Python's str algorithms over UTF-8 (split, strip, find, replace,
// title, slicing, printf-style % and str.format): templates call them as string methods and
// filters, and their exact results (code-point indices, whitespace rules) matter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/value.h"

namespace inhouse::chat::jinja::pystr {

using OptInt = std::optional<int64_t>;

// Python slice semantics: the element indices s[start:stop:step] selects from `len` items.
std::vector<int64_t> slice_indices(int64_t len, OptInt start, OptInt stop, OptInt step);

// sep == nullopt: split on runs of whitespace, dropping empty parts (Python's split()).
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> splitlines(std::string_view s, bool keepends);
// chars == nullopt: strip whitespace.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);

// Code-point index of sub within s[start:end], or -1.
int64_t find(std::string_view s, std::string_view sub, OptInt start, OptInt end, bool from_right);
int64_t count(std::string_view s, std::string_view sub, OptInt start, OptInt end);
bool starts_with(std::string_view s, std::string_view prefix, OptInt start, OptInt end);
bool ends_with(std::string_view s, std::string_view suffix, OptInt start, OptInt end);
std::string replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count);

std::string capitalize(std::string_view s);   // str.capitalize()
std::string title(std::string_view s);        // str.title()
std::string jinja_title(std::string_view s);  // Jinja's |title filter (words split at spaces, - ( { [ <)
std::string swapcase(std::string_view s);
// align: '<' '>' '^' as in format specs, 'c' for str.center() (which rounds differently).
std::string pad(std::string_view s, int64_t width, char32_t fill, char align);
std::string zfill(std::string_view s, int64_t width);

// Python "fmt % args" (args: a tuple, a dict for %(name)s, or one value).
std::string percent_format(std::string_view fmt, const Value& args);
// Python "fmt".format(*positional, **named).
std::string format(std::string_view fmt, const CallArgs& args);

}  // namespace inhouse::chat::jinja::pystr
