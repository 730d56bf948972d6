// Scheduler: continuous batching in the llama.cpp server's slot design. One worker thread owns
// the slots; other threads only touch the queue, the cancel set and a published copy of the
// counters, all under one mutex. Callbacks run on the worker with no lock held.
//
// A step: (1) under the lock, drop cancelled requests and move queued ones into free slots (the
// slot whose cached tokens share the longest prefix with the prompt); (2) without it, build one
// forward_batch from the next prompt chunk of every prefilling slot (at most n_batch prompt
// tokens in all, n_batch_while_decoding when some slot is generating) and the pending token of every generating slot; (3) sample each slot's next
// token from its row and stream the text.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "engine/engine.h"

namespace inhouse::engine {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// A request from submit() to on_done.
struct Job {
  uint64_t id = 0;
  GenerationRequest request;
  GenerationResult result;
  Clock::time_point submitted, admitted, first_token, last_token;
};

// One sequence's place in the batch. `cached` mirrors what its KV cache holds, so a finished
// slot can serve a later request with the same prefix.
struct Slot {
  explicit Slot(model::KvCache c) : cache(std::move(c)) {}
  model::KvCache cache;
  std::vector<int32_t> cached;  // the tokens at positions [0, cached.size()) of the cache
  std::unique_ptr<Job> job;     // null: free
  std::optional<Sampler> sampler;
  std::optional<TokenTextStream> text;
  size_t prompt_done = 0;       // prompt tokens in the cache
  int32_t pending = 0;          // the last sampled token, fed at the next step
  uint64_t last_used = 0;

  bool prefilling() const { return prompt_done < job->request.prompt.size(); }
};

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
  }
  return "error";
}

struct Scheduler::Impl {
  Impl(model::Model& m, const tokenizer::Tokenizer& t, SchedulerOptions o);

  void run();  // the worker thread
  void admit(std::unique_ptr<Job> job);
  void step();
  void on_logits(Slot& slot, const float* row);
  void emit(Slot& slot, const TokenTextStream::Delta& d);
  void finish(Slot& slot, FinishReason reason, std::string error = {});
  void publish_stats();
  Slot* best_free_slot(const std::vector<int32_t>& prompt);

  model::Model& model;
  const tokenizer::Tokenizer& tokenizer;
  const SchedulerOptions options;
  std::vector<Slot> slots;  // worker-only
  uint64_t clock = 0;       // worker-only: orders slot use, for least-recently-used ties
  SchedulerStats totals;    // worker-only: the running counters

  mutable std::mutex mu;  // guards everything below
  std::condition_variable wake;
  std::deque<std::unique_ptr<Job>> queue;
  std::unordered_set<uint64_t> cancel_ids;
  bool stopping = false;
  uint64_t next_id = 1;
  SchedulerStats published;
  uint64_t rejected = 0;

  std::thread worker;
};

Scheduler::Impl::Impl(model::Model& m, const tokenizer::Tokenizer& t, SchedulerOptions o)
    : model(m), tokenizer(t), options([&] {
        if (o.n_parallel < 1) throw std::invalid_argument("scheduler: n_parallel must be >= 1");
        if (o.n_batch < 1) throw std::invalid_argument("scheduler: n_batch must be >= 1");
        if (o.n_batch_while_decoding < 1) throw std::invalid_argument("scheduler: n_batch_while_decoding must be >= 1");
        if (o.n_ctx <= 0) o.n_ctx = std::min<int64_t>(m.hparams().n_ctx_train, 4096);
        return o;
      }()) {
  slots.reserve(size_t(options.n_parallel));
  for (int i = 0; i < options.n_parallel; ++i) slots.emplace_back(model.new_cache(options.n_ctx));
  published.n_slots = options.n_parallel;
  totals.n_slots = options.n_parallel;
}

// The free slot whose cache shares the longest prefix with `prompt`, when that prefix is more
// than half the prompt (llama.cpp's slot_prompt_similarity); otherwise the least recently used
// free slot, so an unrelated prompt does not evict a useful cache for a token or two of reuse.
Slot* Scheduler::Impl::best_free_slot(const std::vector<int32_t>& prompt) {
  Slot* longest = nullptr;
  Slot* oldest = nullptr;
  size_t longest_len = 0;
  for (Slot& s : slots) {
    if (s.job) continue;
    const size_t len = common_prefix(s.cached, prompt);
    if (!longest || len > longest_len) {
      longest = &s;
      longest_len = len;
    }
    if (!oldest || s.last_used < oldest->last_used) oldest = &s;
  }
  return 2 * longest_len > prompt.size() ? longest : oldest;
}

void Scheduler::Impl::admit(std::unique_ptr<Job> job) {
  const std::vector<int32_t>& prompt = job->request.prompt;
  Slot& slot = *best_free_slot(prompt);
  // Reuse the common prefix, but run at least the last prompt token: its logits pick the first
  // generated token.
  const size_t reuse = std::min(common_prefix(slot.cached, prompt), prompt.size() - 1);
  slot.cached.resize(reuse);
  slot.prompt_done = reuse;
  slot.last_used = ++clock;
  slot.sampler.emplace(job->request.sampling);
  for (int32_t id : prompt) slot.sampler->accept(id);
  slot.text.emplace(tokenizer, TokenTextStream::Options{.stop = job->request.stop,
                                                        .split_reasoning = job->request.split_reasoning,
                                                        .start_in_reasoning = job->request.start_in_reasoning});
  job->admitted = Clock::now();
  job->result.prompt_tokens = int64_t(prompt.size());
  job->result.cached_prompt_tokens = int64_t(reuse);
  totals.prompt_tokens += prompt.size();
  totals.prefilled_tokens += prompt.size() - reuse;
  slot.job = std::move(job);
}

void Scheduler::Impl::run() {
  for (;;) {
    std::vector<std::unique_ptr<Job>> cancelled_in_queue;
    {
      std::unique_lock lock(mu);
      const auto has_work = [&] {
        const bool any_busy = std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return bool(s.job); });
        const bool any_free = std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return !s.job; });
        return stopping || any_busy || !cancel_ids.empty() || (any_free && !queue.empty());
      };
      wake.wait(lock, has_work);
      if (stopping) break;
      // Cancellations: a queued request leaves the queue; a running one frees its slot below.
      for (auto it = queue.begin(); it != queue.end();) {
        if (cancel_ids.count((*it)->id)) {
          cancelled_in_queue.push_back(std::move(*it));
          it = queue.erase(it);
        } else {
          ++it;
        }
      }
      std::vector<Slot*> cancelled_slots;
      for (Slot& s : slots)
        if (s.job && cancel_ids.count(s.job->id)) cancelled_slots.push_back(&s);
      cancel_ids.clear();
      lock.unlock();
      for (Slot* s : cancelled_slots) finish(*s, FinishReason::Cancelled);
      lock.lock();
      while (!queue.empty() && std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return !s.job; })) {
        admit(std::move(queue.front()));
        queue.pop_front();
      }
    }
    for (auto& job : cancelled_in_queue) {
      job->result.finish_reason = FinishReason::Cancelled;
      ++totals.requests_done;
      publish_stats();
      if (job->request.on_done) job->request.on_done(job->result);
    }
    if (std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return bool(s.job); })) step();
    publish_stats();
  }
  // Shutting down: everything still queued or running ends as Cancelled.
  std::deque<std::unique_ptr<Job>> left;
  {
    std::lock_guard lock(mu);
    left.swap(queue);
  }
  for (Slot& s : slots)
    if (s.job) finish(s, FinishReason::Cancelled);
  for (auto& job : left) {
    job->result.finish_reason = FinishReason::Cancelled;
    if (job->request.on_done) job->request.on_done(job->result);
  }
}

void Scheduler::Impl::step() {
  std::vector<model::SeqBatch> items;
  std::vector<Slot*> owners;
  const bool decoding = std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return s.job && !s.prefilling(); });
  int64_t prompt_budget = decoding ? std::min(options.n_batch, options.n_batch_while_decoding) : options.n_batch;
  for (Slot& s : slots) {
    if (!s.job) continue;
    if (s.prefilling()) {
      if (prompt_budget <= 0) continue;  // waits for the next step
      const std::vector<int32_t>& prompt = s.job->request.prompt;
      const size_t n = std::min<size_t>(prompt.size() - s.prompt_done, size_t(prompt_budget));
      prompt_budget -= int64_t(n);
      items.push_back({.cache = &s.cache,
                       .tokens = std::span(prompt).subspan(s.prompt_done, n),
                       .start = int64_t(s.cached.size()),
                       .last_only = true});
    } else {
      items.push_back({.cache = &s.cache, .tokens = std::span(&s.pending, 1), .start = int64_t(s.cached.size()),
                       .last_only = true});
    }
    owners.push_back(&s);
  }
  if (items.empty()) return;

  std::vector<float> logits;
  try {
    logits = model.forward_batch(items);
  } catch (const std::exception& e) {
    for (Slot* s : owners) {
      s->cached.clear();  // the cache's contents are unknown now
      finish(*s, FinishReason::Error, e.what());
    }
    return;
  }
  ++totals.steps;
  const size_t n_vocab = size_t(model.n_vocab());
  for (size_t i = 0; i < owners.size(); ++i) {
    Slot& s = *owners[i];
    s.cached.insert(s.cached.end(), items[i].tokens.begin(), items[i].tokens.end());
    if (s.prefilling()) {
      s.prompt_done += items[i].tokens.size();
      if (s.prefilling()) continue;  // more prompt chunks to come: these logits are not needed
    }
    on_logits(s, logits.data() + i * n_vocab);
  }
}

// The slot's next token from its logits row, and what follows from it.
void Scheduler::Impl::on_logits(Slot& slot, const float* row) {
  Job& job = *slot.job;
  const GenerationRequest& req = job.request;
  const int32_t id = slot.sampler->sample(row, size_t(model.n_vocab()));
  const auto now = Clock::now();
  if (job.result.tokens.empty()) job.first_token = now;
  const tokenizer::Vocab& vocab = tokenizer.vocab();
  if (!req.ignore_eos && (id == vocab.eos || id == vocab.eot)) return finish(slot, FinishReason::Stop);

  slot.sampler->accept(id);
  job.result.tokens.push_back(id);
  job.last_token = now;
  ++totals.generated_tokens;
  emit(slot, slot.text->push(id));
  if (!slot.job) return;  // a callback failed
  if (slot.text->stopped()) return finish(slot, FinishReason::Stop);
  if (req.max_tokens > 0 && int64_t(job.result.tokens.size()) >= req.max_tokens)
    return finish(slot, FinishReason::Length);
  if (int64_t(slot.cached.size()) >= slot.cache.n_ctx())  // no room to feed this token
    return finish(slot, FinishReason::Length);
  slot.pending = id;
}

void Scheduler::Impl::emit(Slot& slot, const TokenTextStream::Delta& d) {
  if ((d.content.empty() && d.reasoning.empty()) || !slot.job->request.on_delta) return;
  try {
    slot.job->request.on_delta(d);
  } catch (const std::exception& e) {
    finish(slot, FinishReason::Error, std::string("on_delta threw: ") + e.what());
  }
}

// Ends the slot's request: flushes held-back text, fills in the result, frees the slot (its
// cache stays for prefix reuse) and calls on_done.
void Scheduler::Impl::finish(Slot& slot, FinishReason reason, std::string error) {
  std::unique_ptr<Job> job = std::move(slot.job);
  if (reason != FinishReason::Error && reason != FinishReason::Cancelled) {
    const TokenTextStream::Delta rest = slot.text->finish();
    if ((!rest.content.empty() || !rest.reasoning.empty()) && job->request.on_delta) {
      try {
        job->request.on_delta(rest);
      } catch (const std::exception& e) {
        reason = FinishReason::Error;
        error = std::string("on_delta threw: ") + e.what();
      }
    }
  }
  GenerationResult& r = job->result;
  r.finish_reason = reason;
  r.error = std::move(error);
  const auto zero = Clock::time_point{};
  if (job->admitted != zero) r.queue_ms = ms_between(job->submitted, job->admitted);
  if (!r.tokens.empty()) {
    r.time_to_first_token_ms = ms_between(job->submitted, job->first_token);
    if (r.tokens.size() > 1) r.ms_per_token = ms_between(job->first_token, job->last_token) / double(r.tokens.size() - 1);
  }
  ++totals.requests_done;
  slot.sampler.reset();
  slot.text.reset();
  publish_stats();  // whoever on_done wakes sees counters that include this request
  if (job->request.on_done) {
    try {
      job->request.on_done(r);
    } catch (...) {  // the request is over either way
    }
  }
}

void Scheduler::Impl::publish_stats() {
  SchedulerStats s = totals;
  s.busy_slots = 0;
  s.kv_cells_used = 0;
  for (const Slot& slot : slots) {
    s.busy_slots += slot.job ? 1 : 0;
    s.kv_cells_used += int64_t(slot.cached.size());
  }
  std::lock_guard lock(mu);
  s.requests_rejected = rejected;
  published = s;
}

Scheduler::Scheduler(model::Model& model, const tokenizer::Tokenizer& tokenizer, SchedulerOptions options)
    : impl_(std::make_unique<Impl>(model, tokenizer, options)) {
  impl_->worker = std::thread([this] { impl_->run(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->worker.join();
}

int64_t Scheduler::n_ctx() const { return impl_->options.n_ctx; }

uint64_t Scheduler::submit(GenerationRequest request) {
  const std::vector<int32_t>& prompt = request.prompt;
  if (prompt.empty()) throw InvalidRequest("the prompt is empty");
  if (int64_t(prompt.size()) >= n_ctx())
    throw InvalidRequest("the prompt has " + std::to_string(prompt.size()) + " tokens; a slot's context holds " +
                         std::to_string(n_ctx()) + " (prompt and output together)");
  for (int32_t id : prompt)
    if (id < 0 || id >= impl_->model.n_vocab())
      throw InvalidRequest("token id " + std::to_string(id) + " is outside the vocabulary of " +
                           std::to_string(impl_->model.n_vocab()));
  try {
    request.sampling.validate();
  } catch (const std::invalid_argument& e) {
    throw InvalidRequest(e.what());
  }

  auto job = std::make_unique<Job>();
  job->request = std::move(request);
  job->submitted = Clock::now();
  uint64_t id;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->queue.size() >= impl_->options.max_queue) {
      ++impl_->rejected;
      ++impl_->published.requests_rejected;
      throw QueueFull("the queue is full (" + std::to_string(impl_->options.max_queue) +
                      " requests waiting); try again later");
    }
    id = job->id = impl_->next_id++;
    impl_->queue.push_back(std::move(job));
    impl_->published.queued = impl_->queue.size();
  }
  impl_->wake.notify_one();
  return id;
}

void Scheduler::cancel(uint64_t id) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->cancel_ids.insert(id);
  }
  impl_->wake.notify_one();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(impl_->mu);
  SchedulerStats s = impl_->published;
  s.queued = impl_->queue.size();
  return s;
}

}  // namespace inhouse::engine
