// server/server_impl.h (internal) — the running server's state shared by the route files: the
// loaded models, authentication, rate limits, metrics, and the bridge that carries a
// generation's streamed deltas from the scheduler's thread to an HTTP connection's thread.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <vector>

#include "access/access.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "chat/chat_template.h"
#include "db/db.h"
#include "engine/engine.h"
#include "kb/kb.h"
#include "model/model.h"
#include "server/server.h"
#include "server/server_internal.h"
#include "tokenizer/tokenizer.h"

namespace inhouse::server {

// A decoder served for completions. Heap-allocated: the scheduler holds references into it.
struct ChatModel {
  ChatModel(std::string name, std::string path, std::string arch, model::Model m);

  std::string name, path, arch;
  uint64_t file_size = 0;
  int64_t created = 0;  // file modification time, unix seconds
  model::Model model;
  tokenizer::Tokenizer tokenizer;
  std::optional<engine::ChatPrompt> chat_template;  // the file's own; none: chat routes refuse
  std::unique_ptr<engine::Scheduler> scheduler;

  // The prompt for a conversation, rendered by the model's own template. Throws ApiError 400
  // when the model has no template or the template fails on these messages.
  std::string render(const nlohmann::json& messages) const;
  std::vector<int32_t> tokenize(const std::string& text, bool rendered) const {
    return engine::tokenize_prompt(tokenizer, text, rendered);
  }
};

// An encoder served for embeddings. One request at a time per model.
struct EmbedModel {
  EmbedModel(std::string name, std::string path, std::string arch, model::Encoder e);

  std::string name, path, arch;
  uint64_t file_size = 0;
  int64_t created = 0;
  model::Encoder encoder;
  tokenizer::Tokenizer tokenizer;
  std::mutex mutex;
};

// Who is calling: the authenticated client, or the peer address when authentication is off.
struct Caller {
  std::string id;
  std::string role;
  std::string client;     // the client's name ("" when anonymous)
  std::string user;       // the access::User the client acts for ("" when none)
  bool authenticated = false;
  std::string peer_addr;  // the connection's other end, to notice when it goes away
  int peer_port = 0;
};

// A request that passed authentication and rate limits, with its parsed JSON body.
struct Call {
  Caller caller;
  nlohmann::json body;
};

// Carries one generation's output from the scheduler thread to the HTTP thread.
class GenerationChannel {
 public:
  void push(const engine::TokenTextStream::Delta& d);
  void finish(const engine::GenerationResult& r);
  // Waits up to timeout_ms for output. Returns the deltas that arrived (possibly none) and
  // whether the generation has finished (then result() is final).
  std::vector<engine::TokenTextStream::Delta> wait(int timeout_ms, bool& finished);
  const engine::GenerationResult& result() const { return result_; }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<engine::TokenTextStream::Delta> pending_;
  bool finished_ = false;
  engine::GenerationResult result_;
};

// What a route asks the scheduler for.
struct GenerationSpec {
  ChatModel* model = nullptr;
  std::vector<int32_t> prompt;
  engine::SamplingParams sampling;
  int max_tokens = 0;
  std::vector<std::string> stop;
  bool split_reasoning = false;
  bool start_in_reasoning = false;
};

struct Generation {
  uint64_t id = 0;
  std::shared_ptr<GenerationChannel> channel;
};

struct Server::Impl {
  ServerConfig config;
  // Users, groups, roles, clients and the audit log: the data directory's SQLite file, or the
  // PostgreSQL server of config.database_url that replicas share.
  std::unique_ptr<db::SharedDatabase> shared_db;
  std::unique_ptr<auth::ClientStore> clients;
  std::unique_ptr<access::AccessControl> access;
  std::unique_ptr<audit::AuditLog> audit_log;
  std::unique_ptr<auth::TokenSigner> signer;
  std::unique_ptr<RateLimiter> limiter;
  Metrics metrics;
  std::vector<std::unique_ptr<ChatModel>> chat_models;
  std::vector<std::unique_ptr<EmbedModel>> embed_models;
  std::unique_ptr<httplib::Server> http;
  std::atomic<int> port{0};
  int listen_socket = -1;

  explicit Impl(ServerConfig c);
  void load_models();
  void install_routes();
  void install_openai_routes();
  void install_ollama_routes();
  void install_inhouse_routes();
  void install_kb_routes();  // routes_kb.cpp
  void install_admin_routes();  // routes_admin.cpp

  // Access and audit (routes_admin.cpp). who(): the caller's principal (unrestricted in
  // personal mode; a client's user's roles, else the client's role; no roles when anonymous).
  access::Principal who(const Caller& c);
  // Appends to the audit log; a failing audit write fails the request (500): nothing
  // unaudited happens.
  void audit(const Caller& c, const std::string& action, const std::string& resource,
             const std::string& result = audit::kOk, nlohmann::json details = nlohmann::json::object());
  // ApiError 403 (and a "denied" audit entry) unless the caller is an administrator.
  void require_admin(const Caller& c, const std::string& action);
  // Tier moves and retention dates, every config.housekeeping_seconds (a thread).
  void housekeeping_once();
  std::thread housekeeper;
  std::mutex housekeeping_mutex;
  std::condition_variable housekeeping_cv;
  bool stopping = false;

  // Knowledge bases (routes_kb.cpp): the store, and the embedding models their vectors came
  // from, opened on first use by path (one embedding at a time).
  std::unique_ptr<kb::KnowledgeStore> kb_store;
  std::mutex kb_mutex, kb_embed_mutex;
  std::map<std::string, std::unique_ptr<kb::Embedder>> kb_embedders;
  kb::Embedder* kb_embedder(const kb::KbInfo& info);  // null for a keyword-only kb; ApiError 503
  std::vector<float> kb_embed(const kb::KbInfo& info, const std::string& text);
  kb::SearchQuery kb_query(const std::string& kb_name, const Fields& f, const char* text_field,
                           std::optional<kb::DocumentIds> readable);
  // The documents of kb `name` the caller may read (nullopt = all). ApiError 404 (audited as
  // denied) when the kb does not exist or the caller may read nothing in it: existence of what
  // one may not read does not show.
  std::optional<kb::DocumentIds> kb_readable(const Caller& c, const access::Principal& p, const std::string& name,
                                             const char* action);
  // ApiError 403 (audited as denied) unless the principal has `perm` on the kb (doc_rel "") or
  // on a document or folder in it.
  void kb_require(const Caller& c, const access::Principal& p, access::Permission perm, const std::string& name,
                  const std::string& doc_rel, const char* action);
  void kb_ask(const httplib::Request& req, httplib::Response& res);

  ChatModel& chat_model(const std::optional<std::string>& name);    // ApiError 404
  EmbedModel& embed_model(const std::optional<std::string>& name);  // ApiError 404

  // Authenticates (when required) and rate-limits a request; throws ApiError 401/429.
  Caller admit(const httplib::Request& req);
  // admit() and parse the JSON body (ApiError 400 when it is not a JSON object).
  Call begin(const httplib::Request& req);
  // Submits to the model's scheduler; throws ApiError 400 (can never run) / 503 (queue full).
  Generation start(const GenerationSpec& spec);
  // Waits for a generation to finish, cancelling it if the client goes away. A generation that
  // failed becomes ApiError 500.
  engine::GenerationResult wait(const Generation& g, ChatModel& m, const Caller& caller,
                                std::string& reasoning, std::string& content);
  // Streams a generation: `format` turns each delta (and the end) into bytes for the wire.
  void stream(httplib::Response& res, const char* content_type, Generation g, ChatModel& m,
              const Caller& caller,
              std::function<std::string(const engine::TokenTextStream::Delta&)> on_delta,
              std::function<std::string(const engine::GenerationResult&)> on_end,
              std::string keepalive = "");
  void record_generation(const ChatModel& m, const Caller& caller, const engine::GenerationResult& r);

  // Wraps a handler: ApiError and other exceptions become the uniform error body.
  httplib::Server::Handler guard(std::function<void(const httplib::Request&, httplib::Response&)> h);
  void reply_error(httplib::Response& res, const ApiError& e);
};

// The L2-normalised embedding of one text; adds its token count to `tokens`. ApiError 400 when
// the text is empty or longer than the model's context.
std::vector<float> embed_text(EmbedModel& m, const std::string& text, int64_t& tokens);
std::string base64_floats(const std::vector<float>& v);  // little-endian float32, as OpenAI's

void send_json(httplib::Response& res, const nlohmann::json& body, int status = 200);
int64_t unix_now();
std::string random_id(const char* prefix);
// The "messages" array of a chat request, with every content as a plain string. ApiError 400.
nlohmann::json chat_messages(const nlohmann::json& body);
// Sampling parameters from an OpenAI-style body (temperature, top_p, seed, ...).
engine::SamplingParams openai_sampling(const Fields& f);

}  // namespace inhouse::server
