// The weight-staging settings: defaults, the environment's overrides, the setters.
#include "cuda/kernels/weight_staging.hpp"

#include <atomic>
#include <cstdlib>
#include <string>

#include "mimo/error.hpp"

namespace mimo::cuda {
namespace {

struct Setting {
  const char* variable;
  int default_stages;
};
// Defaults measured on the H100 (docs/performance.md, fourteenth session).
constexpr Setting kSettings[] = {{"MIMO_EXPERT_STAGES", 0}, {"MIMO_FP8_STAGES", 0}};

int from_environment(const Setting& setting) {
  const char* v = std::getenv(setting.variable);
  if (v == nullptr || *v == '\0') return setting.default_stages;
  char* end = nullptr;
  const long stages = std::strtol(v, &end, 10);
  if (*end != '\0' || !valid_weight_stages(static_cast<int>(stages)))
    throw Error(ErrorCode::kInvalidArgument,
                std::string(setting.variable) + "='" + v + "': expected 0, 2, 3 or 4");
  return static_cast<int>(stages);
}

std::atomic<int>& stages_of(StagedKernels kernels) {
  static std::atomic<int> experts{from_environment(kSettings[0])};
  static std::atomic<int> fp8{from_environment(kSettings[1])};
  return kernels == StagedKernels::kExperts ? experts : fp8;
}

}  // namespace

int weight_stages(StagedKernels kernels) {
  return stages_of(kernels).load(std::memory_order_relaxed);
}

void set_weight_stages(StagedKernels kernels, int stages) {
  if (!valid_weight_stages(stages))
    throw Error(ErrorCode::kInvalidArgument, "cuda::set_weight_stages: " + std::to_string(stages) +
                                                 " stages: expected 0, 2, 3 or 4");
  stages_of(kernels).store(stages, std::memory_order_relaxed);
}

}  // namespace mimo::cuda
