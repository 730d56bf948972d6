// Internal to the tokenizer module: the per-algorithm entry points tokenizer.cpp dispatches to.
// Each works on one fragment of raw text (special tokens already split out).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace inhouse::tokenizer::detail {

// Token text with each "▁" (U+2581, the visible space SPM and llama.cpp's WPM vocabs use)
// turned back into a space.
std::string unescape_spaces(std::string_view text);

// The text of token `id`; Error naming the id and the vocabulary size when it is out of range.
const std::string& checked_token(const Vocab& vocab, TokenId id);
// Its type: NORMAL when the vocabulary lists no types (call after checked_token).
TokenType token_type_of(const Vocab& vocab, TokenId id);

// Byte-level BPE; `state` is what make_bpe_state built (compiled pre-tokenizer regexes).
std::shared_ptr<const void> make_bpe_state(const Vocab& vocab);
void bpe_encode(const Vocab& vocab, const void* state, std::string_view text,
                std::vector<TokenId>& out);
std::string bpe_token_to_piece(const Vocab& vocab, TokenId id);

// SentencePiece (llama-style): score-driven bigram merges with byte fallback.
// `is_first_fragment` tells whether a space prefix applies (add_space_prefix).
void spm_encode(const Vocab& vocab, std::string_view text, bool is_first_fragment,
                std::vector<TokenId>& out);
std::string spm_token_to_piece(const Vocab& vocab, TokenId id);

// WordPiece (BERT): normalisation (lowercase, accent stripping, CJK split, punctuation split),
// then greedy longest-match with "##" continuation pieces.
void wpm_encode(const Vocab& vocab, std::string_view text, std::vector<TokenId>& out);
std::string wpm_token_to_piece(const Vocab& vocab, TokenId id);

}  // namespace inhouse::tokenizer::detail
