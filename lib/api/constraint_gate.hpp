// GenerateOptions::constraint applied to the rows Session::generate samples from: the masked
// copy of a row (disallowed tokens at -infinity, the stop tokens allowed once the constraint is
// complete), the end of generation when nothing is left, and where the draw may happen.
#pragma once

#include <cstdint>
#include <vector>

#include "mimo/token_constraint.hpp"

namespace mimo {

class ConstraintGate {
 public:
  // `constraint` may be null (the gate then passes rows through); `stops` are the ids that end
  // generation (ids outside the vocabulary are ignored).
  ConstraintGate(TokenConstraint* constraint, const std::vector<std::int32_t>& stops,
                 std::int32_t vocab);

  bool active() const { return constraint_ != nullptr; }
  // The row to sample from: `row` itself without a constraint, else a masked copy (valid until
  // the next call). nullptr when the constraint is complete and allows no token: generation
  // ends. Throws Error(kInvalidArgument) naming `position` when nothing is allowed before the
  // constraint is complete.
  const float* mask(const float* row, std::int64_t position);
  // Advances the constraint past a drawn token (stop tokens are not passed on).
  void accept(std::int32_t token);

 private:
  TokenConstraint* constraint_;
  std::vector<std::int32_t> stops_;
  std::int32_t vocab_;
  std::vector<std::uint8_t> allowed_;
  std::vector<float> masked_;
};

// Whether generate() may draw its tokens on the device: the model asks for it
// (ModelOptions::sample_on_device), the executor can, and no constraint must mask the rows
// first (the device sampler has no mask).
bool may_sample_on_device(bool sample_on_device, bool executor_can_sample, bool constrained);

}  // namespace mimo
