// mimo-cli: command-line front end of libmimo. Each subcommand lives in its own cmd_*.cpp.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/commands.hpp"
#include "mimo/error.hpp"
#include "mimo/version.hpp"

namespace {

// A command's output that never arrived (a full disk, a closed pipe's buffer) is a failure,
// not exit 0: the caller would take a truncated token list or logits table for the whole.
int checked_output(int status) {
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "error: writing standard output failed: %s\n", std::strerror(errno));
    return status == 0 ? 1 : status;
  }
  return status;
}

}  // namespace

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
      if (command.app->parsed()) return checked_output(command.run());
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
