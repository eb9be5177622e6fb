// mimo-cli: command-line front end of libmimo. Each subcommand lives in its own cmd_*.cpp.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.hpp"
#include "mimo/error.hpp"
#include "mimo/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"mimo-cli: run MiMo-V2 mixture-of-experts models"};
  app.set_version_flag("--version", mimo::version());
  app.require_subcommand(1);
  std::vector<mimo::cli::Command> commands = mimo::cli::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& command : commands) {
      if (command.app->parsed()) return command.run();
    }
  } catch (const mimo::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 1;
}
