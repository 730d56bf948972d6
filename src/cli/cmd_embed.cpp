// inhouse embed — placeholder until the bert encoder lands.
#include "cli/commands.h"
namespace inhouse::cli {
void register_embed(CLI::App&) {}
}  // namespace inhouse::cli
