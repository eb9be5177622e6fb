// Block-level pieces the device sampler's kernels share (sampling_kernels.cu: the chain,
// sampling_fused_kernels.cu: one launch a row): reduction operators over CUB block collectives
// and the first crossing of a running sum, scanned tile by tile in a fixed order.
#pragma once

#include <climits>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include "cuda/kernels/sampling_layout.cuh"

namespace mimo::cuda::sampling {

struct MinOf {
  __device__ int operator()(int a, int b) const { return a < b ? a : b; }
};
struct MaxOf {
  __device__ int operator()(int a, int b) const { return a > b ? a : b; }
};

struct CombineStats {
  __device__ StatsPartial operator()(const StatsPartial& a, const StatsPartial& b) const {
    return tiles::combine_stats(a, b);
  }
};

// One block: the first index at or after `begin` where prefix + running sum of values passes
// the target (>= target; with kStrict, > target and at a positive value); n when none. Scans
// tile by tile with a BlockScan.
template <bool kStrict>
__device__ inline int first_crossing(const double* __restrict__ values, int begin, int n,
                                     double prefix, double target) {
  using Scan = cub::BlockScan<double, kThreads>;
  using MinReduce = cub::BlockReduce<int, kThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ typename MinReduce::TempStorage min_storage;
  __shared__ int found;
  for (int tile = begin; tile < n; tile += kTile) {
    double v[kItems];
    const double mine = tiles::crossing_items<kItems>(values, tile, n, threadIdx.x, v);
    double before = 0.0, aggregate = 0.0;
    Scan(scan_storage).ExclusiveSum(mine, before, aggregate);
    const int hit =
        tiles::crossing_in_items<kStrict, kItems>(v, tile, n, threadIdx.x, prefix + before, target);
    const int tile_hit = MinReduce(min_storage).Reduce(hit, MinOf{});
    if (threadIdx.x == 0) found = tile_hit;
    __syncthreads();
    if (found != INT_MAX) return found;
    prefix += aggregate;
    __syncthreads();  // the temp storage is reused by the next tile
  }
  return n;
}

}  // namespace mimo::cuda::sampling
