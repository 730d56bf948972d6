// TokenTextStream: the order matters — stop strings are matched on the decoded text before the
// reasoning split, so a stop string inside the reasoning also ends generation (as llama.cpp).
#include "engine/engine.h"

namespace inhouse::engine {

TokenTextStream::TokenTextStream(const tokenizer::Tokenizer& tokenizer, Options options)
    : decoder_(tokenizer, /*special=*/false),
      stops_(std::move(options.stop)),
      split_reasoning_(options.split_reasoning),
      splitter_(options.start_in_reasoning) {}

TokenTextStream::Delta TokenTextStream::split(std::string text) {
  if (!split_reasoning_) return {.reasoning = {}, .content = std::move(text)};
  return splitter_.push(text);
}

TokenTextStream::Delta TokenTextStream::push(int32_t token) {
  if (stops_.stopped()) return {};
  return split(stops_.push(decoder_.push(token)));
}

TokenTextStream::Delta TokenTextStream::finish() {
  std::string text;
  if (!stops_.stopped()) {
    text = stops_.push(decoder_.flush());
    text += stops_.flush();
  }
  Delta out = split(std::move(text));
  if (split_reasoning_) {
    Delta rest = splitter_.flush();
    out.reasoning += rest.reasoning;
    out.content += rest.content;
  }
  return out;
}

}  // namespace inhouse::engine
