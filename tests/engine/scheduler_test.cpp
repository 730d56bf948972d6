// Scheduler: continuous batching over the bundled tiny models. Greedy (and seeded) outputs must
// not depend on what else runs in the batch; requests join mid-flight, cancel, reuse a cached
// prefix, and are refused clearly when the queue is full or the prompt cannot fit.
#include <gtest/gtest.h>

#include <atomic>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace inhouse::engine {
namespace {

using namespace std::chrono_literals;

std::string model_path(const std::string& name) { return std::string(INHOUSE_TEST_DATA) + "/models/" + name; }

// What one request delivered, filled in on the scheduler's thread.
struct Capture {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int deltas = 0;
  std::string content, reasoning;
  GenerationResult result;

  GenerationResult wait() {
    std::unique_lock lock(mu);
    const bool finished = cv.wait_for(lock, 120s, [&] { return done; });
    EXPECT_TRUE(finished) << "request did not finish";
    return result;
  }
  bool is_done() {
    std::lock_guard lock(mu);
    return done;
  }
};

// A request whose callbacks record into a fresh Capture; `on_delta_extra` runs after each delta.
GenerationRequest request(const std::vector<int32_t>& prompt, int max_tokens, std::shared_ptr<Capture> c,
                          std::function<void(int)> on_delta_extra = {}) {
  GenerationRequest r;
  r.prompt = prompt;
  r.sampling.temperature = 0;
  r.ignore_eos = true;
  r.max_tokens = max_tokens;
  r.on_delta = [c, on_delta_extra](const TokenTextStream::Delta& d) {
    int n;
    {
      std::lock_guard lock(c->mu);
      c->content += d.content;
      c->reasoning += d.reasoning;
      n = ++c->deltas;
    }
    if (on_delta_extra) on_delta_extra(n);
  };
  r.on_done = [c](const GenerationResult& res) {
    std::lock_guard lock(c->mu);
    c->result = res;
    c->done = true;
    c->cv.notify_all();
  };
  return r;
}

// The text a TokenTextStream makes of `ids`.
std::string text_of(const tokenizer::Tokenizer& tok, const std::vector<int32_t>& ids) {
  TokenTextStream s(tok, {});
  std::string out;
  for (int32_t id : ids) out += s.push(id).content;
  return out + s.finish().content;
}

// The model is not thread-safe: tests compute model::greedy references only while no
// scheduler is running requests on it.
struct Fixture {
  explicit Fixture(const std::string& name)
      : model(model::Model::open(model_path(name), {.threads = 2})), tok(tokenizer::Tokenizer::from_gguf(model.file())) {}
  model::Model model;
  tokenizer::Tokenizer tok;

  // Prompt i: BOS and a spread of ids, lengths 3..(3 + 4 * 7).
  std::vector<int32_t> prompt(int i) const {
    std::vector<int32_t> p{tok.vocab().bos};
    const int n = 2 + 4 * (i % 8);
    for (int k = 0; k < n; ++k) p.push_back(int32_t(3 + (i * 37 + k * 11) % (model.n_vocab() - 3)));
    return p;
  }
};

// ---- same outputs alone and among many -------------------------------------------------------

class SchedulerBatching : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(SchedulerBatching, OutputsDoNotDependOnTheBatch) {
  const auto& [name, n_parallel] = GetParam();
  Fixture f(name);
  constexpr int kRequests = 16;
  auto make = [&](int i, std::shared_ptr<Capture> c) {
    GenerationRequest r = request(f.prompt(i), 6 + i % 5 * 3, c);
    if (i % 4 == 3) {  // some sampled ones too: a seeded sampler per request is deterministic
      r.sampling.temperature = 0.9f;
      r.sampling.seed = uint64_t(i);
    }
    return r;
  };

  std::vector<std::vector<int32_t>> alone(kRequests);
  {
    Scheduler one(f.model, f.tok, {.n_parallel = 1});
    for (int i = 0; i < kRequests; ++i) {
      auto c = std::make_shared<Capture>();
      one.submit(make(i, c));
      alone[size_t(i)] = c->wait().tokens;
    }
  }
  // Greedy ones are exactly the model's greedy continuation.
  for (int i = 0; i < kRequests; i += (i % 4 == 2) ? 2 : 1) {
    EXPECT_EQ(alone[size_t(i)], model::greedy(f.model, f.prompt(i), 6 + i % 5 * 3)) << i;
  }

  Scheduler many(f.model, f.tok, {.n_parallel = n_parallel});
  std::vector<std::shared_ptr<Capture>> caps;
  for (int i = 0; i < kRequests; ++i) {
    caps.push_back(std::make_shared<Capture>());
    many.submit(make(i, caps.back()));
  }
  uint64_t generated = 0;
  for (int i = 0; i < kRequests; ++i) {
    const GenerationResult r = caps[size_t(i)]->wait();
    EXPECT_EQ(r.finish_reason, FinishReason::Length) << i;
    EXPECT_EQ(r.tokens, alone[size_t(i)]) << i;
    EXPECT_EQ(caps[size_t(i)]->content, text_of(f.tok, r.tokens)) << i;
    EXPECT_EQ(r.prompt_tokens, int64_t(f.prompt(i).size()));
    EXPECT_GT(r.time_to_first_token_ms, 0);
    generated += r.tokens.size();
  }
  const SchedulerStats s = many.stats();
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(s.n_slots, n_parallel);
  EXPECT_EQ(s.requests_done, uint64_t(kRequests));
  EXPECT_EQ(s.generated_tokens, generated);
  EXPECT_GT(s.kv_cells_used, 0);
  // Batching: far fewer forward passes than tokens.
  EXPECT_LT(s.steps, generated);
}

INSTANTIATE_TEST_SUITE_P(Models, SchedulerBatching,
                         ::testing::Combine(::testing::Values("llama-tiny-q8_0.gguf", "qwen2-tiny-q4_0.gguf",
                                                              "stories260k-f32.gguf", "deepseek2-tiny-q8_0.gguf"),
                                            ::testing::Values(4, 16)),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param);
                           n = n.substr(0, n.find('-'));
                           return n + "_x" + std::to_string(std::get<1>(info.param));
                         });

// ---- joining, cancelling, reuse --------------------------------------------------------------

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : f("llama-tiny-q8_0.gguf") {}
  Fixture f;
};

TEST_F(SchedulerTest, RequestJoinsMidFlight) {
  Scheduler s(f.model, f.tok, {.n_parallel = 4});
  auto a = std::make_shared<Capture>(), b = std::make_shared<Capture>();
  std::promise<void> b_submitted;
  int a_deltas_when_b_joined = 0;
  // B is submitted from A's fifth delta: it joins between two of A's decode steps.
  s.submit(request(f.prompt(1), 40, a, [&](int n) {
    if (n != 5) return;
    a_deltas_when_b_joined = n;
    s.submit(request(f.prompt(2), 20, b));
    b_submitted.set_value();
  }));
  b_submitted.get_future().wait();
  const GenerationResult ra = a->wait(), rb = b->wait();
  EXPECT_EQ(a_deltas_when_b_joined, 5);
  EXPECT_EQ(ra.tokens, model::greedy(f.model, f.prompt(1), 40));
  EXPECT_EQ(rb.tokens, model::greedy(f.model, f.prompt(2), 20));
  // B ran alongside A: fewer steps than both sequences run one after the other.
  EXPECT_LT(s.stats().steps, uint64_t(40 + 20));
}

TEST_F(SchedulerTest, CancelFreesTheSlot) {
  Scheduler s(f.model, f.tok, {.n_parallel = 1});
  auto a = std::make_shared<Capture>(), b = std::make_shared<Capture>(), c = std::make_shared<Capture>();
  uint64_t a_id = 0;
  std::promise<uint64_t> a_id_known;
  auto a_id_future = a_id_known.get_future().share();
  // A would run to the end of the context; it cancels itself (a client hanging up) at delta 3.
  a_id = s.submit(request(f.prompt(1), 0, a, [&, a_id_future](int n) {
    if (n == 3) s.cancel(a_id_future.get());
  }));
  a_id_known.set_value(a_id);
  const uint64_t b_id = s.submit(request(f.prompt(2), 10, b));  // waits behind A
  const uint64_t c_id = s.submit(request(f.prompt(3), 10, c));  // waits, then is cancelled
  s.cancel(c_id);
  const GenerationResult ra = a->wait();
  EXPECT_EQ(ra.finish_reason, FinishReason::Cancelled);
  EXPECT_GE(ra.tokens.size(), 3u);
  EXPECT_LT(ra.tokens.size(), 10u);
  const GenerationResult rc = c->wait();
  EXPECT_EQ(rc.finish_reason, FinishReason::Cancelled);
  EXPECT_TRUE(rc.tokens.empty());
  // B got the freed slot and is unaffected by what ran there before.
  const GenerationResult rb = b->wait();
  EXPECT_EQ(rb.finish_reason, FinishReason::Length);
  EXPECT_EQ(rb.tokens, model::greedy(f.model, f.prompt(2), 10));
  s.cancel(b_id);   // finished: ignored
  s.cancel(12345);  // unknown: ignored
  for (int i = 0; i < 100 && s.stats().busy_slots != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(s.stats().busy_slots, 0);
  EXPECT_EQ(s.stats().requests_done, 3u);
}

TEST_F(SchedulerTest, PrefixReusePrefillsOnlyTheRest) {
  Scheduler s(f.model, f.tok, {.n_parallel = 2});
  std::vector<int32_t> base = f.prompt(7);  // 31 tokens
  std::vector<int32_t> longer = base;
  for (int32_t t : {5, 9, 200, 17}) longer.push_back(t);

  auto c1 = std::make_shared<Capture>();
  s.submit(request(base, 8, c1));
  const GenerationResult r1 = c1->wait();
  EXPECT_EQ(r1.cached_prompt_tokens, 0);
  const uint64_t prefilled_before = s.stats().prefilled_tokens;
  EXPECT_EQ(prefilled_before, base.size());

  // An unrelated prompt goes to the other (empty) slot and keeps base's cache alive.
  auto c2 = std::make_shared<Capture>();
  s.submit(request(f.prompt(2), 4, c2));
  EXPECT_EQ(c2->wait().cached_prompt_tokens, 0);

  auto c3 = std::make_shared<Capture>();
  s.submit(request(longer, 8, c3));
  const GenerationResult r3 = c3->wait();
  EXPECT_EQ(r3.cached_prompt_tokens, int64_t(base.size()));
  EXPECT_EQ(r3.tokens, model::greedy(f.model, longer, 8));

  // The very same prompt again: all but the last token come from the cache, same output.
  auto c4 = std::make_shared<Capture>();
  s.submit(request(base, 8, c4));
  const GenerationResult r4 = c4->wait();
  EXPECT_EQ(r4.cached_prompt_tokens, int64_t(base.size()) - 1);
  EXPECT_EQ(r4.tokens, r1.tokens);
  EXPECT_EQ(s.stats().prefilled_tokens,
            prefilled_before + f.prompt(2).size() + (longer.size() - base.size()) + 1);
}

TEST_F(SchedulerTest, LongPromptsArePrefilledInChunks) {
  const auto want_a = model::greedy(f.model, f.prompt(7), 10), want_b = model::greedy(f.model, f.prompt(6), 10);
  Scheduler s(f.model, f.tok, {.n_parallel = 2, .n_batch = 7});
  auto a = std::make_shared<Capture>(), b = std::make_shared<Capture>();
  s.submit(request(f.prompt(7), 10, a));
  s.submit(request(f.prompt(6), 10, b));
  EXPECT_EQ(a->wait().tokens, want_a);
  EXPECT_EQ(b->wait().tokens, want_b);
}

// A long prompt arriving while another request generates is prefilled a piece per step, and the
// running request keeps getting a token every one of those steps instead of stalling.
TEST_F(SchedulerTest, RunningStreamsKeepDecodingWhileALongPromptIsPrefilled) {
  const auto want_a = model::greedy(f.model, f.prompt(1), 40), want_b = model::greedy(f.model, f.prompt(7), 5);
  Scheduler s(f.model, f.tok, {.n_parallel = 2, .n_batch = 512, .n_batch_while_decoding = 4});
  auto a = std::make_shared<Capture>(), b = std::make_shared<Capture>();
  std::atomic<int> a_deltas_at_b_submit{0}, a_deltas_at_b_first{0};
  s.submit(request(f.prompt(1), 40, a, [&](int n) {
    if (n != 3) return;
    a_deltas_at_b_submit = n;
    s.submit(request(f.prompt(7), 5, b, [&](int m) {
      if (m == 1) a_deltas_at_b_first = a->deltas;
    }));
  }));
  EXPECT_EQ(a->wait().tokens, want_a);
  EXPECT_EQ(b->wait().tokens, want_b);
  // B's 30-token prompt takes ceil(30 / 4) = 8 steps; A got a token in (nearly) each of them.
  ASSERT_EQ(f.prompt(7).size(), 31u);
  EXPECT_GE(a_deltas_at_b_first - a_deltas_at_b_submit, 6);
}

// ---- limits and errors -----------------------------------------------------------------------

TEST_F(SchedulerTest, FullQueueIsRefused) {
  const auto want_b = model::greedy(f.model, f.prompt(2), 3), want_c = model::greedy(f.model, f.prompt(3), 3);
  Scheduler s(f.model, f.tok, {.n_parallel = 1, .max_queue = 2});
  auto a = std::make_shared<Capture>();
  std::promise<void> a_running;
  std::promise<void> release;
  auto released = release.get_future().share();
  // A holds the worker inside its first delta, so nothing is admitted meanwhile.
  s.submit(request(f.prompt(1), 5, a, [&, released](int n) {
    if (n != 1) return;
    a_running.set_value();
    released.wait();
  }));
  a_running.get_future().wait();
  auto b = std::make_shared<Capture>(), c = std::make_shared<Capture>(), d = std::make_shared<Capture>();
  s.submit(request(f.prompt(2), 3, b));
  s.submit(request(f.prompt(3), 3, c));
  EXPECT_THROW(s.submit(request(f.prompt(4), 3, d)), QueueFull);
  SchedulerStats st = s.stats();
  EXPECT_EQ(st.queued, 2u);
  EXPECT_EQ(st.requests_rejected, 1u);
  release.set_value();
  EXPECT_EQ(a->wait().finish_reason, FinishReason::Length);
  EXPECT_EQ(b->wait().tokens, want_b);
  EXPECT_EQ(c->wait().tokens, want_c);
  EXPECT_FALSE(d->is_done());  // a refused request never calls back
}

TEST_F(SchedulerTest, BadRequestsAreRefused) {
  Scheduler s(f.model, f.tok, {.n_parallel = 1, .n_ctx = 32});
  auto c = std::make_shared<Capture>();
  EXPECT_THROW(s.submit(request({}, 4, c)), InvalidRequest);
  std::vector<int32_t> too_long(32, 5);
  try {
    s.submit(request(too_long, 4, c));
    ADD_FAILURE() << "no InvalidRequest";
  } catch (const InvalidRequest& e) {
    EXPECT_NE(std::string(e.what()).find("context holds 32"), std::string::npos) << e.what();
  }
  EXPECT_THROW(s.submit(request({1, int32_t(f.model.n_vocab())}, 4, c)), InvalidRequest);
  EXPECT_THROW(s.submit(request({1, -1}, 4, c)), InvalidRequest);
  GenerationRequest bad = request({1, 5}, 4, c);
  bad.sampling.top_p = 2;
  EXPECT_THROW(s.submit(bad), InvalidRequest);
  EXPECT_THROW(Scheduler(f.model, f.tok, {.n_parallel = 0}), std::invalid_argument);
  EXPECT_FALSE(c->is_done());
}

TEST_F(SchedulerTest, GenerationStopsAtTheContextEnd) {
  Scheduler s(f.model, f.tok, {.n_parallel = 2, .n_ctx = 32});
  EXPECT_EQ(s.n_ctx(), 32);
  const std::vector<int32_t> prompt = f.prompt(4);  // 19 tokens
  auto c = std::make_shared<Capture>();
  s.submit(request(prompt, 0, c));
  const GenerationResult r = c->wait();
  EXPECT_EQ(r.finish_reason, FinishReason::Length);
  // Positions 0..31 are fed; the token sampled from position 31 ends it.
  ASSERT_EQ(r.tokens.size(), 32 - prompt.size() + 1);
  EXPECT_EQ(r.tokens, model::greedy(f.model, prompt, int(r.tokens.size())));
}

TEST_F(SchedulerTest, StopStringsAndReasoning) {
  Scheduler s(f.model, f.tok, {.n_parallel = 2});
  const std::vector<int32_t> prompt = f.prompt(5);
  const std::string full = text_of(f.tok, model::greedy(f.model, prompt, 16));
  ASSERT_GE(full.size(), 8u);
  const std::string stop = full.substr(full.size() / 2, 2);

  auto a = std::make_shared<Capture>(), b = std::make_shared<Capture>();
  GenerationRequest ra = request(prompt, 16, a);
  ra.stop = {stop};
  GenerationRequest rb = request(prompt, 16, b);
  rb.split_reasoning = rb.start_in_reasoning = true;  // no </think> ever: all of it is reasoning
  s.submit(std::move(ra));
  s.submit(std::move(rb));
  EXPECT_EQ(a->wait().finish_reason, FinishReason::Stop);
  EXPECT_EQ(a->content, full.substr(0, full.find(stop)));
  EXPECT_EQ(b->wait().finish_reason, FinishReason::Length);
  EXPECT_EQ(b->content, "");
  EXPECT_FALSE(b->reasoning.empty());
  EXPECT_EQ(full.find(b->reasoning), full.find_first_not_of(" \n"));  // leading whitespace dropped
}

TEST_F(SchedulerTest, StopsAtEndOfSequence) {
  // Without ignore_eos the request ends at EOS with "stop"; with it, the same ids continue.
  Scheduler s(f.model, f.tok, {.n_parallel = 1, .n_ctx = 256});
  const std::vector<int32_t> prompt = f.prompt(3);
  const std::vector<int32_t> ids = model::greedy(f.model, prompt, 200);
  auto c = std::make_shared<Capture>();
  GenerationRequest r = request(prompt, 200, c);
  r.ignore_eos = false;
  s.submit(std::move(r));
  const GenerationResult res = c->wait();
  const auto eos = std::find(ids.begin(), ids.end(), f.tok.vocab().eos);
  if (eos == ids.end()) {
    EXPECT_EQ(res.finish_reason, FinishReason::Length);
    EXPECT_EQ(res.tokens, ids);
  } else {
    EXPECT_EQ(res.finish_reason, FinishReason::Stop);
    EXPECT_EQ(res.tokens, std::vector<int32_t>(ids.begin(), eos));
  }
}

TEST_F(SchedulerTest, DestructionCancelsEverything) {
  auto a = std::make_shared<Capture>(), b = std::make_shared<Capture>();
  {
    Scheduler s(f.model, f.tok, {.n_parallel = 1});
    s.submit(request(f.prompt(1), 0, a));
    s.submit(request(f.prompt(2), 0, b));
  }
  EXPECT_TRUE(a->is_done());
  EXPECT_TRUE(b->is_done());
  EXPECT_EQ(b->result.finish_reason, FinishReason::Cancelled);
}

TEST(FinishReason, Names) {
  EXPECT_STREQ(finish_reason_name(FinishReason::Stop), "stop");
  EXPECT_STREQ(finish_reason_name(FinishReason::Length), "length");
  EXPECT_STREQ(finish_reason_name(FinishReason::Cancelled), "cancelled");
  EXPECT_STREQ(finish_reason_name(FinishReason::Error), "error");
}

}  // namespace
}  // namespace inhouse::engine
