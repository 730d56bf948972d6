// ReasoningSplitter: a small streaming state machine. Text that could still be the start of
// a tag is held back, so a tag split across tokens is never shown to the user.
#include <algorithm>

#include "engine/engine.h"

namespace inhouse::engine {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Length of the longest tail of s that is a proper prefix of tag.
size_t partial_tag_tail(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(tag.size() - 1, s.size()); n > 0; --n)
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

void drop_leading_space(std::string& s, bool& started) {
  if (started) return;
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  s.erase(0, i);
  if (!s.empty()) started = true;
}

}  // namespace

ReasoningSplitter::ReasoningSplitter(bool start_in_reasoning, std::string open, std::string close)
    : open_(std::move(open)),
      close_(std::move(close)),
      state_(start_in_reasoning ? State::Reasoning : State::Start) {}

ReasoningSplitter::Delta ReasoningSplitter::push(std::string_view text) {
  held_.append(text);
  Delta out;
  step(out, false);
  return out;
}

ReasoningSplitter::Delta ReasoningSplitter::flush() {
  Delta out;
  step(out, true);
  return out;
}

void ReasoningSplitter::step(Delta& out, bool final) {
  for (;;) {
    if (state_ == State::Start) {
      size_t i = 0;
      while (i < held_.size() && is_space(held_[i])) ++i;
      std::string_view rest = std::string_view(held_).substr(i);
      if (rest.substr(0, open_.size()) == open_) {
        held_.erase(0, i + open_.size());
        state_ = State::Reasoning;
        continue;
      }
      bool could_open = rest.size() < open_.size() && std::string_view(open_).substr(0, rest.size()) == rest;
      if (could_open && !final) return;  // wait: this may still become the open tag
      state_ = State::Content;
      continue;
    }
    if (state_ == State::Reasoning) {
      size_t at = held_.find(close_);
      if (at != std::string::npos) {
        std::string part = held_.substr(0, at);
        drop_leading_space(part, reasoning_started_);
        out.reasoning += part;
        held_.erase(0, at + close_.size());
        state_ = State::Content;
        continue;
      }
      size_t keep = final ? 0 : partial_tag_tail(held_, close_);
      std::string part = held_.substr(0, held_.size() - keep);
      held_.erase(0, held_.size() - keep);
      drop_leading_space(part, reasoning_started_);
      out.reasoning += part;
      return;
    }
    std::string part;
    part.swap(held_);
    drop_leading_space(part, content_started_);
    out.content += part;
    return;
  }
}

bool prompt_opens_reasoning(std::string_view prompt, std::string_view open) {
  while (!prompt.empty() && is_space(prompt.back())) prompt.remove_suffix(1);
  return prompt.size() >= open.size() && prompt.substr(prompt.size() - open.size()) == open;
}

}  // namespace inhouse::engine
