// RMSNorm tile: one block normalises one token, y = weight * (x * rsqrt(mean(x^2) + eps)), in
// float32 as transformers does; optionally first adds a delta into the residual stream
// (x += delta, written back) so the residual add costs no separate pass.
#pragma once

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/mma.cuh"

namespace mimo::cuda::tiles {

// x, out: [dim] of one token (out may alias x when delta is null). delta may be null. scratch:
// 32 floats of shared memory. Called by every thread of the block.
__device__ __forceinline__ void rmsnorm_token_tile(float* x, const float* delta,
                                                   const float* weight, int dim, float eps,
                                                   float* out, float* scratch,
                                                   const Team& me = Team::block()) {
  float sq = 0.0f;
  for (int i = me.thread; i < dim; i += me.threads) {
    float v = x[i];
    if (delta != nullptr) {
      v += delta[i];
      x[i] = v;
    }
    sq = fmaf(v, v, sq);
  }
  const float mean_square = block_sum(sq, scratch, me) / static_cast<float>(dim);
  const float inv_rms = 1.0f / sqrtf(mean_square + eps);
  for (int i = me.thread; i < dim; i += me.threads) out[i] = weight[i] * (x[i] * inv_rms);
}

// The same for dim % 4 == 0 and dim <= 4 * kVec * blockDim.x (x 16-byte aligned): each thread
// keeps its float4s in registers between the sum and the scaling, so x is read once. With
// split_hi non-null the output row is also written split for the tensor-core tiles
// (SplitActivations: split_hi, split_lo, *split_inv).
template <int kVec>
__device__ __forceinline__ void rmsnorm_token_tile_vec(
    float* x, const float* delta, const float* weight, int dim, float eps, float* out,
    float* scratch, std::uint16_t* split_hi = nullptr, std::uint16_t* split_lo = nullptr,
    float* split_inv = nullptr, const Team& me = Team::block()) {
  float4 v[kVec], w4[kVec];
  float sq = 0.0f;
  const int n4 = dim / 4;
  // Every load is issued up front, the weight's too: none waits for the block reduction.
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    const int i = me.thread + j * me.threads;
    if (i < n4) {
      w4[j] = __ldg(reinterpret_cast<const float4*>(weight) + i);
      v[j] = reinterpret_cast<const float4*>(x)[i];
      if (delta != nullptr) {
        const float4 d = reinterpret_cast<const float4*>(delta)[i];
        v[j].x += d.x;
        v[j].y += d.y;
        v[j].z += d.z;
        v[j].w += d.w;
      }
    }
  }
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    const int i = me.thread + j * me.threads;
    if (i >= n4) break;
    if (delta != nullptr) reinterpret_cast<float4*>(x)[i] = v[j];
    sq = fmaf(v[j].x, v[j].x, sq);
    sq = fmaf(v[j].y, v[j].y, sq);
    sq = fmaf(v[j].z, v[j].z, sq);
    sq = fmaf(v[j].w, v[j].w, sq);
  }
  const float mean_square = block_sum(sq, scratch, me) / static_cast<float>(dim);
  const float inv_rms = 1.0f / sqrtf(mean_square + eps);
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    const int i = me.thread + j * me.threads;
    if (i >= n4) break;
    const float4 w = w4[j];
    float4 y;
    y.x = w.x * (v[j].x * inv_rms);
    y.y = w.y * (v[j].y * inv_rms);
    y.z = w.z * (v[j].z * inv_rms);
    y.w = w.w * (v[j].w * inv_rms);
    reinterpret_cast<float4*>(out)[i] = y;
    v[j] = y;
  }
  if (split_hi == nullptr) return;  // block-uniform
  float m = 0.0f;
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    if (me.thread + j * me.threads < n4) m = fmaxf(m, max_abs4(v[j]));
  }
  float s, inv;
  token_scale(block_max(m, scratch, me), s, inv);
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    const int i = me.thread + j * me.threads;
    if (i < n4) store_split4(v[j], s, split_hi, split_lo, i);
  }
  if (me.thread == 0) *split_inv = inv;
}

}  // namespace mimo::cuda::tiles
