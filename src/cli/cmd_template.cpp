// inhouse template render (--template FILE.jinja | -m MODEL.gguf) --messages FILE.json
//   [--add-generation-prompt] [--bos S] [--eos S]
// Renders a conversation with a chat template and prints the prompt byte for byte: nothing
// is added, not even a final newline, so the output can be compared or piped exactly.
// With -m the template is the GGUF's tokenizer.chat_template, and bos/eos default to the
// model's own token strings. --messages holds a JSON array of messages, or an object with
// "messages" whose other keys (tools, enable_thinking, ...) become template variables too.
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "gguf/gguf.h"

namespace inhouse::cli {
namespace {

using nlohmann::ordered_json;

struct RenderOptions {
  std::string template_file, model, messages_file, bos, eos;
  bool add_generation_prompt = false;
  CLI::Option* bos_opt = nullptr;
  CLI::Option* eos_opt = nullptr;
  CLI::Option* agp_opt = nullptr;
};

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot open ") + what + " '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A GGUF token string by id key ("tokenizer.ggml.bos_token_id"); empty when absent.
std::string token_string(const gguf::GgufFile& f, const char* id_key) {
  auto id = f.get_int(id_key);
  const auto* tokens = f.get_array("tokenizer.ggml.tokens");
  if (!id || !tokens || *id < 0 || static_cast<size_t>(*id) >= tokens->size()) return "";
  return std::string((*tokens)[static_cast<size_t>(*id)].as_string());
}

// Loads the template source, filling bos/eos from the model unless given on the command line.
std::string load_template(RenderOptions& o) {
  if (!o.template_file.empty()) return read_file(o.template_file, "template file");
  gguf::GgufFile f = gguf::GgufFile::open(o.model);
  auto tpl = f.get_string("tokenizer.chat_template");
  if (!tpl) throw std::runtime_error("'" + o.model + "' has no chat template (tokenizer.chat_template); use --template");
  if (o.bos_opt->count() == 0) o.bos = token_string(f, "tokenizer.ggml.bos_token_id");
  if (o.eos_opt->count() == 0) o.eos = token_string(f, "tokenizer.ggml.eos_token_id");
  return std::string(*tpl);
}

// The template context from the messages file, in the file's own key order.
ordered_json load_context(const RenderOptions& o) {
  std::string text = read_file(o.messages_file, "messages file");
  ordered_json doc = ordered_json::parse(text, nullptr, false);
  if (doc.is_discarded()) throw std::runtime_error("'" + o.messages_file + "' is not valid JSON");
  ordered_json ctx = ordered_json::object();
  if (doc.is_object()) {
    if (!doc.contains("messages")) throw std::runtime_error("'" + o.messages_file + "' has no \"messages\" array");
    ctx = doc;
  } else {
    ctx["messages"] = doc;
  }
  if (!ctx["messages"].is_array()) throw std::runtime_error("\"messages\" in '" + o.messages_file + "' must be a JSON array");
  if (!ctx.contains("tools")) ctx["tools"] = nullptr;  // as Hugging Face passes them
  if (!ctx.contains("documents")) ctx["documents"] = nullptr;
  if (o.agp_opt->count() > 0 || !ctx.contains("add_generation_prompt")) ctx["add_generation_prompt"] = o.add_generation_prompt;
  ctx["bos_token"] = o.bos;
  ctx["eos_token"] = o.eos;
  return ctx;
}

void run_render(RenderOptions& o) {
  if (o.template_file.empty() == o.model.empty()) throw std::runtime_error("give exactly one of --template FILE or -m MODEL");
  std::string source = load_template(o);
  ordered_json ctx = load_context(o);
  std::string prompt = chat::ChatTemplate(source).render_ordered(ctx);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void register_template(CLI::App& app) {
  auto* cmd = app.add_subcommand("template", "Chat templates");
  cmd->require_subcommand(1);
  auto* render = cmd->add_subcommand("render", "Render a conversation into a prompt (printed exactly, no newline added)");
  auto o = std::make_shared<RenderOptions>();
  auto* tpl = render->add_option("--template", o->template_file, "Jinja chat template file");
  auto* model = render->add_option("-m,--model", o->model, "GGUF file whose tokenizer.chat_template to use");
  tpl->excludes(model);
  render->add_option("--messages", o->messages_file, "JSON file: array of messages, or object with \"messages\"")
      ->required();
  o->agp_opt = render->add_flag("--add-generation-prompt", o->add_generation_prompt,
                                "End with the assistant turn opener so the model answers");
  o->bos_opt = render->add_option("--bos", o->bos, "bos_token string (default: the model's, or empty)");
  o->eos_opt = render->add_option("--eos", o->eos, "eos_token string (default: the model's, or empty)");
  render->callback([o] { run_render(*o); });
}

}  // namespace inhouse::cli
