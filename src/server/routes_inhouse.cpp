// server/routes_inhouse.cpp — Inhouse's own API: POST /api/v1/auth (client credentials ->
// bearer JWT, OAuth2 client-credentials style) and POST /api/v1/chat (a prompt in, the answer,
// reasoning and usage out; SSE events with "stream": true).
#include "server/server_impl.h"

namespace inhouse::server {

using nlohmann::json;

void Server::Impl::install_inhouse_routes() {
  http->Post("/api/v1/auth", guard([this](const httplib::Request& req, httplib::Response& res) {
    // Failed attempts are rate-limited per peer address like any anonymous request.
    if (const auto retry = limiter->admit("auth:" + req.remote_addr, "anonymous"))
      throw ApiError{429, "Rate limit exceeded", *retry, "rate_limit_error"};
    const json body = Fields::parse(req.body);
    const Fields f(body);
    const std::string id = f.required_string("client_id");
    const std::string secret = f.required_string("client_secret");
    if (auto grant = f.string("grant_type"); grant && *grant != "client_credentials")
      throw bad_request("field 'grant_type' must be \"client_credentials\"");
    const auto client = clients->authenticate(id, secret);
    Caller who_logs_in{id, "anonymous", "", "", false, req.remote_addr, req.remote_port};
    if (!client) {
      audit(who_logs_in, audit::kLogin, "client:" + id.substr(0, 64), audit::kDenied);
      throw unauthorized("invalid client credentials");
    }
    who_logs_in.client = client->name;
    who_logs_in.user = client->user;
    const std::string token = signer->issue(*client, config.token_ttl_seconds, unix_now());
    audit(who_logs_in, audit::kLogin, "client:" + client->name);
    audit(who_logs_in, audit::kTokenIssue, "client:" + client->name, audit::kOk,
          {{"expires_in", config.token_ttl_seconds}});
    res.set_header("Cache-Control", "no-store");
    send_json(res, {{"access_token", token}, {"token_type", "Bearer"}, {"expires_in", config.token_ttl_seconds}});
  }));

  http->Post("/api/v1/chat", guard([this](const httplib::Request& req, httplib::Response& res) {
    const auto [caller, body] = begin(req);
    const Fields f(body);
    ChatModel& m = chat_model(f.string("model"));
    const std::string prompt = f.required_string("prompt");
    GenerationSpec spec;
    spec.model = &m;
    std::string text = prompt;
    if (m.chat_template) {
      json messages = json::array();
      if (auto sys = f.string("system")) messages.push_back({{"role", "system"}, {"content", *sys}});
      messages.push_back({{"role", "user"}, {"content", prompt}});
      text = m.render(messages);
      spec.split_reasoning = true;
      spec.start_in_reasoning = engine::prompt_opens_reasoning(text);
    }
    spec.prompt = m.tokenize(text, bool(m.chat_template));
    spec.sampling = openai_sampling(f);
    spec.max_tokens = int(f.integer("max_tokens", 1, m.scheduler->n_ctx()).value_or(0));
    spec.stop = f.strings("stop", 4);
    const std::string id = random_id("chat-");
    auto usage = [](const engine::GenerationResult& r) {
      const int64_t n = int64_t(r.tokens.size());
      return json{{"prompt_tokens", r.prompt_tokens}, {"completion_tokens", n}, {"total_tokens", r.prompt_tokens + n}};
    };
    auto finish = [](const engine::GenerationResult& r) {
      return r.finish_reason == engine::FinishReason::Length ? "length" : "stop";
    };
    Generation g = start(spec);
    if (!f.boolean("stream").value_or(false)) {
      std::string reasoning, content;
      const engine::GenerationResult r = wait(g, m, caller, reasoning, content);
      json out = {{"id", id}, {"model", m.name}, {"text", content}, {"finish_reason", finish(r)}, {"usage", usage(r)}};
      if (!reasoning.empty()) out["reasoning"] = reasoning;
      send_json(res, out);
      return;
    }
    auto event = [](const json& j) { return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n"; };
    auto on_delta = [event](const engine::TokenTextStream::Delta& d) {
      std::string out;
      if (!d.reasoning.empty()) out += event({{"reasoning", d.reasoning}});
      if (!d.content.empty()) out += event({{"text", d.content}});
      return out;
    };
    auto on_end = [event, usage, finish, id](const engine::GenerationResult& r) {
      if (r.finish_reason == engine::FinishReason::Error)
        return event(error_body({500, "generation failed: " + r.error, {}, "server_error"}));
      return event({{"id", id}, {"done", true}, {"finish_reason", finish(r)}, {"usage", usage(r)}});
    };
    stream(res, "text/event-stream", std::move(g), m, caller, on_delta, on_end, ": keep-alive\n\n");
  }));
}

}  // namespace inhouse::server
