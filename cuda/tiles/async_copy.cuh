// Asynchronous global -> shared copies (cp.async, sm_80+): 16 bytes a thread without passing
// through registers, committed in groups and waited for by count. The prefill tiles (attention,
// GEMM) stage their operands with them.
#pragma once

namespace mimo::cuda::tiles {

// 16 bytes src -> dst (shared); zeros when !valid (src not read, but kept a valid address).
__device__ __forceinline__ void copy_16_async(void* dst, const void* src, bool valid) {
  const unsigned to = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(to), "l"(src),
               "r"(valid ? 16 : 0)
               : "memory");
}
// Closes the group of the copies this thread issued since the last commit.
__device__ __forceinline__ void commit_copies() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
// Waits until at most `pending` committed groups of this thread are still in flight.
template <int pending>
__device__ __forceinline__ void wait_copies() {
  asm volatile("cp.async.wait_group %0;" ::"n"(pending) : "memory");
}

}  // namespace mimo::cuda::tiles
