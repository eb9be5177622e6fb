// The engine's weight page ring (device code): a ring of shared-memory pages that the block's
// loader warp fills with bulk copies (cp.async.bulk, completing on an mbarrier) in the order its
// queue's paged tasks will read them, and that the consumer warps release once read. The loader
// needs no producer for weights, so it runs ahead of the queue - the next tasks' weights stream
// in while the block still waits for their inputs or runs earlier, smaller ops - and the bytes in
// flight no longer depend on how many warps are resident.
//
// Page p of the ring holds kPageRows rows x kPageBytes columns of an FP8 matrix, rows kRowStride
// bytes apart (64 bytes of padding: a quarter-warp's 16-byte reads of rows g and g + 1 fall in
// different banks). Fill f of slot s completes phase f of full[s]; its consumers complete phase f
// of empty[s] (arrivals summing to kReleaseCount), which the loader waits for before fill f + 1.
#pragma once

#include <cstdint>

#include "cuda/engine/engine_ops.hpp"
#include "cuda/tiles/bulk_copy.cuh"

namespace mimo::cuda::engine {

// The mbarrier and bulk-copy helpers live in cuda/tiles/bulk_copy.cuh (the staged expert
// kernels use them too).
using tiles::bulk_copy_to_shared;
using tiles::fence_mbarrier_init;
using tiles::load_shared_u4;
using tiles::mbarrier_arrive;
using tiles::mbarrier_arrive_expect_tx;
using tiles::mbarrier_done;
using tiles::mbarrier_init;
using tiles::shared_address;

struct PageRing {
  std::uint64_t* full;   // [kRingPages]
  std::uint64_t* empty;  // [kRingPages]
  std::uint8_t* pages;   // [kRingPages][kPageRows][kRowStride]

  __device__ __forceinline__ std::uint8_t* page(unsigned slot) const {
    return pages + static_cast<std::size_t>(slot) * kPageRows * kRowStride;
  }
};

// The slot and fill of the ring's sequence number `seq` (pages in queue order).
__device__ __forceinline__ unsigned ring_slot(unsigned seq) {
  return seq % kRingPages;
}
__device__ __forceinline__ unsigned ring_fill(unsigned seq) {
  return seq / kRingPages;
}

}  // namespace mimo::cuda::engine
