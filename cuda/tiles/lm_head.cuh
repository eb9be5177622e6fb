// BF16 linear on tensor cores (the lm_head): the load half, the compute half, the mainloop.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"
#include "cuda/tiles/mma.cuh"

namespace mimo::cuda::tiles {

// A 16-row tile for up to 8 tokens: a block's warps split the 64-column steps and add their
// partial sums in warp order. Per step lane 4 g + q reads 16 columns (16 q .. 16 q + 15) of rows
// g and g + 8 and of token g's activations, split into hi / mid / lo BF16 pieces (one n-tile
// each, so a token's column depends only on its own activations: a token gives the same bits
// alone as in a step). The k order inside an mma is free as long as A and B agree: mma k takes
// words 2k, 2k + 1 of the lane's columns.

// Where a thread works in the tiles (lane 4 g + q of warp `warp` of `warps`) and the matrix's
// 16-row tiles and 64-column steps: computed once by the kernel, read by both halves.
struct Bf16MmaThread {
  BlockThread me;
  int warp, lane, warps, g, q;
  int tiles, steps;
};

__device__ __forceinline__ Bf16MmaThread bf16_mma_thread(const Bf16Matrix& w,
                                                         const BlockThread& me) {
  Bf16MmaThread th;
  th.me = me;
  th.warp = me.warp();
  th.lane = me.lane();
  th.warps = me.warps();
  th.g = th.lane / 4;
  th.q = th.lane % 4;
  th.tiles = (w.rows + 15) / 16;
  th.steps = w.cols / 64;
  return th;
}

// ---- the load half (global memory -> registers) ----

// One lane's loads of one 64-column step.
struct Bf16MmaStep {
  uint4 a[2][2];  // [row g / g + 8][columns 16 q .. + 7 / + 8 .. + 15]
  float4 x[4];
};

// Rows g and g + 8 of 16-row tile `tile` (the last row stands in for rows past the end).
__device__ __forceinline__ void bf16_tile_rows(const Bf16Matrix& w, int tile, int g,
                                               const std::uint16_t* (&rows)[2]) {
#pragma unroll
  for (int r = 0; r < 2; ++r)
    rows[r] = w.values + static_cast<std::size_t>(min(16 * tile + 8 * r + g, w.rows - 1)) * w.cols;
}

// A step's weights (16 columns at col of both rows) and token row xt's activations there (zeros
// for xt null: no token in this lane's B column). kSharedX: xt is in shared memory (a fused kernel
// that wrote it), else global memory no thread of the kernel writes (read through __ldg).
template <bool kSharedX = false>
__device__ __forceinline__ void load_bf16_mma_step(const std::uint16_t* const (&rows)[2],
                                                   const float* xt, int col, Bf16MmaStep& s) {
#pragma unroll
  for (int r = 0; r < 2; ++r)
#pragma unroll
    for (int h = 0; h < 2; ++h) s.a[r][h] = load_stream_u4(rows[r] + col + 8 * h);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if (xt == nullptr) {
      s.x[i] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    } else if constexpr (kSharedX) {
      s.x[i] = reinterpret_cast<const float4*>(xt + col)[i];
    } else {
      s.x[i] = __ldg(reinterpret_cast<const float4*>(xt + col) + i);
    }
  }
}

// Rows of the block's first tile into `rows`, and the warp's first step of them moving towards L2
// (weights only: a kernel may call this before waiting for the previous kernel).
__device__ __forceinline__ void bf16_mma_begin(const Bf16Matrix& w, int tile,
                                               const Bf16MmaThread& th,
                                               const std::uint16_t* (&rows)[2]) {
  bf16_tile_rows(w, tile, th.g, rows);
  if (th.warp < th.steps) {
    prefetch_l2(rows[0] + 64 * th.warp + 16 * th.q);
    prefetch_l2(rows[1] + 64 * th.warp + 16 * th.q);
  }
}

// ---- the compute half (registers -> accumulators -> y) ----

// acc[piece] += the step's products with the activations' hi / mid / lo pieces.
__device__ __forceinline__ void mma_bf16_mma_step(const Bf16MmaStep& s, float (&acc)[3][4]) {
  std::uint32_t b[8][3];  // word k (columns 2k, 2k + 1 of the lane's 16) of each piece
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    split3_bf16_pair(s.x[i].x, s.x[i].y, b[2 * i]);
    split3_bf16_pair(s.x[i].z, s.x[i].w, b[2 * i + 1]);
  }
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const std::uint32_t frag[4] = {
        word_of(s.a[0][k / 2], 2 * (k % 2)), word_of(s.a[1][k / 2], 2 * (k % 2)),
        word_of(s.a[0][k / 2], 2 * (k % 2) + 1), word_of(s.a[1][k / 2], 2 * (k % 2) + 1)};
#pragma unroll
    for (int p = 0; p < 3; ++p) mma_bf16(acc[p], frag, b[2 * k][p], b[2 * k + 1][p]);
  }
}

// The warp's partial sums of a tile (the three pieces added) into red: [warp][c][lane].
__device__ __forceinline__ void bf16_mma_warp_partial(const float (&acc)[3][4], float* red,
                                                      int warp, int lane) {
#pragma unroll
  for (int c = 0; c < 4; ++c)
    red[(warp * 4 + c) * kWarpSize + lane] = (acc[0][c] + acc[1][c]) + acc[2][c];
}

// Adds the warps' partial sums (red: [warp][c][lane]) in warp order and stores tile `tile` of
// tokens t0 .. t0 + n - 1 (the block's threads split the 128 sums).
__device__ __forceinline__ void store_bf16_mma_tile(const Bf16Matrix& w, const float* red,
                                                    int warps, int tile, int t0, int n, float* y,
                                                    const BlockThread& me) {
  for (int o = me.thread; o < 4 * kWarpSize; o += me.threads) {
    const int c = o / kWarpSize, l = o % kWarpSize;
    const int row = 16 * tile + l / 4 + 8 * (c / 2), t = 2 * (l % 4) + c % 2;
    float total = 0.0f;
    for (int v = 0; v < warps; ++v) total += red[(v * 4 + c) * kWarpSize + l];
    if (t < n && row < w.rows) y[static_cast<std::size_t>(t0 + t) * w.rows + row] = total;
  }
}

// ---- the mainloop ----

// y (tokens t0 .. t0 + 7 of x, rows of the tiles first_tile, first_tile + tile_stride, ...) = W x.
// rows: bf16_mma_begin's for first_tile. Long-lived blocks: a warp issues its next step's loads
// before this step's mmas (two steps in flight: the HBM stream needs them; one was 0.60 of the
// roofline), and its next load crosses into the next tile, so the stream does not stop between
// tiles. Partial sums alternate between the two halves of red: one barrier a tile (a half is
// rewritten only after the next barrier, which every thread reaches after storing from it).
// Every thread of th.me's team calls it (one team barrier a tile). kSharedX: x is in shared
// memory (load_bf16_mma_step).
template <int kWarps, bool kSharedX = false>
__device__ __forceinline__ void bf16_mma_tiles(const Bf16Matrix& w, const float* x, int n_tokens,
                                               int t0, int first_tile, int tile_stride,
                                               const Bf16MmaThread& th,
                                               const std::uint16_t* (&rows)[2],
                                               float (&red)[2][kWarps * 4 * kWarpSize], float* y) {
  const int warp = th.warp, lane = th.lane, warps = th.warps, g = th.g, q = th.q;
  const int tiles = th.tiles, steps = th.steps;
  const int n = min(8, n_tokens - t0);
  const float* xt = g < n ? x + static_cast<std::size_t>(t0 + g) * w.cols : nullptr;
  Bf16MmaStep cur;
  if (warp < steps) load_bf16_mma_step<kSharedX>(rows, xt, 64 * warp + 16 * q, cur);
  int buffer = 0;
  for (int tile = first_tile; tile < tiles; tile += tile_stride, buffer ^= 1) {
    float acc[3][4] = {};
    for (int step = warp; step < steps; step += warps) {
      int next_step = step + warps, next_tile = tile;  // this tile's next step, else the next's
      if (next_step >= steps) {
        next_step = warp;
        next_tile = tile + tile_stride;
        bf16_tile_rows(w, min(next_tile, tiles - 1), g, rows);
      }
      Bf16MmaStep next;
      if (next_tile < tiles) load_bf16_mma_step<kSharedX>(rows, xt, 64 * next_step + 16 * q, next);
      mma_bf16_mma_step(cur, acc);
      cur = next;
    }
    bf16_mma_warp_partial(acc, red[buffer], warp, lane);
    th.me.sync();
    store_bf16_mma_tile(w, red[buffer], warps, tile, t0, n, y, th.me);
  }
}

}  // namespace mimo::cuda::tiles
