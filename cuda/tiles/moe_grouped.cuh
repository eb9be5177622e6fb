// Expert tiles grouped by expert: a step's (token, expert) slots are grouped by the expert they
// chose (group_experts_tile, once per layer), so each selected expert's MXFP4 weights are read
// once for all its tokens. A warp computes a few rows of one or two matrices of one expert for
// up to kTok member inputs staged in shared memory: 16-byte code loads, eight codes decoded per
// 32-bit word by moving their bits into F32 patterns, reused from registers for every member.
// Per (slot, row) the arithmetic is the same whatever the grouping, so results do not
// depend on which other tokens share the expert (a verify step's rows equal the decode step's).
#pragma once

#include <climits>
#include <cstddef>

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda::tiles {

// Layout of the group table (ints) for a step of n_slots slots:
//   [0] number of groups G; [1, 1 + n_slots) expert of group g (ascending ids);
//   [1 + n_slots, 2 + 2 n_slots) first member index of group g (G + 1 entries used);
//   [2 + 2 n_slots, 2 + 3 n_slots) members: slots of group 0 ascending, then group 1, ...
// (cuda/launch/ops.hpp: expert_group_table_ints gives its size.)

// Builds the group table from experts[0..n_slots) (ids outside [0, count) are dropped). One
// block of up to 1024 threads; count <= blockDim.x. smem: count + n_slots + 64 ints.
__device__ __forceinline__ void group_experts_tile(const int* experts, int n_slots, int count,
                                                   int* table, int* smem) {
  int* s_count = smem;             // [count]: members, then the group's first member index
  int* s_slot = smem + count;      // [n_slots]: experts
  int* s_warp = s_slot + n_slots;  // [64]: warp totals of the two scans
  const int tid = threadIdx.x, lane = tid % kWarpSize, warp = tid / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  for (int e = tid; e < count; e += blockDim.x) s_count[e] = 0;
  __syncthreads();
  for (int s = tid; s < n_slots; s += blockDim.x) {
    const int e = experts[s];
    s_slot[s] = e;
    if (e >= 0 && e < count) atomicAdd(&s_count[e], 1);
  }
  __syncthreads();
  // Inclusive scans over experts of the member counts and of "has members".
  const int c = tid < count ? s_count[tid] : 0;
  int members = c, groups = c > 0;
#pragma unroll
  for (int o = 1; o < kWarpSize; o <<= 1) {
    const int m = __shfl_up_sync(0xffffffffu, members, o);
    const int g = __shfl_up_sync(0xffffffffu, groups, o);
    if (lane >= o) {
      members += m;
      groups += g;
    }
  }
  if (lane == kWarpSize - 1) {
    s_warp[warp] = members;
    s_warp[32 + warp] = groups;
  }
  __syncthreads();
  int members_before = 0, groups_before = 0, total_members = 0, total_groups = 0;
  for (int w = 0; w < warps; ++w) {
    if (w < warp) {
      members_before += s_warp[w];
      groups_before += s_warp[32 + w];
    }
    total_members += s_warp[w];
    total_groups += s_warp[32 + w];
  }
  int* group_expert = table + 1;
  int* group_start = table + 1 + n_slots;
  int* member = table + 2 + 2 * n_slots;
  const int first_member = members_before + members - c;
  if (c > 0) {
    const int g = groups_before + groups - 1;
    group_expert[g] = tid;
    group_start[g] = first_member;
  }
  if (tid == 0) {
    table[0] = total_groups;
    group_start[total_groups] = total_members;
  }
  __syncthreads();  // every thread has read s_count
  if (tid < count) s_count[tid] = first_member;
  __syncthreads();
  for (int s = tid; s < n_slots; s += blockDim.x) {
    const int e = s_slot[s];
    if (e < 0 || e >= count) continue;
    int rank = 0;
    for (int j = 0; j < s; ++j) rank += s_slot[j] == e;
    member[s_count[e] + rank] = s;
  }
}

// The block first copies its members' activation rows into shared memory
// (stage_member_rows, once per batch of up to kTok members), then each warp computes kRows rows
// of kMats matrices reading them from there. Shared layout: member t, chunk c (32 floats, eight
// float4) at float4 (t * chunks + c) * 8 + (q ^ (c & 7)), so the eight lanes of a quarter-warp
// (consecutive chunks) hit distinct banks; activations are staged times kActivationScale, and
// codes are decoded with integer ops only (fp4x8_to_float_bits). The arithmetic per (member, row)
// is fixed (lane-strided chunks, 32 products in order, times the block scale, warp sum): results
// do not depend on the staging or on which members share the batch.
__device__ __forceinline__ void stage_member_rows(const float* in, const int* in_row, int n,
                                                  int cols, float4* xs) {
  const int per_row = cols / 4;
  for (int i = threadIdx.x; i < n * per_row; i += blockDim.x) {
    const int t = i / per_row, j = i % per_row;
    const int c = j / 8, q = j % 8;
    float4 v =
        __ldg(reinterpret_cast<const float4*>(in + static_cast<std::size_t>(in_row[t]) * cols) + j);
    v.x *= kActivationScale;
    v.y *= kActivationScale;
    v.z *= kActivationScale;
    v.w *= kActivationScale;
    xs[(static_cast<std::size_t>(t) * (cols / 32) + c) * 8 + (q ^ (c & 7))] = v;
  }
}

// Weights are read once per step: keep them out of L1 so the staged activations' neighbours
// (scales, tables) stay cached.
__device__ __forceinline__ uint4 load_stream_u4(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// Called by a whole warp: acc[i][r][t] = row (row0 + r) of mats[i] . staged member t, t < n.
// Rows past the end are clamped to the last row (the caller drops them). Every lane receives the
// sums.
template <int kMats, int kRows, int kTok>
__device__ __forceinline__ void mxfp4_staged_rows(const Mxfp4Matrix (&mats)[kMats], int row0,
                                                  const float4* xs, int n,
                                                  float (&acc)[kMats][kRows][kTok]) {
  const int lane = threadIdx.x % kWarpSize;
  const int chunks = mats[0].cols / 32;
#pragma unroll
  for (int i = 0; i < kMats; ++i)
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int t = 0; t < kTok; ++t) acc[i][r][t] = 0.0f;
#pragma unroll 2
  for (int c = lane; c < chunks; c += kWarpSize) {
    uint4 raw[kMats][kRows];
    float scale[kMats][kRows];
#pragma unroll
    for (int i = 0; i < kMats; ++i) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const std::size_t at =
            static_cast<std::size_t>(min(row0 + r, mats[i].rows - 1)) * chunks + c;
        raw[i][r] = load_stream_u4(reinterpret_cast<const uint4*>(mats[i].codes) + at);
        scale[i][r] = e8m0_to_float(__ldg(mats[i].scales + at));
      }
    }
    float d[kMats][kRows][kTok];
#pragma unroll
    for (int i = 0; i < kMats; ++i)
#pragma unroll
      for (int r = 0; r < kRows; ++r)
#pragma unroll
        for (int t = 0; t < kTok; ++t) d[i][r][t] = 0.0f;
#pragma unroll
    for (int word = 0; word < 4; ++word) {
      float w[kMats][kRows][8];
#pragma unroll
      for (int i = 0; i < kMats; ++i)
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          const std::uint32_t bits = word == 0   ? raw[i][r].x
                                     : word == 1 ? raw[i][r].y
                                     : word == 2 ? raw[i][r].z
                                                 : raw[i][r].w;
          fp4x8_to_float_bits(bits, w[i][r]);
        }
#pragma unroll
      for (int t = 0; t < kTok; ++t) {
        if (t >= n) break;
        const float4* xp = xs + (static_cast<std::size_t>(t) * chunks + c) * 8;
        const float4 xa = xp[(2 * word) ^ (c & 7)];
        const float4 xb = xp[(2 * word + 1) ^ (c & 7)];
        const float xv[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
#pragma unroll
        for (int i = 0; i < kMats; ++i)
#pragma unroll
          for (int r = 0; r < kRows; ++r)
#pragma unroll
            for (int v = 0; v < 8; ++v) d[i][r][t] = fmaf(w[i][r][v], xv[v], d[i][r][t]);
      }
    }
#pragma unroll
    for (int t = 0; t < kTok; ++t) {
      if (t >= n) break;
#pragma unroll
      for (int i = 0; i < kMats; ++i)
#pragma unroll
        for (int r = 0; r < kRows; ++r)
          acc[i][r][t] =
              fmaf(d[i][r][t] * (kFp4BitsUnit / kActivationScale), scale[i][r], acc[i][r][t]);
    }
  }
#pragma unroll
  for (int i = 0; i < kMats; ++i)
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int t = 0; t < kTok; ++t) acc[i][r][t] = warp_sum(acc[i][r][t]);
}

}  // namespace mimo::cuda::tiles
