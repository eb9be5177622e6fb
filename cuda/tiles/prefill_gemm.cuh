// Prefill GEMM tile: the FP8 block-scaled linear y = W x for a step of many tokens (a prompt's
// chunk) on tensor cores, each weight tile staged in shared memory once for 64 tokens, where the
// decode tiles (linear_mma.cuh) re-read the weights for every 8 tokens.
//
// A block computes kWarpRows x 64 weight rows for 64 tokens; warp (m, n) = (warp / 2, warp % 2)
// owns rows 64 m .. + 63 and tokens 32 n .. + 31 of it (4 x 4 mma tiles of 16 rows x 8 tokens).
// The columns advance in stages of 64 through a ring of kGemmStages shared-memory buffers filled
// with cp.async (stage k + 3 loads while stage k multiplies); a stage holds the rows' E4M3 codes
// and the tokens' split activations (F16 hi and lo halves, SplitActivations).
//
// Math, per output: for each 64-column stage, part = sum over its columns of w * hi + w * lo
// (exact F16 products, mma F32 accumulation: the codes decoded exactly to F16, hi then lo of each
// 16 columns), acc += part * the stage's block scale (block_cols % 64 == 0: one scale a stage
// and row); y = acc * the token's 1 / scale. A token's result depends only on its own row and the
// weights (not on the token count, the block shape or which tokens share a block), but it is not
// the decode tiles' bits: they sum hi and lo apart and in another column order.
//
// Column order inside one mma (free as long as A and B agree; see mma.cuh's fragment
// coordinates): lane 4 g + q's A registers are rows g / g + 8 codes 4q, 4q + 1 (k slots 2q,
// 2q + 1) and 4q + 2, 4q + 3 (slots 2q + 8, 2q + 9) of the 16 columns, which one ldmatrix of the
// code bytes gives (word q of a 16-byte row); its B registers are token g's halves 4q .. 4q + 3,
// one 8-byte shared load.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/tiles/async_copy.cuh"
#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"
#include "cuda/tiles/mma.cuh"

namespace mimo::cuda::tiles {

inline constexpr int kGemmTokens = 64;  // a block's tokens (two warps of 32)
inline constexpr int kGemmCols = 64;    // columns a stage (a scale block holds whole stages)
inline constexpr int kGemmStages = 4;
inline constexpr int kGemmWarpRows = 64;
inline constexpr int kGemmWarpTokens = 32;
inline constexpr int kGemmM = kGemmWarpRows / 16;   // 16-row mma tiles a warp
inline constexpr int kGemmN = kGemmWarpTokens / 8;  // 8-token mma tiles a warp

// A block of kWarpRows x 2 warps and its shared memory: a stage is the codes [rows][64 bytes],
// then the hi halves [64 tokens][64], then the lo halves, each row swizzled (below).
template <int kWarpRows>
struct GemmBlock {
  static constexpr int kRows = kWarpRows * kGemmWarpRows;
  static constexpr int kThreads = kWarpRows * 2 * kWarpSize;
  static constexpr int kCodeBytes = kRows * kGemmCols;
  static constexpr int kHalfBytes = kGemmTokens * kGemmCols * 2;
  static constexpr int kStageBytes = kCodeBytes + 2 * kHalfBytes;
  static constexpr int kSmemBytes = kGemmStages * kStageBytes;
  static_assert(kCodeBytes % (16 * kThreads) == 0 && kGemmTokens % (kThreads / 8) == 0);
};

// Where 16-byte chunk c (0..3) of code row r lies in a stage: chunk c ^ (r / 2 % 4), so the 8
// rows one ldmatrix phase reads (r .. r + 7, one chunk) fall in 8 different 16-byte bank groups.
__device__ __forceinline__ int gemm_code_offset(int r, int c) {
  return 64 * r + 16 * (c ^ ((r >> 1) & 3));
}
// Where 16-byte chunk c (0..7) of token t's halves lies: chunk c ^ 2 (t % 4), so the 8-byte loads
// of a half-warp (4 tokens x 4 lanes) fall in 16 different 8-byte bank pairs.
__device__ __forceinline__ int gemm_half_offset(int t, int c) {
  return 128 * t + 16 * (c ^ (2 * (t & 3)));
}

// Four 8 x 8 matrices of 16-bit elements from shared memory (this lane's row address `row`;
// lanes 8 j .. 8 j + 7 address matrix j's rows): r[j] = word q of row g of matrix j.
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const void* row) {
  const unsigned at = static_cast<unsigned>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(at));
}

// Starts copying stage kt's codes (columns 64 kt .. + 63 of rows row0 .. + kRows - 1) into dst;
// zeros past the last row or column. Weights only: a kernel may call this before it waits for
// the previous kernel. Offsets are 32-bit (rows x cols < 2^32, checked by the launcher), so the
// addresses a thread keeps across stages take one register each.
template <int kWarpRows>
__device__ __forceinline__ void copy_gemm_codes(const Fp8Matrix& w, int row0, int kt,
                                                std::uint8_t* dst, const Team& me) {
  using Block = GemmBlock<kWarpRows>;
  constexpr int kRowStep = Block::kThreads / 4;  // rows between a thread's chunks
  const int r0 = me.thread / 4, c = me.thread % 4;
  const int col = kGemmCols * kt + 16 * c;
#pragma unroll
  for (int j = 0; j < Block::kCodeBytes / (16 * Block::kThreads); ++j) {
    const int r = r0 + j * kRowStep;
    const bool in = row0 + r < w.rows && col < w.cols;
    const unsigned at = static_cast<unsigned>(row0 + r) * w.cols + col;
    copy_16_async(dst + gemm_code_offset(r, c), w.codes + (in ? at : 0u), in);
  }
}

// Starts copying stage kt's halves (hi, then lo) of tokens token0 .. + 63 into dst; zeros past
// the last token or column.
template <int kWarpRows>
__device__ __forceinline__ void copy_gemm_halves(const SplitActivations& x, int n_tokens,
                                                 int token0, int kt, std::uint8_t* dst,
                                                 const Team& me) {
  using Block = GemmBlock<kWarpRows>;
  constexpr int kTokenStep = Block::kThreads / 8;  // tokens between a thread's chunks
  const int t0 = me.thread / 8, c = me.thread % 8;
  const int col = kGemmCols * kt + 8 * c;
#pragma unroll
  for (int j = 0; j < kGemmTokens / kTokenStep; ++j) {
    const int t = t0 + j * kTokenStep;
    const bool in = token0 + t < n_tokens && col < x.cols;
    const unsigned at = in ? static_cast<unsigned>(token0 + t) * x.cols + col : 0u;
    copy_16_async(dst + gemm_half_offset(t, c), x.hi + at, in);
    copy_16_async(dst + Block::kHalfBytes + gemm_half_offset(t, c), x.lo + at, in);
  }
}

// The block's first kGemmStages - 1 stages of codes (left uncommitted: they join the first
// stage's group in prefill_gemm_tile). Call before prefill_gemm_tile, from every thread.
template <int kWarpRows>
__device__ __forceinline__ void prefetch_gemm_codes(const Fp8Matrix& w, int row0,
                                                    std::uint8_t* smem, const Team& me) {
  const int stages = (w.cols + kGemmCols - 1) / kGemmCols;
#pragma unroll
  for (int s = 0; s < kGemmStages - 1; ++s) {
    if (s < stages)
      copy_gemm_codes<kWarpRows>(w, row0, s, smem + s * GemmBlock<kWarpRows>::kStageBytes, me);
  }
}

// One warp's share of one stage: acc[m][n] += scale[m] x the sum over each 32 columns for rows
// 16 m (+ g, + 8) and tokens 8 n (+ 2q, + 1) of the warp's tile (rows warp_m * 64.., tokens
// warp_n * 32.. of the block), the hi and lo products of each 16 columns in turn. The token halves
// of 32 columns stay in registers while the rows' codes pass tile by tile (each read and decoded
// once), so a row tile's sum needs 16 registers and the halves 32.
template <int kWarpRows>
__device__ __forceinline__ void gemm_stage_mma(const std::uint8_t* stage, int warp_m, int warp_n,
                                               int lane, const float (&scale)[kGemmM][2],
                                               float (&acc)[kGemmM][kGemmN][4]) {
  using Block = GemmBlock<kWarpRows>;
  const std::uint8_t* hi = stage + Block::kCodeBytes;
  const std::uint8_t* lo = hi + Block::kHalfBytes;
  const int g = lane / 4, q = lane % 4;
  // ldmatrix: lanes 0-7 address rows 0-7 of chunk 2p, lanes 8-15 rows 8-15, lanes 16-31 the same
  // rows of chunk 2p + 1; so words = rows g, g + 8 of 16-column step 2p, then of 2p + 1.
  const int a_row = warp_m * kGemmWarpRows + (lane & 7) + 8 * ((lane >> 3) & 1);
  const int a_chunk = lane >> 4;
#pragma unroll
  for (int p = 0; p < kGemmCols / 32; ++p) {
    uint2 bh[2][kGemmN], bl[2][kGemmN];
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int n = 0; n < kGemmN; ++n) {
        const int t = warp_n * kGemmWarpTokens + 8 * n + g;
        const int at = gemm_half_offset(t, 2 * (2 * p + h) + (q >> 1)) + 8 * (q & 1);
        bh[h][n] = *reinterpret_cast<const uint2*>(hi + at);
        bl[h][n] = *reinterpret_cast<const uint2*>(lo + at);
      }
#pragma unroll
    for (int m = 0; m < kGemmM; ++m) {
      std::uint32_t words[4];
      ldmatrix_x4(words, stage + gemm_code_offset(a_row + 16 * m, 2 * p + a_chunk));
      float part[kGemmN][4];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const std::uint32_t top = words[2 * h], bottom = words[2 * h + 1];
        const std::uint32_t a[4] = {e4m3x2_to_half2(top), e4m3x2_to_half2(bottom),
                                    e4m3x2_to_half2(top >> 16), e4m3x2_to_half2(bottom >> 16)};
#pragma unroll
        for (int n = 0; n < kGemmN; ++n) {
          if (h == 0) {
            mma_f16_from_zero(part[n], a, bh[h][n].x, bh[h][n].y);
          } else {
            mma_f16(part[n], a, bh[h][n].x, bh[h][n].y);
          }
          mma_f16(part[n], a, bl[h][n].x, bl[h][n].y);
        }
      }
#pragma unroll
      for (int n = 0; n < kGemmN; ++n)
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[m][n][c] = fmaf(part[n][c], scale[m][c / 2], acc[m][n][c]);
    }
  }
}

// The block's tile: y[t, r] = W[r] . x[t] for rows row0 .. + kRows - 1 (< w.rows) and tokens
// token0 .. + 63 (< n_tokens); y is [n_tokens, w.rows]. prefetch_gemm_codes must have run;
// smem: GemmBlock::kSmemBytes, 16-byte aligned. Called by every thread of the block (a team of
// GemmBlock::kThreads).
template <int kWarpRows>
__device__ __forceinline__ void prefill_gemm_tile(const Fp8Matrix& w, const SplitActivations& x,
                                                  int n_tokens, int row0, int token0, float* y,
                                                  std::uint8_t* smem, const Team& me) {
  using Block = GemmBlock<kWarpRows>;
  const int stages = (w.cols + kGemmCols - 1) / kGemmCols;
#pragma unroll
  for (int s = 0; s < kGemmStages - 1; ++s) {
    if (s < stages)
      copy_gemm_halves<kWarpRows>(x, n_tokens, token0, s,
                                  smem + s * Block::kStageBytes + Block::kCodeBytes, me);
    commit_copies();
  }
  const int lane = me.lane(), warp_m = me.warp() / 2, warp_n = me.warp() % 2;
  const int g = lane / 4, q = lane % 4;
  int scale_row[kGemmM][2];  // offsets of this lane's rows' scale rows
#pragma unroll
  for (int m = 0; m < kGemmM; ++m)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = min(row0 + warp_m * kGemmWarpRows + 16 * m + g + 8 * h, w.rows - 1);
      scale_row[m][h] = (row + w.scale_row_offset) / w.block_rows * w.scale_cols;
    }
  float acc[kGemmM][kGemmN][4];
#pragma unroll
  for (int m = 0; m < kGemmM; ++m)
#pragma unroll
    for (int n = 0; n < kGemmN; ++n)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[m][n][c] = 0.0f;

#pragma unroll 1
  for (int kt = 0; kt < stages; ++kt) {
    wait_copies<kGemmStages - 2>();  // stage kt has landed (this thread's copies)
    me.sync();                       // everyone's, and stage kt - 1 is no longer read
    const int next = kt + kGemmStages - 1;
    if (next < stages) {
      std::uint8_t* dst = smem + (next % kGemmStages) * Block::kStageBytes;
      copy_gemm_codes<kWarpRows>(w, row0, next, dst, me);
      copy_gemm_halves<kWarpRows>(x, n_tokens, token0, next, dst + Block::kCodeBytes, me);
    }
    commit_copies();  // possibly empty: keeps one group a stage
    const int scale_col = kt * kGemmCols / w.block_cols;
    float scale[kGemmM][2];
#pragma unroll
    for (int m = 0; m < kGemmM; ++m)
#pragma unroll
      for (int h = 0; h < 2; ++h) scale[m][h] = __ldg(w.scales + scale_row[m][h] + scale_col);
    gemm_stage_mma<kWarpRows>(smem + (kt % kGemmStages) * Block::kStageBytes, warp_m, warp_n, lane,
                              scale, acc);
  }

  // C fragment c of tile (m, n): row 16 m + g + 8 (c / 2), token 8 n + 2 q + c % 2.
#pragma unroll
  for (int n = 0; n < kGemmN; ++n)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int token = token0 + warp_n * kGemmWarpTokens + 8 * n + 2 * q + j;
      if (token >= n_tokens) continue;
      const float inv = x.inv_scale[token];
      float* out = y + static_cast<std::size_t>(token) * w.rows;
#pragma unroll
      for (int m = 0; m < kGemmM; ++m)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int row = row0 + warp_m * kGemmWarpRows + 16 * m + g + 8 * h;
          if (row < w.rows) out[row] = acc[m][n][2 * h + j] * inv;
        }
    }
}

}  // namespace mimo::cuda::tiles
