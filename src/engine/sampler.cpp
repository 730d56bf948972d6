// Sampler: penalties, then top-k, temperature, top-p, min-p and a seeded draw — the order
// llama.cpp's default chain uses, so settings mean the same thing to users of both.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/engine.h"

namespace inhouse::engine {

void SamplingParams::validate() const {
  auto bad = [](const char* field, const char* why) {
    throw std::invalid_argument(std::string(field) + " " + why);
  };
  if (!std::isfinite(temperature) || temperature < 0) bad("temperature", "must be >= 0");
  if (!std::isfinite(top_p) || top_p <= 0 || top_p > 1) bad("top_p", "must be in (0, 1]");
  if (!std::isfinite(min_p) || min_p < 0 || min_p > 1) bad("min_p", "must be in [0, 1]");
  if (!std::isfinite(repeat_penalty) || repeat_penalty <= 0) bad("repeat_penalty", "must be > 0");
  if (!std::isfinite(frequency_penalty) || frequency_penalty < -2 || frequency_penalty > 2)
    bad("frequency_penalty", "must be in [-2, 2]");
  if (!std::isfinite(presence_penalty) || presence_penalty < -2 || presence_penalty > 2)
    bad("presence_penalty", "must be in [-2, 2]");
  if (penalty_last_n < 0) bad("penalty_last_n", "must be >= 0");
}

int32_t argmax(const float* logits, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;  // first maximum wins, as in the references
  return int32_t(best);
}

Sampler::Sampler(SamplingParams params) : params_(params), rng_(params.seed) { params_.validate(); }

void Sampler::accept(int32_t token) { history_.push_back(token); }

namespace {

// The order every rule sees: higher logit first, ties by lower id (deterministic).
template <class C>
bool better(const C& a, const C& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Keeps candidates [0, sorted) as the best ones in order and sorts more on demand: the rules
// and the draw walk from the best candidate down and usually stop after a few dozen, so the
// whole vocabulary is sorted only when a walk really gets that far.
template <class C>
class SortedPrefix {
 public:
  explicit SortedPrefix(std::vector<C>& c) : c_(c) {}

  // Makes [0, n) the n best candidates, in order.
  void ensure(size_t n) {
    n = std::min(n, c_.size());
    sorted_ = std::min(sorted_, c_.size());  // the vector may have been truncated
    if (n <= sorted_) return;
    // Grow geometrically so a long walk costs O(n log n) in all, not a selection per step.
    n = std::min(c_.size(), std::max({n, 4 * sorted_, size_t(64)}));
    if (n < c_.size()) std::nth_element(c_.begin() + sorted_, c_.begin() + n, c_.end(), better<C>);
    std::sort(c_.begin() + sorted_, c_.begin() + n, better<C>);
    sorted_ = n;
  }
  // The candidate of rank i.
  const C& operator[](size_t i) {
    if (i >= sorted_) ensure(i + 1);
    return c_[i];
  }

 private:
  std::vector<C>& c_;
  size_t sorted_ = 0;
};

// The walk shared by top-p and the draw: softmax weights over all candidates (the sum in any
// order), accumulated from the best candidate down until `stop(cumulative)`; returns the rank
// where it stopped, or c.size() when it never did.
template <class C, class Stop>
size_t walk_softmax(std::vector<C>& c, SortedPrefix<C>& sorted, float temperature, Stop stop) {
  const double max = double(sorted[0].logit / temperature);
  double sum = 0;
  for (const C& x : c) sum += std::exp(double(x.logit / temperature) - max);
  double cum = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    cum += std::exp(double(sorted[i].logit / temperature) - max) / sum;
    if (stop(cum)) return i;
  }
  return c.size();
}

}  // namespace

int32_t Sampler::sample(const float* logits, size_t n_vocab) {
  if (n_vocab == 0) throw std::invalid_argument("empty logits");
  bool penalties = params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
                   params_.presence_penalty != 0.0f;
  if (params_.temperature <= 0 && !penalties) return argmax(logits, n_vocab);
  std::vector<Candidate>& c = candidates_;
  c.resize(n_vocab);
  for (size_t i = 0; i < n_vocab; ++i) c[i] = {int32_t(i), logits[i]};
  apply_penalties(c);
  if (params_.temperature <= 0) return std::min_element(c.begin(), c.end(), better<Candidate>)->id;

  // Rules in llama.cpp's order: top-k, temperature, top-p, min-p, then the draw. Logits keep
  // their pre-temperature values (the order is decided on them); the rules divide as they read.
  const float temp = params_.temperature;
  SortedPrefix<Candidate> sorted(c);
  if (params_.top_k > 0 && size_t(params_.top_k) < c.size()) {
    sorted.ensure(size_t(params_.top_k));
    c.resize(size_t(params_.top_k));
  }
  if (params_.top_p < 1.0f) {
    // The smallest prefix whose probability reaches top_p.
    const auto reached = [&](double cum) { return cum >= params_.top_p; };
    const size_t last = walk_softmax(c, sorted, temp, reached);
    if (last < c.size()) {
      sorted.ensure(last + 1);
      c.resize(last + 1);
    }
  }
  if (params_.min_p > 0) {
    // p_i >= min_p * p_max  <=>  logit_i / T >= logit_max / T + ln(min_p): a prefix, counted.
    const float threshold = sorted[0].logit / temp + std::log(params_.min_p);
    const auto above = [&](const Candidate& x) { return x.logit / temp >= threshold; };
    const size_t keep = size_t(std::count_if(c.begin(), c.end(), above));
    sorted.ensure(keep);
    c.resize(std::max<size_t>(keep, 1));
  }
  // A uniform draw from our own generator: std::discrete_distribution's algorithm may differ
  // between standard libraries, and the same seed must give the same tokens everywhere.
  const double u = double(rng_() >> 11) * (1.0 / 9007199254740992.0);
  const size_t pick = walk_softmax(c, sorted, temp, [&](double cum) { return u < cum; });
  if (pick < c.size()) return sorted[pick].id;
  return sorted[c.size() - 1].id;  // rounding left the sum just short of u
}

void Sampler::apply_penalties(std::vector<Candidate>& c) const {
  size_t n = std::min(history_.size(), size_t(params_.penalty_last_n));
  if (n == 0) return;
  std::unordered_map<int32_t, int> counts;
  for (size_t i = history_.size() - n; i < history_.size(); ++i) ++counts[history_[i]];
  for (const auto& [id, count] : counts) {
    if (id < 0 || size_t(id) >= c.size()) continue;
    float& l = c[size_t(id)].logit;  // c is still indexed by id here
    l = l > 0 ? l / params_.repeat_penalty : l * params_.repeat_penalty;
    l -= float(count) * params_.frequency_penalty + params_.presence_penalty;
  }
}

}  // namespace inhouse::engine
