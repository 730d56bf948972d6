// inhouse serve [--model NAME=PATH ...] [--host H] [--port P] [--parallel N] [--ctx N]
// [--threads N] [--tls-cert F --tls-key F] [--config inhouse.toml] [--data-dir DIR] [--auth MODE]:
// runs the HTTP server until SIGINT/SIGTERM. Flags override the config file.
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "server/server.h"

namespace inhouse::cli {
namespace {

struct ServeOptions {
  std::vector<std::string> models;
  std::string config_file, data_dir, host, tls_cert, tls_key, auth;
  CacheFlags cache;
  bool cache_type_set = false, mla_cache_set = false;  // flags given: they override the config
  int port = -1, parallel = 0, threads = -1, queue_limit = 0;
  int64_t ctx = 0;
};

server::Server* g_server = nullptr;

extern "C" void on_signal(int) {
  if (g_server) g_server->stop();
}

server::ServerConfig build_config(const ServeOptions& o) {
  server::ServerConfig c;
  if (!o.config_file.empty()) c = server::load_config(o.config_file);
  for (const std::string& m : o.models) {
    const size_t eq = m.find('=');
    if (eq == std::string::npos) {  // PATH alone: named after the file
      std::string name = std::filesystem::path(m).stem().string();
      c.models.push_back({name, m});
    } else {
      c.models.push_back({m.substr(0, eq), m.substr(eq + 1)});
    }
  }
  if (!o.host.empty()) c.host = o.host;
  if (o.port >= 0) c.port = o.port;
  if (o.parallel > 0) c.parallel = o.parallel;
  if (o.ctx > 0) c.ctx = o.ctx;
  if (o.threads >= 0) c.threads = o.threads;
  if (o.queue_limit > 0) c.queue_limit = o.queue_limit;
  if (o.cache_type_set) c.cache_type = o.cache.kv_type;
  if (o.mla_cache_set) c.mla_cache = o.cache.mla_cache;
  if (!o.tls_cert.empty()) c.tls_cert = o.tls_cert;
  if (!o.tls_key.empty()) c.tls_key = o.tls_key;
  if (!o.auth.empty())
    c.auth = o.auth == "off" ? server::AuthMode::Off : o.auth == "required" ? server::AuthMode::Required
                                                                            : server::AuthMode::Auto;
  c.data_dir = server::resolve_data_dir(o.data_dir.empty() ? c.data_dir.string() : o.data_dir);
  if (c.models.empty()) throw server::ConfigError("no model to serve: pass --model NAME=PATH or set [models] in the config");
  return c;
}

void serve(const ServeOptions& o) {
  const server::ServerConfig config = build_config(o);
  server::Server srv(config);
  g_server = &srv;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::thread announce([&] {
    if (srv.wait_until_listening(60000))
      std::fprintf(stderr, "inhouse serve: listening on %s://%s:%d (auth %s, %d slots, data %s)\n",
                   config.tls_cert.empty() ? "http" : "https", config.host.c_str(), srv.bound_port(),
                   config.auth_required() ? "required" : "off", config.parallel, config.data_dir.c_str());
  });
  try {
    srv.run();
  } catch (...) {
    srv.stop();
    announce.join();
    g_server = nullptr;
    throw;
  }
  announce.join();
  g_server = nullptr;
  std::fprintf(stderr, "inhouse serve: stopped\n");
}

}  // namespace

void register_serve(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Serve models over OpenAI-, Ollama- and Inhouse-compatible HTTP APIs");
  cmd->add_option("-m,--model", o->models, "Model to serve as NAME=PATH (repeatable; PATH alone uses the file name)");
  cmd->add_option("--config", o->config_file, "TOML configuration file")->check(CLI::ExistingFile);
  cmd->add_option("--host", o->host, "Address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", o->port, "Port (default 8080; 0 picks a free one)")->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", o->parallel, "Requests decoded together per model (default 4)")->check(CLI::Range(1, 256));
  cmd->add_option("--ctx", o->ctx, "Context per slot in tokens (default 4096)")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", o->threads, "Worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--queue-limit", o->queue_limit, "Waiting requests per model before 503 (default 64)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--tls-cert", o->tls_cert, "TLS certificate (PEM); serves HTTPS")->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", o->tls_key, "TLS private key (PEM)")->check(CLI::ExistingFile);
  cmd->add_option("--auth", o->auth, "auto (required unless on loopback), required, or off (loopback only)")
      ->check(CLI::IsMember({"auto", "required", "off"}));
  add_cache_flags(cmd, o->cache);
  cmd->add_option("--data-dir", o->data_dir, "Data directory (default $INHOUSE_DATA_DIR or ~/.local/share/inhouse)");
  cmd->callback([o, cmd] {
    o->cache_type_set = cmd->count("--cache-type") > 0;
    o->mla_cache_set = cmd->count("--mla-cache") > 0;
    serve(*o);
  });
}

}  // namespace inhouse::cli
