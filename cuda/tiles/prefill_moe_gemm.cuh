// Prefill GEMM of the MXFP4 experts: the grouped expert products (moe_grouped.cuh) for a step of
// many tokens, each expert's weight tile staged in shared memory once for up to 64 of its members,
// where the decode tiles re-read the expert's weights from DRAM for every 8 members.
//
// A block owns one work tile (group, 64 members of it, kRows rows of each of kMats matrices of the
// group's expert: gate and up, or down). Warp (m, n) = (warp / 2, warp % 2) holds rows
// 16 kM m .. + 16 kM - 1 of every matrix and members 32 n .. + 31 (kMats x kM x 4 mma tiles of
// 16 rows x 8 members), so a warp has gate and up of the same rows. The columns advance one
// 128-column group of the stack's tile order a stage, through a ring of kMoeGemmStages buffers
// filled with cp.async (stage k + 3 loads while stage k multiplies); a stage holds the rows' code
// blocks (1024 bytes a 16-row tile, copied as stored), their scale blocks (64 bytes) and the
// members' split activations (F16 hi and lo halves of 128 columns, gathered by slot).
//
// Math, per output: for each 32-column scale block b, part = sum of its columns of w * hi, then
// + w * lo (E2M1 codes decoded exactly to F16 times 2^-14, mma F32 accumulation), acc += part *
// the block's E8M0 scale; out = acc * the member's 1 / scale * 2^14. A member's result depends
// only on its own row and the weights (not on the group size, its place in the tile or which
// tokens share the expert), but it is not the decode tiles' bits: they sum hi and lo apart and
// the column groups per warp in another order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/tiles/async_copy.cuh"
#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"
#include "cuda/tiles/mma.cuh"
#include "cuda/tiles/moe_grouped.cuh"

namespace mimo::cuda::tiles {

inline constexpr int kMoeGemmTokens = 64;  // members a work tile (two warps of 32)
inline constexpr int kMoeGemmStages = 4;
inline constexpr int kMoeGemmThreads = 256;  // 8 warps: 4 row slices x 2 member halves
inline constexpr int kMoeGemmWarpTokens = 32;
inline constexpr int kMoeGemmN = kMoeGemmWarpTokens / 8;  // 8-member mma tiles a warp
inline constexpr int kMoeGemmCols = 128;                  // columns a stage: one group

// A block of kMats matrices x kM 16-row tiles a warp and its shared memory: a stage is the code
// blocks [kMats][kTiles][1024], the scale blocks [kMats][kTiles][64], then the hi halves
// [64 members][128], then the lo halves (rows swizzled, below).
template <int kMats, int kM>
struct MoeGemmBlock {
  static constexpr int kRows = 4 * 16 * kM;  // rows of each matrix
  static constexpr int kTiles = kRows / 16;
  static constexpr int kCodeBytes = kMats * kTiles * 1024;
  static constexpr int kScaleBytes = kMats * kTiles * 64;
  static constexpr int kHalfBytes = kMoeGemmTokens * kMoeGemmCols * 2;
  static constexpr int kStageBytes = kCodeBytes + kScaleBytes + 2 * kHalfBytes;
  static constexpr int kSmemBytes = kMoeGemmStages * kStageBytes;
  // Copies: four 16-byte code chunks a thread (a matrix's chunks in whole steps of 256), one
  // scale chunk for the first threads, one member's 16 chunks of each half for 4 threads.
  static_assert(kCodeBytes == 4 * 16 * kMoeGemmThreads && kTiles % 4 == 0);
  static_assert(kScaleBytes <= 16 * kMoeGemmThreads);
  static_assert(kMoeGemmTokens * 4 == kMoeGemmThreads);
};

// Where 16-byte chunk c (0..15: columns 8 c .. + 7) of member t's halves lies: chunk c ^ 4 (t % 2),
// so a quarter-warp's 16-byte loads (members t, t + 1, lanes q = 0..3 of one 32-column block)
// fall in 8 different 16-byte bank groups.
__device__ __forceinline__ int moe_half_offset(int t, int c) {
  return 256 * t + 16 * (c ^ (4 * (t & 1)));
}

// The block's work: `count` (0: none) members from table member index `first` of `expert`.
struct MoeWorkTile {
  int expert = 0, first = 0, count = 0;
};

// Work tile `index` of the step: the groups' tiles of up to 64 members in group order (group g
// has ceil(members / 64) of them). Every warp walks the group table 32 groups at a time (a warp
// prefix sum of the tile counts), so no barrier is needed. Called by all 32 lanes of a warp.
__device__ __forceinline__ MoeWorkTile find_moe_work_tile(const int* table, int n_slots,
                                                          int index) {
  const int lane = threadIdx.x % kWarpSize;
  const int groups = min(table[0], n_slots);
  int before = 0;  // tiles of the groups already walked
  for (int base = 0; base < groups; base += kWarpSize) {
    const int g = base + lane;
    int begin = 0, end = 0;
    if (g < groups) {
      begin = table[1 + n_slots + g];
      end = table[2 + n_slots + g];
    }
    const int tiles = end > begin ? (end - begin + kMoeGemmTokens - 1) / kMoeGemmTokens : 0;
    int inclusive = tiles;
#pragma unroll
    for (int o = 1; o < kWarpSize; o <<= 1) {
      const int v = __shfl_up_sync(0xffffffffu, inclusive, o);
      if (lane >= o) inclusive += v;
    }
    const int first_tile = before + inclusive - tiles;
    const unsigned hit =
        __ballot_sync(0xffffffffu, index >= first_tile && index < first_tile + tiles);
    if (hit != 0) {
      const int src = __ffs(hit) - 1;
      const int expert = __shfl_sync(0xffffffffu, g < groups ? table[1 + g] : 0, src);
      const int start = __shfl_sync(0xffffffffu, begin, src);
      const int stop = __shfl_sync(0xffffffffu, end, src);
      const int tile = index - __shfl_sync(0xffffffffu, first_tile, src);
      const int first = start + kMoeGemmTokens * tile;
      return MoeWorkTile{expert, first, min(kMoeGemmTokens, stop - first)};
    }
    before += __shfl_sync(0xffffffffu, inclusive, kWarpSize - 1);
  }
  return MoeWorkTile{};
}

// Starts copying stage kt's code and scale blocks (group kt of tiles tile0 .. + kTiles - 1 of each
// matrix) into dst; zeros for tiles past the last. Thread chunk c = thread + 256 j: matrix
// j / (kTiles / 4), tile (c / 64) % kTiles, 16 bytes at 16 (c % 64) of its block.
template <int kMats, int kM>
__device__ __forceinline__ void copy_moe_weights(const Mxfp4MmaMatrix (&mats)[kMats], int tile0,
                                                 int kt, std::uint8_t* dst, int thread) {
  using Block = MoeGemmBlock<kMats, kM>;
  const int groups = mxfp4_mma_groups(mats[0].cols), tiles = mxfp4_mma_tiles(mats[0].rows);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int c = thread + kMoeGemmThreads * j;
    const int i = j / (Block::kTiles / 4);  // compile-time after unrolling
    const int tile = tile0 + (c / 64) % Block::kTiles;
    const bool in = tile < tiles;
    const std::size_t block = static_cast<std::size_t>(in ? tile : 0) * groups + kt;
    copy_16_async(dst + 16 * c, mats[i].codes + block * 1024 + 16 * (c % 64), in);
  }
  if (thread < Block::kScaleBytes / 16) {
    const int i = thread / (Block::kTiles * 4);
    const int tile = tile0 + (thread / 4) % Block::kTiles;
    const bool in = tile < tiles;
    const std::size_t block = static_cast<std::size_t>(in ? tile : 0) * groups + kt;
    const std::uint8_t* scales = i == 0 ? mats[0].scales : mats[kMats - 1].scales;
    copy_16_async(dst + Block::kCodeBytes + 16 * thread, scales + block * 64 + 16 * (thread % 4),
                  in);
  }
}

// Starts copying stage kt's halves (columns 128 kt .. + 127) of this thread's member t = thread / 4
// (chunks 4 (thread % 4) .. + 3 of each half) into dst (the stage's hi halves; lo follow).
// hi / lo: the member's split row, null for a slot past the tile's members (zeros); zeros past
// the last column too.
template <int kMats, int kM>
__device__ __forceinline__ void copy_moe_halves(const SplitActivations& x, const std::uint16_t* hi,
                                                const std::uint16_t* lo, int kt, std::uint8_t* dst,
                                                int thread) {
  using Block = MoeGemmBlock<kMats, kM>;
  const int t = thread / 4;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int c = 4 * (thread % 4) + j;
    const int col = kMoeGemmCols * kt + 8 * c;
    const bool in = hi != nullptr && col < x.cols;
    const int at = moe_half_offset(t, c);
    copy_16_async(dst + at, in ? hi + col : x.hi, in);
    copy_16_async(dst + Block::kHalfBytes + at, in ? lo + col : x.lo, in);
  }
}

// One warp's share of one stage: for each 32-column block b, acc[i][m][n] += scale x (the sum of
// w * hi, then w * lo, over the block's columns) for rows 16 (kM warp_m + m) + g (+ 8) of matrix
// i and members 32 warp_n + 8 n + 2q (+ 1). The rows' codes stay in registers for the stage
// while the members' halves pass block by block (32 registers). The block loop is not unrolled:
// unrolled, the compiler hoists every block's halves and spills (255 registers).
template <bool kExactScales, int kMats, int kM>
__device__ __forceinline__ void moe_stage_mma(const std::uint8_t* stage, int warp_m, int warp_n,
                                              int lane, float (&acc)[kMats][kM][kMoeGemmN][4]) {
  using Block = MoeGemmBlock<kMats, kM>;
  const std::uint8_t* hi = stage + Block::kCodeBytes + Block::kScaleBytes;
  const std::uint8_t* lo = hi + Block::kHalfBytes;
  const int g = lane / 4, q = lane % 4;
  // Rows g and g + 8 of each tile: lane q's 16 code bytes (word b: block b's 8 codes; one
  // 16-byte load a row, conflict-free) and the four blocks' E8M0 bytes.
  uint4 raw[kMats][kM][2];
  std::uint32_t scales[kMats][kM][2];
#pragma unroll
  for (int i = 0; i < kMats; ++i)
#pragma unroll
    for (int m = 0; m < kM; ++m)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int block = i * Block::kTiles + kM * warp_m + m;
        raw[i][m][h] =
            *reinterpret_cast<const uint4*>(stage + 1024 * block + 512 * h + 64 * g + 16 * q);
        scales[i][m][h] = *reinterpret_cast<const std::uint32_t*>(stage + Block::kCodeBytes +
                                                                  64 * block + 4 * (8 * h + g));
      }
#pragma unroll 1
  for (int b = 0; b < 4; ++b) {
    // Member 32 warp_n + 8 n + g's columns 32 b + 8 q .. + 7 (words: column pairs).
    uint4 bh[kMoeGemmN], bl[kMoeGemmN];
#pragma unroll
    for (int n = 0; n < kMoeGemmN; ++n) {
      const int at = moe_half_offset(kMoeGemmWarpTokens * warp_n + 8 * n + g, 4 * b + q);
      bh[n] = *reinterpret_cast<const uint4*>(hi + at);
      bl[n] = *reinterpret_cast<const uint4*>(lo + at);
    }
#pragma unroll
    for (int i = 0; i < kMats; ++i)
#pragma unroll
      for (int m = 0; m < kM; ++m) {
        std::uint32_t p0[4], p1[4];  // rows g and g + 8: pairs of codes (0, 1) .. (6, 7)
        e2m1x8_to_half2(word_of(raw[i][m][0], b), p0);
        e2m1x8_to_half2(word_of(raw[i][m][1], b), p1);
        const std::uint32_t a0[4] = {p0[0], p1[0], p0[1], p1[1]};
        const std::uint32_t a1[4] = {p0[2], p1[2], p0[3], p1[3]};
        const std::uint32_t e0 = (scales[i][m][0] >> (8 * b)) & 0xFFu;
        const std::uint32_t e1 = (scales[i][m][1] >> (8 * b)) & 0xFFu;
        const float s0 = kExactScales ? e8m0_to_float(e0) : __uint_as_float(e0 << 23);
        const float s1 = kExactScales ? e8m0_to_float(e1) : __uint_as_float(e1 << 23);
#pragma unroll
        for (int n = 0; n < kMoeGemmN; ++n) {
          float part[4];
          mma_f16_from_zero(part, a0, bh[n].x, bh[n].y);
          mma_f16(part, a1, bh[n].z, bh[n].w);
          mma_f16(part, a0, bl[n].x, bl[n].y);
          mma_f16(part, a1, bl[n].z, bl[n].w);
          float(&c)[4] = acc[i][m][n];
          c[0] = fmaf(part[0], s0, c[0]);
          c[1] = fmaf(part[1], s0, c[1]);
          c[2] = fmaf(part[2], s1, c[2]);
          c[3] = fmaf(part[3], s1, c[3]);
        }
      }
  }
}

// The block's products: acc (C fragments, scaled by the weights but not yet by the members' token
// scales) for rows row0 .. of each matrix (row0 a multiple of kRows) and the work tile's members,
// whose split rows this thread's member (thread / 4) has at hi / lo (null: past the members).
// smem: MoeGemmBlock::kSmemBytes, 16-byte aligned. Called by every thread of the block.
template <bool kExactScales, int kMats, int kM>
__device__ __forceinline__ void prefill_moe_tile(const Mxfp4MmaMatrix (&mats)[kMats],
                                                 const SplitActivations& x, const std::uint16_t* hi,
                                                 const std::uint16_t* lo, int row0,
                                                 std::uint8_t* smem,
                                                 float (&acc)[kMats][kM][kMoeGemmN][4]) {
  using Block = MoeGemmBlock<kMats, kM>;
  const int thread = threadIdx.x, lane = thread % kWarpSize, warp = thread / kWarpSize;
  const int warp_m = warp / 2, warp_n = warp % 2;
  const int stages = mxfp4_mma_groups(mats[0].cols), tile0 = row0 / 16;
#pragma unroll
  for (int s = 0; s < kMoeGemmStages - 1; ++s) {
    if (s < stages) {
      std::uint8_t* dst = smem + s * Block::kStageBytes;
      copy_moe_weights<kMats, kM>(mats, tile0, s, dst, thread);
      copy_moe_halves<kMats, kM>(x, hi, lo, s, dst + Block::kCodeBytes + Block::kScaleBytes,
                                 thread);
    }
    commit_copies();  // one group a stage, empty or not
  }
#pragma unroll
  for (int i = 0; i < kMats; ++i)
#pragma unroll
    for (int m = 0; m < kM; ++m)
#pragma unroll
      for (int n = 0; n < kMoeGemmN; ++n)
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[i][m][n][c] = 0.0f;

#pragma unroll 1
  for (int kt = 0; kt < stages; ++kt) {
    wait_copies<kMoeGemmStages - 2>();  // stage kt has landed (this thread's copies)
    __syncthreads();                    // everyone's, and stage kt - 1 is no longer read
    const int next = kt + kMoeGemmStages - 1;
    if (next < stages) {
      std::uint8_t* dst = smem + (next % kMoeGemmStages) * Block::kStageBytes;
      copy_moe_weights<kMats, kM>(mats, tile0, next, dst, thread);
      copy_moe_halves<kMats, kM>(x, hi, lo, next, dst + Block::kCodeBytes + Block::kScaleBytes,
                                 thread);
    }
    commit_copies();
    moe_stage_mma<kExactScales, kMats, kM>(smem + (kt % kMoeGemmStages) * Block::kStageBytes,
                                           warp_m, warp_n, lane, acc);
  }
  wait_copies<0>();  // no copy outlives the block (only empty groups can be left)
}

// Visits this thread's outputs of the block's tile: out(member index in the tile, row offset in
// the block, values of the kMats matrices) for members below count. C fragment c of tile
// (m, n): row 16 (kM warp_m + m) + g + 8 (c / 2), member 32 warp_n + 8 n + 2 q + c % 2.
template <int kMats, int kM, class Out>
__device__ __forceinline__ void for_moe_outputs(const float (&acc)[kMats][kM][kMoeGemmN][4],
                                                int count, Out&& out) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warp_m = warp / 2, warp_n = warp % 2, g = lane / 4, q = lane % 4;
#pragma unroll
  for (int n = 0; n < kMoeGemmN; ++n)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int t = kMoeGemmWarpTokens * warp_n + 8 * n + 2 * q + j;
      if (t >= count) continue;
#pragma unroll
      for (int m = 0; m < kM; ++m)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          float v[kMats];
#pragma unroll
          for (int i = 0; i < kMats; ++i) v[i] = acc[i][m][n][2 * h + j];
          out(t, 16 * (kM * warp_m + m) + g + 8 * h, v);
        }
    }
}

}  // namespace mimo::cuda::tiles
