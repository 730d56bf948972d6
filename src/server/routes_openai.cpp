// server/routes_openai.cpp — the OpenAI-compatible API: /v1/models, /v1/chat/completions,
// /v1/completions (JSON or SSE streaming, usage, stop, max_tokens, temperature, top_p, seed,
// stream_options.include_usage; DeepSeek-style reasoning_content) and /v1/embeddings.
#include <cmath>

#include "server/server_impl.h"

namespace inhouse::server {

using nlohmann::json;

engine::SamplingParams openai_sampling(const Fields& f) {
  engine::SamplingParams p;
  p.temperature = float(f.number("temperature", 0, 2).value_or(1.0));
  p.top_p = float(f.number("top_p", 0, 1).value_or(1.0));
  p.top_k = int(f.integer("top_k", 0, 1 << 20).value_or(0));
  p.min_p = float(f.number("min_p", 0, 1).value_or(0.0));
  p.frequency_penalty = float(f.number("frequency_penalty", -2, 2).value_or(0.0));
  p.presence_penalty = float(f.number("presence_penalty", -2, 2).value_or(0.0));
  p.repeat_penalty = float(f.number("repeat_penalty", 0, 10).value_or(1.0));
  const auto seed = f.integer("seed", INT64_MIN, INT64_MAX);
  p.seed = seed ? uint64_t(*seed) : uint64_t(std::random_device{}()) << 32 ^ std::random_device{}();
  return p;
}

static int max_tokens_of(const Fields& f, int64_t n_ctx) {
  auto n = f.integer("max_completion_tokens", 1, n_ctx);
  if (!n) n = f.integer("max_tokens", 1, n_ctx);
  return int(n.value_or(0));  // 0: until the context is full
}

static json usage_json(const engine::GenerationResult& r) {
  const int64_t completion = int64_t(r.tokens.size());
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", completion},
          {"total_tokens", r.prompt_tokens + completion},
          {"prompt_tokens_details", {{"cached_tokens", r.cached_prompt_tokens}}}};
}

static std::string sse(const json& j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

static const char* finish_name(engine::FinishReason r) {
  return r == engine::FinishReason::Length ? "length" : "stop";
}

// Shared by both completion routes: request fields, then JSON or SSE.
struct CompletionCall {
  bool chat = false;
  std::string id;
  int64_t created = 0;
  bool include_usage = false;
};

void Server::Impl::install_openai_routes() {
  http->Get("/v1/models", guard([this](const httplib::Request& req, httplib::Response& res) {
    admit(req);
    json data = json::array();
    auto add = [&](const std::string& name, int64_t created) {
      data.push_back({{"id", name}, {"object", "model"}, {"created", created}, {"owned_by", "inhouse"}});
    };
    for (const auto& m : chat_models) add(m->name, m->created);
    for (const auto& m : embed_models) add(m->name, m->created);
    send_json(res, {{"object", "list"}, {"data", data}});
  }));

  auto completion = [this](bool chat) {
    return guard([this, chat](const httplib::Request& req, httplib::Response& res) {
      const auto [caller, body] = begin(req);
      const Fields f(body);
      ChatModel& m = chat_model(f.string("model"));
      GenerationSpec spec;
      spec.model = &m;
      std::string prompt_text;
      if (chat) {
        prompt_text = m.render(chat_messages(body));
        spec.split_reasoning = true;
        spec.start_in_reasoning = engine::prompt_opens_reasoning(prompt_text);
      } else {
        const auto prompts = f.strings("prompt", 1);
        if (prompts.size() != 1) throw bad_request("field 'prompt' must be a string");
        prompt_text = prompts[0];
      }
      spec.prompt = m.tokenize(prompt_text, chat);
      spec.sampling = openai_sampling(f);
      spec.max_tokens = max_tokens_of(f, m.scheduler->n_ctx());
      spec.stop = f.strings("stop", 4);
      f.integer("n", 1, 1);  // one choice per request
      const bool streaming = f.boolean("stream").value_or(false);
      CompletionCall call{chat, random_id(chat ? "chatcmpl-" : "cmpl-"), unix_now(), false};
      if (const json* so = f.get("stream_options")) {
        if (!so->is_object()) throw bad_request("field 'stream_options' must be an object");
        call.include_usage = Fields(*so).boolean("include_usage").value_or(false);
      }
      const json base = {{"id", call.id},
                         {"object", chat ? (streaming ? "chat.completion.chunk" : "chat.completion") : "text_completion"},
                         {"created", call.created},
                         {"model", m.name}};
      Generation g = start(spec);

      if (!streaming) {
        std::string reasoning, content;
        const engine::GenerationResult r = wait(g, m, caller, reasoning, content);
        json out = base;
        json choice = {{"index", 0}, {"finish_reason", finish_name(r.finish_reason)}};
        if (chat) {
          json msg = {{"role", "assistant"}, {"content", content}};
          if (!reasoning.empty()) msg["reasoning_content"] = reasoning;
          choice["message"] = msg;
        } else {
          choice["text"] = reasoning + content;
          choice["logprobs"] = nullptr;
        }
        out["choices"] = json::array({choice});
        out["usage"] = usage_json(r);
        send_json(res, out);
        return;
      }

      auto chunk = [base](json choice) {
        json c = base;
        c["choices"] = json::array({std::move(choice)});
        return c;
      };
      std::string first;
      if (chat) first = sse(chunk({{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}}));
      auto on_delta = [chat, chunk, first, sent = std::make_shared<bool>(false)](const engine::TokenTextStream::Delta& d) {
        std::string out = *sent ? "" : first;
        *sent = true;
        if (chat) {
          if (!d.reasoning.empty())
            out += sse(chunk({{"index", 0}, {"delta", {{"reasoning_content", d.reasoning}}}, {"finish_reason", nullptr}}));
          if (!d.content.empty())
            out += sse(chunk({{"index", 0}, {"delta", {{"content", d.content}}}, {"finish_reason", nullptr}}));
        } else {
          out += sse(chunk({{"index", 0}, {"text", d.reasoning + d.content}, {"logprobs", nullptr}, {"finish_reason", nullptr}}));
        }
        return out;
      };
      auto on_end = [chat, chunk, base, call, on_delta](const engine::GenerationResult& r) {
        std::string out = on_delta({});  // the role chunk if nothing was streamed yet
        if (r.finish_reason == engine::FinishReason::Error) {
          out += sse(error_body({500, "generation failed: " + r.error, {}, "server_error"}));
        } else {
          json last = chat ? json{{"index", 0}, {"delta", json::object()}, {"finish_reason", finish_name(r.finish_reason)}}
                           : json{{"index", 0}, {"text", ""}, {"logprobs", nullptr}, {"finish_reason", finish_name(r.finish_reason)}};
          json c = chunk(last);
          if (call.include_usage) c["usage"] = nullptr;
          out += sse(c);
          if (call.include_usage) {
            json u = base;
            u["choices"] = json::array();
            u["usage"] = usage_json(r);
            out += sse(u);
          }
        }
        return out + "data: [DONE]\n\n";
      };
      stream(res, "text/event-stream", std::move(g), m, caller, on_delta, on_end, ": keep-alive\n\n");
    });
  };
  http->Post("/v1/chat/completions", completion(true));
  http->Post("/v1/completions", completion(false));

  http->Post("/v1/embeddings", guard([this](const httplib::Request& req, httplib::Response& res) {
    const auto [caller, body] = begin(req);
    const Fields f(body);
    EmbedModel& m = embed_model(f.string("model"));
    const std::vector<std::string> inputs = f.strings("input", 2048);
    if (inputs.empty()) throw bad_request("field 'input' must be a non-empty string or array of strings");
    const std::string format = f.string("encoding_format").value_or("float");
    if (format != "float" && format != "base64") throw bad_request("field 'encoding_format' must be \"float\" or \"base64\"");
    json data = json::array();
    int64_t tokens = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::vector<float> e = embed_text(m, inputs[i], tokens);
      json item = {{"object", "embedding"}, {"index", i}};
      if (format == "float") {
        item["embedding"] = e;
      } else {
        item["embedding"] = base64_floats(e);
      }
      data.push_back(item);
    }
    limiter->charge_tokens(caller.id, caller.role, double(tokens));
    send_json(res, {{"object", "list"}, {"data", data}, {"model", m.name},
                    {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
  }));
}

}  // namespace inhouse::server
