// The pieces of the one-kernel drafter block pass (drafter_block_kernel.cu, its only includer):
// the block's shape constants and shared-memory layout, teams of its threads, reads through L2,
// the row norms, the BF16 products split over the cluster's teams, the block's embedded inputs.
// Each piece runs the tile its op-by-op kernel runs, with that kernel's team size.
#pragma once

#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "cuda/kernels/drafter_block.hpp"
#include "cuda/tiles/drafter_attention.cuh"
#include "cuda/tiles/embedding.cuh"
#include "cuda/tiles/lm_head.cuh"
#include "cuda/tiles/norm.cuh"

namespace mimo::cuda::drafter_block {

using namespace tiles;
namespace cg = cooperative_groups;

constexpr int kThreads = 512;  // the op-by-op rmsnorm kernel's block: its sums, bit for bit
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kAttentionTeams = kThreads / kDrafterAttentionThreads;
constexpr int kNormVec = 4;  // as the rmsnorm kernel: dim <= 4 * 4 * 512

__host__ __device__ constexpr int round4(int n) {
  return (n + 3) / 4 * 4;
}

// Threads of one row-norm team: as many as the rmsnorm kernel gives a row's float4s work, so
// each thread sums the same float4 (up to the whole block).
__host__ __device__ constexpr int norm_team_threads(int dim) {
  const int t = (dim / 4 + 31) / 32 * 32;
  return t > kThreads ? kThreads : t;
}

// Shared memory of one block, in floats (each region 16-byte aligned).
struct Smem {
  int xs, ds, in, st, kb, vb, qb, attention, red, sums, fx, hb, total;
};

__host__ __device__ inline Smem smem_layout(const DrafterBlockPass& p) {
  const int b = p.block;
  const int qkv_width = p.heads * p.head_dim + p.kv_heads * (p.head_dim + p.v_head_dim);
  int in_width = p.hidden > p.inter ? p.hidden : p.inter;
  if (p.heads * p.v_head_dim > in_width) in_width = p.heads * p.v_head_dim;
  Smem s{};
  s.xs = 0;
  s.ds = s.xs + round4(b * p.hidden);
  s.in = s.ds + round4(b * p.hidden);
  s.st = s.in + round4(b * in_width);
  s.kb = s.st + round4(b * qkv_width);
  s.vb = s.kb + round4(b * p.kv_heads * p.head_dim);
  s.qb = s.vb + round4(b * p.kv_heads * p.v_head_dim);
  s.attention = s.qb + kAttentionTeams * round4(p.head_dim);
  s.red = s.attention + kAttentionTeams * round4(drafter_attention_scratch(
                                              kDrafterAttentionThreads / kWarpSize, p.v_head_dim));
  s.sums = s.red + 2 * kWarps * 4 * kWarpSize;  // every team's two halves of partial sums
  s.fx = s.sums + kWarps * 32;                  // 32 floats a team, at most a team a warp
  // The context fold's own regions: the deferred rows' features, a key head a team.
  s.hb = s.fx + (p.context_fold ? round4(b * p.fc.cols) : 0);
  s.total = s.hb + (p.context_fold ? kWarps * round4(p.head_dim) : 0);
  return s;
}

// Team `index` of `threads` threads of the block (barrier 1 + index; a warp or the whole block
// needs no named barrier).
__device__ __forceinline__ Team team(int threads, int index) {
  const unsigned barrier = (threads == kThreads || threads == kWarpSize) ? 0u : 1u + index;
  return Team{threadIdx.x % threads, static_cast<unsigned>(threads), barrier};
}

// This block's shared memory and its place in the cluster (each phase reads them itself: the
// phases are separate functions so that each fits the registers without spilling the others').
__device__ __forceinline__ float* shared_floats() {
  extern __shared__ float4 smem4[];
  return reinterpret_cast<float*>(smem4);
}
__device__ __forceinline__ int cluster_rank() {
  return static_cast<int>(cg::this_cluster().block_rank());
}
__device__ __forceinline__ int cluster_size() {
  return static_cast<int>(cg::this_cluster().num_blocks());
}

// count floats from global memory written by other blocks of the cluster in this kernel: read
// through L2 (L1 is not coherent across multiprocessors).
__device__ __forceinline__ void load_l2(float* dst, const float* src, int count) {
  const int n4 = count / 4;
  for (int i = threadIdx.x; i < n4; i += kThreads)
    reinterpret_cast<float4*>(dst)[i] = __ldcg(reinterpret_cast<const float4*>(src) + i);
  for (int i = 4 * n4 + threadIdx.x; i < count; i += kThreads) dst[i] = __ldcg(src + i);
}

// Rows first, first + step, ... of xs (+ ds, added into xs) RMSNormed with weight into out.
__device__ __noinline__ inline void norm_rows(float* xs, const float* ds, const float* weight,
                                              int rows, int dim, float eps, float* out, int first,
                                              int step, float* sums) {
  const int threads = norm_team_threads(dim), teams = kThreads / threads;
  const int index = threadIdx.x / threads;
  if (index >= teams) return;
  const Team me = team(threads, index);
  for (int r = first + index * step; r < rows; r += teams * step) {
    const std::size_t at = static_cast<std::size_t>(r) * dim;
    rmsnorm_token_tile_vec<kNormVec>(xs + at, ds != nullptr ? ds + at : nullptr, weight, dim, eps,
                                     out + at, sums + index * 32, nullptr, nullptr, nullptr, me);
  }
}

// y = W x for the block's rows in shared memory x (row stride w.cols): the 16-row tiles split
// over every team of kW warps of the cluster, each tile as the op-by-op kernel computes it.
template <int kW>
__device__ __noinline__ void product_tiles(const Bf16Matrix& w, const float* x, int rows, float* y,
                                           int cta, int ctas, float* red_all) {
  constexpr int kTeams = kWarps / kW;
  constexpr int kRed = kW * 4 * kWarpSize;
  const int index = threadIdx.x / (kW * kWarpSize);
  const Team me = team(kW * kWarpSize, index);
  auto& red = *reinterpret_cast<float(*)[2][kRed]>(red_all + index * 2 * kRed);
  const Bf16MmaThread th = bf16_mma_thread(w, me);
  const int first = cta * kTeams + index, stride = ctas * kTeams;
  if (first >= th.tiles) return;  // team-uniform
  for (int t0 = 0; t0 < rows; t0 += 8) {
    const std::uint16_t* tile_rows[2];
    bf16_mma_begin(w, first, th, tile_rows);
    bf16_mma_tiles<kW, true>(w, x, rows, t0, first, stride, th, tile_rows, red, y);
    me.sync();  // the last tile's partial sums are read before the next call rewrites them
  }
}

__device__ inline void product(const Bf16Matrix& w, int warps, const float* x, int rows, float* y,
                               int cta, int ctas, float* red) {
  switch (warps) {
    case 1:
      product_tiles<1>(w, x, rows, y, cta, ctas, red);
      return;
    case 2:
      product_tiles<2>(w, x, rows, y, cta, ctas, red);
      return;
    case 4:
      product_tiles<4>(w, x, rows, y, cta, ctas, red);
      return;
    case 8:
      product_tiles<8>(w, x, rows, y, cta, ctas, red);
      return;
    default:
      product_tiles<16>(w, x, rows, y, cta, ctas, red);
      return;
  }
}

// The block's input rows into xs: [anchor, mask...] embedded (the mask rows' own input where the
// drafter has one); NaN rows for ids outside the table, as the embed kernel writes.
__device__ __noinline__ inline void embed_rows(const DrafterBlockPass& p,
                                               const DrafterStepInputs& in, float* xs) {
  const int rows = p.embed_bf16 ? p.embed_table_bf16.rows : p.embed_table_f32.rows;
  for (int t = 0; t < p.block; ++t) {
    float* row = xs + static_cast<std::size_t>(t) * p.hidden;
    const int token = t == 0 ? in.anchor : p.mask_token;
    if (t > 0 && p.mask_rows != nullptr) {
      const float* src = p.mask_rows + static_cast<std::size_t>(t - 1) * p.hidden;
      for (int c = threadIdx.x; c < p.hidden; c += kThreads) row[c] = src[c];
    } else if (token < 0 || token >= rows) {
      for (int c = threadIdx.x; c < p.hidden; c += kThreads) row[c] = NAN;
    } else if (p.embed_bf16) {
      embed_token_tile(p.embed_table_bf16, token, row, Team{threadIdx.x, kThreads, 0});
    } else {
      embed_token_tile(p.embed_table_f32, token, row, Team{threadIdx.x, kThreads, 0});
    }
  }
}

}  // namespace mimo::cuda::drafter_block
