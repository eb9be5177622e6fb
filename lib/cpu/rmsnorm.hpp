// RMSNorm as transformers computes it: y = (x * rsqrt(mean(x^2) + eps)) * weight, in float32.
#pragma once

#include <cstdint>

namespace mimo::cpu {

// x, out: [n_tokens, dim] (may alias); weight: [dim].
void rmsnorm(const float* x, const float* weight, int n_tokens, std::int64_t dim, double eps,
             float* out);

}  // namespace mimo::cpu
