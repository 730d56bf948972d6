// server/routes_ollama.cpp — the Ollama-compatible API: /api/tags, /api/show, /api/generate,
// /api/chat (NDJSON streaming by default, as Ollama does), /api/embed, /api/embeddings and
// /api/version. Reasoning goes in Ollama's "thinking" field.
#include <ctime>

#include "server/server_impl.h"

namespace inhouse::server {

using nlohmann::json;

namespace {

std::string rfc3339(int64_t unix_seconds) {
  const std::time_t t = std::time_t(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string ndjson(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"; }

// Ollama's "options" object: temperature, top_k, top_p, min_p, seed, num_predict, stop,
// repeat_penalty, repeat_last_n, presence_penalty, frequency_penalty (others are ignored).
engine::SamplingParams ollama_sampling(const json& body, int& max_tokens, std::vector<std::string>& stop,
                                       int64_t n_ctx) {
  static const json empty = json::object();
  const json* opts = &empty;
  if (const auto it = body.find("options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw bad_request("field 'options' must be an object");
    opts = &*it;
  }
  const Fields f(*opts);
  engine::SamplingParams p;
  p.temperature = float(f.number("temperature", 0, 2).value_or(0.8));
  p.top_k = int(f.integer("top_k", 0, 1 << 20).value_or(40));
  p.top_p = float(f.number("top_p", 0, 1).value_or(0.9));
  p.min_p = float(f.number("min_p", 0, 1).value_or(0.0));
  p.repeat_penalty = float(f.number("repeat_penalty", 0, 10).value_or(1.1));
  p.penalty_last_n = int(f.integer("repeat_last_n", 0, 1 << 20).value_or(64));
  p.presence_penalty = float(f.number("presence_penalty", -2, 2).value_or(0.0));
  p.frequency_penalty = float(f.number("frequency_penalty", -2, 2).value_or(0.0));
  const auto seed = f.integer("seed", INT64_MIN, INT64_MAX);
  p.seed = seed ? uint64_t(*seed) : uint64_t(std::random_device{}());
  const int64_t n = f.integer("num_predict", -2, n_ctx).value_or(-1);
  max_tokens = n < 0 ? 0 : int(n);
  if (n == 0) max_tokens = 1;  // Ollama's 0 means "load only"; generate the minimum instead
  stop = f.strings("stop", 16);
  return p;
}

json model_details(const std::string& arch, const gguf::GgufFile& file) {
  const std::string ftype = file.tensors().empty() ? "" : std::string(gguf::tensor_type_name(file.tensors()[0].type));
  return {{"parent_model", ""}, {"format", "gguf"}, {"family", arch}, {"families", json::array({arch})},
          {"parameter_size", ""}, {"quantization_level", ftype}};
}

std::string digest_of(const std::string& path, uint64_t size, int64_t mtime) {
  const size_t h = std::hash<std::string>{}(path + ":" + std::to_string(size) + ":" + std::to_string(mtime));
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016zx", h);
  return buf;
}

}  // namespace

void Server::Impl::install_ollama_routes() {
  http->Get("/api/version", guard([](const httplib::Request&, httplib::Response& res) {
    send_json(res, {{"version", "0.1.0"}});
  }));

  http->Get("/api/tags", guard([this](const httplib::Request& req, httplib::Response& res) {
    admit(req);
    json models = json::array();
    auto add = [&](const std::string& name, const std::string& path, const std::string& arch, uint64_t size,
                   int64_t created, const gguf::GgufFile& file) {
      models.push_back({{"name", name}, {"model", name}, {"modified_at", rfc3339(created)}, {"size", size},
                        {"digest", digest_of(path, size, created)}, {"details", model_details(arch, file)}});
    };
    for (const auto& m : chat_models) add(m->name, m->path, m->arch, m->file_size, m->created, m->model.file());
    for (const auto& m : embed_models) add(m->name, m->path, m->arch, m->file_size, m->created, m->encoder.file());
    send_json(res, {{"models", models}});
  }));

  http->Post("/api/show", guard([this](const httplib::Request& req, httplib::Response& res) {
    const json body = begin(req).body;
    const Fields f(body);
    std::optional<std::string> name = f.string("model");
    if (!name) name = f.string("name");
    if (!name) throw bad_request("field 'model' is required");
    for (const auto& m : chat_models)
      if (m->name == *name) {
        const auto& hp = m->model.hparams();
        send_json(res, {{"modelfile", "FROM " + m->path + "\n"}, {"parameters", ""}, {"template", m->chat_template ? m->chat_template->source() : ""},
                        {"details", model_details(m->arch, m->model.file())},
                        {"model_info", {{"general.architecture", m->arch}, {m->arch + ".context_length", hp.n_ctx_train},
                                        {m->arch + ".embedding_length", hp.n_embd}, {m->arch + ".block_count", hp.n_layer}}},
                        {"capabilities", json::array({"completion"})}});
        return;
      }
    for (const auto& m : embed_models)
      if (m->name == *name) {
        send_json(res, {{"modelfile", "FROM " + m->path + "\n"}, {"parameters", ""}, {"template", ""},
                        {"details", model_details(m->arch, m->encoder.file())},
                        {"model_info", {{"general.architecture", m->arch}, {m->arch + ".embedding_length", m->encoder.n_embd()}}},
                        {"capabilities", json::array({"embedding"})}});
        return;
      }
    throw not_found("model '" + *name + "' not found");
  }));

  auto generate = [this](bool chat) {
    return guard([this, chat](const httplib::Request& req, httplib::Response& res) {
      const auto [caller, body] = begin(req);
      const Fields f(body);
      ChatModel& m = chat_model(f.required_string("model"));
      GenerationSpec spec;
      spec.model = &m;
      std::string prompt_text;
      if (chat) {
        prompt_text = m.render(chat_messages(body));
      } else {
        const std::string prompt = f.string("prompt").value_or("");
        const bool raw = f.boolean("raw").value_or(false);
        if (raw || !m.chat_template) {
          prompt_text = prompt;
        } else {
          json messages = json::array();
          if (auto sys = f.string("system")) messages.push_back({{"role", "system"}, {"content", *sys}});
          messages.push_back({{"role", "user"}, {"content", prompt}});
          prompt_text = m.render(messages);
        }
        if (prompt.empty()) {  // Ollama: an empty prompt just loads the model
          send_json(res, {{"model", m.name}, {"created_at", rfc3339(unix_now())}, {"response", ""}, {"done", true},
                          {"done_reason", "load"}});
          return;
        }
      }
      const bool rendered = chat || (m.chat_template && !f.boolean("raw").value_or(false));
      spec.prompt = m.tokenize(prompt_text, rendered);
      spec.sampling = ollama_sampling(body, spec.max_tokens, spec.stop, m.scheduler->n_ctx());
      spec.split_reasoning = rendered;
      spec.start_in_reasoning = rendered && engine::prompt_opens_reasoning(prompt_text);
      const bool streaming = f.boolean("stream").value_or(true);
      const std::string name = m.name;
      auto piece = [chat, name](const std::string& thinking, const std::string& content, bool done) {
        json j = {{"model", name}, {"created_at", rfc3339(unix_now())}};
        if (chat) {
          json msg = {{"role", "assistant"}, {"content", content}};
          if (!thinking.empty()) msg["thinking"] = thinking;
          j["message"] = msg;
        } else {
          j["response"] = content;
          if (!thinking.empty()) j["thinking"] = thinking;
        }
        j["done"] = done;
        return j;
      };
      auto final_fields = [](json j, const engine::GenerationResult& r) {
        const double gen_ms = r.ms_per_token * double(r.tokens.size() > 1 ? r.tokens.size() - 1 : 0);
        j["done_reason"] = r.finish_reason == engine::FinishReason::Length ? "length" : "stop";
        j["total_duration"] = int64_t((r.time_to_first_token_ms + gen_ms) * 1e6);
        j["load_duration"] = 0;
        j["prompt_eval_count"] = r.prompt_tokens;
        j["prompt_eval_duration"] = int64_t((r.time_to_first_token_ms - r.queue_ms) * 1e6);
        j["eval_count"] = r.tokens.size();
        j["eval_duration"] = int64_t(gen_ms * 1e6);
        return j;
      };
      Generation g = start(spec);
      if (!streaming) {
        std::string reasoning, content;
        const engine::GenerationResult r = wait(g, m, caller, reasoning, content);
        send_json(res, final_fields(piece(reasoning, content, true), r));
        return;
      }
      auto on_delta = [piece](const engine::TokenTextStream::Delta& d) {
        return ndjson(piece(d.reasoning, d.content, false));
      };
      auto on_end = [piece, final_fields](const engine::GenerationResult& r) {
        if (r.finish_reason == engine::FinishReason::Error)
          return ndjson({{"error", "generation failed: " + r.error}});
        return ndjson(final_fields(piece("", "", true), r));
      };
      stream(res, "application/x-ndjson", std::move(g), m, caller, on_delta, on_end);
    });
  };
  http->Post("/api/generate", generate(false));
  http->Post("/api/chat", generate(true));

  http->Post("/api/embed", guard([this](const httplib::Request& req, httplib::Response& res) {
    const auto [caller, body] = begin(req);
    const Fields f(body);
    EmbedModel& m = embed_model(f.required_string("model"));
    const auto inputs = f.strings("input", 2048);
    if (inputs.empty()) throw bad_request("field 'input' must be a non-empty string or array of strings");
    json embeddings = json::array();
    int64_t tokens = 0;
    for (const std::string& text : inputs) embeddings.push_back(embed_text(m, text, tokens));
    limiter->charge_tokens(caller.id, caller.role, double(tokens));
    send_json(res, {{"model", m.name}, {"embeddings", embeddings}, {"prompt_eval_count", tokens}});
  }));

  http->Post("/api/embeddings", guard([this](const httplib::Request& req, httplib::Response& res) {
    const auto [caller, body] = begin(req);
    const Fields f(body);
    EmbedModel& m = embed_model(f.required_string("model"));
    int64_t tokens = 0;
    const std::vector<float> e = embed_text(m, f.required_string("prompt"), tokens);
    limiter->charge_tokens(caller.id, caller.role, double(tokens));
    send_json(res, {{"embedding", e}});
  }));
}

}  // namespace inhouse::server
