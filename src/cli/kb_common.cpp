// The `inhouse kb` subcommands' shared options and openers (see kb_common.h).
#include "cli/kb_common.h"

#include "server/server.h"

namespace inhouse::cli {

kb::KnowledgeStore open_store(const KbOptions& o) {
  std::string dir = o.data_dir;
  if (dir.empty() && !o.config.empty()) dir = server::load_config(o.config).data_dir.string();
  return kb::KnowledgeStore::open(server::resolve_data_dir(dir));
}

std::unique_ptr<kb::Embedder> embedder_for(const kb::KbInfo& info, const KbOptions& o) {
  if (info.dim == 0) {
    if (!o.embed_model.empty())
      throw std::runtime_error("knowledge base '" + info.name + "' was created without an embedding model");
    return nullptr;
  }
  const std::string path = o.embed_model.empty() ? info.embed_model : o.embed_model;
  try {
    return kb::open_gguf_embedder(path, o.threads);
  } catch (const std::exception& e) {
    throw std::runtime_error("knowledge base '" + info.name + "' needs its embedding model " + path +
                             " (or --embed-model PATH): " + e.what());
  }
}

kb::IngestOptions ingest_options(const KbOptions& o) {
  kb::IngestOptions opt;
  opt.chunking.max_tokens = o.chunk_tokens;
  opt.chunking.overlap_tokens = o.overlap_tokens;
  return opt;
}

std::map<std::string, std::string> parse_where(const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> out;
  for (const std::string& p : pairs) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) throw std::runtime_error("expected KEY=VALUE, not '" + p + "'");
    out[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return out;
}

kb::SearchQuery make_query(const kb::KbInfo& info, const KbOptions& o, const std::string& text) {
  kb::SearchQuery q{.text = text, .embedding = {}, .k = o.k, .mode = *kb::parse_search_mode(o.mode)};
  q.where = parse_where(o.where);
  if (info.dim > 0 && q.mode != kb::SearchMode::Keyword) q.embedding = embedder_for(info, o)->embed(text);
  return q;
}

void add_store_flags(CLI::App* cmd, KbOptions& o) {
  cmd->add_option("--data-dir", o.data_dir, "Data directory (default: the config's, $INHOUSE_DATA_DIR or ~/.local/share/inhouse)");
  cmd->add_option("--config", o.config, "inhouse.toml whose data_dir to use")->check(CLI::ExistingFile);
}

CLI::App* add_kb_subcommand(CLI::App* kb, const char* name, const char* help, KbOptions& o) {
  auto* cmd = kb->add_subcommand(name, help);
  cmd->add_option("name", o.name, "Knowledge base")->required();
  add_store_flags(cmd, o);
  return cmd;
}

void add_ingest_flags(CLI::App* cmd, KbOptions& o) {
  cmd->add_option("--embed-model", o.embed_model, "The kb's embedding model, if its file moved")->check(CLI::ExistingFile);
  cmd->add_option("--chunk-tokens", o.chunk_tokens, "Most tokens per chunk")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--overlap", o.overlap_tokens, "Tokens a chunk repeats from the previous one")->capture_default_str();
  cmd->add_option("--threads", o.threads, "Embedding threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", o.json, "Print the report as JSON (no progress bar)");
}

void add_search_flags(CLI::App* cmd, KbOptions& o) {
  cmd->add_option("-k", o.k, "Results")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--mode", o.mode, "vector, keyword or hybrid (reciprocal-rank fusion)")
      ->check(CLI::IsMember({"vector", "keyword", "hybrid"}))->capture_default_str();
  cmd->add_option("--where", o.where, "Only documents whose custom field (else metadata) KEY equals VALUE (repeatable: all must match)")
      ->type_name("KEY=VALUE");
  cmd->add_option("--embed-model", o.embed_model, "The kb's embedding model, if its file moved")->check(CLI::ExistingFile);
  cmd->add_option("--threads", o.threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
}

}  // namespace inhouse::cli
