// kb/embedder.cpp — the Embedder over a `bert` GGUF model (model::Encoder + its WordPiece
// vocabulary), and the approximate token measure used when a kb has no embedding model.
#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "kb/kb.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace inhouse::kb {
namespace {

class GgufEmbedder final : public Embedder {
 public:
  GgufEmbedder(const std::string& path, int threads)
      : name_(std::filesystem::absolute(path).lexically_normal().string()),
        encoder_(model::Encoder::open(path, {.threads = threads})),
        tokenizer_(tokenizer::Tokenizer::from_gguf(encoder_.file())) {
    if (encoder_.pooling() == model::Pooling::None)
      throw std::runtime_error("'" + path + "' has no pooling: not an embedding model");
  }

  std::string name() const override { return name_; }
  int dim() const override { return int(encoder_.n_embd()); }
  size_t max_tokens() const override { return size_t(encoder_.n_ctx_train()); }

  size_t count_tokens(std::string_view text) const override {
    return tokenizer_.encode(text, /*add_special=*/false, /*parse_special=*/false).size();
  }

  std::vector<float> embed(std::string_view text) override {
    std::vector<int32_t> ids = tokenizer_.encode(text, /*add_special=*/true, /*parse_special=*/false);
    const size_t limit = max_tokens();
    if (ids.size() > limit) {  // keep [CLS] ... and the closing [SEP]
      const int32_t last = ids.back();
      ids.resize(limit);
      ids.back() = last;
    }
    std::vector<float> e = encoder_.embed(ids);
    model::normalize_embedding(e, 2);
    return e;
  }

 private:
  std::string name_;
  model::Encoder encoder_;
  tokenizer::Tokenizer tokenizer_;
};

bool is_cjk(char32_t c) {
  return (c >= 0x3040 && c <= 0x30FF) ||   // Hiragana, Katakana
         (c >= 0x3400 && c <= 0x4DBF) ||   // CJK Extension A
         (c >= 0x4E00 && c <= 0x9FFF) ||   // CJK Unified Ideographs
         (c >= 0xAC00 && c <= 0xD7AF) ||   // Hangul syllables
         (c >= 0xF900 && c <= 0xFAFF) ||   // CJK compatibility ideographs
         (c >= 0x20000 && c <= 0x2FA1F);   // supplementary ideographs
}

// Decodes one UTF-8 sequence at text[i] (advancing i); invalid bytes read as one unit each.
char32_t next_code_point(std::string_view text, size_t& i) {
  const auto b = static_cast<unsigned char>(text[i]);
  const int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 1;
  if (len == 1 || i + len > text.size()) {
    ++i;
    return b;
  }
  char32_t c = b & (0x7F >> len);
  for (int k = 1; k < len; ++k) c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
  i += len;
  return c;
}

}  // namespace

std::unique_ptr<Embedder> open_gguf_embedder(const std::string& path, int threads) {
  return std::make_unique<GgufEmbedder>(path, threads);
}

size_t approximate_tokens(std::string_view text) {
  size_t tokens = 0;
  bool in_word = false;
  for (size_t i = 0; i < text.size();) {
    const char32_t c = next_code_point(text, i);
    if (is_cjk(c)) {
      ++tokens;
      in_word = false;
    } else if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      in_word = false;
    } else if (!in_word) {
      ++tokens;
      in_word = true;
    }
  }
  return tokens;
}

}  // namespace inhouse::kb
