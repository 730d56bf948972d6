// Tests for the server's HTTP-independent parts: error bodies, field readers, rate limits,
// metrics exposition.
#include <gtest/gtest.h>

#include "server/server_internal.h"

using namespace inhouse::server;
using nlohmann::json;

namespace {

TEST(ErrorBody, HasTheUniformShape) {
  ApiError e{429, "Rate limit exceeded", 3600, ""};
  EXPECT_EQ(error_body(e), json::parse(R"({"error":{"code":429,"message":"Rate limit exceeded","retry_after":3600}})"));
  EXPECT_EQ(error_body(bad_request("x"))["error"]["code"], 400);
  EXPECT_FALSE(error_body(bad_request("x"))["error"].contains("retry_after"));
}

ApiError expect_api_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no ApiError";
  return {};
}

TEST(Fields, ParseRejectsMalformedAndNonObjects) {
  EXPECT_EQ(expect_api_error([] { Fields::parse("{bad"); }).status, 400);
  EXPECT_EQ(expect_api_error([] { Fields::parse("[1,2]"); }).status, 400);
  EXPECT_EQ(expect_api_error([] { Fields::parse("\"\xff\""); }).status, 400);  // invalid UTF-8
  EXPECT_NO_THROW(Fields::parse("{}"));
}

TEST(Fields, WrongTypesNameTheField) {
  const json body = json::parse(R"({"max_tokens":"ten","temperature":9,"stop":[1],"stream":1,"model":5,"n":2.5})");
  Fields f(body);
  auto msg = [](const std::function<void()>& g) { return expect_api_error(g).message; };
  EXPECT_NE(msg([&] { f.integer("max_tokens", 0, 100); }).find("max_tokens"), std::string::npos);
  EXPECT_NE(msg([&] { f.number("temperature", 0, 2); }).find("temperature"), std::string::npos);
  EXPECT_NE(msg([&] { f.strings("stop", 4); }).find("stop"), std::string::npos);
  EXPECT_NE(msg([&] { f.boolean("stream"); }).find("stream"), std::string::npos);
  EXPECT_NE(msg([&] { f.string("model"); }).find("model"), std::string::npos);
  EXPECT_NE(msg([&] { f.integer("n", 0, 10); }).find("n"), std::string::npos);
  EXPECT_NE(msg([&] { f.required_string("prompt"); }).find("prompt"), std::string::npos);
}

TEST(Fields, ReadsGoodValues) {
  const json body = json::parse(R"({"max_tokens":10,"temperature":0.5,"stop":"x","stream":true,"model":"m","n":3.0,"z":null})");
  Fields f(body);
  EXPECT_EQ(f.integer("max_tokens", 0, 100), 10);
  EXPECT_EQ(f.number("temperature", 0, 2), 0.5);
  EXPECT_EQ(f.strings("stop", 4), std::vector<std::string>{"x"});
  EXPECT_EQ(f.boolean("stream"), true);
  EXPECT_EQ(f.string("model"), "m");
  EXPECT_EQ(f.integer("n", 0, 10), 3);
  EXPECT_FALSE(f.string("z"));
  EXPECT_FALSE(f.integer("absent", 0, 1));
}

TEST(RateLimiter, RequestsPerMinute) {
  RateLimiter rl({{"viewer", {2, 0}}});
  const auto t0 = RateLimiter::Clock::now();
  EXPECT_FALSE(rl.admit("a", "viewer", t0));
  EXPECT_FALSE(rl.admit("a", "viewer", t0));
  const auto retry = rl.admit("a", "viewer", t0);
  ASSERT_TRUE(retry);
  EXPECT_EQ(*retry, 30);                            // one request refills in 30 s at 2/min
  EXPECT_FALSE(rl.admit("b", "viewer", t0));        // per client
  EXPECT_FALSE(rl.admit("a", "viewer", t0 + std::chrono::seconds(31)));
  EXPECT_FALSE(rl.admit("a", "admin", t0));         // unknown role, no "*": unlimited
}

TEST(RateLimiter, TokensPerMinuteGoIntoDebt) {
  RateLimiter rl({{"*", {0, 600}}});
  const auto t0 = RateLimiter::Clock::now();
  EXPECT_FALSE(rl.admit("a", "x", t0));
  rl.charge_tokens("a", "x", 1200, t0);  // 600 in debt
  const auto retry = rl.admit("a", "x", t0);
  ASSERT_TRUE(retry);
  EXPECT_EQ(*retry, 60);
  EXPECT_FALSE(rl.admit("a", "x", t0 + std::chrono::seconds(61)));
}

TEST(Metrics, RendersPrometheusText) {
  Metrics m;
  m.counter("inhouse_requests_total", "Requests by route and status.");
  m.gauge("inhouse_queue_length", "Requests waiting for a slot.");
  m.histogram("inhouse_ttft_seconds", "Time to first token.", {0.1, 1});
  m.add("inhouse_requests_total", {{"route", "/v1/x"}, {"status", "200"}});
  m.add("inhouse_requests_total", {{"route", "/v1/x"}, {"status", "200"}}, 2);
  m.set("inhouse_queue_length", {}, 3);
  m.observe("inhouse_ttft_seconds", {{"model", "a\"b"}}, 0.5);
  const std::string text = m.render();
  EXPECT_NE(text.find("# TYPE inhouse_requests_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("inhouse_requests_total{route=\"/v1/x\",status=\"200\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("inhouse_queue_length 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("inhouse_ttft_seconds_bucket{model=\"a\\\"b\",le=\"0.1\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("inhouse_ttft_seconds_bucket{model=\"a\\\"b\",le=\"1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("inhouse_ttft_seconds_bucket{model=\"a\\\"b\",le=\"+Inf\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("inhouse_ttft_seconds_count{model=\"a\\\"b\"} 1\n"), std::string::npos) << text;
  EXPECT_THROW(m.add("undeclared", {}), std::logic_error);
}

}  // namespace
