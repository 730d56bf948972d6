// chat/parser — owns turning the token stream into a syntax tree, following Jinja's grammar
// and operator precedence (jinja2/parser.py). Unknown tags, filters and tests, unclosed
// blocks and malformed expressions fail here with the line/column of the offending token.
#pragma once

#include <string_view>

#include "chat/ast.h"

namespace inhouse::chat::jinja {

// Bounds on nesting (blocks, brackets, unary operators) and on expression tree height
// (long operator chains build deep trees without recursion in the parser). Deeper input is
// rejected with a TemplateError instead of risking a stack overflow while parsing or rendering.
inline constexpr int kMaxNesting = 128;
inline constexpr int kMaxExprHeight = 512;

Body parse(std::string_view source);  // throws TemplateError

}  // namespace inhouse::chat::jinja
