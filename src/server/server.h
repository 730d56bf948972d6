// server — owns `inhouse serve`: the HTTP(S) front end that puts OpenAI-compatible
// (/v1/...), Ollama-compatible (/api/...) and Inhouse's own (/api/v1/...) APIs over the engine's
// continuous-batching scheduler; authentication (client credentials -> JWT, API keys), per-role
// rate limits, uniform JSON errors, request limits and Prometheus metrics. Configuration comes
// from a TOML file and command-line flags.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace inhouse::server {

// A configuration file or flag combination that cannot work; what() names the key.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RoleLimits {
  double requests_per_minute = 0;  // 0: unlimited
  double tokens_per_minute = 0;    // 0: unlimited
};

struct ModelSpec {
  std::string name;  // what clients put in "model"
  std::string path;  // GGUF file; `bert` files serve embeddings, decoders serve completions
};

enum class AuthMode {
  Auto,      // required unless the server listens on a loopback address
  Required,  // always
  Off,       // never; refused at startup on a non-loopback address
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 4;           // slots decoding together, per chat model
  int64_t ctx = 4096;         // context per slot
  int threads = 0;            // <= 0: all cores
  std::string cache_type = "f16";   // KV cache rows: f16 or f32
  std::string mla_cache = "auto";   // deepseek2 cache layout: auto, latent or expanded
  int queue_limit = 64;       // waiting requests per model before 503
  size_t max_body_bytes = 1 << 20;
  int64_t token_ttl_seconds = 3600;
  std::string tls_cert, tls_key;
  std::filesystem::path data_dir;
  AuthMode auth = AuthMode::Auto;
  std::vector<ModelSpec> models;
  std::map<std::string, RoleLimits> role_limits;  // by role; "*" for every other role
  // Where users, groups, roles, clients and the audit log live: "" = the data directory's
  // SQLite file; "postgresql://..." = a PostgreSQL server several replicas share
  // (docs/scale-out.md). Knowledge bases stay in each replica's data directory.
  std::string database_url;
  // Storage tiers by last access (0 = never move): a kb unused this long goes warm (its vector
  // index leaves memory), then cold (its chunks go into a zstd archive). [tiers] in the file.
  int64_t warm_after_seconds = 0, cold_after_seconds = 0;
  // How often tier moves and document retention dates are enforced while serving.
  int64_t housekeeping_seconds = 3600;

  bool auth_required() const;
  void validate() const;  // throws ConfigError
};

// Reads a TOML file (keys as ServerConfig's fields; [models] name = "path";
// [roles.NAME] requests_per_minute / tokens_per_minute; [tls] cert / key; [tiers]
// warm_after_days / cold_after_days) over `base`.
// Throws ConfigError naming the file, line and key.
ServerConfig load_config(const std::filesystem::path& path, ServerConfig base = {});
bool is_loopback(const std::string& host);

// Where the data directory is: flag, else $INHOUSE_DATA_DIR, else ~/.local/share/inhouse.
std::filesystem::path resolve_data_dir(const std::string& flag);

class Server {
 public:
  explicit Server(ServerConfig config);  // loads the models; throws on any startup problem
  ~Server();
  // Binds and serves until stop(). port 0 picks a free port; bound_port() tells which.
  void run();
  void stop();
  int bound_port() const;
  bool wait_until_listening(int timeout_ms) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inhouse::server
