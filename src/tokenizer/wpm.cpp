// WordPiece — stub until implemented.
#include "tokenizer/tokenizer_internal.h"
namespace inhouse::tokenizer::detail {
void wpm_encode(const Vocab&, std::string_view, std::vector<TokenId>&) { throw Error("WPM tokenizer not implemented yet"); }
std::string wpm_token_to_piece(const Vocab& v, TokenId id) { return v.tokens.at(id); }
}  // namespace inhouse::tokenizer::detail
