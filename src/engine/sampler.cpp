// Sampler: penalties, then top-k, top-p, min-p, temperature and a seeded draw — the order
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

int32_t Sampler::sample(const float* logits, size_t n_vocab) {
  if (n_vocab == 0) throw std::invalid_argument("empty logits");
  bool penalties = params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
                   params_.presence_penalty != 0.0f;
  if (params_.temperature <= 0 && !penalties) return argmax(logits, n_vocab);
  std::vector<Candidate> c(n_vocab);
  for (size_t i = 0; i < n_vocab; ++i) c[i] = {int32_t(i), logits[i]};
  apply_penalties(c);
  if (params_.temperature <= 0) {
    auto best = std::max_element(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) {
      return a.logit < b.logit || (a.logit == b.logit && a.id > b.id);
    });
    return best->id;
  }
  // Sorted by logit (descending, ties by id) so truncation and the draw are deterministic.
  std::sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  });
  keep_top_k(c, params_.top_k);
  for (Candidate& x : c) x.logit /= params_.temperature;
  keep_top_p(c, params_.top_p);
  keep_min_p(c, params_.min_p);
  return draw(c);
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

void Sampler::keep_top_k(std::vector<Candidate>& c, int k) {
  if (k > 0 && size_t(k) < c.size()) c.resize(size_t(k));
}

// Probabilities of the (sorted) candidates, softmax over what is left.
static std::vector<double> softmax(const std::vector<float>& logits) {
  std::vector<double> p(logits.size());
  double max = logits.empty() ? 0 : logits[0], sum = 0;
  for (float l : logits) max = std::max(max, double(l));
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(double(logits[i]) - max);
  for (double& x : p) x /= sum;
  return p;
}

void Sampler::keep_top_p(std::vector<Candidate>& c, float top_p) {
  if (top_p >= 1.0f) return;
  std::vector<float> l(c.size());
  for (size_t i = 0; i < c.size(); ++i) l[i] = c[i].logit;
  std::vector<double> p = softmax(l);
  double cum = 0;
  size_t keep = c.size();
  for (size_t i = 0; i < c.size(); ++i) {
    cum += p[i];
    if (cum >= top_p) {
      keep = i + 1;
      break;
    }
  }
  c.resize(keep);
}

void Sampler::keep_min_p(std::vector<Candidate>& c, float min_p) {
  if (min_p <= 0 || c.empty()) return;
  // p_i >= min_p * p_max  <=>  logit_i >= logit_max + ln(min_p)
  float threshold = c[0].logit + std::log(min_p);
  size_t keep = 1;
  while (keep < c.size() && c[keep].logit >= threshold) ++keep;
  c.resize(keep);
}

int32_t Sampler::draw(const std::vector<Candidate>& c) {
  std::vector<float> l(c.size());
  for (size_t i = 0; i < c.size(); ++i) l[i] = c[i].logit;
  std::vector<double> p = softmax(l);
  // A uniform draw from our own generator: std::discrete_distribution's algorithm may differ
  // between standard libraries, and the same seed must give the same tokens everywhere.
  double u = double(rng_() >> 11) * (1.0 / 9007199254740992.0), cum = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    cum += p[i];
    if (u < cum) return c[i].id;
  }
  return c.back().id;
}

}  // namespace inhouse::engine
