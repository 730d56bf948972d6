// engine/chat_prompt.cpp — a model's own chat template with the BOS/EOS texts of its
// vocabulary, and llama.cpp's rule for tokenising what it renders.
#include "chat/chat_template.h"
#include "engine/engine.h"

namespace inhouse::engine {

static std::string token_text(const tokenizer::Vocab& v, tokenizer::TokenId id) {
  return id == tokenizer::kNoToken ? std::string() : v.tokens[size_t(id)];
}

ChatPrompt::ChatPrompt(const tokenizer::Tokenizer& tokenizer, std::string template_source)
    : tokenizer_(&tokenizer),
      template_(std::make_shared<chat::ChatTemplate>(template_source)),  // throws TemplateError
      source_(std::move(template_source)) {}

std::optional<ChatPrompt> ChatPrompt::from_file(const gguf::GgufFile& file, const tokenizer::Tokenizer& tokenizer) {
  const auto source = file.get_string("tokenizer.chat_template");
  if (!source) return std::nullopt;
  return ChatPrompt(tokenizer, std::string(*source));
}

std::string ChatPrompt::render(const nlohmann::json& messages, bool add_generation_prompt) const {
  const auto& v = tokenizer_->vocab();
  return template_->apply(messages, add_generation_prompt, token_text(v, v.bos), token_text(v, v.eos));
}

std::vector<int32_t> tokenize_prompt(const tokenizer::Tokenizer& tokenizer, const std::string& text, bool rendered) {
  const std::string bos = token_text(tokenizer.vocab(), tokenizer.vocab().bos);
  const bool has_bos = rendered && !bos.empty() && text.rfind(bos, 0) == 0;
  return tokenizer.encode(text, /*add_special=*/!has_bos, /*parse_special=*/true);
}

}  // namespace inhouse::engine
