// Helpers shared by the tokenizer tests: where the vocab fixtures are, reading .inp/.out files
// the way llama.cpp's test-tokenizer-0 does, and building small synthetic BPE vocabs.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace inhouse::tokenizer::testing {

inline std::string repo_vocab_dir() { return std::string(INHOUSE_TEST_DATA) + "/tokenizers"; }
inline std::string shared_vocab_dir() { return std::string(INHOUSE_SHARED_FIXTURES) + "/tokenizers"; }

// Path of ggml-vocab-NAME.gguf: the repo's copy first, then the shared fixtures; nullopt if neither.
inline std::optional<std::string> vocab_path(const std::string& name) {
  for (const std::string& dir : {repo_vocab_dir(), shared_vocab_dir()}) {
    std::string path = dir + "/ggml-vocab-" + name + ".gguf";
    if (std::filesystem::exists(path) && std::filesystem::exists(path + ".inp") &&
        std::filesystem::exists(path + ".out"))
      return path;
  }
  return std::nullopt;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Tests separated by "\n__ggml_vocab_test__\n"; no empty test after a final separator.
inline std::vector<std::string> split_inp(const std::string& raw) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> tests;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      tests.push_back(raw.substr(pos));
      break;
    }
    tests.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  return tests;
}

inline std::vector<std::string> split_lines(const std::string& raw) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t next = raw.find('\n', pos);
    if (next == std::string::npos) next = raw.size();
    lines.push_back(raw.substr(pos, next - pos));
    pos = next + 1;
  }
  return lines;
}

inline Tokenizer load_tokenizer(const std::string& path) {
  auto file = gguf::GgufFile::open(path);
  return Tokenizer::from_gguf(file);
}

// GPT-2's byte -> character mapping, written independently of the library's.
inline std::string byte_char(unsigned b) {
  unsigned cp = b;
  if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
    unsigned n = 0;
    for (unsigned x = 0; x < b; ++x)
      if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE)) ++n;
    cp = 0x100 + n;
  }
  std::string s;
  if (cp < 0x80) s += char(cp);
  else s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));
  return s;
}

// A byte-level BPE vocab: the 256 byte characters, then one token per merge ("l r" in byte
// characters, ranked in order), then `specials` with their types.
inline Vocab synthetic_bpe(const std::string& pre, const std::vector<std::pair<std::string, std::string>>& merges,
                           const std::vector<std::pair<std::string, TokenType>>& specials = {}) {
  Vocab v;
  v.type = VocabType::BPE;
  v.model = "gpt2";
  v.pre = pre;
  auto add = [&](const std::string& text, TokenType type) {
    v.token_to_id.emplace(text, TokenId(v.tokens.size()));
    v.tokens.push_back(text);
    v.token_types.push_back(type);
  };
  for (unsigned b = 0; b < 256; ++b) add(byte_char(b), TokenType::NORMAL);
  for (size_t i = 0; i < merges.size(); ++i) {
    v.merge_ranks.emplace(merges[i].first + " " + merges[i].second, int32_t(i));
    if (!v.token_to_id.count(merges[i].first + merges[i].second))
      add(merges[i].first + merges[i].second, TokenType::NORMAL);
  }
  for (const auto& [text, type] : specials) add(text, type);
  return v;
}

}  // namespace inhouse::tokenizer::testing
