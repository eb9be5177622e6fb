// Block-wide arg-max (ties and NaN resolved deterministically) and the greedy-sampling tile.
#pragma once

#include <cmath>

#include "cuda/tiles/common.cuh"

namespace mimo::cuda::tiles {

// True when (va, ia) beats (vb, ib): larger value, then lower index; NaN never wins.
__device__ __forceinline__ bool arg_better(float va, int ia, float vb, int ib) {
  if (isnan(va)) return false;
  if (isnan(vb)) return true;
  return va > vb || (va == vb && ia < ib);
}

// Warp-wide arg-max: every lane ends with the best (v, i), and with kPayload that lane's
// `payload` too.
template <bool kPayload>
__device__ __forceinline__ void warp_argmax_carrying(float& v, int& i, float& payload) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, offset);
    const int oi = __shfl_xor_sync(0xffffffffu, i, offset);
    const float op = kPayload ? __shfl_xor_sync(0xffffffffu, payload, offset) : 0.0f;
    if (arg_better(ov, oi, v, i)) {
      v = ov;
      i = oi;
      if (kPayload) payload = op;
    }
  }
}
__device__ __forceinline__ void warp_argmax(float& v, int& i, float& payload) {
  warp_argmax_carrying<true>(v, i, payload);
}
__device__ __forceinline__ void warp_argmax(float& v, int& i) {
  float unused = 0.0f;
  warp_argmax_carrying<false>(v, i, unused);
}

// Arg-max of values[0..n) over a team (every thread of it calls it); every thread gets the index
// (-1 when every value is NaN or n == 0). scratch_v / scratch_i: 32 entries of shared memory
// each, the team's own.
__device__ __forceinline__ int team_argmax(const Team& team, const float* values, int n,
                                           float* scratch_v, int* scratch_i) {
  float best = __int_as_float(0x7FC00000);
  int best_i = -1;
  for (int j = team.thread; j < n; j += team.threads) {
    if (arg_better(values[j], j, best, best_i)) {
      best = values[j];
      best_i = j;
    }
  }
  warp_argmax(best, best_i);
  const int lane = team.lane(), warp = team.warp();
  team.sync();
  if (lane == 0) {
    scratch_v[warp] = best;
    scratch_i[warp] = best_i;
  }
  team.sync();
  const int warps = team.warps();
  best = lane < warps ? scratch_v[lane] : __int_as_float(0x7FC00000);
  best_i = lane < warps ? scratch_i[lane] : -1;
  warp_argmax(best, best_i);
  return best_i;
}

// team_argmax over the whole block.
__device__ __forceinline__ int block_argmax(const float* values, int n, float* scratch_v,
                                            int* scratch_i) {
  return team_argmax(Team::block(), values, n, scratch_v, scratch_i);
}

}  // namespace mimo::cuda::tiles
