// The list of mimo-cli subcommands.
#include "cli/commands.hpp"

namespace mimo::cli {

std::vector<Command> register_commands(CLI::App& app) {
  return {register_info(app),    register_score(app),    register_generate(app),
          register_chat(app),    register_tokenize(app), register_detokenize(app),
          register_quantize(app)};
}

}  // namespace mimo::cli
