// server/server_internal.h (internal) — the parts of the server that are independent of HTTP
// and can be tested alone: API errors with the uniform body, per-client rate limiting, the
// Prometheus metrics registry and JSON request field readers.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/server.h"

namespace inhouse::server {

// An error answered to the client as
// {"error":{"code":429,"message":"Rate limit exceeded","retry_after":3600}} with HTTP status
// `status` (and a Retry-After header when retry_after is set).
struct ApiError {
  int status = 500;
  std::string message;
  std::optional<int64_t> retry_after;  // seconds
  std::string type;                    // OpenAI-style error type, e.g. "invalid_request_error"
};

nlohmann::json error_body(const ApiError& e);
ApiError bad_request(std::string message);
ApiError unauthorized(std::string message);
ApiError forbidden(std::string message);
ApiError not_found(std::string message);

// ---- connections (connection.cpp) -----------------------------------------------------------

// Whether the client at peer_addr:peer_port has closed its connection to our local_port
// (the kernel's TCP table says CLOSE_WAIT, or the connection is gone). False when it cannot
// tell (no /proc).
bool peer_has_closed(const std::string& peer_addr, int peer_port, int local_port);

// ---- request fields --------------------------------------------------------------------------

// Readers that throw ApiError 400 naming the field when it has the wrong type or range.
class Fields {
 public:
  explicit Fields(const nlohmann::json& body) : body_(body) {}
  static nlohmann::json parse(std::string_view text);  // 400 on malformed JSON / not an object

  std::optional<std::string> string(const char* name) const;
  std::string required_string(const char* name) const;
  std::optional<double> number(const char* name, double lo, double hi) const;
  std::optional<int64_t> integer(const char* name, int64_t lo, int64_t hi) const;
  std::optional<bool> boolean(const char* name) const;
  // A string or an array of strings (OpenAI's `stop`, `input`).
  std::vector<std::string> strings(const char* name, size_t max_items) const;
  const nlohmann::json* get(const char* name) const;  // null when absent or JSON null

 private:
  [[noreturn]] void wrong(const char* name, const char* want) const;
  const nlohmann::json& body_;
};

// ---- rate limits -----------------------------------------------------------------------------

// Token buckets per client: one for requests, one for tokens (prompt + generated). A bucket
// holds up to a minute's allowance and refills continuously.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimiter(std::map<std::string, RoleLimits> limits) : limits_(std::move(limits)) {}

  // Takes one request (and checks the token bucket is not in debt). nullopt when allowed, else
  // the seconds until it would be.
  std::optional<int64_t> admit(const std::string& client, const std::string& role,
                               Clock::time_point now = Clock::now());
  // Charges tokens after the fact (a bucket can go into debt; admit() refuses until repaid).
  void charge_tokens(const std::string& client, const std::string& role, double tokens,
                     Clock::time_point now = Clock::now());

 private:
  struct Bucket {
    bool used = false;  // a new bucket starts full
    double level = 0;   // negative: in debt
    Clock::time_point at;
  };
  static void refill(Bucket& b, double per_minute, Clock::time_point now);
  RoleLimits limits_for(const std::string& role) const;

  std::map<std::string, RoleLimits> limits_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::pair<Bucket, Bucket>> buckets_;  // requests, tokens
};

// ---- metrics ---------------------------------------------------------------------------------

using Labels = std::vector<std::pair<std::string, std::string>>;

// Counters, gauges and histograms rendered in Prometheus' text exposition format 0.0.4.
// Thread-safe.
class Metrics {
 public:
  void counter(const std::string& name, const std::string& help);
  void gauge(const std::string& name, const std::string& help);
  void histogram(const std::string& name, const std::string& help, std::vector<double> bounds);

  void add(const std::string& name, const Labels& labels, double v = 1);
  void set(const std::string& name, const Labels& labels, double v);
  void observe(const std::string& name, const Labels& labels, double v);
  std::string render() const;

 private:
  enum class Kind { Counter, Gauge, Histogram };
  struct Series {
    double value = 0;               // counter/gauge; histogram: sum
    uint64_t count = 0;             // histogram
    std::vector<uint64_t> buckets;  // histogram: observations <= each bound (cumulative)
  };
  struct Family {
    Kind kind;
    std::string help;
    std::vector<double> bounds;
    std::map<std::string, Series> series;  // by rendered label set
  };
  Family& family(const std::string& name);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

std::string render_labels(const Labels& labels);  // {a="x",b="y\"z"} or ""

}  // namespace inhouse::server
