// Expert projections held as ExpertTables (per-expert matrices of any format): the format
// dispatch in front of cuda/kernels/step_ops.hpp's expert_rows / expert_down_rows, shared by every
// executor.
#pragma once

#include "cuda/kernels/step_ops.hpp"
#include "cuda/runtime/device_model.hpp"

namespace mimo::cuda {

// out[t * top_k + k] = table[experts[t, k]] . x[t] (see expert_rows).
void expert_table_rows(const ExpertTable& t, const float* x, const int* experts, int n, int top_k,
                       float* out, Stream s);
// y[t] = sum_k weights[t, k] table[experts[t, k]] . act[t * top_k + k] (see expert_down_rows).
void expert_table_down(const ExpertTable& t, const float* act, const int* experts,
                       const float* weights, int n, int top_k, float* y, Stream s);

}  // namespace mimo::cuda
