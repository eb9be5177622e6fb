// Linear tiles: one warp computes one output row of y = W x for up to kMaxTokens tokens, reading
// the row once with 16-byte loads and dequantizing in registers. The same row_dot serves every
// stored format (FP8 block-scaled, MXFP4, BF16, F32) through a per-format chunk loader: a chunk
// is what one 16-byte load holds, plus the scale it shares.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda::tiles {

template <class Matrix>
struct ChunkValues;
template <>
struct ChunkValues<Fp8Matrix> {
  static constexpr int value = 16;
};
template <>
struct ChunkValues<Mxfp4Matrix> {
  static constexpr int value = 32;
};
template <>
struct ChunkValues<Bf16Matrix> {
  static constexpr int value = 8;
};
template <>
struct ChunkValues<F32Matrix> {
  static constexpr int value = 4;
};

// Each loader decodes chunk `chunk` of row `row` into w[] and returns the factor the chunk's
// dot product is multiplied by (its block scale).
__device__ __forceinline__ float load_chunk(const Fp8Matrix& m, int row, int chunk,
                                            float (&w)[16]) {
  const int col = chunk * 16;
  const uint4 raw =
      __ldg(reinterpret_cast<const uint4*>(m.codes + static_cast<std::size_t>(row) * m.cols + col));
  const std::uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 lo = fp8x2_e4m3_to_float2(static_cast<std::uint16_t>(words[i] & 0xFFFFu));
    const float2 hi = fp8x2_e4m3_to_float2(static_cast<std::uint16_t>(words[i] >> 16));
    w[4 * i] = lo.x;
    w[4 * i + 1] = lo.y;
    w[4 * i + 2] = hi.x;
    w[4 * i + 3] = hi.y;
  }
  const int scale_row = (row + m.scale_row_offset) / m.block_rows;
  return __ldg(m.scales + static_cast<std::size_t>(scale_row) * m.scale_cols + col / m.block_cols);
}

__device__ __forceinline__ float load_chunk(const Mxfp4Matrix& m, int row, int chunk,
                                            float (&w)[32]) {
  const std::size_t groups = static_cast<std::size_t>(m.cols) / 32;
  const uint4 raw = __ldg(reinterpret_cast<const uint4*>(m.codes) + row * groups + chunk);
  const std::uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int j = 0; j < 8; ++j) w[8 * i + j] = fp4_twice_value(words[i] >> (4 * j));
  }
  // Codes decode to twice their value: fold the 1/2 into the scale (exact).
  return 0.5f * e8m0_to_float(__ldg(m.scales + row * groups + chunk));
}

__device__ __forceinline__ float load_chunk(const Bf16Matrix& m, int row, int chunk,
                                            float (&w)[8]) {
  const uint4 raw = __ldg(reinterpret_cast<const uint4*>(
      m.values + static_cast<std::size_t>(row) * m.cols + chunk * 8));
  const std::uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    w[2 * i] = bf16_bits_to_float(words[i] & 0xFFFFu);
    w[2 * i + 1] = bf16_bits_to_float(words[i] >> 16);
  }
  return 1.0f;
}

__device__ __forceinline__ float load_chunk(const F32Matrix& m, int row, int chunk, float (&w)[4]) {
  const float4 v = __ldg(reinterpret_cast<const float4*>(
      m.values + static_cast<std::size_t>(row) * m.cols + chunk * 4));
  w[0] = v.x;
  w[1] = v.y;
  w[2] = v.z;
  w[3] = v.w;
  return 1.0f;
}

// Dot of kValues weights with x[0..kValues) (16-byte aligned float activations).
template <int kValues>
__device__ __forceinline__ float chunk_dot(const float (&w)[kValues], const float* x) {
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < kValues; i += 4) {
    const float4 xv = *reinterpret_cast<const float4*>(x + i);
    s = fmaf(w[i], xv.x, s);
    s = fmaf(w[i + 1], xv.y, s);
    s = fmaf(w[i + 2], xv.z, s);
    s = fmaf(w[i + 3], xv.w, s);
  }
  return s;
}

// Called by all 32 lanes of a warp: acc[r][t] = row row0 + r of m dotted with token t's
// activations x + t * x_stride, for t < n_tokens (n_tokens <= kMaxTokens). Every lane receives
// the sums. A row's arithmetic is the same whatever kRows and kMaxTokens are (lane i sums chunks
// i, i + 32, ... in order, then warp_sum), so a multi-token step's rows equal the decode step's
// bit for bit; kRows > 1 only reuses each token's activation chunk for several rows (a step of
// 8 tokens otherwise re-reads the 128 KB of activations for every row). Rows past the end
// read the last row (finite; their sums are not meant to be stored).
template <int kRows, int kMaxTokens, class Matrix>
__device__ __forceinline__ void rows_dot(const Matrix& m, int row0, const float* x, int x_stride,
                                         int n_tokens, float (&acc)[kRows][kMaxTokens]) {
  constexpr int kValues = ChunkValues<Matrix>::value;
  const int lane = threadIdx.x % kWarpSize;
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int t = 0; t < kMaxTokens; ++t) acc[r][t] = 0.0f;
  const int chunks = m.cols / kValues;
#pragma unroll(kRows == 1 ? 2 : 1)
  for (int chunk = lane; chunk < chunks; chunk += kWarpSize) {
    float w[kRows][kValues];
    float scale[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
      scale[r] = load_chunk(m, min(row0 + r, m.rows - 1), chunk, w[r]);
    const float* xc = x + chunk * kValues;
#pragma unroll
    for (int t = 0; t < kMaxTokens; ++t) {
      if (t < n_tokens) {
#pragma unroll
        for (int r = 0; r < kRows; ++r)
          acc[r][t] = fmaf(chunk_dot<kValues>(w[r], xc + static_cast<std::size_t>(t) * x_stride),
                           scale[r], acc[r][t]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int t = 0; t < kMaxTokens; ++t) acc[r][t] = warp_sum(acc[r][t]);
}

// One row (rows_dot with kRows = 1): acc[t] = row `row` of m dotted with token t.
template <int kMaxTokens, class Matrix>
__device__ __forceinline__ void row_dot(const Matrix& m, int row, const float* x, int x_stride,
                                        int n_tokens, float (&acc)[kMaxTokens]) {
  float sums[1][kMaxTokens];
  rows_dot<1, kMaxTokens>(m, row, x, x_stride, n_tokens, sums);
#pragma unroll
  for (int t = 0; t < kMaxTokens; ++t) acc[t] = sums[0][t];
}

// y[t * y_stride + row0 + r] = W[row0 + r] . x_t for kRows rows (those before m.rows); the tile
// a linear kernel's warp runs.
template <int kRows, int kMaxTokens, class Matrix>
__device__ __forceinline__ void linear_rows_tile(const Matrix& m, int row0, const float* x,
                                                 int n_tokens, float* y, int y_stride) {
  float acc[kRows][kMaxTokens];
  rows_dot<kRows, kMaxTokens>(m, row0, x, m.cols, n_tokens, acc);
  const int lane = threadIdx.x % kWarpSize;
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int t = 0; t < kMaxTokens; ++t) {
      if (t == lane && t < n_tokens && row0 + r < m.rows)
        y[static_cast<std::size_t>(t) * y_stride + row0 + r] = acc[r][t];
    }
}

// A block computes kRows consecutive rows for up to kTok tokens (the row-parallel variant for
// formats whose chunk is at most 16 values): the block's threads split each row's chunks
// (thread i takes chunks i, i + team threads, ...), each decoded chunk stays in registers for every
// token, and the per-thread sums are reduced across the block in a fixed order (deterministic;
// a token's result does not depend on how many tokens share the launch). Rows past the end are
// computed on the last row and not written. s_partial: (team warps) * kRows * kTok floats.
// Called by every thread of the team `me` (the block by default); x is read through __ldg, so no
// thread of the kernel may write it.
template <int kRows, int kTok, class Matrix>
__device__ __forceinline__ void linear_rows_block_tile(const Matrix& m, int row0, const float* x,
                                                       int n_tokens, float* y, int y_stride,
                                                       float* s_partial,
                                                       const Team& me = Team::block()) {
  constexpr int kValues = ChunkValues<Matrix>::value;
  static_assert(kValues <= 16, "block tile holds kRows decoded chunks in registers");
  float acc[kRows][kTok];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int t = 0; t < kTok; ++t) acc[r][t] = 0.0f;
  const int chunks = m.cols / kValues;
  for (int c = me.thread; c < chunks; c += me.threads) {
    float w[kRows][kValues];
    float scale[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) scale[r] = load_chunk(m, min(row0 + r, m.rows - 1), c, w[r]);
#pragma unroll
    for (int t = 0; t < kTok; ++t) {
      if (t >= n_tokens) break;
      const float4* xp = reinterpret_cast<const float4*>(x + static_cast<std::size_t>(t) * m.cols +
                                                         static_cast<std::size_t>(c) * kValues);
      float xv[kValues];
#pragma unroll
      for (int i = 0; i < kValues / 4; ++i) {
        const float4 v = __ldg(xp + i);
        xv[4 * i] = v.x;
        xv[4 * i + 1] = v.y;
        xv[4 * i + 2] = v.z;
        xv[4 * i + 3] = v.w;
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        float d = 0.0f;
#pragma unroll
        for (int i = 0; i < kValues; ++i) d = fmaf(w[r][i], xv[i], d);
        acc[r][t] = fmaf(d, scale[r], acc[r][t]);
      }
    }
  }
  const int lane = me.lane(), warp = me.warp();
  const int warps = me.warps();
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int t = 0; t < kTok; ++t) {
      const float v = warp_sum(acc[r][t]);
      if (lane == 0) s_partial[(warp * kRows + r) * kTok + t] = v;
    }
  }
  me.sync();
  for (int i = me.thread; i < kRows * kTok; i += me.threads) {
    const int r = i / kTok, t = i % kTok;
    if (row0 + r >= m.rows || t >= n_tokens) continue;
    float total = 0.0f;
    for (int w = 0; w < warps; ++w) total += s_partial[(w * kRows + r) * kTok + t];
    y[static_cast<std::size_t>(t) * y_stride + row0 + r] = total;
  }
}

// One token through an FP8 matrix, kRows consecutive rows a block (16 for the large
// projections): each thread loads its chunk of the activations once and reuses it from registers
// for every row, and issues all kRows 16-byte weight loads (L1 bypassed: read once a step) before
// decoding any, so many loads are in flight. Codes are decoded with integer ops only
// (fp8x4_to_float_bits) against activations scaled by kActivationScale; the block reduction is
// that of linear_rows_block_tile (fixed order). s_partial: (team warps) * kRows floats. Called by
// every thread of the team `me`.
template <int kRows>
__device__ __forceinline__ void fp8_rows_block_tile_1tok(const Fp8Matrix& m, int row0,
                                                         const float* x, float* y, float* s_partial,
                                                         const Team& me = Team::block()) {
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
  const int chunks = m.cols / 16;
  for (int c = me.thread; c < chunks; c += me.threads) {
    const int col = c * 16;
    uint4 raw[kRows];
    float scale[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int row = min(row0 + r, m.rows - 1);
      asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                   : "=r"(raw[r].x), "=r"(raw[r].y), "=r"(raw[r].z), "=r"(raw[r].w)
                   : "l"(m.codes + static_cast<std::size_t>(row) * m.cols + col));
      const int scale_row = (row + m.scale_row_offset) / m.block_rows;
      scale[r] =
          __ldg(m.scales + static_cast<std::size_t>(scale_row) * m.scale_cols + col / m.block_cols);
    }
    float xv[16];
    const float4* xp = reinterpret_cast<const float4*>(x + col);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float4 v = __ldg(xp + i);
      xv[4 * i] = v.x * kActivationScale;
      xv[4 * i + 1] = v.y * kActivationScale;
      xv[4 * i + 2] = v.z * kActivationScale;
      xv[4 * i + 3] = v.w * kActivationScale;
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const std::uint32_t words[4] = {raw[r].x, raw[r].y, raw[r].z, raw[r].w};
      float d = 0.0f;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float w[4];
        fp8x4_to_float_bits(words[i], w);
        d = fmaf(w[0], xv[4 * i], d);
        d = fmaf(w[1], xv[4 * i + 1], d);
        d = fmaf(w[2], xv[4 * i + 2], d);
        d = fmaf(w[3], xv[4 * i + 3], d);
      }
      const bool nan = fp8x4_has_nan(raw[r].x) || fp8x4_has_nan(raw[r].y) ||
                       fp8x4_has_nan(raw[r].z) || fp8x4_has_nan(raw[r].w);
      d = nan ? __int_as_float(0x7FC00000) : d * (kFp8BitsUnit / kActivationScale);
      acc[r] = fmaf(d, scale[r], acc[r]);
    }
  }
  const int lane = me.lane(), warp = me.warp();
  const int warps = me.warps();
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const float v = warp_sum(acc[r]);
    if (lane == 0) s_partial[warp * kRows + r] = v;
  }
  me.sync();
  for (int r = me.thread; r < kRows; r += me.threads) {
    if (row0 + r >= m.rows) continue;
    float total = 0.0f;
    for (int w = 0; w < warps; ++w) total += s_partial[w * kRows + r];
    y[row0 + r] = total;
  }
}

}  // namespace mimo::cuda::tiles
