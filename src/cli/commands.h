// cli — owns the `inhouse` command line: one register_* function per subcommand, each in its
// own file. A subcommand's callback throws on failure; main() prints "error: ..." and exits 1.
#pragma once

#include <CLI/CLI.hpp>

namespace inhouse::cli {

void register_info(CLI::App& app);      // inhouse info FILE [--json]
void register_tokenize(CLI::App& app);  // inhouse tokenize -m VOCAB (--inp FILE | TEXT) [--special]
void register_template(CLI::App& app);  // inhouse template render ...
void register_logits(CLI::App& app);    // inhouse logits -m MODEL --tokens ... [--greedy N]
void register_run(CLI::App& app);       // inhouse run -m MODEL -p PROMPT ...
void register_embed(CLI::App& app);     // inhouse embed -m MODEL (--file TEXTS | TEXT...)

}  // namespace inhouse::cli
