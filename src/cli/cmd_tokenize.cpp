// inhouse tokenize — placeholder until the tokenizer lands.
#include "cli/commands.h"
namespace inhouse::cli {
void register_tokenize(CLI::App&) {}
}  // namespace inhouse::cli
