// Load-time checks of the values in the few tensors where a bad value gives finite nonsense that
// no later check sees: block scales of quantized weights (a scale multiplies its whole block) and
// the MoE router (its sigmoid saturates an infinity, and its selection bias never reaches the
// output, so a NaN or infinity there changes which experts run without ever showing in the logits).
#pragma once

#include <string>

#include "io/tensor_view.hpp"

namespace mimo::model {

// Empty when every scale in `scales` (F32, BF16, U8 / F8_E8M0) is finite and not negative,
// else a message naming the first bad one by flat and per-dimension index. Zero (and -0) stays
// legal: an all-zero block quantizes to scale 0. E8M0 has no sign; its one bad code is 0xFF (NaN).
std::string block_scale_problem(const io::TensorView& scales);

// Empty when every element of `t` (F32, BF16 or F16; other dtypes are not inspected) is finite,
// else a message naming the first NaN or infinity by flat and per-dimension index.
std::string non_finite_problem(const io::TensorView& t);

}  // namespace mimo::model
