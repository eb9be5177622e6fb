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

namespace mimo::cuda::engine {

__device__ __forceinline__ std::uint32_t shared_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbarrier_init(std::uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(shared_address(bar)), "r"(count)
               : "memory");
}

// The initialised barriers are visible to the copy engine and every thread after the block's
// next barrier.
__device__ __forceinline__ void fence_mbarrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}

__device__ __forceinline__ void mbarrier_arrive_expect_tx(std::uint64_t* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)),
               "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void mbarrier_arrive(std::uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(count)
               : "memory");
}

// Whether the phase of `bar` with parity `parity` has completed (acquire: what the phase's
// arrivals and copies wrote is visible afterwards).
__device__ __forceinline__ bool mbarrier_done(std::uint64_t* bar, unsigned parity) {
  unsigned done;
  asm volatile(
      "{\n\t.reg .pred p;\n\t"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
      "selp.u32 %0, 1, 0, p;\n\t}"
      : "=r"(done)
      : "r"(shared_address(bar)), "r"(parity)
      : "memory");
  return done != 0;
}

// Copies `bytes` (a multiple of 16; both addresses 16-byte aligned) from global to shared
// memory on the copy engine, completing `bytes` of `bar`'s expected transaction count.
__device__ __forceinline__ void bulk_copy_to_shared(void* dst, const void* src, unsigned bytes,
                                                    std::uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::
          "r"(shared_address(dst)),
      "l"(src), "r"(bytes), "r"(shared_address(bar))
      : "memory");
}

// 16 bytes of shared memory.
__device__ __forceinline__ uint4 load_shared_u4(std::uint32_t address) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "r"(address));
  return v;
}

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
