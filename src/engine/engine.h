// engine — owns turning a model's logits into text: sampling (greedy, temperature, top-k,
// top-p, min-p, repetition/frequency/presence penalties, seeded randomness), stop-string and
// reasoning handling for streamed output, rendering a conversation with the model's own chat
// template, and the continuous-batching Scheduler that runs many generation requests through
// one model (the server's core). Knows nothing about file formats or architectures.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace inhouse::chat {
class ChatTemplate;
}

namespace inhouse::engine {

struct SamplingParams {
  float temperature = 0.8f;  // <= 0: greedy (argmax)
  int top_k = 40;            // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off; keeps tokens with p >= min_p * p_max
  float repeat_penalty = 1.0f;     // 1: off; divides positive logits of recent tokens
  float frequency_penalty = 0.0f;  // subtracted once per earlier occurrence
  float presence_penalty = 0.0f;   // subtracted once if the token occurred at all
  int penalty_last_n = 64;         // how many recent tokens the penalties look at
  uint64_t seed = 0;               // same seed and inputs -> same tokens

  // Throws std::invalid_argument naming the bad field (negative temperature, top_p > 1, ...).
  void validate() const;
};

// Picks the next token from a logits row. Holds the RNG and the recent-token history the
// penalties need, so one Sampler serves one sequence.
//
// Every rule keeps a prefix of the candidates sorted by logit, and the draw walks them from the
// best down, so only as much of the vocabulary is sorted as those walks reach (a partial
// selection): top_k 40 sorts 40 of 151936 entries. Temperature 0 without penalties is a plain
// argmax.
class Sampler {
 public:
  explicit Sampler(SamplingParams params);

  // Chooses a token from logits (n_vocab floats); does not record it.
  int32_t sample(const float* logits, size_t n_vocab);
  // Records a token (prompt or generated) for the penalties.
  void accept(int32_t token);
  const SamplingParams& params() const { return params_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;  // after penalties, before temperature
  };
  void apply_penalties(std::vector<Candidate>& c) const;

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<int32_t> history_;
  std::vector<Candidate> candidates_;  // reused between calls: no allocation per token
};

int32_t argmax(const float* logits, size_t n);

// Watches streamed text for stop strings. push() returns the text that is safe to show now:
// text that could still turn into a stop string is held back until it cannot.
class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops);
  std::string push(std::string_view text);
  std::string flush();  // at the end of generation: the held-back text, if no stop matched
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

// Splits DeepSeek-R1 style output into reasoning ("<think>...</think>") and answer, while
// streaming. The open tag is recognised only at the start of the output (after whitespace);
// when the chat template already ended the prompt with "<think>", start in reasoning mode.
class ReasoningSplitter {
 public:
  struct Delta {
    std::string reasoning;
    std::string content;
  };
  explicit ReasoningSplitter(bool start_in_reasoning = false, std::string open = "<think>",
                             std::string close = "</think>");
  Delta push(std::string_view text);
  Delta flush();  // the end of generation: whatever was held back
  bool in_reasoning() const { return state_ == State::Reasoning; }

 private:
  enum class State { Start, Reasoning, Content };
  void step(Delta& out, bool final);

  std::string open_, close_, held_;
  State state_;
  bool reasoning_started_ = false;  // drops the whitespace right after the open tag
  bool content_started_ = false;    // drops the whitespace right after the close tag
};

// True when a rendered chat prompt ends inside an open think block (e.g. "...<think>\n"),
// so the model's output starts with reasoning.
bool prompt_opens_reasoning(std::string_view prompt, std::string_view open = "<think>");

// The text side of one generation: sampled token ids in, the user-visible text out — UTF-8-safe
// decoding (control tokens render as nothing), cut at the first stop string, and optionally
// split into reasoning and answer. push() returns only text that is final.
class TokenTextStream {
 public:
  struct Options {
    std::vector<std::string> stop;
    bool split_reasoning = false;     // off: everything is content
    bool start_in_reasoning = false;  // the prompt opened a think block (prompt_opens_reasoning)
  };
  using Delta = ReasoningSplitter::Delta;

  TokenTextStream(const tokenizer::Tokenizer& tokenizer, Options options);
  Delta push(int32_t token);
  Delta finish();  // the end of generation: whatever was held back
  bool stopped() const { return stops_.stopped(); }  // a stop string matched

 private:
  Delta split(std::string text);

  tokenizer::IncrementalDecoder decoder_;
  StopStrings stops_;
  bool split_reasoning_;
  ReasoningSplitter splitter_;
};

// ---- continuous batching ---------------------------------------------------------------------
//
// The llama.cpp server's slot design: n_parallel slots, each with its own KV cache, and one
// worker thread whose every step runs ONE Model::forward_batch holding the next prompt chunk of
// each newly admitted request and the next token of every generating slot. Requests wait in a
// bounded queue and join between steps; a finished slot keeps its cached tokens, so a later
// prompt sharing more than half of itself with them goes to that slot and prefills only the
// rest (other prompts take the least recently used free slot).
//
// Finish reasons: Stop (end-of-sequence/-turn token or a stop string), Length (max_tokens, or
// the slot's context is full: the last token is sampled from the last position but never fed),
// Cancelled (cancel() or the scheduler's destruction), Error (the forward pass or a callback
// threw).

enum class FinishReason { Stop, Length, Cancelled, Error };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

struct GenerationResult {
  FinishReason finish_reason = FinishReason::Stop;
  std::string error;                   // set when finish_reason is Error
  std::vector<int32_t> tokens;         // the generated ids (not the end-of-sequence token)
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;    // reused from the slot's cache, not prefilled again
  double queue_ms = 0;                 // submit -> admitted to a slot
  double time_to_first_token_ms = 0;   // submit -> first token sampled
  double ms_per_token = 0;             // mean time between generated tokens after the first
};

struct GenerationRequest {
  std::vector<int32_t> prompt;  // already tokenised (BOS included as the caller wants)
  SamplingParams sampling;
  int max_tokens = 128;         // <= 0: until the end of the slot's context
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool split_reasoning = false;
  bool start_in_reasoning = false;
  // Called on the scheduler's thread; keep them short. They may call cancel() and stats().
  std::function<void(const TokenTextStream::Delta&)> on_delta;
  std::function<void(const GenerationResult&)> on_done;  // exactly once per accepted request
};

struct SchedulerOptions {
  int n_parallel = 4;     // slots
  int64_t n_ctx = 0;      // per slot; <= 0: min(the model's training context, 4096)
  size_t max_queue = 64;  // waiting requests beyond this are rejected (QueueFull)
  int64_t n_batch = 512;  // most prompt tokens one step prefills (over all slots)
  // ... while some slot is generating: a long new prompt is prefilled in pieces this big, so the
  // running streams keep getting a token every step instead of stalling for the whole prompt.
  int64_t n_batch_while_decoding = 64;
};

// The counters a /metrics endpoint reports.
struct SchedulerStats {
  size_t queued = 0;
  int busy_slots = 0;
  int n_slots = 0;
  int64_t kv_cells_used = 0;        // cached positions over all slots (idle ones keep theirs)
  uint64_t requests_done = 0;       // finished for any reason
  uint64_t requests_rejected = 0;   // QueueFull
  uint64_t prompt_tokens = 0;       // tokens of the prompts admitted
  uint64_t prefilled_tokens = 0;    // prompt tokens actually run (prompt_tokens - reused)
  uint64_t generated_tokens = 0;
  uint64_t steps = 0;               // forward_batch calls
};

// submit() when the queue already holds max_queue requests (a server's 503).
class QueueFull : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A request that can never run: empty prompt, a prompt that does not fit the slot's context, a
// token outside the vocabulary, bad sampling parameters (a server's 400).
class InvalidRequest : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class Scheduler {
 public:
  // The model and tokenizer must outlive the scheduler; nothing else may run the model
  // meanwhile. Starts the worker thread.
  Scheduler(model::Model& model, const tokenizer::Tokenizer& tokenizer, SchedulerOptions options = {});
  ~Scheduler();  // cancels what is queued or running (on_done: Cancelled), joins the worker
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request and returns its id. Throws InvalidRequest or QueueFull.
  uint64_t submit(GenerationRequest request);
  // The request finishes as Cancelled at the next step (its slot is freed); unknown or
  // finished ids are ignored.
  void cancel(uint64_t id);
  SchedulerStats stats() const;
  int64_t n_ctx() const;  // per slot

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- chat prompts ----------------------------------------------------------------------------

// A model's chat template together with its vocabulary's BOS/EOS texts: what turns a
// conversation into the prompt text the model was trained on.
class ChatPrompt {
 public:
  // Throws chat::TemplateError when the template does not parse.
  ChatPrompt(const tokenizer::Tokenizer& tokenizer, std::string template_source);
  // The template stored in the file (tokenizer.chat_template); nullopt when there is none.
  static std::optional<ChatPrompt> from_file(const gguf::GgufFile& file, const tokenizer::Tokenizer& tokenizer);

  // messages: [{"role": ..., "content": ...}, ...]. Throws chat::TemplateError.
  std::string render(const nlohmann::json& messages, bool add_generation_prompt = true) const;
  const std::string& source() const { return source_; }

 private:
  const tokenizer::Tokenizer* tokenizer_;  // must outlive this
  std::shared_ptr<const chat::ChatTemplate> template_;
  std::string source_;
};

// Tokenises a prompt with special-token texts parsed (as llama.cpp does). The vocabulary's usual
// special tokens are added, except that a `rendered` chat prompt that already starts with the
// BOS text gets no second BOS (llama.cpp's rule).
std::vector<int32_t> tokenize_prompt(const tokenizer::Tokenizer& tokenizer, const std::string& text, bool rendered);

}  // namespace inhouse::engine
