// The RoPE inverse frequencies of a rotary dimension and base, as transformers computes them in
// float32: inv_freq[i] = 1 / theta^(2i / rotary_dim). The CPU kernel (cpu::Rope) and the device
// tables (DeviceModel, the GPU drafter) are built from this one definition.
#pragma once

#include <vector>

namespace mimo::model {

std::vector<float> rope_inv_freq(int rotary_dim, double theta);

}  // namespace mimo::model
