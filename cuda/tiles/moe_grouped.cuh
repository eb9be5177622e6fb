// Expert tiles grouped by expert: a step's (token, expert) slots are grouped by the expert they
// chose (group_experts_tile, once per layer), so each selected expert's MXFP4 weights are read
// once for all its tokens (up to 8 members a pass). The products run on tensor cores
// (cuda/tiles/mma.cuh) straight from the stack's tile order: 16-byte code loads, E2M1 codes
// moved into F16 patterns, the block scale applied to each 32-column block's mma result.
// Per (slot, row) the arithmetic is the same whatever the grouping, so results do not
// depend on which other tokens share the expert (a verify step's rows equal the decode step's).
#pragma once

#include <climits>
#include <cstddef>

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"
#include "cuda/tiles/mma.cuh"

namespace mimo::cuda::tiles {

// Layout of the group table (ints) for a step of n_slots slots:
//   [0] number of groups G; [1, 1 + n_slots) expert of group g (ascending ids; 0 past G);
//   [1 + n_slots, 2 + 2 n_slots) first member index of group g (the member count from G on);
//   [2 + 2 n_slots, 2 + 3 n_slots) members: slots of group 0 ascending, then group 1, ...
// (cuda/kernels/ops.hpp: expert_group_table_ints gives its size.)

// Builds the group table from experts[0..n_slots) (global or shared memory; ids outside
// [0, count) are dropped). One team (a block, or whole warps of one with a named barrier) of up
// to 1024 threads; count <= its threads. smem: count + 64
// ints, whatever the number of slots (a prefill chunk of 4096 tokens has 32768 slots at top-8).
// The member lists are written by one warp walking the slots 32 at a time, so their order (slot
// order within each group) costs n_slots / 32 steps rather than a scan per slot.
__device__ __forceinline__ void group_experts_tile(const int* experts, int n_slots, int count,
                                                   int* table, int* smem,
                                                   const Team& me = Team::block()) {
  int* s_count = smem;         // [count]: members, then the group's next free member index
  int* s_warp = smem + count;  // [64]: warp totals of the two scans
  const int tid = me.thread, lane = me.lane(), warp = me.warp();
  const int warps = me.warps();
  for (int e = tid; e < count; e += me.threads) s_count[e] = 0;
  me.sync();
  for (int s = tid; s < n_slots; s += me.threads) {
    const int e = experts[s];
    if (e >= 0 && e < count) atomicAdd(&s_count[e], 1);
  }
  me.sync();
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
  me.sync();
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
  if (tid == 0) table[0] = total_groups;
  // Groups past the last read as empty (expert 0, start = end = total_members), so a reader needs
  // no table[0] first: read_group's loads are independent.
  for (int g = total_groups + tid; g < n_slots; g += me.threads) group_expert[g] = 0;
  for (int g = total_groups + tid; g <= n_slots; g += me.threads) group_start[g] = total_members;
  me.sync();  // every thread has read s_count
  if (tid < count) s_count[tid] = first_member;
  me.sync();
  if (warp != 0) return;  // no block barriers follow
  // Lanes of one expert take consecutive places in lane (= slot) order; the expert's lowest lane
  // then moves its next free place past them.
  for (int base = 0; base < n_slots; base += kWarpSize) {
    const int s = base + lane;
    const int e = s < n_slots ? experts[s] : -1;
    const bool valid = e >= 0 && e < count;
    const unsigned peers = __match_any_sync(0xffffffffu, valid ? e : -1);
    const int before = __popc(peers & ((1u << lane) - 1u));
    const int place = valid ? s_count[e] + before : 0;
    __syncwarp();  // every lane has read its expert's next place
    if (valid) {
      member[place] = s;
      if (before == 0) s_count[e] += __popc(peers);
    }
    __syncwarp();
  }
}

// One expert of a stack, in the tile order of Mxfp4Stack.
struct Mxfp4MmaMatrix {
  const std::uint8_t* codes = nullptr;
  const std::uint8_t* scales = nullptr;
  int rows = 0;
  int cols = 0;
};
__device__ __forceinline__ Mxfp4MmaMatrix stack_member(const Mxfp4Stack& s, int index) {
  return Mxfp4MmaMatrix{s.codes + index * mxfp4_mma_code_bytes(s.rows, s.cols),
                        s.scales + index * mxfp4_mma_scale_bytes(s.rows, s.cols), s.rows, s.cols};
}

// One warp on tensor cores: out[i][m] (C fragments of mats[i], rows row0 + 16 m + g (+ 8),
// tokens 2q, 2q + 1 of up to 4 kSets) += the 128-column groups step0, step0 + step_stride, ... of
// W x. src[set]: this lane's B token of each set (token g % 4, cuda/tiles/mma.cuh's packed sets),
// F32Row or SplitRow. prefetch: pull each next group into L2 a group ahead (see the loop).
// Per group, lane q reads one 16-byte chunk per row (8 codes of each of the group's four scale
// blocks) and its token's columns 32 b + 8 q .. + 8 (hi or lo half); k-tile (b, h) takes codes
// 4h .. 4h + 3 of block b, so its 16 k share one scale and the block's two k-tiles are scaled
// after their mmas. The tokens' own scales are applied once at the end (SplitRow) or per group
// (F32Row: one scale a group). kExactScales: the stack has special scale bytes
// (Mxfp4Stack::special_scales).
template <bool kExactScales, int kMats, int kM, int kSets, class Source>
__device__ __forceinline__ void mxfp4_mma_rows(const Mxfp4MmaMatrix (&mats)[kMats], int row0,
                                               const Source (&src)[kSets], int step0,
                                               int step_stride, bool prefetch,
                                               float (&out)[kMats][kM][4]) {
  const int lane = threadIdx.x % kWarpSize, g = lane / 4, q = lane % 4;
  const int groups = mxfp4_mma_groups(mats[0].cols), tiles = mxfp4_mma_tiles(mats[0].rows);
  const int tile0 = row0 / 16;  // row0 is a multiple of 16; rows past the end are zero padding
  float acc[kSets][kMats * kM][4];
#pragma unroll
  for (int s = 0; s < kSets; ++s)
#pragma unroll
    for (int n = 0; n < kMats * kM; ++n)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[s][n][c] = 0.0f;
  float inv[kSets];
  for (int group = step0; group < groups; group += step_stride) {
    // prefetch: the warp's next group moves into L2 while this one is loaded and multiplied,
    // more bytes in flight without registers. H100: verify-8 -0.2 ms, decode +0.05 (so callers
    // ask for it for experts with several members only; it changes no bit); holding the next
    // group in registers instead needed 168 registers a thread and lost 0.7 ms.
    if (prefetch && group + step_stride < groups) {
#pragma unroll
      for (int i = 0; i < kMats; ++i)
#pragma unroll
        for (int m = 0; m < kM; ++m) {
          const int tile = tile0 + m < tiles ? tile0 + m : 0;
          const std::size_t block = static_cast<std::size_t>(tile) * groups + group + step_stride;
          prefetch_l2(mats[i].codes + block * 1024 + 32 * lane);  // 1024 bytes: 32 a lane
          if (lane == 0) prefetch_l2(mats[i].scales + block * 64);
        }
    }
    uint4 raw[kMats][kM][2];
    std::uint32_t scales[kMats][kM][2];
#pragma unroll
    for (int i = 0; i < kMats; ++i) {
#pragma unroll
      for (int m = 0; m < kM; ++m) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          // A tile past the last one (kM tiles a block, an odd tile count) reads tile 0's
          // codes: finite, and its rows are not written.
          const int tile = tile0 + m < tiles ? tile0 + m : 0;
          const std::size_t block = static_cast<std::size_t>(tile) * groups + group;
          raw[i][m][h] = load_stream_u4(mats[i].codes + block * 1024 + 512 * h + 64 * g + 16 * q);
          scales[i][m][h] = __ldg(
              reinterpret_cast<const std::uint32_t*>(mats[i].scales + block * 64) + 8 * h + g);
        }
      }
    }
    // k-tile (b, h): B words 2h, 2h + 1 of piece b (columns 32 b + 8 q + 4 h + 0..3).
    std::uint32_t bw[kSets][4][4];
#pragma unroll
    for (int s = 0; s < kSets; ++s)
      load_b_half<4, 32>(src[s], g >= 4, group * 128 + 8 * q, bw[s], inv[s]);
    float f[kSets][2];
#pragma unroll
    for (int s = 0; s < kSets; ++s) step_token_scales<Source>(inv[s], kFp4ScaledUnit, f[s]);
#pragma unroll
    for (int i = 0; i < kMats; ++i) {
#pragma unroll
      for (int m = 0; m < kM; ++m) {
#pragma unroll
        for (int b = 0; b < 4; ++b) {
          std::uint32_t p0[4], p1[4];  // rows g and g + 8: pairs of codes (0, 1) .. (6, 7)
          e2m1x8_to_half2(word_of(raw[i][m][0], b), p0);
          e2m1x8_to_half2(word_of(raw[i][m][1], b), p1);
          const std::uint32_t a0[4] = {p0[0], p1[0], p0[1], p1[1]};
          const std::uint32_t a1[4] = {p0[2], p1[2], p0[3], p1[3]};
          const float s0 = kExactScales ? e8m0_to_float((scales[i][m][0] >> (8 * b)) & 0xFFu)
                                        : e8m0_byte_plain(scales[i][m][0], b);
          const float s1 = kExactScales ? e8m0_to_float((scales[i][m][1] >> (8 * b)) & 0xFFu)
                                        : e8m0_byte_plain(scales[i][m][1], b);
#pragma unroll
          for (int s = 0; s < kSets; ++s) {
            float t[4];
            mma_f16_from_zero(t, a0, bw[s][b][0], bw[s][b][1]);
            mma_f16(t, a1, bw[s][b][2], bw[s][b][3]);
            float(&c)[4] = acc[s][i * kM + m];
            if constexpr (kRowScaled<Source>) {
              c[0] = fmaf(t[0], s0, c[0]);
              c[1] = fmaf(t[1], s0, c[1]);
              c[2] = fmaf(t[2], s1, c[2]);
              c[3] = fmaf(t[3], s1, c[3]);
            } else {
              c[0] = fmaf(t[0], s0 * f[s][0], c[0]);
              c[1] = fmaf(t[1], s0 * f[s][1], c[1]);
              c[2] = fmaf(t[2], s1 * f[s][0], c[2]);
              c[3] = fmaf(t[3], s1 * f[s][1], c[3]);
            }
          }
        }
      }
    }
  }
  // Row-scaled sources take their token scales and kFp4ScaledUnit (2^14, undoing the E2M1
  // decode's 2^-14) here; a warp without groups read no scales: its zeros take 1.
  if (step0 >= groups || !kRowScaled<Source>) {
#pragma unroll
    for (int s = 0; s < kSets; ++s) inv[s] = 1.0f;
  }
  float flat[kMats * kM][4];
  finish_packed<kSets, kMats * kM>(acc, inv, kRowScaled<Source> ? kFp4ScaledUnit : 1.0f, flat);
#pragma unroll
  for (int i = 0; i < kMats; ++i)
#pragma unroll
    for (int m = 0; m < kM; ++m)
#pragma unroll
      for (int c = 0; c < 4; ++c) out[i][m][c] = flat[i * kM + m][c];
}

}  // namespace mimo::cuda::tiles
