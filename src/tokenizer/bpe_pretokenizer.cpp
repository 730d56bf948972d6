// bpe_pretokenizer — owns the regex sequences of byte-level BPE pre-tokenizers (one per
// tokenizer.ggml.pre name, as the reference tokenizer.json files define them) and the PCRE2
// machinery that splits text with them.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/bpe_pretokenizer.h"

#include <pcre2.h>

#include <new>

#include "tokenizer/tokenizer.h"

namespace inhouse::tokenizer::detail {
namespace {

// The GPT-2 pattern (the ByteLevel pre-tokenizer's own regex). Many vocabs use it alone or
// after other splits.
constexpr const char* kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";

// Llama 3 / Qwen2 (they differ only in how many digits make a number piece).
constexpr const char* kLlama3 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kQwen2 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// DeepSeek-V3 / R1: digits in groups of up to 3, CJK + kana runs, then a GPT-4-like pattern
// that keeps one ASCII punctuation glued to the following Latin word.
constexpr const char* kDeepseekV3Words =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// DeepSeek LLM: cased letters as an explicit list (not \p{L}). The \x{..} escapes are
// characters that Unicode normalisation would silently replace if written literally.
constexpr const char* kDeepseekLlmLetters =
    R"re(\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\x{1F7D}ᾀ-ᾴᾶ-ᾼ\x{1FBE}ῂ-ῄῆ-ῌῐ-\x{1FD3}ῖ-\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\x{2126}ℨ\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+)re";
constexpr const char* kDeepseekLlmPunct = R"re(\s?[!-/:-~！-／：-～‘-‟　-。]+)re";
// The reference pattern is \s+$; the look-behind only skips start positions inside a
// whitespace run (the leftmost match starts at the run's beginning anyway), which keeps a long
// run from costing quadratic time.
constexpr const char* kTrailingSpace = R"re((?<!\s)\s+$)re";
constexpr const char* kCjkHangul = R"re([一-龥ࠀ-一가-퟿]+)re";

constexpr const char* kPunctRun = R"re([\p{P}\$\+<=>\^~\|]+)re";
constexpr const char* kThreeAsciiDigits = R"re([0-9][0-9][0-9])re";
constexpr const char* kBloom = R"re( ?[^(\s|.,!?…。，、।۔،)]+)re";
constexpr const char* kTekken =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

struct NamedSpec {
  std::vector<const char*> names;
  std::vector<const char*> patterns;
  bool ignore_merges;
};

// Names follow llama.cpp's tokenizer.ggml.pre values; patterns the models' tokenizer.json.
const std::vector<NamedSpec>& spec_table() {
  static const std::vector<NamedSpec> table = {
      {{"default"}, {kPunctRun, kGpt2, R"re(\p{N}+)re", kThreeAsciiDigits}, false},
      {{"gpt-2", "mpt", "olmo", "jais", "phi-2", "roberta-bpe", "gigachat", "jina-es", "jina-de",
        "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code"},
       {kGpt2}, false},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3"}, {kLlama3}, true},
      {{"dbrx", "smaug-bpe"}, {kLlama3}, false},
      {{"qwen2", "stablelm2", "megrez", "deepseek-r1-qwen"}, {kQwen2}, false},
      {{"deepseek-v3"}, {R"re(\p{N}{1,3})re", R"re([一-龥぀-ゟ゠-ヿ]+)re", kDeepseekV3Words}, false},
      {{"deepseek-llm"},
       {R"re([\r\n])re", kDeepseekLlmLetters, kDeepseekLlmPunct, kTrailingSpace, kCjkHangul, R"re(\p{N}+)re"},
       false},
      {{"deepseek-coder"},
       {R"re([\r\n])re", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", kCjkHangul, R"re(\p{N})re"}, false},
      {{"falcon"}, {R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2, kThreeAsciiDigits}, false},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
       {R"re(\p{N})re", kGpt2}, false},
      {{"poro-chat", "bloom", "gpt3-finnish"}, {kBloom}, false},
      {{"viking"}, {kBloom, R"re(\p{N})re"}, false},
      {{"tekken"}, {kTekken}, true},
  };
  return table;
}

// PCRE2's \s (with UCP) is \p{Z} plus \t\n\v\f\r; the reference engines' \s (Unicode
// White_Space) also has U+0085. Rewrites \s and \S so both agree.
std::string with_nel_as_space(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char e = pattern[++i];
      if (e == 's') out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
      else if (e == 'S' && !in_class) out += "[^\\s\\x{85}]";
      else if (e == 'S') throw Error("internal: \\S inside a character class is not supported");
      else (out += '\\') += e;
      continue;
    }
    if (c == '[' && !in_class) in_class = true;
    else if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

// Per-thread match data, match context and JIT stack: the compiled patterns are shared and
// read-only, so concurrent encode() calls only need these to be private.
struct MatchResources {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;

  MatchResources() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (!data || !context || !stack) {
      release();
      throw std::bad_alloc();
    }
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~MatchResources() { release(); }
  MatchResources(const MatchResources&) = delete;
  MatchResources& operator=(const MatchResources&) = delete;

  void release() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
};

MatchResources& match_resources() {
  thread_local MatchResources resources;
  return resources;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  int n = pcre2_get_error_message(code, buf, sizeof buf);
  return n < 0 ? "PCRE2 error " + std::to_string(code) : std::string(reinterpret_cast<char*>(buf));
}

}  // namespace

PreTokenizerSpec pre_tokenizer_spec(std::string_view pre) {
  for (const auto& entry : spec_table()) {
    for (const char* name : entry.names) {
      if (pre != name) continue;
      PreTokenizerSpec spec;
      spec.name = entry.names.front();
      spec.patterns.assign(entry.patterns.begin(), entry.patterns.end());
      spec.ignore_merges = entry.ignore_merges;
      return spec;
    }
  }
  std::string known;
  for (const auto& name : known_pre_tokenizers()) known += (known.empty() ? "" : ", ") + name;
  throw Error("unknown BPE pre-tokenizer '" + std::string(pre) + "' (tokenizer.ggml.pre); known: " + known);
}

std::vector<std::string> known_pre_tokenizers() {
  std::vector<std::string> names;
  for (const auto& entry : spec_table()) names.insert(names.end(), entry.names.begin(), entry.names.end());
  return names;
}

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;

  explicit Regex(const std::string& pattern) {
    // UTF + UCP: \p{..}, \s, ranges work on code points. MATCH_INVALID_UTF: bad bytes are
    // simply unmatchable instead of an error. DOLLAR_ENDONLY: $ is the end, as in the
    // reference engines (not "before a final newline").
    const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    std::string source = with_nel_as_space(pattern);
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(), options, &error,
                         &error_offset, nullptr);
    if (!code)
      throw Error("cannot compile pre-tokenizer regex at offset " + std::to_string(error_offset) + ": " +
                  pcre2_message(error));
    // JIT is a speed-up only: where it is unavailable pcre2_match interprets the pattern.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  }
  ~Regex() { pcre2_code_free(code); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Splits piece `in` of `base` into matches and the text between them.
  void split(const char* base, Span in, MatchResources& res, std::vector<Span>& out) const {
    auto subject = reinterpret_cast<PCRE2_SPTR>(base + in.offset);
    const size_t len = in.length;
    size_t pos = 0, gap = 0;
    while (pos < len) {
      int rc = pcre2_match(code, subject, len, pos, 0, res.data, res.context);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) throw Error("pre-tokenizer regex failed: " + pcre2_message(rc));
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(res.data);
      size_t start = ov[0], end = ov[1];
      if (end <= start) {  // no pattern matches empty text; step on rather than loop forever
        pos = start + 1;
        while (pos < len && (subject[pos] & 0xC0) == 0x80) ++pos;
        continue;
      }
      if (start > gap) out.push_back({uint32_t(in.offset + gap), uint32_t(start - gap)});
      out.push_back({uint32_t(in.offset + start), uint32_t(end - start)});
      gap = pos = end;
    }
    if (gap < len) out.push_back({uint32_t(in.offset + gap), uint32_t(len - gap)});
  }
};

PreTokenizer::PreTokenizer(const PreTokenizerSpec& spec) : spec_(spec) {
  for (const auto& pattern : spec.patterns) regexes_.push_back(std::make_unique<Regex>(pattern));
}

PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::split(std::string_view text, std::vector<Span>& out) const {
  out.clear();
  if (text.empty()) return;
  if (text.size() > UINT32_MAX) throw Error("text too long to tokenize (over 4 GiB)");
  out.push_back({0, uint32_t(text.size())});
  if (regexes_.empty()) return;
  MatchResources& res = match_resources();
  thread_local std::vector<Span> next;
  for (const auto& regex : regexes_) {
    next.clear();
    for (Span piece : out) regex->split(text.data(), piece, res, next);
    out.swap(next);
  }
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  std::vector<Span> spans;
  split(text, spans);
  std::vector<std::string> pieces;
  for (Span s : spans) pieces.emplace_back(text.substr(s.offset, s.length));
  return pieces;
}

}  // namespace inhouse::tokenizer::detail
