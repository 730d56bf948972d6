// SentencePiece — stub until implemented.
#include "tokenizer/tokenizer_internal.h"
namespace inhouse::tokenizer::detail {
void spm_encode(const Vocab&, std::string_view, bool, std::vector<TokenId>&) { throw Error("SPM tokenizer not implemented yet"); }
std::string spm_token_to_piece(const Vocab& v, TokenId id) { return v.tokens.at(id); }
}  // namespace inhouse::tokenizer::detail
