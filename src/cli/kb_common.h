// The pieces the `inhouse kb` subcommands share (cmd_kb.cpp, cmd_kb_answer.cpp): their options,
// opening the data directory's store and a kb's embedding model, and the common flags.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kb/kb.h"

namespace inhouse::cli {

struct KbOptions {
  std::string data_dir, config;
  std::string name, description, embed_model, note, query;
  std::vector<std::string> paths;
  bool json = false;
  int threads = 0;
  size_t chunk_tokens = 256, overlap_tokens = 32;
  size_t k = 10;
  std::string mode = "hybrid";
  std::vector<std::string> where;  // --where KEY=VALUE
  // history / diff / restore / meta
  std::vector<int64_t> versions;
  std::vector<std::string> set_fields, unset_fields;
  // tier
  std::string tier;
  bool apply_policy = false;
  int64_t warm_after_s = 24 * 3600, cold_after_s = 30 * 24 * 3600;
  // ask / summarize
  std::string chat_model;
  int max_tokens = 512;
  size_t context_tokens = 2048;
  bool no_links = false;
  std::string reasoning = "hide";
  double temperature = 0;
};

// --data-dir, else --config's data_dir, else $INHOUSE_DATA_DIR, else ~/.local/share/inhouse.
kb::KnowledgeStore open_store(const KbOptions& o);
// The kb's own embedding model (--embed-model overrides its recorded path); null for a
// keyword-only kb.
std::unique_ptr<kb::Embedder> embedder_for(const kb::KbInfo& info, const KbOptions& o);
kb::IngestOptions ingest_options(const KbOptions& o);
// "KEY=VALUE" strings → a where filter; std::runtime_error for one without '=' or with an empty key.
std::map<std::string, std::string> parse_where(const std::vector<std::string>& pairs);
// The query with its embedding when the kb has vectors and the mode needs them, and --where.
kb::SearchQuery make_query(const kb::KbInfo& info, const KbOptions& o, const std::string& text);

// A subcommand taking NAME and the store flags.
CLI::App* add_kb_subcommand(CLI::App* kb, const char* name, const char* help, KbOptions& o);
void add_store_flags(CLI::App* cmd, KbOptions& o);   // --data-dir, --config
void add_ingest_flags(CLI::App* cmd, KbOptions& o);  // --embed-model, --chunk-tokens, --overlap, --threads, --json
void add_search_flags(CLI::App* cmd, KbOptions& o);  // -k, --mode, --where, --embed-model, --threads

void register_kb_answers(CLI::App* kb, std::shared_ptr<KbOptions> o);  // ask, summarize

}  // namespace inhouse::cli
