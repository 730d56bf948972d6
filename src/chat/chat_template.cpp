// chat/chat_template — the public API: parse once (ChatTemplate), render many times with a
// JSON context; TemplateError formatting.
#include "chat/chat_template.h"

#include "chat/interpreter.h"
#include "chat/parser.h"

namespace inhouse::chat {

namespace {

std::string with_place(const std::string& message, int line, int column) {
  if (line <= 0) return message;
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
}

template <class Json>
std::string render_json(const jinja::Body& body, const Json& context) {
  if (!context.is_object()) throw TemplateError("the render context must be a JSON object");
  jinja::Value ctx;
  try {
    ctx = jinja::from_json(context);
  } catch (const jinja::Error& e) {
    throw TemplateError(e.what());
  }
  return jinja::Interpreter(body, ctx).render();
}

}  // namespace

TemplateError::TemplateError(const std::string& message, int line, int column)
    : std::runtime_error(with_place(message, line, column)), line_(line), column_(column) {}

struct ChatTemplate::Impl {
  jinja::Body body;
};

ChatTemplate::ChatTemplate(const std::string& source) : impl_(std::make_unique<Impl>()) {
  impl_->body = jinja::parse(source);
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::json& context) const { return render_json(impl_->body, context); }

std::string ChatTemplate::render_ordered(const nlohmann::ordered_json& context) const {
  return render_json(impl_->body, context);
}

std::string ChatTemplate::apply(const nlohmann::json& messages, bool add_generation_prompt,
                                const std::string& bos_token, const std::string& eos_token) const {
  nlohmann::json context = {{"messages", messages},
                            {"add_generation_prompt", add_generation_prompt},
                            {"bos_token", bos_token},
                            {"eos_token", eos_token},
                            {"tools", nullptr},
                            {"documents", nullptr}};
  return render(context);
}

}  // namespace inhouse::chat
