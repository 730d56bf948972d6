// inhouse run — placeholder until the engine lands.
#include "cli/commands.h"
namespace inhouse::cli {
void register_run(CLI::App&) {}
}  // namespace inhouse::cli
