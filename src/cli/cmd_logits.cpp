// inhouse logits — placeholder until the engine lands.
#include "cli/commands.h"
namespace inhouse::cli {
void register_logits(CLI::App&) {}
}  // namespace inhouse::cli
