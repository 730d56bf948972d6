// Entry point of build/inhouse: parses the subcommand and turns exceptions into one clear
// error line and exit status 1.
#include <cstdio>
#include <exception>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Inhouse: run DeepSeek models and private knowledge bases on your own machines"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "inhouse 0.1.0");
  inhouse::cli::register_info(app);
  inhouse::cli::register_tokenize(app);
  inhouse::cli::register_template(app);
  inhouse::cli::register_logits(app);
  inhouse::cli::register_run(app);
  inhouse::cli::register_embed(app);
  inhouse::cli::register_quantize(app);
  inhouse::cli::register_synth(app);
  inhouse::cli::register_bench(app);
  inhouse::cli::register_serve(app);
  inhouse::cli::register_client(app);
  inhouse::cli::register_access(app);
  inhouse::cli::register_kb(app);
  inhouse::cli::register_audit(app);
  inhouse::cli::register_backup(app);
  inhouse::cli::register_privacy(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
