// cli — owns the `inhouse` command line: one register_* function per subcommand, each in its
// own file. A subcommand's callback throws on failure; main() prints "error: ..." and exits 1.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "model/model.h"

namespace inhouse::cli {

// --cache-type / --mla-cache, shared by the commands that run a decoder (model_flags.cpp).
struct CacheFlags {
  std::string kv_type = "f16";
  std::string mla_cache = "auto";
  model::ModelOptions options(int threads) const;
};
void add_cache_flags(CLI::App* cmd, CacheFlags& flags);

void register_info(CLI::App& app);      // inhouse info FILE [--json]
void register_tokenize(CLI::App& app);  // inhouse tokenize -m VOCAB (--inp FILE | TEXT) [--special]
void register_template(CLI::App& app);  // inhouse template render ...
void register_logits(CLI::App& app);    // inhouse logits -m MODEL --tokens ... [--greedy N]
void register_run(CLI::App& app);       // inhouse run -m MODEL -p PROMPT ...
void register_embed(CLI::App& app);     // inhouse embed -m MODEL (--file TEXTS | TEXT...)
void register_quantize(CLI::App& app);  // inhouse quantize IN OUT TYPE
void register_synth(CLI::App& app);     // inhouse synth --shape NAME [--type T] [--seed N] OUT
void register_serve(CLI::App& app);     // inhouse serve [--model NAME=PATH ...] ...
void register_client(CLI::App& app);    // inhouse client add|list|rm ...
void register_access(CLI::App& app);    // inhouse user|group|role ... (users, groups, access policy)
void register_bench(CLI::App& app);     // inhouse bench -m MODEL [-p N] [-n N] [-t N] [--json]
void register_kb(CLI::App& app);        // inhouse kb create|add|sync|list|show|rm|links|search|ask|summarize|history|diff|restore|meta
void register_audit(CLI::App& app);     // inhouse audit verify|list|export|head [--data-dir DIR]
void register_backup(CLI::App& app);    // inhouse backup create DEST | verify DIR | restore DIR [--force]
void register_privacy(CLI::App& app);    // inhouse privacy scan KB | export USER | erase USER --yes | retention

}  // namespace inhouse::cli
