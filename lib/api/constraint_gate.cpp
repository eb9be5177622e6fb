// ConstraintGate: masks a logits row with a TokenConstraint (docs/sampling.md, "Constrained
// decoding").
#include "api/constraint_gate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "mimo/error.hpp"

namespace mimo {

ConstraintGate::ConstraintGate(TokenConstraint* constraint, const std::vector<std::int32_t>& stops,
                               std::int32_t vocab)
    : constraint_(constraint), vocab_(vocab) {
  for (std::int32_t t : stops) {
    if (t >= 0 && t < vocab) stops_.push_back(t);
  }
}

const float* ConstraintGate::mask(const float* row, std::int64_t position) {
  if (constraint_ == nullptr) return row;
  allowed_.assign(static_cast<std::size_t>(vocab_), 0);
  constraint_->allowed_tokens(allowed_);
  if (allowed_.size() != static_cast<std::size_t>(vocab_)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("the token constraint resized its mask to {} entries (vocabulary {})",
                            allowed_.size(), vocab_));
  }
  if (constraint_->complete()) {
    for (std::int32_t t : stops_) allowed_[static_cast<std::size_t>(t)] = 1;
  }
  if (std::all_of(allowed_.begin(), allowed_.end(), [](std::uint8_t a) { return a == 0; })) {
    if (constraint_->complete()) return nullptr;
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("the token constraint allows no token at context position {} and its "
                            "output is not complete",
                            position));
  }
  masked_.assign(row, row + vocab_);
  constexpr float kBanned = -std::numeric_limits<float>::infinity();
  for (std::size_t t = 0; t < masked_.size(); ++t) {
    if (allowed_[t] == 0) masked_[t] = kBanned;
  }
  return masked_.data();
}

void ConstraintGate::accept(std::int32_t token) {
  if (constraint_ == nullptr) return;
  if (std::find(stops_.begin(), stops_.end(), token) != stops_.end()) return;
  constraint_->accept(token);
}

bool may_sample_on_device(bool sample_on_device, bool executor_can_sample, bool constrained) {
  return sample_on_device && executor_can_sample && !constrained;
}

}  // namespace mimo
