// End-to-end tests of `inhouse serve` in process: a Server on a free loopback port with the
// repo's tiny models, driven over HTTP by cpp-httplib's client. Covers the OpenAI, Ollama and
// Inhouse routes, streaming, errors, authentication and rate limits. (Real third-party clients,
// TLS, Prometheus and the load test live in tests/server/clients.)
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "auth/auth.h"
#include "db/db.h"
#include "server/server.h"
#include "test_server.h"

namespace fs = std::filesystem;
using namespace inhouse;
using nlohmann::json;

namespace {

using test_util::base_config;
using test_util::body_of;
using test_util::expect_error;
using test_util::metrics_showing;
using test_util::fresh_dir;
using test_util::kModels;
using test_util::RunningServer;

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new RunningServer(base_config("shared")); }
  static void TearDownTestSuite() { delete server_; }
  static httplib::Client client() { return server_->client(); }
  static inline RunningServer* server_ = nullptr;
};

TEST_F(ServerTest, HealthAndModels) {
  auto c = client();
  auto r = c.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Get("/v1/models");
  ASSERT_TRUE(r);
  const json m = body_of(r);
  ASSERT_EQ(m["data"].size(), 3u);
  EXPECT_EQ(m["data"][0]["id"], "chat");
  r = c.Get("/api/tags");
  ASSERT_TRUE(r);
  EXPECT_EQ(body_of(r)["models"].size(), 3u);
  r = c.Get("/api/version");
  ASSERT_TRUE(r);
  EXPECT_TRUE(body_of(r).contains("version"));
}

json completion(httplib::Client& c, const std::string& prompt, int max_tokens) {
  const json req = {{"model", "raw"}, {"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}};
  auto r = c.Post("/v1/completions", req.dump(), "application/json");
  if (!r || r->status != 200) throw std::runtime_error(r ? r->body : "no response");
  return json::parse(r->body);
}

TEST_F(ServerTest, CompletionIsGreedyAndCountsUsage) {
  auto c = client();
  const json a = completion(c, "Once upon a time", 12);
  const json b = completion(c, "Once upon a time", 12);
  EXPECT_EQ(a["choices"][0]["text"], b["choices"][0]["text"]);
  EXPECT_EQ(a["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(a["usage"]["completion_tokens"], 12);
  EXPECT_GT(a["usage"]["prompt_tokens"].get<int>(), 1);
  EXPECT_EQ(a["object"], "text_completion");
}

// Server-sent events: data lines, then [DONE]; the deltas add up to the non-streamed text.
TEST_F(ServerTest, StreamingMatchesNonStreaming) {
  auto c = client();
  const json whole = completion(c, "Hello there", 10);
  const json req = {{"model", "raw"}, {"prompt", "Hello there"}, {"max_tokens", 10}, {"temperature", 0},
                    {"stream", true}, {"stream_options", {{"include_usage", true}}}};
  std::string raw;
  auto r = c.Post("/v1/completions", httplib::Headers{}, req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  std::string text;
  bool done = false, usage = false;
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == ':') continue;
    ASSERT_EQ(line.rfind("data: ", 0), 0u) << line;
    const std::string data = line.substr(6);
    if (data == "[DONE]") {
      done = true;
      continue;
    }
    const json chunk = json::parse(data);
    if (chunk["choices"].empty()) {
      usage = chunk["usage"]["completion_tokens"] == 10;
      continue;
    }
    text += chunk["choices"][0]["text"].get<std::string>();
  }
  EXPECT_TRUE(done);
  EXPECT_TRUE(usage);
  EXPECT_EQ(text, whole["choices"][0]["text"].get<std::string>());
}

// The R1-distill template ends the prompt inside <think>: the output is reasoning_content.
TEST_F(ServerTest, ChatSeparatesReasoning) {
  auto c = client();
  const json req = {{"model", "chat"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                    {"max_tokens", 6}, {"temperature", 0}};
  auto r = c.Post("/v1/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json b = body_of(r);
  EXPECT_EQ(b["object"], "chat.completion");
  EXPECT_EQ(b["choices"][0]["message"]["role"], "assistant");
  EXPECT_FALSE(b["choices"][0]["message"]["reasoning_content"].get<std::string>().empty());
  // The same through Ollama's chat (thinking) and Inhouse's own /api/v1/chat (reasoning).
  const json oreq = {{"model", "chat"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"stream", false},
                     {"options", {{"temperature", 0}, {"num_predict", 6}}}};
  r = c.Post("/api/chat", oreq.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["message"]["thinking"], b["choices"][0]["message"]["reasoning_content"]);
  r = c.Post("/api/v1/chat", json({{"prompt", "hi"}, {"max_tokens", 6}, {"temperature", 0}}).dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["reasoning"], b["choices"][0]["message"]["reasoning_content"]);
  EXPECT_EQ(body_of(r)["usage"]["completion_tokens"], 6);
}

TEST_F(ServerTest, OllamaGenerateStreamsNdjson) {
  auto c = client();
  const json req = {{"model", "raw"}, {"prompt", "Once"}, {"raw", true}, {"options", {{"temperature", 0}, {"num_predict", 5}}}};
  auto r = c.Post("/api/generate", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  std::istringstream in(r->body);
  int lines = 0;
  json last;
  for (std::string line; std::getline(in, line); ++lines) last = json::parse(line);
  EXPECT_GE(lines, 2);
  EXPECT_EQ(last["done"], true);
  EXPECT_EQ(last["eval_count"], 5);
}

TEST_F(ServerTest, EmbeddingsAreUnitLengthInBothFormats) {
  auto c = client();
  auto r = c.Post("/v1/embeddings", json({{"model", "bge"}, {"input", {"hello", "world"}}}).dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json b = body_of(r);
  ASSERT_EQ(b["data"].size(), 2u);
  double norm = 0;
  for (double x : b["data"][0]["embedding"]) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-4);
  r = c.Post("/v1/embeddings", json({{"model", "bge"}, {"input", "hello"}, {"encoding_format", "base64"}}).dump(),
             "application/json");
  ASSERT_TRUE(r);
  const std::string b64 = body_of(r)["data"][0]["embedding"];
  EXPECT_EQ(b64.size(), (b["data"][0]["embedding"].size() * 4 + 2) / 3 * 4);
  r = c.Post("/api/embed", json({{"model", "bge"}, {"input", "hello"}}).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(body_of(r)["embeddings"][0], b["data"][0]["embedding"]);
}

TEST_F(ServerTest, BadRequestsGetTheUniformErrorBody) {
  auto c = client();
  expect_error(c.Post("/v1/completions", "{oops", "application/json"), 400, "not valid JSON");
  expect_error(c.Post("/v1/completions", R"({"prompt":"x","max_tokens":"ten"})", "application/json"), 400, "max_tokens");
  expect_error(c.Post("/v1/completions", R"({"prompt":"x","temperature":7})", "application/json"), 400, "temperature");
  expect_error(c.Post("/v1/completions", R"({"prompt":"x","model":"nope"})", "application/json"), 404, "nope");
  expect_error(c.Post("/v1/chat/completions", R"({"model":"raw","messages":[{"role":"user","content":"x"}]})",
                      "application/json"), 400, "no chat template");
  expect_error(c.Post("/v1/chat/completions", R"({"messages":"hi"})", "application/json"), 400, "messages");
  expect_error(c.Get("/no/such/route"), 404, "Not found");
  auto wrong_method = c.Get("/v1/chat/completions");
  expect_error(wrong_method, 405, "use POST");
  EXPECT_EQ(wrong_method->get_header_value("Allow"), "POST");
  expect_error(c.Post("/v1/embeddings", R"({"model":"bge","input":""})", "application/json"), 400, "empty");
  expect_error(c.Post("/v1/completions", "\"\xff\"", "application/json"), 400, "JSON");
  // A prompt longer than the slot's context (256 tokens).
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "word" + std::to_string(i) + " ";
  expect_error(c.Post("/v1/completions", json({{"model", "raw"}, {"prompt", long_prompt}}).dump(), "application/json"),
               400, "context");
}

TEST_F(ServerTest, MetricsCountRequests) {
  auto c = client();
  completion(c, "metrics", 3);
  auto r = metrics_showing([&] { return c.Get("/metrics"); },
                           "inhouse_requests_total{route=\"/v1/completions\",status=\"200\"}");
  ASSERT_TRUE(r);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  for (const char* name : {"inhouse_requests_total{route=\"/v1/completions\",status=\"200\"}",
                           "inhouse_generated_tokens_total{model=\"raw\"}", "inhouse_time_to_first_token_seconds_bucket",
                           "inhouse_queue_length", "inhouse_busy_slots", "inhouse_kv_cache_used_cells",
                           "inhouse_resident_memory_bytes"})
    EXPECT_NE(r->body.find(name), std::string::npos) << name;
}

// Greedy outputs do not depend on what else runs: 16 concurrent requests (4 slots) each equal
// the same prompt run alone.
TEST_F(ServerTest, ConcurrentGreedyEqualsAlone) {
  std::vector<std::string> prompts;
  for (int i = 0; i < 16; ++i) prompts.push_back("Story " + std::to_string(i % 5) + " begins with");
  std::vector<std::string> alone;
  {
    auto c = client();
    for (const auto& p : prompts) alone.push_back(completion(c, p, 16)["choices"][0]["text"]);
  }
  std::vector<std::future<std::string>> futures;
  for (const auto& p : prompts)
    futures.push_back(std::async(std::launch::async, [p] {
      auto c = client();
      return completion(c, p, 16)["choices"][0]["text"].get<std::string>();
    }));
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(futures[i].get(), alone[i]) << prompts[i];
}

TEST(ServerLimits, OversizedBodyIs413) {
  auto cfg = base_config("limits");
  cfg.max_body_bytes = 4096;
  RunningServer s(cfg);
  auto c = s.client();
  const std::string big = json({{"prompt", std::string(8000, 'a')}}).dump();
  expect_error(c.Post("/v1/completions", big, "application/json"), 413, "too large");
}

TEST(ServerLimits, RateLimitAnswers429WithRetryAfter) {
  auto cfg = base_config("ratelimit");
  cfg.role_limits["anonymous"] = {2, 0};
  RunningServer s(cfg);
  auto c = s.client();
  EXPECT_EQ(c.Get("/v1/models")->status, 200);
  EXPECT_EQ(c.Get("/v1/models")->status, 200);
  auto r = c.Get("/v1/models");
  expect_error(r, 429, "Rate limit exceeded");
  EXPECT_EQ(r->get_header_value("Retry-After"), "30");
  EXPECT_EQ(body_of(r)["error"]["retry_after"], 30);
}

class ServerAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = base_config("auth");
    cfg_.auth = server::AuthMode::Required;
    db::Database db = db::Database::open(cfg_.data_dir / "inhouse.db");
    auth::ClientStore store(db);
    client_ = store.add("tester", "viewer");
    server_ = std::make_unique<RunningServer>(cfg_);
  }
  std::string token() {
    auto c = server_->client();
    auto r = c.Post("/api/v1/auth", json({{"client_id", client_.client.id}, {"client_secret", client_.secret}}).dump(),
                    "application/json");
    EXPECT_EQ(r->status, 200) << r->body;
    const json b = body_of(r);
    EXPECT_EQ(b["token_type"], "Bearer");
    EXPECT_EQ(b["expires_in"], cfg_.token_ttl_seconds);
    return b["access_token"];
  }
  server::ServerConfig cfg_;
  auth::NewClient client_;
  std::unique_ptr<RunningServer> server_;
};

TEST_F(ServerAuth, TokensGateEveryRouteButHealth) {
  auto c = server_->client();
  EXPECT_EQ(c.Get("/health")->status, 200);
  auto r = c.Get("/v1/models");
  expect_error(r, 401, "bearer");
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
  const std::string t = token();
  const httplib::Headers ok = {{"Authorization", "Bearer " + t}};
  EXPECT_EQ(c.Get("/v1/models", ok)->status, 200);
  // Greedy: a sampled reply could end at the first token (end of text) and make the count vary.
  r = c.Post("/api/v1/chat", ok, json({{"prompt", "hi"}, {"max_tokens", 3}, {"temperature", 0}}).dump(), "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["usage"]["completion_tokens"], 3);
  // Tampered, garbage and foreign-key tokens.
  std::string tampered = t;
  tampered[tampered.find('.') + 3] ^= 1;
  expect_error(c.Get("/v1/models", {{"Authorization", "Bearer " + tampered}}), 401, "");
  expect_error(c.Get("/v1/models", {{"Authorization", "Bearer garbage"}}), 401, "");
  auth::TokenSigner other(std::vector<uint8_t>(32, 1));
  const std::string foreign = other.issue({client_.client.id, "", "viewer", 0}, 600, auth::unix_now());
  expect_error(c.Get("/v1/models", {{"Authorization", "Bearer " + foreign}}), 401, "");
  // An expired token signed with the server's own key.
  const auto own = auth::TokenSigner::from_key_file(cfg_.data_dir / "jwt.key");
  const std::string expired = own.issue({client_.client.id, "", "viewer", 0}, 60, auth::unix_now() - 120);
  expect_error(c.Get("/v1/models", {{"Authorization", "Bearer " + expired}}), 401, "expired");
  // The API key works directly.
  EXPECT_EQ(c.Get("/v1/models", {{"Authorization", "Bearer " + client_.api_key}})->status, 200);
}

TEST_F(ServerAuth, WrongCredentialsAndRemovedClients) {
  auto c = server_->client();
  expect_error(c.Post("/api/v1/auth", json({{"client_id", client_.client.id}, {"client_secret", "wrong"}}).dump(),
                      "application/json"), 401, "invalid client credentials");
  expect_error(c.Post("/api/v1/auth", R"({"client_id":5})", "application/json"), 400, "client_id");
  const std::string t = token();
  {
    db::Database db = db::Database::open(cfg_.data_dir / "inhouse.db");
    auth::ClientStore store(db);
    ASSERT_TRUE(store.remove(client_.client.id));
  }
  expect_error(c.Get("/v1/models", {{"Authorization", "Bearer " + t}}), 401, "no longer exists");
}

}  // namespace
