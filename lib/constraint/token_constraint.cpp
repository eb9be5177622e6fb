// mimo::TokenConstraint's out-of-line destructor (its vtable's home).
#include "mimo/token_constraint.hpp"

namespace mimo {

TokenConstraint::~TokenConstraint() = default;

}  // namespace mimo
