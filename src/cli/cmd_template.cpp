// inhouse template render — placeholder until the chat module lands.
#include "cli/commands.h"
namespace inhouse::cli {
void register_template(CLI::App&) {}
}  // namespace inhouse::cli
