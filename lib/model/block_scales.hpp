// Validation of the per-block scales of quantized weights (FP8 weight_scale_inv, MXFP4 E8M0
// scales): a scale multiplies every weight of its block, so a bad one turns the block into
// nonsense that no later check would see.
#pragma once

#include <string>

#include "io/tensor_view.hpp"

namespace mimo::model {

// Empty when every scale in `scales` (F32, BF16, U8 / F8_E8M0) is finite and not negative,
// else a message naming the first bad one by flat and per-dimension index. Zero (and -0) stays
// legal: an all-zero block quantizes to scale 0. E8M0 has no sign; its one bad code is 0xFF (NaN).
std::string block_scale_problem(const io::TensorView& scales);

}  // namespace mimo::model
