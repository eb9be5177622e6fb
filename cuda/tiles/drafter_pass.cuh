// The DFlash drafter's passes as persistent phases: one launch of co-resident blocks runs a
// whole context update or a whole block forward, the phases separated by grid barriers instead
// of kernel boundaries (the drafter is tiny: a boundary costs more than a phase's work). Every
// block stages its phase's inputs (a few rows) in shared memory; warps then each take output
// rows of a linear for every token. Activations written in the same launch are read through L2
// (__ldcg: L1 is not coherent across multiprocessors).
#pragma once

#include <math.h>

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/drafter_attention.cuh"
#include "cuda/tiles/drafter_pass.hpp"
#include "cuda/tiles/moe.cuh"
#include "cuda/tiles/rope.cuh"

namespace mimo::cuda::tiles {

// Grid-wide barrier number `generation` (1, 2, ...) of a launch whose counter started at zero:
// every write before it is visible to every block after it.
__device__ __forceinline__ void drafter_grid_barrier(unsigned* counter, unsigned generation) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    atomicAdd(counter, 1u);
    const unsigned target = generation * gridDim.x;
    while (true) {
      unsigned seen;
      asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(seen) : "l"(counter) : "memory");
      if (seen >= target) break;
    }
    __threadfence();
  }
  __syncthreads();
}

// rows x cols floats from global memory (written earlier in this launch) into shared memory.
__device__ __forceinline__ void drafter_stage(float* dst, const float* src, int count) {
  for (int i = threadIdx.x; i < count; i += blockDim.x) dst[i] = __ldcg(src + i);
}

// In place over one row of shared memory, by one warp: row = weight * row * rsqrt(mean + eps).
__device__ __forceinline__ void drafter_warp_rmsnorm(float* row, const float* weight, int dim,
                                                     float eps, int lane) {
  float sq = 0.0f;
  for (int i = lane; i < dim; i += kWarpSize) sq = fmaf(row[i], row[i], sq);
  const float inv_rms = 1.0f / sqrtf(warp_sum(sq) / static_cast<float>(dim) + eps);
  __syncwarp();
  for (int i = lane; i < dim; i += kWarpSize) row[i] = weight[i] * (row[i] * inv_rms);
  __syncwarp();
}

// One warp's dot products of weight row r with n staged rows xs [n, cols] (shared memory):
// acc[t] (every lane gets the sums). BF16 rows in 16-byte chunks of 8 values, F32 of 4.
__device__ __forceinline__ void drafter_row_dots(const DrafterPassMatrix& w, int r, const float* xs,
                                                 int n, int lane,
                                                 float (&acc)[kMaxDrafterPassRows]) {
#pragma unroll
  for (int t = 0; t < kMaxDrafterPassRows; ++t) acc[t] = 0.0f;
  const int cols = w.cols;
  if (w.bf16) {
    const auto* row = static_cast<const std::uint16_t*>(w.values) + static_cast<size_t>(r) * cols;
    for (int c = lane * 8; c < cols; c += kWarpSize * 8) {
      const uint4 bits = __ldg(reinterpret_cast<const uint4*>(row + c));
      float wv[8];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const std::uint32_t word = word_of(bits, j);
        wv[2 * j] = __uint_as_float(word << 16);
        wv[2 * j + 1] = __uint_as_float(word & 0xFFFF0000u);
      }
#pragma unroll
      for (int t = 0; t < kMaxDrafterPassRows; ++t) {
        if (t >= n) break;
        const float* x = xs + static_cast<size_t>(t) * cols + c;
        float a = acc[t];
#pragma unroll
        for (int j = 0; j < 8; ++j) a = fmaf(wv[j], x[j], a);
        acc[t] = a;
      }
    }
  } else {
    const auto* row = static_cast<const float*>(w.values) + static_cast<size_t>(r) * cols;
    for (int c = lane * 4; c < cols; c += kWarpSize * 4) {
      const float4 wv = __ldg(reinterpret_cast<const float4*>(row + c));
#pragma unroll
      for (int t = 0; t < kMaxDrafterPassRows; ++t) {
        if (t >= n) break;
        const float* x = xs + static_cast<size_t>(t) * cols + c;
        acc[t] = fmaf(wv.w, x[3], fmaf(wv.z, x[2], fmaf(wv.y, x[1], fmaf(wv.x, x[0], acc[t]))));
      }
    }
  }
#pragma unroll
  for (int t = 0; t < kMaxDrafterPassRows; ++t) {
    if (t >= n) break;
    acc[t] = warp_sum(acc[t]);
  }
}

// The grid's warps over rows [0, rows) of w: y[t * ldy + r] = w_r . xs[t] for t < n.
__device__ __forceinline__ void drafter_linear_phase(const DrafterPassMatrix& w, const float* xs,
                                                     int n, float* y, int ldy) {
  const int lane = threadIdx.x % kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  const int first = blockIdx.x * warps + threadIdx.x / kWarpSize;
  float acc[kMaxDrafterPassRows];
  for (int r = first; r < w.rows; r += gridDim.x * warps) {
    drafter_row_dots(w, r, xs, n, lane, acc);
    if (lane == 0) {
#pragma unroll
      for (int t = 0; t < kMaxDrafterPassRows; ++t) {
        if (t < n) y[static_cast<size_t>(t) * ldy + r] = acc[t];
      }
    }
  }
}

// xs [n, dim] = x (+ delta) staged, written back to x_out by block 0 when out is set, then each
// row RMS-normed with weight into hs [n, dim] (xs kept).
__device__ __forceinline__ void drafter_residual_norm(const float* x, const float* delta,
                                                      float* x_out, const float* weight, int n,
                                                      int dim, float eps, float* xs, float* hs) {
  const int count = n * dim;
  for (int i = threadIdx.x; i < count; i += blockDim.x) {
    float v = __ldcg(x + i);
    if (delta != nullptr) v += __ldcg(delta + i);
    xs[i] = v;
    hs[i] = v;
    if (x_out != nullptr && blockIdx.x == 0) x_out[i] = v;
  }
  __syncthreads();
  const int lane = threadIdx.x % kWarpSize, warps = blockDim.x / kWarpSize;
  for (int t = threadIdx.x / kWarpSize; t < n; t += warps) {
    drafter_warp_rmsnorm(hs + static_cast<size_t>(t) * dim, weight, dim, eps, lane);
  }
  __syncthreads();
}

}  // namespace mimo::cuda::tiles
