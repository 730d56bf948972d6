// engine — owns turning a model's logits into text: sampling (greedy, temperature, top-k,
// top-p, min-p, repetition/frequency/presence penalties, seeded randomness) and stop-string
// handling for streamed output. Knows nothing about file formats or architectures.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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
    float logit;
  };
  void apply_penalties(std::vector<Candidate>& c) const;
  static void keep_top_k(std::vector<Candidate>& c, int k);
  static void keep_top_p(std::vector<Candidate>& c, float p);
  static void keep_min_p(std::vector<Candidate>& c, float p);
  int32_t draw(const std::vector<Candidate>& c);

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<int32_t> history_;
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

}  // namespace inhouse::engine
