// FP8 block-scaled linear on tensor cores: y = W x for up to 8 tokens (two packed sets of four),
// W in E4M3 with one F32 scale per block (block_cols % 64 == 0). A warp computes kM tiles of 16
// rows over 64-column steps; a block's warps split the columns (warp w takes steps w,
// w + warps, ...) and their partial sums are added in warp order, so the result does not depend
// on the token count.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"
#include "cuda/tiles/mma.cuh"

namespace mimo::cuda::tiles {

// The load half's warm-up: moves the lines lane 4 g + q reads in 64-column step `step` of the kM
// 16-row tiles at row0 towards L2 (weights only: a kernel may call this before it waits for the
// previous kernel).
template <int kM>
__device__ __forceinline__ void prefetch_fp8_mma_step(const Fp8Matrix& w, int row0, int step, int g,
                                                      int q) {
  if (64 * step + 16 * q < w.cols) {
#pragma unroll
    for (int r = 0; r < 2 * kM; ++r) {
      const int row = min(row0 + 8 * r + g, w.rows - 1);
      prefetch_l2(w.codes + static_cast<std::size_t>(row) * w.cols + 64 * step + 16 * q);
    }
  }
}

// One 64-column step of fp8_mma_rows on weights already in registers: raw[m][h] holds this
// lane's 16 codes of row g + 8 h of tile m at column `col` (zeros past the last column), scale
// their block scales. Adds the step's products to acc; inv gets this lane's B token's 1 / scale.
template <int kM, int kSets, class Source>
__device__ __forceinline__ void fp8_mma_step(const uint4 (&raw)[kM][2], const float (&scale)[kM][2],
                                             const Source (&src)[kSets], int col,
                                             float (&acc)[kSets][kM][4], float (&inv)[kSets]) {
  const int g = (threadIdx.x % kWarpSize) / 4;
  std::uint32_t bw[kSets][2][4];
#pragma unroll
  for (int s = 0; s < kSets; ++s) load_b_half<2, 8>(src[s], g >= 4, col, bw[s], inv[s]);
  float f[kSets][2];  // 1 for SplitRow: x * 1 is exact, so one code path serves both
#pragma unroll
  for (int s = 0; s < kSets; ++s) step_token_scales<Source>(inv[s], 1.0f, f[s]);
#pragma unroll
  for (int m = 0; m < kM; ++m) {
    float t[kSets][4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const std::uint32_t w0 = word_of(raw[m][0], j), w1 = word_of(raw[m][1], j);
      const std::uint32_t a[4] = {e4m3x2_to_half2(w0), e4m3x2_to_half2(w1),
                                  e4m3x2_to_half2(w0 >> 16), e4m3x2_to_half2(w1 >> 16)};
      const int p = j / 2, k = 2 * (j % 2);  // columns 4j .. 4j + 3: piece p, words k, k + 1
#pragma unroll
      for (int s = 0; s < kSets; ++s) {
        if (j == 0) {
          mma_f16_from_zero(t[s], a, bw[s][p][k], bw[s][p][k + 1]);
        } else {
          mma_f16(t[s], a, bw[s][p][k], bw[s][p][k + 1]);
        }
      }
    }
#pragma unroll
    for (int s = 0; s < kSets; ++s) {
      acc[s][m][0] = fmaf(t[s][0], scale[m][0] * f[s][0], acc[s][m][0]);
      acc[s][m][1] = fmaf(t[s][1], scale[m][0] * f[s][1], acc[s][m][1]);
      acc[s][m][2] = fmaf(t[s][2], scale[m][1] * f[s][0], acc[s][m][2]);
      acc[s][m][3] = fmaf(t[s][3], scale[m][1] * f[s][1], acc[s][m][3]);
    }
  }
}

// One warp: out[m] (C fragments, rows row0 + 16 m + g (+ 8), tokens 2q, 2q + 1 of up to 4 kSets)
// = the 64-column steps step0, step0 + step_stride, ... of W x. Lane 4 g + q reads row g / g + 8's
// 16 codes at column 64 s + 16 q and, through src[set] (F32Row or SplitRow, cuda/tiles/mma.cuh's
// packed sets), the hi or lo half of its B token's 16 activations there. Block scales are
// applied per step, the tokens' own scales at the end (SplitRow) or per step (F32Row).
template <int kM, int kSets, class Source>
__device__ __forceinline__ void fp8_mma_rows(const Fp8Matrix& w, int row0,
                                             const Source (&src)[kSets], int step0, int step_stride,
                                             float (&out)[kM][4]) {
  const int lane = threadIdx.x % kWarpSize, g = lane / 4, q = lane % 4;
  float acc[kSets][kM][4];
#pragma unroll
  for (int s = 0; s < kSets; ++s)
#pragma unroll
    for (int m = 0; m < kM; ++m)
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[s][m][i] = 0.0f;
  float inv[kSets];
#pragma unroll
  for (int s = 0; s < kSets; ++s) inv[s] = 1.0f;  // a warp without steps adds zeros
  const int steps = (w.cols + 63) / 64;
  for (int step = step0; step < steps; step += step_stride) {
    const int col = step * 64 + 16 * q;
    const bool in = col < w.cols;
    // A lane past the last column still scales its C fragment (sums over every lane's
    // columns): its scale column is clamped into the step.
    const int scale_col = min(col, w.cols - 16) / w.block_cols;
    uint4 raw[kM][2];
    float scale[kM][2];
#pragma unroll
    for (int m = 0; m < kM; ++m) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = min(row0 + 16 * m + g + 8 * h, w.rows - 1);
        raw[m][h] = in ? load_stream_u4(w.codes + static_cast<std::size_t>(row) * w.cols + col)
                       : make_uint4(0, 0, 0, 0);
        const int scale_row = (row + w.scale_row_offset) / w.block_rows;
        scale[m][h] =
            __ldg(w.scales + static_cast<std::size_t>(scale_row) * w.scale_cols + scale_col);
      }
    }
    fp8_mma_step<kM, kSets, Source>(raw, scale, src, col, acc, inv);
  }
  if (!kRowScaled<Source>) {  // F32Row: the token scales went in per step
#pragma unroll
    for (int s = 0; s < kSets; ++s) inv[s] = 1.0f;
  }
  finish_packed<kSets, kM>(acc, inv, 1.0f, out);
}

}  // namespace mimo::cuda::tiles
