// Multi-sequence batches (Model::forward_batch): every row equals running its sequence alone, bit
// for bit, whatever mix of prefill and decode items shares the batch; greedy decoding of many
// sequences together equals decoding each alone (deepseek2 in both cache layouts, also mixed in
// one batch); a bad item is an Error naming it and leaves every cache as it was. Also the f16 KV
// cache's size and growth.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "model/model.h"

namespace inhouse::model {
namespace {

namespace fs = std::filesystem;

std::string data_model(const std::string& name) {
  return (fs::path(INHOUSE_TEST_DATA) / "models" / (name + ".gguf")).string();
}

// A deterministic token sequence of length n, different for each seed.
std::vector<int32_t> tokens_for(int seed, size_t n, int64_t n_vocab) {
  std::vector<int32_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = int32_t((seed * 131 + int(i) * 37 + 5) % n_vocab);
  return out;
}

// A test model by name; "NAME@latent" / "NAME@expanded" pick deepseek2's cache layout.
Model open_decoder(const std::string& param) {
  const size_t at = param.find('@');
  ModelOptions options{.threads = 2};
  if (at != std::string::npos)
    options.mla_cache = param.substr(at + 1) == "latent" ? MlaCache::Latent : MlaCache::Expanded;
  return Model::open(data_model(param.substr(0, at)), options);
}

class EveryDecoder : public ::testing::TestWithParam<const char*> {};

// Sequences with history already cached (prefilled alone), then one mixed batch: a fresh
// prefill, a one-token decode, a multi-token continuation, a last_only prefill.
TEST_P(EveryDecoder, BatchRowsEqualEachSequenceAlone) {
  Model m = open_decoder(GetParam());
  const int64_t nv = m.n_vocab();
  struct Case {
    size_t history, fresh;
    bool last_only;
  };
  const std::vector<Case> cases = {{0, 7, false}, {5, 1, false}, {9, 4, false}, {0, 6, true}};

  std::vector<KvCache> batched, alone;
  std::vector<std::vector<int32_t>> fresh;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto seq = tokens_for(int(i), cases[i].history + cases[i].fresh, nv);
    batched.push_back(m.new_cache());
    alone.push_back(m.new_cache());
    if (cases[i].history > 0) {
      const std::span<const int32_t> history(seq.data(), cases[i].history);
      m.forward(batched.back(), history, 0);
      m.forward(alone.back(), history, 0);
    }
    fresh.emplace_back(seq.begin() + int64_t(cases[i].history), seq.end());
  }

  std::vector<SeqBatch> items;
  for (size_t i = 0; i < cases.size(); ++i)
    items.push_back({&batched[i], fresh[i], int64_t(cases[i].history), cases[i].last_only});
  const std::vector<float> together = m.forward_batch(items);

  size_t row = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto single = m.forward(alone[i], fresh[i], int64_t(cases[i].history), cases[i].last_only);
    const size_t rows = single.size() / size_t(nv);
    ASSERT_LE((row + rows) * size_t(nv), together.size());
    for (size_t j = 0; j < single.size(); ++j)
      ASSERT_EQ(together[row * size_t(nv) + j], single[j]) << "item " << i << " element " << j;
    row += rows;
    EXPECT_EQ(batched[i].size(), int64_t(cases[i].history + cases[i].fresh));
  }
  EXPECT_EQ(row * size_t(nv), together.size());
}

// 16 sequences with prompts of different lengths, prefilled in one batch, then decoded greedily
// one token each per batch; each continuation equals greedy() on that prompt alone.
TEST_P(EveryDecoder, SixteenGreedySequencesTogetherEqualEachAlone) {
  Model m = open_decoder(GetParam());
  const int n_seq = 16, n_new = 6;
  std::vector<std::vector<int32_t>> prompts;
  for (int s = 0; s < n_seq; ++s) prompts.push_back(tokens_for(s + 10, size_t(1 + s % 5), m.n_vocab()));

  std::vector<KvCache> caches;
  for (int s = 0; s < n_seq; ++s) caches.push_back(m.new_cache());
  std::vector<SeqBatch> items;
  for (int s = 0; s < n_seq; ++s) items.push_back({&caches[size_t(s)], prompts[size_t(s)], 0, true});
  std::vector<float> logits = m.forward_batch(items);

  std::vector<std::vector<int32_t>> chosen(n_seq);
  for (int step = 0; step < n_new; ++step) {
    for (int s = 0; s < n_seq; ++s)
      chosen[size_t(s)].push_back(argmax(std::span(logits).subspan(size_t(s * m.n_vocab()), size_t(m.n_vocab()))));
    if (step + 1 == n_new) break;
    for (int s = 0; s < n_seq; ++s)
      items[size_t(s)] = {&caches[size_t(s)], std::span(&chosen[size_t(s)].back(), 1),
                          caches[size_t(s)].size(), false};
    logits = m.forward_batch(items);
  }
  for (int s = 0; s < n_seq; ++s)
    EXPECT_EQ(chosen[size_t(s)], greedy(m, prompts[size_t(s)], n_new)) << "sequence " << s;
}

INSTANTIATE_TEST_SUITE_P(TestData, EveryDecoder,
                         ::testing::Values("stories260k-f32", "llama-tiny-q8_0", "qwen2-tiny-q4_k_m",
                                           "deepseek2-tiny-q8_0@latent",
                                           "deepseek2-tiny-q8_0@expanded"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           std::replace(s.begin(), s.end(), '@', '_');
                           return s;
                         });

// deepseek2 caches of both layouts in one batch (Auto gives a long context the latent layout):
// each row still equals its sequence alone.
TEST(ForwardBatch, Deepseek2MixesCacheLayouts) {
  Model m = Model::open(data_model("deepseek2-tiny-q8_0"), {.threads = 2});
  KvCache expanded = m.new_cache(64), latent = m.new_cache(200000);
  ASSERT_GT(expanded.v_width(), 0);
  ASSERT_EQ(latent.v_width(), 0);
  KvCache expanded_alone = m.new_cache(64), latent_alone = m.new_cache(200000);
  const auto a = tokens_for(1, 6, m.n_vocab()), b = tokens_for(2, 4, m.n_vocab());
  m.forward(expanded, std::span(a).first(2), 0);
  m.forward(expanded_alone, std::span(a).first(2), 0);
  const std::vector<SeqBatch> items = {{&latent, b, 0}, {&expanded, std::span(a).subspan(2), 2}};
  const auto together = m.forward_batch(items);
  const auto first = m.forward(latent_alone, b, 0);
  const auto second = m.forward(expanded_alone, std::span(a).subspan(2), 2);
  ASSERT_EQ(together.size(), first.size() + second.size());
  EXPECT_TRUE(std::equal(first.begin(), first.end(), together.begin()));
  EXPECT_TRUE(std::equal(second.begin(), second.end(), together.begin() + int64_t(first.size())));
}

// The error names the item, and no cache changes: neither its size nor its contents.
void expect_rejected(Model& m, std::vector<SeqBatch> items, const std::string& what,
                     std::vector<KvCache*> caches) {
  std::vector<int64_t> sizes;
  // Layer 0's keys of the filled positions, head by head.
  auto layer0_keys = [](const KvCache& c) {
    std::vector<std::byte> bytes;
    for (int64_t h = 0; h < c.n_heads(); ++h) {
      const auto* k = static_cast<const std::byte*>(c.k(0, 0, h));
      bytes.insert(bytes.end(), k, k + c.size() * c.k_head_width() * c.element_bytes());
    }
    return bytes;
  };
  std::vector<std::vector<std::byte>> first_rows;
  for (KvCache* c : caches) {
    sizes.push_back(c->size());
    first_rows.push_back(layer0_keys(*c));
  }
  try {
    m.forward_batch(items);
    ADD_FAILURE() << "no error for " << what;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
  for (size_t i = 0; i < caches.size(); ++i) {
    EXPECT_EQ(caches[i]->size(), sizes[i]);
    EXPECT_EQ(layer0_keys(*caches[i]), first_rows[i]) << what;
  }
}

TEST(ForwardBatch, InvalidItemsAreErrorsThatChangeNoCache) {
  Model m = Model::open(data_model("stories260k-f32"), {.threads = 1});
  KvCache a = m.new_cache(), b = m.new_cache(), small = m.new_cache(4);
  const std::vector<int32_t> three = {5, 6, 7}, bad = {5, int32_t(m.n_vocab())}, none;
  m.forward(a, three, 0);
  m.forward(small, three, 0);
  std::vector<KvCache*> all = {&a, &b, &small};
  // Item 0 is valid every time: it must not run either.
  expect_rejected(m, {{&b, three, 0}, {nullptr, three, 0}}, "item 1: no KV cache", all);
  expect_rejected(m, {{&b, three, 0}, {&b, three, 0}}, "item 1: uses the same KV cache as item 0", all);
  expect_rejected(m, {{&b, three, 0}, {&a, none, 3}}, "item 1: no tokens", all);
  expect_rejected(m, {{&b, three, 0}, {&a, bad, 3}}, "item 1: token id", all);
  expect_rejected(m, {{&b, three, 0}, {&a, three, 4}}, "item 1: start position 4", all);
  expect_rejected(m, {{&b, three, 0}, {&small, three, 3}}, "item 1: context overflow", all);
  EXPECT_THROW(m.forward_batch({}), Error);
  Model other = Model::open(data_model("llama-tiny-q8_0"), {.threads = 1});
  KvCache foreign = other.new_cache();
  expect_rejected(m, {{&b, three, 0}, {&foreign, three, 0}}, "item 1: the KV cache was made for", all);
}

TEST(KvCache, HalfFloatRowsByDefaultGrowingWithUse) {
  Model m = Model::open(data_model("qwen2-tiny-q4_0"), {.threads = 1});
  KvCache cache = m.new_cache();
  EXPECT_EQ(cache.type(), tensor::TensorType::F16);
  // 2 layers x (K 2 heads x 32 + V 2 x 32) halves.
  EXPECT_EQ(cache.bytes_per_position(), 2 * (64 + 64) * 2);
  EXPECT_EQ(cache.capacity(), 0);
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5};
  m.forward(cache, prompt, 0);
  EXPECT_GE(cache.capacity(), 5);
  EXPECT_LT(cache.capacity(), cache.n_ctx());
  // Position 4's keys are what store_kv_row wrote: f16 values, not all zero, in every head.
  ASSERT_EQ(cache.n_heads(), 2);
  for (int64_t h = 0; h < cache.n_heads(); ++h) {
    const auto* k = static_cast<const uint16_t*>(cache.k(1, 4, h));
    bool any = false;
    for (int64_t i = 0; i < cache.k_head_width(); ++i) any |= (k[i] & 0x7fff) != 0;
    EXPECT_TRUE(any) << "head " << h;
  }
  // One head's positions are consecutive; the heads' blocks are n_ctx positions apart.
  EXPECT_EQ(static_cast<const uint16_t*>(cache.k(1, 5, 1)) - static_cast<const uint16_t*>(cache.k(1, 4, 1)),
            cache.k_head_width());
  EXPECT_EQ(static_cast<const uint16_t*>(cache.k(1, 0, 1)) - static_cast<const uint16_t*>(cache.k(1, 0, 0)),
            cache.n_ctx() * cache.k_head_width());
  EXPECT_THROW(KvCache(2, 8, 64, 64, tensor::TensorType::F16, 3), Error);  // 64 is not 3 equal heads
}

TEST(KvCache, RowsStayInPlaceAsTheCacheGrowsAndMoveWithTheObject) {
  Model m = Model::open(data_model("qwen2-tiny-q4_0"), {.threads = 1});
  KvCache cache = m.new_cache();
  const std::vector<int32_t> prompt = {1, 2, 3};
  m.forward(cache, prompt, 0);
  const void* k0 = cache.k(1, 0);
  std::vector<std::byte> row(static_cast<const std::byte*>(k0),
                             static_cast<const std::byte*>(k0) + cache.k_head_width() * cache.element_bytes());
  // Growing to the whole context copies nothing: the row is where it was, unchanged.
  std::vector<int32_t> more(size_t(cache.n_ctx() - 3), 7);
  m.forward(cache, more, 3);
  EXPECT_EQ(cache.capacity(), cache.n_ctx());
  EXPECT_EQ(cache.k(1, 0), k0);
  EXPECT_TRUE(std::equal(row.begin(), row.end(), static_cast<const std::byte*>(k0)));
  // A moved cache keeps its rows; the moved-from one is empty.
  KvCache moved = std::move(cache);
  EXPECT_EQ(moved.k(1, 0), k0);
  EXPECT_EQ(moved.size(), moved.n_ctx());
  EXPECT_EQ(cache.size(), 0);  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(cache.capacity(), 0);
  EXPECT_THROW(moved.reserve(moved.n_ctx() + 1), Error);
}

TEST(KvCache, F32RowsOnRequestAgreeWithF16) {
  Model half = Model::open(data_model("stories260k-f32"), {.threads = 1});
  Model full = Model::open(data_model("stories260k-f32"),
                           {.threads = 1, .kv_type = tensor::TensorType::F32});
  KvCache ch = half.new_cache(), cf = full.new_cache();
  EXPECT_EQ(cf.type(), tensor::TensorType::F32);
  EXPECT_EQ(cf.bytes_per_position(), 2 * ch.bytes_per_position());
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8};
  const auto a = half.forward(ch, prompt, 0), b = full.forward(cf, prompt, 0);
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  EXPECT_LT(std::sqrt(diff / norm), 1e-3);  // f16 rounding of K, V, q and probabilities only
  EXPECT_GT(diff, 0.0);                     // ... which does change the numbers
  EXPECT_THROW(Model::open(data_model("qwen2-tiny-q4_0"), {.kv_type = tensor::TensorType::Q8_0}),
               Error);
}

}  // namespace
}  // namespace inhouse::model
