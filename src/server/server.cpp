// server/server.cpp — starting the server: configuration checks, the data directory (client
// database, JWT key), loading models with one continuous-batching scheduler per chat model,
// authentication and rate limiting in front of every route, uniform errors, /metrics, and
// the bridge that streams a generation from the scheduler thread to an HTTP connection.
#include <sys/socket.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "server/server_impl.h"

namespace inhouse::server {

using nlohmann::json;

int64_t unix_now() { return auth::unix_now(); }

std::string random_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(prefix) + buf;
}

void send_json(httplib::Response& res, const json& body, int status) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

// ---- models ----------------------------------------------------------------------------------

std::string ChatModel::render(const json& messages) const {
  if (!chat_template)
    throw bad_request("model '" + name + "' has no chat template; use /v1/completions with a raw prompt");
  try {
    return chat_template->render(messages);
  } catch (const chat::TemplateError& e) {
    throw bad_request(std::string("the chat template failed on these messages: ") + e.what());
  }
}

static int64_t file_mtime(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? int64_t(st.st_mtime) : 0;
}

ChatModel::ChatModel(std::string n, std::string p, std::string a, model::Model m)
    : name(std::move(n)), path(std::move(p)), arch(std::move(a)), model(std::move(m)),
      tokenizer(tokenizer::Tokenizer::from_gguf(model.file())) {
  file_size = model.file().file_size();
}

EmbedModel::EmbedModel(std::string n, std::string p, std::string a, model::Encoder e)
    : name(std::move(n)), path(std::move(p)), arch(std::move(a)), encoder(std::move(e)),
      tokenizer(tokenizer::Tokenizer::from_gguf(encoder.file())) {
  file_size = encoder.file().file_size();
}

void Server::Impl::load_models() {
  for (const ModelSpec& spec : config.models) {
    std::string arch;
    {
      const gguf::GgufFile probe = gguf::GgufFile::open(spec.path);
      arch = std::string(probe.get_string("general.architecture").value_or(""));
    }
    if (arch == "bert") {
      embed_models.push_back(std::make_unique<EmbedModel>(
          spec.name, spec.path, arch, model::Encoder::open(spec.path, {.threads = config.threads})));
      embed_models.back()->created = file_mtime(spec.path);
      continue;
    }
    auto m = std::make_unique<ChatModel>(spec.name, spec.path, arch,
                                         model::Model::open(spec.path, model::ModelOptions::from_names(
                                             config.threads, config.cache_type, config.mla_cache)));
    m->created = file_mtime(spec.path);
    if (m->model.file().get_string("tokenizer.chat_template")) {
      try {
        m->chat_template = engine::ChatPrompt::from_file(m->model.file(), m->tokenizer);
      } catch (const chat::TemplateError& e) {
        std::fprintf(stderr, "inhouse serve: model '%s': chat template not usable (%s); chat endpoints "
                             "will refuse it\n", spec.name.c_str(), e.what());
      }
    }
    engine::SchedulerOptions so;
    so.n_parallel = config.parallel;
    so.n_ctx = std::min<int64_t>(config.ctx, m->model.hparams().n_ctx_train);
    so.max_queue = size_t(config.queue_limit);
    m->scheduler = std::make_unique<engine::Scheduler>(m->model, m->tokenizer, so);
    chat_models.push_back(std::move(m));
  }
}

std::vector<float> embed_text(EmbedModel& m, const std::string& text, int64_t& tokens) {
  const std::vector<int32_t> ids = m.tokenizer.encode(text, /*add_special=*/true, /*parse_special=*/false);
  if (text.empty() || ids.empty()) throw bad_request("cannot embed an empty input");
  if (int64_t(ids.size()) > m.encoder.n_ctx_train())
    throw bad_request("an input has " + std::to_string(ids.size()) + " tokens; model '" + m.name +
                      "' takes at most " + std::to_string(m.encoder.n_ctx_train()));
  if (m.encoder.pooling() == model::Pooling::None)
    throw bad_request("model '" + m.name + "' has no pooling; it cannot produce one embedding per input");
  std::vector<float> e;
  {
    std::lock_guard lock(m.mutex);
    e = m.encoder.embed(ids);
  }
  model::normalize_embedding(e, 2);
  tokens += int64_t(ids.size());
  return e;
}

std::string base64_floats(const std::vector<float>& v) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* bytes = reinterpret_cast<const uint8_t*>(v.data());  // x86/ARM: little-endian
  const size_t n = v.size() * sizeof(float);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t b = uint32_t(bytes[i]) << 16 | (i + 1 < n ? uint32_t(bytes[i + 1]) << 8 : 0) |
                       (i + 2 < n ? uint32_t(bytes[i + 2]) : 0);
    out += table[(b >> 18) & 63];
    out += table[(b >> 12) & 63];
    out += i + 1 < n ? table[(b >> 6) & 63] : '=';
    out += i + 2 < n ? table[b & 63] : '=';
  }
  return out;
}

// The named model of one kind, or the first one when no name is given.
template <typename M>
static M& find_model(std::vector<std::unique_ptr<M>>& models, const std::optional<std::string>& name,
                     const std::string& kind) {
  if (models.empty()) throw not_found("no " + kind + " is loaded");
  if (!name || name->empty()) return *models.front();
  for (auto& m : models)
    if (m->name == *name) return *m;
  throw not_found(kind + " '" + *name + "' not found");
}

ChatModel& Server::Impl::chat_model(const std::optional<std::string>& name) {
  return find_model(chat_models, name, "model");
}

EmbedModel& Server::Impl::embed_model(const std::optional<std::string>& name) {
  return find_model(embed_models, name, "embedding model");
}

Call Server::Impl::begin(const httplib::Request& req) {
  Caller caller = admit(req);
  return {std::move(caller), Fields::parse(req.body)};
}

// OpenAI message content is a string or an array of {"type":"text","text":...} parts (Ollama's
// is always a string); the template gets plain strings.
json chat_messages(const json& body) {
  const auto it = body.find("messages");
  if (it == body.end() || !it->is_array() || it->empty())
    throw bad_request("field 'messages' must be a non-empty array");
  json out = json::array();
  for (const json& m : *it) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      throw bad_request("field 'messages' must hold objects with a string 'role'");
    json msg = {{"role", m["role"]}};
    const json content = m.value("content", json());
    if (content.is_string()) {
      msg["content"] = content;
    } else if (content.is_array()) {
      std::string text;
      for (const json& part : content) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
          throw bad_request("field 'messages': only text content parts are supported");
        text += part["text"].get<std::string>();
      }
      msg["content"] = text;
    } else if (content.is_null()) {
      msg["content"] = "";
    } else {
      throw bad_request("field 'messages': 'content' must be a string or an array of text parts");
    }
    out.push_back(msg);
  }
  return out;
}

// ---- generation bridge -----------------------------------------------------------------------

void GenerationChannel::push(const engine::TokenTextStream::Delta& d) {
  if (d.reasoning.empty() && d.content.empty()) return;
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(d);
  }
  cv_.notify_all();
}

void GenerationChannel::finish(const engine::GenerationResult& r) {
  {
    std::lock_guard lock(mutex_);
    result_ = r;
    finished_ = true;
  }
  cv_.notify_all();
}

std::vector<engine::TokenTextStream::Delta> GenerationChannel::wait(int timeout_ms, bool& finished) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return finished_ || !pending_.empty(); });
  std::vector<engine::TokenTextStream::Delta> out(pending_.begin(), pending_.end());
  pending_.clear();
  finished = finished_;
  return out;
}

Generation Server::Impl::start(const GenerationSpec& spec) {
  auto channel = std::make_shared<GenerationChannel>();
  engine::GenerationRequest r;
  r.prompt = spec.prompt;
  r.sampling = spec.sampling;
  r.max_tokens = spec.max_tokens;
  r.stop = spec.stop;
  r.split_reasoning = spec.split_reasoning;
  r.start_in_reasoning = spec.start_in_reasoning;
  r.on_delta = [channel](const engine::TokenTextStream::Delta& d) { channel->push(d); };
  r.on_done = [channel](const engine::GenerationResult& res) { channel->finish(res); };
  try {
    return {spec.model->scheduler->submit(std::move(r)), channel};
  } catch (const engine::QueueFull& e) {
    throw ApiError{503, "Server busy: the request queue is full", 1, "server_busy"};
  } catch (const engine::InvalidRequest& e) {
    throw bad_request(e.what());
  }
}

engine::GenerationResult Server::Impl::wait(const Generation& g, ChatModel& m, const Caller& caller,
                                            std::string& reasoning, std::string& content) {
  for (;;) {
    bool finished = false;
    for (const auto& d : g.channel->wait(500, finished)) {
      reasoning += d.reasoning;
      content += d.content;
    }
    if (finished) {
      const engine::GenerationResult& r = g.channel->result();
      record_generation(m, caller, r);
      if (r.finish_reason == engine::FinishReason::Error)
        throw ApiError{500, "generation failed: " + r.error, {}, "server_error"};
      return r;
    }
    if (!http->is_running() || peer_has_closed(caller.peer_addr, caller.peer_port, port)) m.scheduler->cancel(g.id);
  }
}

void Server::Impl::stream(httplib::Response& res, const char* content_type, Generation g, ChatModel& m,
                          const Caller& caller,
                          std::function<std::string(const engine::TokenTextStream::Delta&)> on_delta,
                          std::function<std::string(const engine::GenerationResult&)> on_end,
                          std::string keepalive) {
  auto done = std::make_shared<std::atomic<bool>>(false);
  res.set_chunked_content_provider(
      content_type,
      [this, g, &m, caller, on_delta, on_end, keepalive, done](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& s) { return s.empty() || sink.write(s.data(), s.size()); };
        for (;;) {
          bool finished = false;
          const auto deltas = g.channel->wait(1000, finished);
          for (const auto& d : deltas)
            if (!write(on_delta(d))) return false;  // the client went away: the releaser cancels
          if (finished) {
            const engine::GenerationResult& r = g.channel->result();
            record_generation(m, caller, r);
            done->store(true);
            write(on_end(r));
            sink.done();
            return true;
          }
          if (deltas.empty()) {
            if (!keepalive.empty() ? !write(keepalive) : !sink.is_writable()) return false;
          }
        }
      },
      [g, &m, done](bool) {
        if (!done->load()) m.scheduler->cancel(g.id);  // disconnected mid-generation
      });
}

void Server::Impl::record_generation(const ChatModel& m, const Caller& caller, const engine::GenerationResult& r) {
  const Labels model{{"model", m.name}};
  metrics.add("inhouse_prompt_tokens_total", model, double(r.prompt_tokens));
  metrics.add("inhouse_generated_tokens_total", model, double(r.tokens.size()));
  if (!r.tokens.empty()) metrics.observe("inhouse_time_to_first_token_seconds", model, r.time_to_first_token_ms / 1000);
  if (r.tokens.size() > 1) metrics.observe("inhouse_inter_token_latency_seconds", model, r.ms_per_token / 1000);
  limiter->charge_tokens(caller.id, caller.role, double(r.prompt_tokens + int64_t(r.tokens.size())));
}

// ---- authentication, rate limits, errors -----------------------------------------------------

Caller Server::Impl::admit(const httplib::Request& req) {
  Caller caller{"ip:" + req.remote_addr, "anonymous", "", "", false, req.remote_addr, req.remote_port};
  const std::string header = req.get_header_value("Authorization");
  const bool has_bearer = header.rfind("Bearer ", 0) == 0 && header.size() > 7;
  if (config.auth_required() && !has_bearer)
    throw unauthorized("missing bearer token: send 'Authorization: Bearer <token>' (POST /api/v1/auth issues one)");
  if (has_bearer) {
    // Without required authentication a token still identifies its client (for knowledge-base
    // permissions), but a JWT that is not ours is ignored: OpenAI clients always send something.
    const std::string token = header.substr(7);
    std::optional<auth::Client> client;
    std::string problem;
    if (token.rfind("ih.", 0) == 0) {
      client = clients->authenticate_api_key(token);
      if (!client) problem = "invalid API key";
    } else {
      try {
        const auth::TokenClaims claims = signer->verify(token, unix_now());
        client = clients->find(claims.client_id);
        if (!client) problem = "the token's client no longer exists";
      } catch (const auth::TokenError& e) {
        problem = e.what();
      }
    }
    // An API key is recognisably ours: a wrong one is refused even where auth is optional.
    if (!client && (config.auth_required() || token.rfind("ih.", 0) == 0)) throw unauthorized(problem);
    if (client) {
      caller.id = client->id;
      caller.role = client->role;
      caller.client = client->name;
      caller.user = client->user;
      caller.authenticated = true;
    }
  }
  if (const auto retry = limiter->admit(caller.id, caller.role))
    throw ApiError{429, "Rate limit exceeded", *retry, "rate_limit_error"};
  return caller;
}

void Server::Impl::reply_error(httplib::Response& res, const ApiError& e) {
  if (e.retry_after) res.set_header("Retry-After", std::to_string(*e.retry_after));
  if (e.status == 401) res.set_header("WWW-Authenticate", "Bearer");
  send_json(res, error_body(e), e.status);
}

httplib::Server::Handler Server::Impl::guard(std::function<void(const httplib::Request&, httplib::Response&)> h) {
  return [this, h](const httplib::Request& req, httplib::Response& res) {
    try {
      h(req, res);
    } catch (const ApiError& e) {
      reply_error(res, e);
    } catch (const model::Error& e) {
      reply_error(res, bad_request(e.what()));
    } catch (const std::exception& e) {
      reply_error(res, ApiError{500, std::string("internal error: ") + e.what(), {}, "server_error"});
    }
  };
}

// ---- metrics ---------------------------------------------------------------------------------

static double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return double(resident) * double(::sysconf(_SC_PAGESIZE));
}

static void declare_metrics(Metrics& m) {
  m.counter("inhouse_requests_total", "HTTP requests by route and status code.");
  m.counter("inhouse_prompt_tokens_total", "Prompt tokens processed.");
  m.counter("inhouse_generated_tokens_total", "Tokens generated.");
  m.histogram("inhouse_time_to_first_token_seconds", "Time from request to first generated token.",
              {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  m.histogram("inhouse_inter_token_latency_seconds", "Mean time between generated tokens per request.",
              {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
  m.gauge("inhouse_queue_length", "Requests waiting for a slot.");
  m.gauge("inhouse_busy_slots", "Slots generating.");
  m.gauge("inhouse_slots", "Slots configured.");
  m.gauge("inhouse_kv_cache_used_cells", "KV-cache positions in use over all slots.");
  m.gauge("inhouse_kv_cache_cells", "KV-cache positions available over all slots.");
  m.gauge("inhouse_resident_memory_bytes", "Resident set size of the server process.");
}

// Known routes get their own label value; anything else is "other" so a scanner cannot create
// unbounded series.
static std::string route_label(const std::string& path) {
  static const std::set<std::string> known = {
      "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions", "/v1/embeddings",
      "/api/tags", "/api/show", "/api/generate", "/api/chat", "/api/embed", "/api/embeddings",
      "/api/version", "/api/v1/auth", "/api/v1/chat"};
  if (known.count(path)) return path;
  // Knowledge-base routes by shape: kb and document names never become label values.
  if (path == "/api/v1/kb") return path;
  // Admin routes by their first segment: user, group and client names never become labels.
  if (path.starts_with("/api/v1/admin/")) {
    static const std::set<std::string> areas = {"users", "groups", "policy", "clients", "audit", "privacy"};
    const std::string rest = path.substr(14);
    const std::string area = rest.substr(0, rest.find('/'));
    return areas.count(area) ? "/api/v1/admin/" + area : "other";
  }
  if (path.starts_with("/api/v1/kb/")) {
    const std::string rest = path.substr(11);
    const size_t slash = rest.find('/');
    if (slash == std::string::npos) return "/api/v1/kb/:name";
    static const std::set<std::string> ops = {"documents", "documents/history", "documents/diff",
                                              "documents/restore", "search", "ask", "links"};
    const std::string op = rest.substr(slash + 1);
    return ops.count(op) ? "/api/v1/kb/:name/" + op : "other";
  }
  return "other";
}

void Server::Impl::install_routes() {
  http->set_payload_max_length(config.max_body_bytes);
  http->set_read_timeout(60, 0);
  http->set_write_timeout(60, 0);
  // Streaming responses hold a connection thread each: size the pool for many clients.
  http->new_task_queue = [] { return new httplib::ThreadPool(64); };
  http->set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    const char* message = res.status == 404 ? "Not found"
                          : res.status == 413 ? "Request body too large"
                          : res.status == 405 ? "Method not allowed"
                          : res.status == 400 ? "Bad request"
                                              : "Error";
    send_json(res, error_body({res.status, message, {}, ""}), res.status);
    return httplib::Server::HandlerResponse::Handled;
  }));
  http->set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    reply_error(res, ApiError{500, "internal error", {}, "server_error"});
  });
  // Bodies must come with a Content-Length: cpp-httplib 0.11 applies the size limit only then,
  // and a POST with neither header would wait for the read timeout. Refused before reading.
  http->set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "POST" && req.method != "PUT" && req.method != "PATCH") return httplib::Server::HandlerResponse::Unhandled;
    const char* problem = req.has_header("Transfer-Encoding") ? "chunked request bodies are not accepted; send Content-Length"
                          : !req.has_header("Content-Length") ? "a request body with a Content-Length header is required"
                                                               : nullptr;
    if (!problem) return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("Connection", "close");  // the unread body must not be parsed as a request
    send_json(res, error_body({411, problem, {}, "invalid_request_error"}), 411);
    return httplib::Server::HandlerResponse::Handled;
  });
  // SO_REUSEADDR (restart while old connections linger) but not the library's SO_REUSEPORT,
  // which would let a second server share the port silently. The socket is kept to raise the
  // listen backlog after binding (Debian's build of the library fixes it at 5).
  http->set_socket_options([this](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_socket = sock;
  });
  http->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.add("inhouse_requests_total", {{"route", route_label(req.path)}, {"status", std::to_string(res.status)}});
  });

  http->Get("/health", guard([this](const httplib::Request&, httplib::Response& res) {
    send_json(res, {{"status", "ok"}, {"models", chat_models.size() + embed_models.size()}});
  }));
  http->Get("/metrics", guard([this](const httplib::Request& req, httplib::Response& res) {
    admit(req);
    engine::SchedulerStats total;
    int64_t cells = 0;
    for (const auto& m : chat_models) {
      const auto s = m->scheduler->stats();
      total.queued += s.queued;
      total.busy_slots += s.busy_slots;
      total.n_slots += s.n_slots;
      total.kv_cells_used += s.kv_cells_used;
      cells += int64_t(s.n_slots) * m->scheduler->n_ctx();
    }
    metrics.set("inhouse_queue_length", {}, double(total.queued));
    metrics.set("inhouse_busy_slots", {}, total.busy_slots);
    metrics.set("inhouse_slots", {}, total.n_slots);
    metrics.set("inhouse_kv_cache_used_cells", {}, double(total.kv_cells_used));
    metrics.set("inhouse_kv_cache_cells", {}, double(cells));
    metrics.set("inhouse_resident_memory_bytes", {}, resident_bytes());
    res.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  }));
  install_openai_routes();
  install_ollama_routes();
  install_inhouse_routes();
  install_kb_routes();
  install_admin_routes();
  // A GET on a POST-only route is the wrong method, not a missing page.
  for (const char* path : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/api/show", "/api/generate",
                           "/api/chat", "/api/embed", "/api/embeddings", "/api/v1/auth", "/api/v1/chat"}) {
    http->Get(path, guard([](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", "POST");
      throw ApiError{405, "method GET not allowed on " + req.path + "; use POST", {}, "invalid_request_error"};
    }));
  }
}

// ---- lifecycle -------------------------------------------------------------------------------

Server::Impl::Impl(ServerConfig c) : config(std::move(c)) {
  config.validate();
  if (config.data_dir.empty()) config.data_dir = resolve_data_dir("");
  std::filesystem::create_directories(config.data_dir);
  try {
    shared_db = config.database_url.empty() ? db::open_shared_sqlite(config.data_dir / "inhouse.db")
                                            : db::open_shared(config.database_url);
  } catch (const db::Error& e) {
    throw ConfigError(std::string("database_url: ") + e.what());
  }
  clients = std::make_unique<auth::ClientStore>(*shared_db);
  access = std::make_unique<access::AccessControl>(*shared_db);
  audit_log = std::make_unique<audit::AuditLog>(*shared_db);
  signer = std::make_unique<auth::TokenSigner>(auth::TokenSigner::from_key_file(config.data_dir / "jwt.key"));
  limiter = std::make_unique<RateLimiter>(config.role_limits);
  declare_metrics(metrics);
  load_models();
  if (!config.tls_cert.empty()) {
    auto tls = std::make_unique<httplib::SSLServer>(config.tls_cert.c_str(), config.tls_key.c_str());
    if (!tls->is_valid()) throw ConfigError("TLS: cannot load certificate " + config.tls_cert + " / key " + config.tls_key);
    http = std::move(tls);
  } else {
    http = std::make_unique<httplib::Server>();
  }
  install_routes();
  // Tier moves and retention dates: once at startup, then every housekeeping_seconds.
  housekeeper = std::thread([this] {
    std::unique_lock lock(housekeeping_mutex);
    while (!stopping) {
      lock.unlock();
      housekeeping_once();
      lock.lock();
      housekeeping_cv.wait_for(lock, std::chrono::seconds(config.housekeeping_seconds), [this] { return stopping; });
    }
  });
}

Server::Server(ServerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Server::~Server() {
  stop();
  if (impl_->housekeeper.joinable()) {
    {
      std::lock_guard lock(impl_->housekeeping_mutex);
      impl_->stopping = true;
    }
    impl_->housekeeping_cv.notify_all();
    impl_->housekeeper.join();
  }
  for (auto& m : impl_->chat_models) m->scheduler.reset();  // cancels what still runs
}

void Server::run() {
  Impl& s = *impl_;
  int port = s.config.port;
  if (port == 0) {
    port = s.http->bind_to_any_port(s.config.host);
    if (port < 0) throw ConfigError("cannot bind " + s.config.host);
  } else if (!s.http->bind_to_port(s.config.host, port)) {
    throw ConfigError("cannot listen on " + s.config.host + ":" + std::to_string(port) + " (in use?)");
  }
  if (s.listen_socket >= 0) ::listen(s.listen_socket, 1024);  // a burst of clients must not be reset
  s.port = port;
  s.http->listen_after_bind();
}

void Server::stop() {
  if (impl_ && impl_->http) impl_->http->stop();
}

int Server::bound_port() const { return impl_->port; }

bool Server::wait_until_listening(int timeout_ms) const {
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    if (impl_->http->is_running() && impl_->port > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace inhouse::server
