// server/api_parts.cpp — uniform error bodies, request field readers, rate limiting and the
// metrics registry: the HTTP-independent parts of the server.
#include <algorithm>
#include <cmath>
#include <charconv>

#include "server/server_internal.h"

namespace inhouse::server {

using nlohmann::json;

// ---- errors ----------------------------------------------------------------------------------

json error_body(const ApiError& e) {
  json err = {{"code", e.status}, {"message", e.message}};
  if (!e.type.empty()) err["type"] = e.type;
  if (e.retry_after) err["retry_after"] = *e.retry_after;
  return {{"error", err}};
}

ApiError bad_request(std::string message) { return {400, std::move(message), {}, "invalid_request_error"}; }
ApiError unauthorized(std::string message) { return {401, std::move(message), {}, "authentication_error"}; }
ApiError forbidden(std::string message) { return {403, std::move(message), {}, "permission_error"}; }
ApiError not_found(std::string message) { return {404, std::move(message), {}, "not_found_error"}; }

// ---- fields ----------------------------------------------------------------------------------

json Fields::parse(std::string_view text) {
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) throw bad_request("request body is not valid JSON");
  if (!body.is_object()) throw bad_request("request body must be a JSON object");
  return body;
}

void Fields::wrong(const char* name, const char* want) const {
  throw bad_request(std::string("field '") + name + "' must be " + want);
}

const json* Fields::get(const char* name) const {
  const auto it = body_.find(name);
  return it == body_.end() || it->is_null() ? nullptr : &*it;
}

std::optional<std::string> Fields::string(const char* name) const {
  const json* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong(name, "a string");
  return v->get<std::string>();
}

std::string Fields::required_string(const char* name) const {
  auto s = string(name);
  if (!s) throw bad_request(std::string("field '") + name + "' is required");
  return *s;
}

std::optional<double> Fields::number(const char* name, double lo, double hi) const {
  const json* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong(name, "a number");
  const double d = v->get<double>();
  if (!(d >= lo && d <= hi))
    throw bad_request(std::string("field '") + name + "' must be between " + json(lo).dump() + " and " +
                      json(hi).dump());
  return d;
}

std::optional<int64_t> Fields::integer(const char* name, int64_t lo, int64_t hi) const {
  const json* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer() && !(v->is_number_float() && std::floor(v->get<double>()) == v->get<double>()))
    wrong(name, "an integer");
  const double d = v->get<double>();
  if (!(d >= double(lo) && d <= double(hi)))
    throw bad_request(std::string("field '") + name + "' must be between " + std::to_string(lo) + " and " +
                      std::to_string(hi));
  return int64_t(d);
}

std::optional<bool> Fields::boolean(const char* name) const {
  const json* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong(name, "true or false");
  return v->get<bool>();
}

std::vector<std::string> Fields::strings(const char* name, size_t max_items) const {
  const json* v = get(name);
  if (!v) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array()) wrong(name, "a string or an array of strings");
  if (v->size() > max_items)
    throw bad_request(std::string("field '") + name + "' has more than " + std::to_string(max_items) + " items");
  std::vector<std::string> out;
  for (const json& item : *v) {
    if (!item.is_string()) wrong(name, "a string or an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

// ---- rate limits -----------------------------------------------------------------------------

RoleLimits RateLimiter::limits_for(const std::string& role) const {
  const auto it = limits_.find(role);
  if (it != limits_.end()) return it->second;
  const auto def = limits_.find("*");
  return def != limits_.end() ? def->second : RoleLimits{};
}

void RateLimiter::refill(Bucket& b, double per_minute, Clock::time_point now) {
  if (!b.used) {
    b.used = true;
    b.level = per_minute;
  } else {
    const double minutes = std::chrono::duration<double>(now - b.at).count() / 60.0;
    b.level = std::min(per_minute, b.level + minutes * per_minute);
  }
  b.at = now;
}

static int64_t seconds_until(double deficit, double per_minute) {
  return std::max<int64_t>(1, int64_t(std::ceil(deficit / per_minute * 60.0)));
}

std::optional<int64_t> RateLimiter::admit(const std::string& client, const std::string& role,
                                          Clock::time_point now) {
  const RoleLimits lim = limits_for(role);
  std::lock_guard lock(mutex_);
  auto& [requests, tokens] = buckets_[client];
  if (lim.tokens_per_minute > 0) {
    refill(tokens, lim.tokens_per_minute, now);
    if (tokens.level < 0) return seconds_until(-tokens.level, lim.tokens_per_minute);
  }
  if (lim.requests_per_minute > 0) {
    refill(requests, lim.requests_per_minute, now);
    if (requests.level < 1) return seconds_until(1 - requests.level, lim.requests_per_minute);
    requests.level -= 1;
  }
  return std::nullopt;
}

void RateLimiter::charge_tokens(const std::string& client, const std::string& role, double n,
                                Clock::time_point now) {
  const RoleLimits lim = limits_for(role);
  if (lim.tokens_per_minute <= 0) return;
  std::lock_guard lock(mutex_);
  Bucket& tokens = buckets_[client].second;
  refill(tokens, lim.tokens_per_minute, now);
  tokens.level -= n;
}

// ---- metrics ---------------------------------------------------------------------------------

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i].first + "=\"";
    for (char c : labels[i].second) {
      if (c == '\\') out += "\\\\";
      else if (c == '"') out += "\\\"";
      else if (c == '\n') out += "\\n";
      else out += c;
    }
    out += '"';
  }
  return out + "}";
}

// Shortest text that reads back as the same double ("0.1", not "0.10000000000000001").
static std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

void Metrics::counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  families_[name] = Family{Kind::Counter, help, {}, {}};
}

void Metrics::gauge(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  families_[name] = Family{Kind::Gauge, help, {}, {}};
}

void Metrics::histogram(const std::string& name, const std::string& help, std::vector<double> bounds) {
  std::sort(bounds.begin(), bounds.end());
  std::lock_guard lock(mutex_);
  families_[name] = Family{Kind::Histogram, help, std::move(bounds), {}};
}

Metrics::Family& Metrics::family(const std::string& name) {
  const auto it = families_.find(name);
  if (it == families_.end()) throw std::logic_error("metric " + name + " was not declared");
  return it->second;
}

void Metrics::add(const std::string& name, const Labels& labels, double v) {
  std::lock_guard lock(mutex_);
  family(name).series[render_labels(labels)].value += v;
}

void Metrics::set(const std::string& name, const Labels& labels, double v) {
  std::lock_guard lock(mutex_);
  family(name).series[render_labels(labels)].value = v;
}

void Metrics::observe(const std::string& name, const Labels& labels, double v) {
  std::lock_guard lock(mutex_);
  Family& f = family(name);
  Series& s = f.series[render_labels(labels)];
  if (s.buckets.empty()) s.buckets.assign(f.bounds.size(), 0);
  for (size_t i = 0; i < f.bounds.size(); ++i)
    if (v <= f.bounds[i]) ++s.buckets[i];
  s.value += v;
  ++s.count;
}

// Appends a label to a rendered label set: {a="x"} + le="1" -> {a="x",le="1"}.
static std::string with_label(const std::string& set, const std::string& extra) {
  if (set.empty()) return "{" + extra + "}";
  return set.substr(0, set.size() - 1) + "," + extra + "}";
}

std::string Metrics::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.kind == Kind::Counter ? "counter" : f.kind == Kind::Gauge ? "gauge" : "histogram";
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [labels, s] : f.series) {
      if (f.kind != Kind::Histogram) {
        out += name + labels + " " + format_number(s.value) + "\n";
        continue;
      }
      for (size_t i = 0; i < f.bounds.size(); ++i)
        out += name + "_bucket" + with_label(labels, "le=\"" + format_number(f.bounds[i]) + "\"") + " " +
               std::to_string(s.buckets[i]) + "\n";
      out += name + "_bucket" + with_label(labels, "le=\"+Inf\"") + " " + std::to_string(s.count) + "\n";
      out += name + "_sum" + labels + " " + format_number(s.value) + "\n";
      out += name + "_count" + labels + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

}  // namespace inhouse::server
