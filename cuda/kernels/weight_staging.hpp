// How the decode / verify weight-streaming kernels move their weights: 0 = loads straight into
// registers; 2..4 = through a per-warp ring of that many steps in shared memory (cp.async), so
// more bytes are in flight without registers holding them. Every depth gives the same bits.
// Process-wide settings, one per kernel family; the defaults were chosen by measurement
// (docs/cuda.md, change 14), and the environment overrides them for A/B runs.
#pragma once

namespace mimo::cuda {

enum class StagedKernels {
  kExperts,     // expert_gate_up / expert_down (MIMO_EXPERT_STAGES)
  kFp8Linears,  // the FP8 tensor-core linears: q/k/v, o, dense MLP (MIMO_FP8_STAGES)
};

constexpr bool valid_weight_stages(int stages) {
  return stages == 0 || (stages >= 2 && stages <= 4);
}
int weight_stages(StagedKernels kernels);
// Throws kInvalidArgument unless valid_weight_stages(stages). Affects launches after it (a
// captured graph keeps the kernels it captured).
void set_weight_stages(StagedKernels kernels, int stages);

}  // namespace mimo::cuda
