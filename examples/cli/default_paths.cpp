// Default model locations for mimo-cli.
#include "cli/default_paths.hpp"

#include <cstdlib>

namespace mimo::cli {

namespace {

std::string from_env_or(const char* variable, const char* fallback) {
  const char* value = std::getenv(variable);
  return value != nullptr && *value != '\0' ? value : fallback;
}

}  // namespace

std::string default_model_dir() {
  return from_env_or("MIMO_MODEL", MIMO_DEFAULT_MODEL_DIR);
}
std::string default_drafter_dir() {
  return from_env_or("MIMO_DRAFTER", MIMO_DEFAULT_DRAFTER_DIR);
}

}  // namespace mimo::cli
