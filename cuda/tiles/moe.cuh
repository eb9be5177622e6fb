// MoE expert tiles over MXFP4 weights (dequantized in registers). gate/up: one warp computes
// row r of both projections of one selected expert for one token and writes silu(g) * u.
// down: one warp computes output row h of one token summed over its top_k experts, each term
// weighted by the router weight, in a fixed order (deterministic, no atomics).
#pragma once

#include <cstddef>

#include "cuda/tiles/linear.cuh"

namespace mimo::cuda::tiles {

__device__ __forceinline__ Mxfp4Matrix stack_member(const Mxfp4Stack& s, int index) {
  const std::size_t values = static_cast<std::size_t>(s.rows) * s.cols;
  return Mxfp4Matrix{s.codes + index * (values / 2), s.scales + index * (values / 32), s.rows,
                     s.cols};
}

__device__ __forceinline__ float silu(float g) {
  return g / (1.0f + expf(-g));
}

// Called by a whole warp: act[row] = silu(gate[row] . x) * (up[row] . x).
__device__ __forceinline__ void expert_gate_up_row_tile(const Mxfp4Matrix& gate,
                                                        const Mxfp4Matrix& up, int row,
                                                        const float* x, float* act) {
  const int lane = threadIdx.x % kWarpSize;
  const int chunks = gate.cols / 32;
  float g = 0.0f, u = 0.0f;
  for (int chunk = lane; chunk < chunks; chunk += kWarpSize) {
    float wg[32], wu[32];
    const float sg = load_chunk(gate, row, chunk, wg);
    const float su = load_chunk(up, row, chunk, wu);
    const float* xc = x + chunk * 32;
    g = fmaf(chunk_dot<32>(wg, xc), sg, g);
    u = fmaf(chunk_dot<32>(wu, xc), su, u);
  }
  g = warp_sum(g);
  u = warp_sum(u);
  if (lane == 0) act[row] = silu(g) * u;
}

// Called by a whole warp: y[row] = sum_k weights[k] * (down_{experts[k]}[row] . act_k), where
// act_k = act + k * act_stride. k runs in order 0..top_k-1.
__device__ __forceinline__ void expert_down_row_tile(const Mxfp4Stack& down, int row,
                                                     const int* experts, const float* weights,
                                                     int top_k, const float* act, int act_stride,
                                                     float* y) {
  float total = 0.0f;
  for (int k = 0; k < top_k; ++k) {
    const Mxfp4Matrix m = stack_member(down, experts[k]);
    float acc[1];
    row_dot<1>(m, row, act + static_cast<std::size_t>(k) * act_stride, m.cols, 1, acc);
    total = fmaf(weights[k], acc[0], total);
  }
  if (threadIdx.x % kWarpSize == 0) y[row] = total;
}

}  // namespace mimo::cuda::tiles
