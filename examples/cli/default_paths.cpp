// Default model locations for mimo-cli (default_paths.hpp).
#include "cli/default_paths.hpp"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace mimo::cli {

namespace {

namespace fs = std::filesystem;

// <directory of this executable>/../share/mimo/demo/<part>: the installed layout, and the build
// tree's (examples/CMakeLists.txt links the demo there).
fs::path shipped(const char* part) {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return (exe.parent_path() / ".." / "share" / "mimo" / "demo" / part).lexically_normal();
}

std::string from_env_or_shipped(const char* variable, const char* part) {
  const char* value = std::getenv(variable);
  if (value != nullptr && *value != '\0') return value;
  return shipped(part).string();  // loading it names the path if it is missing
}

}  // namespace

std::string default_model_dir() {
  return from_env_or_shipped("MIMO_MODEL", "mixed");
}
std::string default_drafter_dir() {
  return from_env_or_shipped("MIMO_DRAFTER", "drafter");
}

}  // namespace mimo::cli
