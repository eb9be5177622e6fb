// FP8 block-scaled linear on tensor cores: y = W x for up to 8 tokens (two packed sets of four),
// W in E4M3 with one F32 scale per block (block_cols % 64 == 0). A warp computes kM tiles of 16
// rows over 64-column steps; a block's warps split the columns (warp w takes steps w,
// w + warps, ...) and their partial sums are added in warp order, so the result does not depend
// on the token count.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/tiles/async_copy.cuh"
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

// Where lane 4 g + q's codes of row g + 8 h of tile m lie in 64-column step `step`: the row
// (clamped to the last: its products are not written) and the column (past the last: no codes).
template <int kM>
__device__ __forceinline__ int fp8_lane_row(const Fp8Matrix& w, int row0, int m, int h) {
  const int g = (threadIdx.x % kWarpSize) / 4;
  return min(row0 + 16 * m + g + 8 * h, w.rows - 1);
}
__device__ __forceinline__ int fp8_lane_col(int step) {
  return step * 64 + 16 * (threadIdx.x % 4);
}

// The block scales of the lane's rows in a step. A lane past the last column still scales its
// C fragment (sums over every lane's columns): its scale column is clamped into the step.
template <int kM>
__device__ __forceinline__ void fp8_step_scales(const Fp8Matrix& w, int row0, int col,
                                                float (&scale)[kM][2]) {
  const int scale_col = min(col, w.cols - 16) / w.block_cols;
#pragma unroll
  for (int m = 0; m < kM; ++m)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int scale_row = (fp8_lane_row<kM>(w, row0, m, h) + w.scale_row_offset) / w.block_rows;
      scale[m][h] =
          __ldg(w.scales + static_cast<std::size_t>(scale_row) * w.scale_cols + scale_col);
    }
}

template <int kSets, int kM>
__device__ __forceinline__ void fp8_finish_rows(const float (&acc)[kSets][kM][4],
                                                float (&inv)[kSets], bool row_scaled,
                                                float (&out)[kM][4]) {
  if (!row_scaled) {  // F32Row: the token scales went in per step
#pragma unroll
    for (int s = 0; s < kSets; ++s) inv[s] = 1.0f;
  }
  finish_packed<kSets, kM>(acc, inv, 1.0f, out);
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
    const int col = fp8_lane_col(step);
    const bool in = col < w.cols;
    uint4 raw[kM][2];
#pragma unroll
    for (int m = 0; m < kM; ++m)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = fp8_lane_row<kM>(w, row0, m, h);
        raw[m][h] = in ? load_stream_u4(w.codes + static_cast<std::size_t>(row) * w.cols + col)
                       : make_uint4(0, 0, 0, 0);
      }
    float scale[kM][2];
    fp8_step_scales<kM>(w, row0, col, scale);
    fp8_mma_step<kM, kSets, Source>(raw, scale, src, col, acc, inv);
  }
  fp8_finish_rows<kSets, kM>(acc, inv, kRowScaled<Source>, out);
}

// fp8_mma_rows with the codes streamed through a per-warp ring of kStages steps in shared memory
// (cp.async; a lane reads back only the 16-byte chunks it copied, so no barrier is needed):
// kStages - 1 steps' bytes stay in flight while one is multiplied, without the registers
// holding them. The same codes reach the same products in the same order: fp8_mma_rows' bits.
// prologue() may run before the kernel waits for its predecessor (weights only); run() then
// multiplies. ring: this warp's ring_bytes() bytes, 16-byte aligned.
template <int kStages, int kM>
struct Fp8StagedRows {
  static_assert(kStages >= 2, "a ring needs a stage in flight beside the one multiplied");
  static constexpr int kStageBytes = kM * 2 * 16 * kWarpSize;
  static constexpr int ring_bytes() { return kStages * kStageBytes; }

  const Fp8Matrix& w;
  int row0, step0, step_stride;
  std::uint8_t* ring;

  __device__ __forceinline__ int steps() const { return (w.cols + 63) / 64; }
  // Chunk (m, h) of lane l at 512 (2 m + h) + 16 l of its stage; zeros past the last column.
  __device__ __forceinline__ void issue(int step, int stage) const {
    if (step < steps()) {
      const int lane = threadIdx.x % kWarpSize, col = fp8_lane_col(step);
      const bool in = col < w.cols;
#pragma unroll
      for (int m = 0; m < kM; ++m)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int row = fp8_lane_row<kM>(w, row0, m, h);
          copy_16_async(ring + stage * kStageBytes + 512 * (2 * m + h) + 16 * lane,
                        in ? w.codes + static_cast<std::size_t>(row) * w.cols + col : w.codes, in);
        }
    }
    commit_copies();  // empty groups too: wait_copies counts groups
  }
  __device__ __forceinline__ void prologue() const {
#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) issue(step0 + s * step_stride, s);
  }
  template <int kSets, class Source>
  __device__ __forceinline__ void run(const Source (&src)[kSets], float (&out)[kM][4]) const {
    const int lane = threadIdx.x % kWarpSize;
    float acc[kSets][kM][4];
#pragma unroll
    for (int s = 0; s < kSets; ++s)
#pragma unroll
      for (int m = 0; m < kM; ++m)
#pragma unroll
        for (int i = 0; i < 4; ++i) acc[s][m][i] = 0.0f;
    float inv[kSets];
#pragma unroll
    for (int s = 0; s < kSets; ++s) inv[s] = 1.0f;
    int stage = 0;
    for (int step = step0; step < steps(); step += step_stride) {
      // The slot refilled here was read by this lane in the previous step (consumed by now).
      issue(step + (kStages - 1) * step_stride, stage == 0 ? kStages - 1 : stage - 1);
      wait_copies<kStages - 1>();
      const int col = fp8_lane_col(step);
      uint4 raw[kM][2];
#pragma unroll
      for (int m = 0; m < kM; ++m)
#pragma unroll
        for (int h = 0; h < 2; ++h)
          raw[m][h] = *reinterpret_cast<const uint4*>(ring + stage * kStageBytes +
                                                      512 * (2 * m + h) + 16 * lane);
      float scale[kM][2];
      fp8_step_scales<kM>(w, row0, col, scale);
      fp8_mma_step<kM, kSets, Source>(raw, scale, src, col, acc, inv);
      stage = stage + 1 == kStages ? 0 : stage + 1;
    }
    wait_copies<0>();  // nothing of this ring in flight when the caller reuses it
    fp8_finish_rows<kSets, kM>(acc, inv, kRowScaled<Source>, out);
  }
};

}  // namespace mimo::cuda::tiles
