// Plan once, run many: the step programs of one model, built on first use of each step shape
// (and rewritten for tensor parallelism when ranks > 1). Not thread-safe: an executor holds it
// under the lock that serialises its steps.
#pragma once

#include <memory>
#include <vector>

#include "model/config.hpp"
#include "program/step_program.hpp"

namespace mimo::program {

class ProgramCache {
 public:
  // config must outlive the cache.
  explicit ProgramCache(const model::ModelConfig& config, int ranks = 1)
      : config_(config), ranks_(ranks) {}

  // The program of `shape`; the reference stays valid as long as the cache.
  const StepProgram& get(const StepShape& shape);
  std::size_t size() const { return programs_.size(); }

 private:
  const model::ModelConfig& config_;
  int ranks_;
  std::vector<std::unique_ptr<StepProgram>> programs_;
};

}  // namespace mimo::program
