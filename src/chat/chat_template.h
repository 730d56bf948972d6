// chat — owns rendering a conversation into a prompt with the model's own Jinja chat
// template (a Jinja interpreter covering what real model templates use).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace inhouse::chat {

// A template that cannot be parsed or rendered. what() carries "line L, column C: ..." when
// the problem has a place in the template source; raise_exception() from a template too.
class TemplateError : public std::runtime_error {
 public:
  TemplateError(const std::string& message, int line = 0, int column = 0);
  int line() const { return line_; }
  int column() const { return column_; }

 private:
  int line_, column_;
};

// A parsed template, reusable across renders.
class ChatTemplate {
 public:
  explicit ChatTemplate(const std::string& source);  // throws TemplateError
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders with arbitrary context variables (messages, add_generation_prompt, bos_token, ...).
  // `context` must be a JSON object. Throws TemplateError (parse-free: runtime problems,
  // raise_exception(), and resource bounds: recursion, output size, loop iterations).
  std::string render(const nlohmann::json& context) const;
  // The same with dict key order kept as the caller wrote it: Python dicts keep insertion
  // order, so `tojson` and dict iteration follow it (nlohmann::json sorts keys).
  std::string render_ordered(const nlohmann::ordered_json& context) const;

  // The usual call: messages = [{"role","content",...}], plus bos/eos strings. Like Hugging
  // Face's apply_chat_template, `tools` and `documents` are set to none.
  std::string apply(const nlohmann::json& messages, bool add_generation_prompt,
                    const std::string& bos_token, const std::string& eos_token) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inhouse::chat
