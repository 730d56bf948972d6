// Vocab::load — reads tokenizer.ggml.* from a GGUF file into a self-contained Vocab.
#include "tokenizer/tokenizer.h"

namespace inhouse::tokenizer {
namespace {

TokenId read_id(const gguf::GgufFile& f, const char* key, size_t n_tokens, TokenId fallback) {
  auto v = f.get_int(key);
  if (!v) return fallback;
  // Some converters store -1 (or out-of-range ids) for "none".
  if (*v < 0 || size_t(*v) >= n_tokens) return kNoToken;
  return TokenId(*v);
}

// End-of-turn and fill-in-the-middle tokens that some converters type USER_DEFINED or NORMAL.
// The reference forces them to CONTROL, so they are only parsed from text with parse_special
// (a user typing "<|fim_prefix|>" gets characters, not the token) and hidden when decoding
// without special tokens.
void mark_control_by_text(Vocab& v) {
  static const char* const kTexts[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<|eom_id|>",
      "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",  // DeepSeek end of sentence
      "<|fim_prefix|>", "<fim-prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>",
      "<|fim_suffix|>", "<fim-suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>", "<SUF>",
      "<|fim_middle|>", "<fim-middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>",
      "<|fim_pad|>", "<fim-pad>", "<PAD>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<|file_sep|>",
  };
  for (const char* text : kTexts)
    if (auto id = v.find(text)) v.token_types[*id] = TokenType::CONTROL;
}

}  // namespace

Vocab Vocab::load(const gguf::GgufFile& f) {
  Vocab v;
  try {
    auto model = f.get_string("tokenizer.ggml.model");
    if (!model) throw Error("missing metadata key tokenizer.ggml.model");
    v.model = std::string(*model);
    if (v.model == "gpt2") v.type = VocabType::BPE;
    else if (v.model == "llama") v.type = VocabType::SPM;
    else if (v.model == "bert") v.type = VocabType::WPM;
    else throw Error("unsupported tokenizer model '" + v.model + "' (supported: gpt2, llama, bert)");
    auto pre = f.get_string("tokenizer.ggml.pre");
    v.pre = pre ? std::string(*pre) : "default";

    const auto* tokens = f.get_array("tokenizer.ggml.tokens");
    if (!tokens || tokens->empty()) throw Error("missing or empty tokenizer.ggml.tokens");
    size_t n = tokens->size();
    v.tokens.reserve(n);
    v.token_to_id.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      v.tokens.emplace_back((*tokens)[i].as_string());
      v.token_to_id.emplace(v.tokens.back(), TokenId(i));  // first occurrence wins
    }
    if (const auto* scores = f.get_array("tokenizer.ggml.scores")) {
      if (scores->size() != n) throw Error("tokenizer.ggml.scores has a different length than tokens");
      v.scores.reserve(n);
      for (const auto& s : *scores) v.scores.push_back(float(s.as_float()));
    }
    v.token_types.assign(n, TokenType::NORMAL);
    if (const auto* types = f.get_array("tokenizer.ggml.token_type")) {
      if (types->size() != n) throw Error("tokenizer.ggml.token_type has a different length than tokens");
      for (size_t i = 0; i < n; ++i) v.token_types[i] = TokenType((*types)[i].as_int());
    }
    if (const auto* merges = f.get_array("tokenizer.ggml.merges")) {
      v.merge_ranks.reserve(merges->size());
      for (size_t i = 0; i < merges->size(); ++i)
        v.merge_ranks.emplace(std::string((*merges)[i].as_string()), int32_t(i));
    }
    if (v.type == VocabType::BPE && v.merge_ranks.empty()) throw Error("BPE vocab without tokenizer.ggml.merges");

    // Defaults follow the reference implementation for each tokenizer family.
    TokenId def_bos = kNoToken, def_eos = kNoToken, def_unk = kNoToken, def_sep = kNoToken,
            def_pad = kNoToken, def_cls = kNoToken, def_mask = kNoToken;
    switch (v.type) {
      case VocabType::SPM:
        def_bos = 1; def_eos = 2; def_unk = 0;
        v.add_bos = true; v.add_eos = false; v.add_space_prefix = true;
        break;
      case VocabType::BPE:
        def_bos = 11; def_eos = 11;
        v.add_bos = false; v.add_eos = false;
        // These pre-tokenizers imply a BOS unless the file says otherwise (as the reference).
        if (v.pre == "llama3" || v.pre == "llama-v3" || v.pre == "llama-bpe" || v.pre == "falcon3" ||
            v.pre == "tekken")
          v.add_bos = true;
        break;
      case VocabType::WPM:
        def_bos = 101; def_eos = kNoToken; def_unk = 100; def_sep = 102; def_pad = 0; def_cls = 101; def_mask = 103;
        v.add_bos = true; v.add_eos = false;
        break;
    }
    v.bos = read_id(f, "tokenizer.ggml.bos_token_id", n, def_bos < TokenId(n) ? def_bos : kNoToken);
    v.eos = read_id(f, "tokenizer.ggml.eos_token_id", n, def_eos < TokenId(n) ? def_eos : kNoToken);
    v.eot = read_id(f, "tokenizer.ggml.eot_token_id", n, kNoToken);
    v.unk = read_id(f, "tokenizer.ggml.unknown_token_id", n, def_unk < TokenId(n) ? def_unk : kNoToken);
    v.sep = read_id(f, "tokenizer.ggml.seperator_token_id", n, def_sep < TokenId(n) ? def_sep : kNoToken);
    v.sep = read_id(f, "tokenizer.ggml.separator_token_id", n, v.sep);
    v.pad = read_id(f, "tokenizer.ggml.padding_token_id", n, def_pad < TokenId(n) ? def_pad : kNoToken);
    v.cls = read_id(f, "tokenizer.ggml.cls_token_id", n, def_cls < TokenId(n) ? def_cls : kNoToken);
    v.mask = read_id(f, "tokenizer.ggml.mask_token_id", n, def_mask < TokenId(n) ? def_mask : kNoToken);
    if (auto b = f.get_bool("tokenizer.ggml.add_bos_token")) v.add_bos = *b;
    if (auto e = f.get_bool("tokenizer.ggml.add_eos_token")) v.add_eos = *e;
    if (auto s = f.get_bool("tokenizer.ggml.add_space_prefix")) v.add_space_prefix = *s;
    if (auto r = f.get_bool("tokenizer.ggml.remove_extra_whitespaces")) v.remove_extra_whitespaces = *r;

    mark_control_by_text(v);

    // Line feed: SPM stores it as the byte token <0x0A>; byte-level BPE as "Ċ".
    if (v.type == VocabType::SPM) {
      if (auto id = v.find("<0x0A>")) v.linefeed = *id;
    } else if (v.type == VocabType::BPE) {
      if (auto id = v.find("\xC4\x8A")) v.linefeed = *id;
    }
  } catch (const gguf::Error& e) {
    throw Error(std::string("bad tokenizer metadata: ") + e.what());
  }
  return v;
}

std::optional<TokenId> Vocab::find(std::string_view text) const {
  auto it = token_to_id.find(std::string(text));
  if (it == token_to_id.end()) return std::nullopt;
  return it->second;
}

bool Vocab::is_control(TokenId id) const {
  return id >= 0 && size_t(id) < token_types.size() && token_types[id] == TokenType::CONTROL;
}

bool Vocab::is_special(TokenId id) const {
  if (id < 0 || size_t(id) >= token_types.size()) return false;
  TokenType t = token_types[id];
  return t == TokenType::CONTROL || t == TokenType::USER_DEFINED || t == TokenType::UNKNOWN;
}

}  // namespace inhouse::tokenizer
