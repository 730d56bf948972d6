// chat/lexer — owns turning template source into tokens exactly as Jinja's lexer does with
// Hugging Face's settings (trim_blocks, lstrip_blocks, keep_trailing_newline=False):
// text between tags, tag delimiters, and the names/literals/operators inside tags. All
// whitespace control ({%- -%} {{- -}} {%+ +%}) and {% raw %} are resolved here, so the
// parser only sees final text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace inhouse::chat::jinja {

enum class TokenType { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, Eof };

struct Token {
  TokenType type = TokenType::Eof;
  std::string value;  // text, name, decoded string literal, or operator spelling
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1, column = 1;  // 1-based; column counts code points
};

const char* token_type_name(TokenType t);

// Throws TemplateError with the line/column of the problem.
std::vector<Token> tokenize(std::string_view source);

}  // namespace inhouse::chat::jinja
