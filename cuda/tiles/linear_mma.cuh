// FP8 block-scaled linear on tensor cores: y = W x for up to 8 tokens, W in E4M3 with one F32
// scale per block (block_cols % 64 == 0). A warp computes kM tiles of 16 rows over 64-column
// steps; a block's warps split the columns (warp w takes steps w, w + warps, ...) and their
// partial sums are added in warp order, so the result does not depend on the token count.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"
#include "cuda/tiles/mma.cuh"

namespace mimo::cuda::tiles {

// One warp: acc[m] (C fragments, rows row0 + 16 m + g (+ 8), tokens 2q, 2q + 1) += the 64-column
// steps step0, step0 + step_stride, ... of W x. Lane 4 g + q reads row g / g + 8's 16 codes at
// column 64 s + 16 q and, through `src` (F32Row or SplitRow, cuda/tiles/mma.cuh), token g's 16
// activations there.
template <int kM, class Source>
__device__ __forceinline__ void fp8_mma_rows(const Fp8Matrix& w, int row0, const Source& src,
                                             int step0, int step_stride, float (&acc)[kM][4]) {
  const int lane = threadIdx.x % kWarpSize, g = lane / 4, q = lane % 4;
#pragma unroll
  for (int m = 0; m < kM; ++m)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[m][i] = 0.0f;
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
    std::uint32_t bh[2][4], bl[2][4];
    float inv_s;
    load_b<2, 8>(src, col, bh, bl, inv_s);
    // 1 / scale of this lane's C tokens 2q and 2q + 1 (B tokens of lanes 8q and 8q + 4).
    const float inv0 = __shfl_sync(0xffffffffu, inv_s, 8 * q);
    const float inv1 = __shfl_sync(0xffffffffu, inv_s, 8 * q + 4);
#pragma unroll
    for (int m = 0; m < kM; ++m) {
      float t[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const std::uint32_t w0 = word_of(raw[m][0], j), w1 = word_of(raw[m][1], j);
        const std::uint32_t a[4] = {e4m3x2_to_half2(w0), e4m3x2_to_half2(w1),
                                    e4m3x2_to_half2(w0 >> 16), e4m3x2_to_half2(w1 >> 16)};
        const int p = j / 2, k = 2 * (j % 2);  // columns 4j .. 4j + 3: piece p, words k, k + 1
        if (j == 0) {
          mma_f16_from_zero(t, a, bh[p][k], bh[p][k + 1]);
        } else {
          mma_f16(t, a, bh[p][k], bh[p][k + 1]);
        }
        mma_f16(t, a, bl[p][k], bl[p][k + 1]);
      }
      acc[m][0] = fmaf(t[0], scale[m][0] * inv0, acc[m][0]);
      acc[m][1] = fmaf(t[1], scale[m][0] * inv1, acc[m][1]);
      acc[m][2] = fmaf(t[2], scale[m][1] * inv0, acc[m][2]);
      acc[m][3] = fmaf(t[3], scale[m][1] * inv1, acc[m][3]);
    }
  }
}

}  // namespace mimo::cuda::tiles
