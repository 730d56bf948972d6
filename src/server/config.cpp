// server/config.cpp — the TOML configuration file (toml++) and the checks a configuration must
// pass before the server starts.
#include <arpa/inet.h>

#include <cstdlib>
#include <set>

#include <toml++/toml.h>

#include "model/model.h"
#include "server/server.h"

namespace inhouse::server {

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

bool ServerConfig::auth_required() const {
  return auth == AuthMode::Required || (auth == AuthMode::Auto && !is_loopback(host));
}

void ServerConfig::validate() const {
  if (port < 0 || port > 65535) throw ConfigError("port " + std::to_string(port) + " is out of range");
  if (parallel < 1 || parallel > 256) throw ConfigError("parallel must be 1..256");
  if (ctx < 16) throw ConfigError("ctx must be at least 16");
  if (queue_limit < 1) throw ConfigError("queue_limit must be at least 1");
  if (max_body_bytes < 1024) throw ConfigError("max_body_bytes must be at least 1024");
  if (token_ttl_seconds < 60) throw ConfigError("token_ttl_seconds must be at least 60");
  if (auth == AuthMode::Off && !is_loopback(host))
    throw ConfigError("auth = \"off\" is only allowed on a loopback address, not " + host);
  if (tls_cert.empty() != tls_key.empty()) throw ConfigError("TLS needs both a certificate and a key");
  try {
    model::ModelOptions::from_names(threads, cache_type, mla_cache);
  } catch (const model::Error& e) {
    throw ConfigError(e.what());
  }
  std::set<std::string> names;
  for (const ModelSpec& m : models) {
    if (m.name.empty()) throw ConfigError("a model needs a name (NAME=PATH)");
    if (!names.insert(m.name).second) throw ConfigError("model name '" + m.name + "' is used twice");
    if (!std::filesystem::exists(m.path)) throw ConfigError("model '" + m.name + "': no file " + m.path);
  }
  if (warm_after_seconds < 0 || cold_after_seconds < 0) throw ConfigError("tiers: ages must not be negative");
  if (warm_after_seconds > 0 && cold_after_seconds > 0 && cold_after_seconds < warm_after_seconds)
    throw ConfigError("tiers: cold_after_days must not be shorter than warm_after_days");
  if (housekeeping_seconds < 1) throw ConfigError("housekeeping_seconds must be at least 1");
  if (!database_url.empty() && !database_url.starts_with("postgresql://") && !database_url.starts_with("postgres://") &&
      !database_url.starts_with("postgres:") && !database_url.starts_with("sqlite:"))
    throw ConfigError("database_url must start with postgresql://, postgres: or sqlite:");
  for (const auto& [role, lim] : role_limits)
    if (lim.requests_per_minute < 0 || lim.tokens_per_minute < 0)
      throw ConfigError("roles." + role + ": limits must not be negative");
}

std::filesystem::path resolve_data_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("INHOUSE_DATA_DIR"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : ".") / ".local/share/inhouse";
}

namespace {

class Reader {
 public:
  Reader(const toml::table& t, std::string file) : t_(t), file_(std::move(file)) {}

  template <typename T>
  void get(const char* key, T& out) const {
    const toml::node* n = t_.get(key);
    if (!n) return;
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::filesystem::path>) {
      if (!n->is_string()) fail(*n, key, "a string");
      out = n->value<std::string>().value();
    } else if constexpr (std::is_same_v<T, double>) {
      if (!n->is_number()) fail(*n, key, "a number");
      out = n->value<double>().value();
    } else {
      if (!n->is_integer()) fail(*n, key, "an integer");
      out = T(n->value<int64_t>().value());
    }
  }
  [[noreturn]] void fail(const toml::node& n, const std::string& key, const char* want) const {
    throw ConfigError(file_ + ":" + std::to_string(n.source().begin.line) + ": '" + key + "' must be " + want);
  }
  const toml::table& table() const { return t_; }
  const std::string& file() const { return file_; }

 private:
  const toml::table& t_;
  std::string file_;
};

}  // namespace

ServerConfig load_config(const std::filesystem::path& path, ServerConfig c) {
  toml::table root;
  try {
    root = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    throw ConfigError(path.string() + ":" + std::to_string(e.source().begin.line) + ":" +
                      std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
  }
  const Reader r(root, path.string());
  static const std::set<std::string> known = {"host", "port", "parallel", "ctx", "threads", "queue_limit",
                                              "max_body_bytes", "token_ttl_seconds", "data_dir", "auth", "cache_type", "mla_cache",
                                              "models", "roles", "tls", "database_url", "tiers",
                                              "housekeeping_seconds"};
  for (const auto& [k, v] : root)
    if (!known.count(std::string(k.str())))
      throw ConfigError(path.string() + ":" + std::to_string(v.source().begin.line) + ": unknown key '" +
                        std::string(k.str()) + "'");
  r.get("host", c.host);
  r.get("port", c.port);
  r.get("parallel", c.parallel);
  r.get("ctx", c.ctx);
  r.get("threads", c.threads);
  r.get("queue_limit", c.queue_limit);
  r.get("max_body_bytes", c.max_body_bytes);
  r.get("token_ttl_seconds", c.token_ttl_seconds);
  r.get("data_dir", c.data_dir);
  r.get("cache_type", c.cache_type);
  r.get("mla_cache", c.mla_cache);
  r.get("database_url", c.database_url);
  r.get("housekeeping_seconds", c.housekeeping_seconds);
  std::string auth;
  r.get("auth", auth);
  if (!auth.empty()) {
    if (auth == "auto") c.auth = AuthMode::Auto;
    else if (auth == "required") c.auth = AuthMode::Required;
    else if (auth == "off") c.auth = AuthMode::Off;
    else throw ConfigError(path.string() + ": auth must be \"auto\", \"required\" or \"off\"");
  }
  if (const toml::table* models = root["models"].as_table()) {
    for (const auto& [name, v] : *models) {
      if (!v.is_string()) r.fail(v, "models." + std::string(name.str()), "a file path string");
      c.models.push_back({std::string(name.str()), v.value<std::string>().value()});
    }
  }
  if (const toml::table* roles = root["roles"].as_table()) {
    for (const auto& [name, v] : *roles) {
      const toml::table* t = v.as_table();
      if (!t) r.fail(v, "roles." + std::string(name.str()), "a table");
      const Reader rr(*t, path.string());
      RoleLimits lim;
      rr.get("requests_per_minute", lim.requests_per_minute);
      rr.get("tokens_per_minute", lim.tokens_per_minute);
      c.role_limits[std::string(name.str())] = lim;
    }
  }
  if (const toml::table* tls = root["tls"].as_table()) {
    const Reader rt(*tls, path.string());
    rt.get("cert", c.tls_cert);
    rt.get("key", c.tls_key);
  }
  if (const toml::table* tiers = root["tiers"].as_table()) {
    const Reader rt(*tiers, path.string());
    double warm_days = 0, cold_days = 0;
    rt.get("warm_after_days", warm_days);
    rt.get("cold_after_days", cold_days);
    c.warm_after_seconds = int64_t(warm_days * 86400);
    c.cold_after_seconds = int64_t(cold_days * 86400);
  }
  return c;
}

}  // namespace inhouse::server
