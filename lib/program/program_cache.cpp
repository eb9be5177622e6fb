// ProgramCache: a linear search over the few shapes a session uses (decode, verify, prefill).
#include "program/program_cache.hpp"

namespace mimo::program {

const StepProgram& ProgramCache::get(const StepShape& shape) {
  for (const auto& p : programs_) {
    if (p->shape == shape) return *p;
  }
  StepProgram program = build_step_program(config_, shape);
  if (ranks_ > 1) program = tensor_parallel(program, ranks_);
  programs_.push_back(std::make_unique<StepProgram>(std::move(program)));
  return *programs_.back();
}

}  // namespace mimo::program
