// bpe — owns byte-level BPE: GPT-2's byte<->unicode mapping, the merge table (built once from
// tokenizer.ggml.merges, keyed by token-id pairs) and the rank-ordered merging of each
// pre-tokenized word; plus turning a normal BPE token back into its bytes.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <unordered_map>

#include "tokenizer/bpe_pretokenizer.h"
#include "tokenizer/tokenizer_internal.h"

namespace inhouse::tokenizer::detail {
namespace {

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
// for U+0100.. in byte order, so every byte is a visible character in the vocab's strings.
struct ByteMap {
  static constexpr uint32_t kMaxCp = 0x100 + 68;
  std::array<uint32_t, 256> byte_to_cp{};
  std::array<int16_t, kMaxCp> cp_to_byte{};

  ByteMap() {
    cp_to_byte.fill(-1);
    uint32_t shifted = 0x100;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      byte_to_cp[b] = printable ? b : shifted++;
      cp_to_byte[byte_to_cp[b]] = int16_t(b);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// Decodes one UTF-8 character at s[i]; returns its length, or 0 when the bytes there are not
// a well-formed character.
size_t decode_utf8(std::string_view s, size_t i, uint32_t& cp) {
  auto b = uint8_t(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  cp = n == 1 ? b : b & (0xFF >> (n + 1));
  for (size_t k = 1; k < n; ++k) {
    auto c = uint8_t(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  return n;
}

// Open-addressing hash table (token-id pair) -> (rank, merged id). The merge loop looks pairs
// up constantly, so this avoids std::unordered_map's node chasing and string keys.
class MergeTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    TokenId result = 0;
  };

  void reserve(size_t n) {
    size_t cap = 16;
    int bits = 4;
    while (cap < n * 2) cap <<= 1, ++bits;
    slots_.assign(cap, Entry{});
    mask_ = cap - 1;
    shift_ = 64 - bits;
  }

  // Keeps the lowest rank when a pair is listed twice (the reference keeps the first).
  void insert(TokenId left, TokenId right, int32_t rank, TokenId result) {
    uint64_t key = pack(left, right);
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      Entry& e = slots_[i];
      if (e.key == kEmpty) {
        e = Entry{key, rank, result};
        return;
      }
      if (e.key == key) {
        if (rank < e.rank) e = Entry{key, rank, result};
        return;
      }
    }
  }

  // Starts loading a pair's slot: a word's first look-ups then overlap instead of each
  // waiting for memory in turn.
  void prefetch(TokenId left, TokenId right) const { __builtin_prefetch(&slots_[slot(pack(left, right))]); }

  const Entry* find(TokenId left, TokenId right) const {
    uint64_t key = pack(left, right);
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);  // ids are non-negative, so never a real key
  static uint64_t pack(TokenId l, TokenId r) { return (uint64_t(uint32_t(l)) << 32) | uint32_t(r); }
  // Fibonacci hashing: the top bits of the product are well mixed.
  size_t slot(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ull) >> shift_); }

  std::vector<Entry> slots_;
  size_t mask_ = 0;
  int shift_ = 60;
};

// Everything encode needs, built once per vocab. Strings that merges produce but the vocab
// lacks get "virtual" ids >= vocab size so merging stays id-based; the reference then emits
// the single-byte tokens of such a string's bytes, which `fallback` holds.
struct BpeState {
  PreTokenizer pre;
  std::array<TokenId, 256> byte_token{};
  MergeTable merges;
  TokenId n_vocab = 0;
  std::vector<std::vector<TokenId>> fallback;  // index: id - n_vocab
  uint64_t serial;  // identifies this state to the per-thread word caches

  BpeState(const Vocab& vocab, const PreTokenizerSpec& spec)
      : pre(spec), n_vocab(TokenId(vocab.size())), serial(next_serial()) {
    std::unordered_map<std::string, TokenId> virtual_ids;
    auto intern = [&](const std::string& text) {
      if (auto it = vocab.token_to_id.find(text); it != vocab.token_to_id.end()) return it->second;
      auto [it, fresh] = virtual_ids.emplace(text, n_vocab + TokenId(fallback.size()));
      if (fresh) fallback.push_back(single_byte_tokens(vocab, text));
      return it->second;
    };
    for (int b = 0; b < 256; ++b) {
      std::string ch;
      append_utf8(ch, byte_map().byte_to_cp[b]);
      byte_token[b] = intern(ch);
    }
    merges.reserve(vocab.merge_ranks.size());
    for (const auto& [pair, rank] : vocab.merge_ranks) {
      size_t space = pair.find(' ', 1);
      if (space == std::string::npos) continue;  // malformed entry: no merge can use it
      std::string left = pair.substr(0, space), right = pair.substr(space + 1);
      merges.insert(intern(left), intern(right), rank, intern(left + right));
    }
  }

  // Not the address: a freed state's address can be reused by a new one.
  static uint64_t next_serial() {
    static std::atomic<uint64_t> counter{0};
    return ++counter;
  }

  static std::vector<TokenId> single_byte_tokens(const Vocab& vocab, const std::string& text) {
    std::vector<TokenId> ids;
    for (char c : text)
      if (auto id = vocab.find(std::string(1, c))) ids.push_back(*id);
    return ids;
  }

  void emit(TokenId id, std::vector<TokenId>& out) const {
    if (id < n_vocab) out.push_back(id);
    else out.insert(out.end(), fallback[id - n_vocab].begin(), fallback[id - n_vocab].end());
  }
};

// Words repeat a lot in real text; remembering their ids skips the merges, which dominate the
// cost (the merge table is too big for the CPU caches). Direct-mapped with fixed-size slots:
// no allocation, a colliding word simply replaces the old one. Per thread, so no locking; tied
// to one BpeState and emptied when another one is used.
class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 46;  // longer pieces rarely repeat
  static constexpr size_t kMaxIds = 16;

  // The cached ids of `word` for `state` (n set to their count), or nullptr.
  const TokenId* find(uint64_t state, std::string_view word, size_t& n) {
    if (state != state_) {
      slots_.assign(kSlots, Slot{});
      state_ = state;
    }
    const Slot& slot = slots_[index(word)];
    if (slot.key_len != word.size() || slot.n_ids == 0 || std::memcmp(slot.key, word.data(), word.size()) != 0)
      return nullptr;
    n = slot.n_ids;
    return slot.ids;
  }

  void insert(std::string_view word, const TokenId* ids, size_t n) {
    if (word.size() > kMaxWordBytes || n == 0 || n > kMaxIds) return;
    Slot& slot = slots_[index(word)];
    slot.key_len = uint8_t(word.size());
    slot.n_ids = uint8_t(n);
    std::memcpy(slot.key, word.data(), word.size());
    std::memcpy(slot.ids, ids, n * sizeof(TokenId));
  }

 private:
  static constexpr size_t kSlots = 1 << 13;
  struct Slot {
    uint8_t key_len = 0, n_ids = 0;
    char key[kMaxWordBytes];
    TokenId ids[kMaxIds];
  };
  static size_t index(std::string_view word) { return std::hash<std::string_view>{}(word) & (kSlots - 1); }

  uint64_t state_ = 0;
  std::vector<Slot> slots_;
};

// Per-call working memory, reused across words and calls (one per thread).
struct Scratch {
  struct Symbol {
    TokenId id;  // -1 once merged into its left neighbour
    int32_t prev, next;
  };
  struct Candidate {
    uint64_t order;  // rank << 32 | left index: lowest rank first, then leftmost
    TokenId left_id, right_id, result;
  };
  std::vector<Span> spans;
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::string mapped;
  WordCache cache;
};

struct LaterFirst {
  bool operator()(const Scratch::Candidate& a, const Scratch::Candidate& b) const { return a.order > b.order; }
};

// Queues the merge of symbol `left` with its right neighbour, if the merges have one.
bool add_candidate(const BpeState& st, Scratch& s, int32_t left) {
  if (left < 0) return false;
  int32_t right = s.symbols[left].next;
  if (right < 0) return false;
  TokenId l = s.symbols[left].id, r = s.symbols[right].id;
  const MergeTable::Entry* e = st.merges.find(l, r);
  if (!e) return false;
  s.heap.push_back({(uint64_t(uint32_t(e->rank)) << 32) | uint32_t(left), l, r, e->result});
  return true;
}

void push_candidate(const BpeState& st, Scratch& s, int32_t left) {
  if (add_candidate(st, s, left)) std::push_heap(s.heap.begin(), s.heap.end(), LaterFirst{});
}

void init_symbols(const BpeState& st, std::string_view word, Scratch& s) {
  const int32_t n = int32_t(word.size());
  s.symbols.resize(n);
  for (int32_t i = 0; i < n; ++i) s.symbols[i] = {st.byte_token[uint8_t(word[i])], i - 1, i + 1 < n ? i + 1 : -1};
  for (int32_t i = 0; i + 1 < n; ++i) st.merges.prefetch(s.symbols[i].id, s.symbols[i + 1].id);
  s.heap.clear();
  for (int32_t i = 0; i + 1 < n; ++i) add_candidate(st, s, i);
  std::make_heap(s.heap.begin(), s.heap.end(), LaterFirst{});
}

// Applies merges to one word, lowest rank first (ties: leftmost), like the reference. A
// candidate is stale when either symbol changed since it was queued; ids identify the text
// exactly, so comparing them is the reference's text comparison.
void merge_word(const BpeState& st, std::string_view word, Scratch& s, std::vector<TokenId>& out) {
  if (word.empty()) return;
  if (word.size() == 1) return st.emit(st.byte_token[uint8_t(word[0])], out);
  init_symbols(st, word, s);
  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), LaterFirst{});
    Scratch::Candidate c = s.heap.back();
    s.heap.pop_back();
    int32_t left = int32_t(uint32_t(c.order));
    auto& l = s.symbols[left];
    if (l.id != c.left_id || l.next < 0 || s.symbols[l.next].id != c.right_id) continue;
    auto& r = s.symbols[l.next];
    l.id = c.result;
    r.id = -1;
    l.next = r.next;
    if (r.next >= 0) s.symbols[r.next].prev = left;
    push_candidate(st, s, l.prev);
    push_candidate(st, s, left);
  }
  for (int32_t i = 0; i >= 0; i = s.symbols[i].next) st.emit(s.symbols[i].id, out);
}

// llama3-style vocabs: a word that is itself a token is emitted whole, merges or not.
bool whole_word_token(const Vocab& vocab, std::string_view word, Scratch& s, std::vector<TokenId>& out) {
  s.mapped.clear();
  for (char c : word) append_utf8(s.mapped, byte_map().byte_to_cp[uint8_t(c)]);
  auto it = vocab.token_to_id.find(s.mapped);
  if (it == vocab.token_to_id.end()) return false;
  out.push_back(it->second);
  return true;
}

}  // namespace

std::shared_ptr<const void> make_bpe_state(const Vocab& vocab) {
  return std::make_shared<const BpeState>(vocab, pre_tokenizer_spec(vocab.pre));
}

void bpe_encode(const Vocab& vocab, const void* state, std::string_view text, std::vector<TokenId>& out) {
  const auto& st = *static_cast<const BpeState*>(state);
  thread_local Scratch s;
  st.pre.split(text, s.spans);
  const bool ignore_merges = st.pre.spec().ignore_merges;
  for (Span span : s.spans) {
    std::string_view word = text.substr(span.offset, span.length);
    if (ignore_merges && whole_word_token(vocab, word, s, out)) continue;
    if (word.size() > WordCache::kMaxWordBytes) {
      merge_word(st, word, s, out);
      continue;
    }
    size_t n = 0;
    if (const TokenId* ids = s.cache.find(st.serial, word, n)) {
      out.insert(out.end(), ids, ids + n);
      continue;
    }
    size_t before = out.size();
    merge_word(st, word, s, out);
    s.cache.insert(word, out.data() + before, out.size() - before);
  }
}

std::string bpe_token_to_piece(const Vocab& vocab, TokenId id) {
  const std::string& text = checked_token(vocab, id);
  const ByteMap& map = byte_map();
  std::string bytes;
  bytes.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    size_t n = decode_utf8(text, i, cp);
    if (n == 0) {  // not UTF-8: the vocab string is already raw bytes
      bytes += text[i++];
      continue;
    }
    // Characters outside the byte map (not produced by byte-level encoding) stand for themselves.
    if (cp < ByteMap::kMaxCp && map.cp_to_byte[cp] >= 0) bytes += char(map.cp_to_byte[cp]);
    else bytes.append(text, i, n);
    i += n;
  }
  return bytes;
}

}  // namespace inhouse::tokenizer::detail
