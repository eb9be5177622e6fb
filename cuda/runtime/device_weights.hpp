// Upload of bound checkpoint weights (model::LinearWeight / VectorWeight, pointers into the
// mapping) to the device, kept in their stored precision: FP8 codes with their block scales
// (scales widened to F32), MXFP4 codes with E8M0 scales, BF16 as is. Row slices (fused qkv) and
// strided rows are compacted. Shapes the tiles cannot read (cols not a multiple of the 16-byte
// chunk, blocks straddling chunks) throw mimo::Error(kUnsupported) naming the tensor.
#pragma once

#include <vector>

#include "cuda/runtime/device_memory.hpp"
#include "cuda/tiles/matrix_views.hpp"
#include "model/weights.hpp"

namespace mimo::cuda {

Fp8Matrix upload_fp8(const model::LinearWeight& w, DeviceArena& arena);
Mxfp4Matrix upload_mxfp4(const model::LinearWeight& w, DeviceArena& arena);
// Experts of one projection (same shape, MXFP4), back to back in one allocation.
Mxfp4Stack upload_mxfp4_stack(const std::vector<const model::LinearWeight*>& experts,
                              DeviceArena& arena);
Bf16Matrix upload_bf16(const model::LinearWeight& w, DeviceArena& arena);
// F32, BF16 or F16 weights widened to F32 (small matrices such as the router).
F32Matrix upload_f32(const model::LinearWeight& w, DeviceArena& arena);
// A vector parameter (F32, BF16 or F16) as F32 on the device; expected_size is checked.
const float* upload_vector(const model::VectorWeight& v, long long expected_size,
                           DeviceArena& arena);

}  // namespace mimo::cuda
