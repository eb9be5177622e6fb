// The subcommands of mimo-cli: each registers its options on a CLI11 subcommand and returns the
// function that runs it (exit code).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <vector>

namespace mimo::cli {

struct Command {
  CLI::App* app;
  std::function<int()> run;
};

std::vector<Command> register_commands(CLI::App& app);

// One registration function per cmd_*.cpp.
Command register_info(CLI::App& app);
Command register_score(CLI::App& app);
Command register_generate(CLI::App& app);
Command register_chat(CLI::App& app);
Command register_tokenize(CLI::App& app);
Command register_detokenize(CLI::App& app);
Command register_quantize(CLI::App& app);

}  // namespace mimo::cli
