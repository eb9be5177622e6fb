// Partial RoPE as transformers computes it. For d = int(head_dim * partial_rotary_factor) it
// builds ceil(d / 2) inverse frequencies in float32, inv_freq[i] = 1 / theta^(2i / d), and
// rotates the first 2 * ceil(d / 2) dims (neox halves of that width) - so an odd d rotates one
// more dim than it names. The CPU kernel (cpu::Rope) and the device tables (DeviceModel, the GPU
// drafter) are built from these definitions.
#pragma once

#include <vector>

namespace mimo::model {

// The rotated width for d: 2 * ceil(d / 2).
constexpr int rope_rotary_dim(int d) {
  return d + (d & 1);
}

// ceil(d / 2) inverse frequencies for d (the rotated width's half).
std::vector<float> rope_inv_freq(int d, double theta);

}  // namespace mimo::model
