// Pieces every kernel file of the launch executor shares: error reporting for launches and
// argument checks, grid arithmetic, and where a tensor-core tile lane finds its activations.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>

#include "cuda/kernels/ops.hpp"
#include "cuda/tiles/mma.cuh"
#include "mimo/error.hpp"

namespace mimo::cuda::launch {

// fmt's compile-time format strings do not build under nvcc: messages are streamed instead.
template <class... Parts>
inline std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

inline cudaStream_t as_stream(Stream s) {
  return static_cast<cudaStream_t>(s);
}

inline void check_launch(const char* op) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw Error(ErrorCode::kDevice, cat("CUDA kernel ", op, ": ", cudaGetErrorString(err)));
  }
}

[[noreturn]] inline void fail(const char* op, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, cat("cuda::", op, ": ", what));
}

inline void check_split(const SplitActivations& x, int cols, const char* op) {
  if (!(x.hi && x.lo && x.inv_scale && x.cols == cols && cols % 8 == 0))
    fail(op, cat("split activations of ", x.cols, " columns for a matrix of ", cols));
}

// Launches `kernel` with programmatic dependent launch (sm_90) unless set_programmatic_launch
// (ops.hpp) turned it off: its blocks may start while the previous kernel of the stream is still
// running, which hides the launch latency and the previous kernel's tail. So every kernel launched
// here calls follow_previous_kernel() before it touches anything but weights.
template <class... Params, class... Args>
void launch_kernel(const char* op, void (*kernel)(Params...), dim3 grid, dim3 block,
                   std::size_t smem, cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute overlap{};
  overlap.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  overlap.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = &overlap;
  config.numAttrs = programmatic_launch() ? 1 : 0;
  const cudaError_t err = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear it: the error is reported here
    throw Error(ErrorCode::kDevice, cat("CUDA kernel ", op, ": ", cudaGetErrorString(err)));
  }
}

// The first statement of every kernel started by launch_kernel: lets the next kernel of the stream
// begin launching, then waits until the previous one has finished and its writes are visible.
// Only weights, which no step writes, may be read before it.
__device__ __forceinline__ void follow_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// "The last block does the follow-up": each of `blocks` blocks calls arrive_last(counter, blocks)
// once, after writing its share; it returns true in exactly one block, the last to arrive, which
// may then read the others' writes. It reads them with ld.global.cg (__ldcg: L2, since L1 is not
// coherent across multiprocessors). The counter is back at zero afterwards for the next launch,
// so one zeroed buffer (GpuState::Scratch::arrivals) serves every layer. This saves the launch of
// a follow-up kernel (~2-4 us of latency a kernel boundary at batch 1).
__device__ __forceinline__ bool arrive_last(unsigned* counter, unsigned blocks) {
  __shared__ bool last;
  __syncthreads();  // the block's writes are done before thread 0 publishes them
  if (threadIdx.x == 0) {
    __threadfence();
    last = atomicAdd(counter, 1u) == blocks - 1;
    if (last) {
      atomicExch(counter, 0u);
      __threadfence();
    }
  }
  __syncthreads();
  return last;
}

inline unsigned blocks_for(long long items, int per_block) {
  return static_cast<unsigned>((items + per_block - 1) / per_block);
}

// Multiprocessors of the first device used (132 on the H100 when the query fails).
inline int sm_count() {
  static const int count = [] {
    int device = 0, sms = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
      return 132;
    return sms;
  }();
  return count;
}

// A lane's activation source for the tensor-core tiles: row `row` (< 0: none) of a float32
// input or of a pre-split one.
__device__ __forceinline__ tiles::F32Row row_source(const float* x, int row, int cols) {
  return tiles::F32Row{row >= 0 ? x + static_cast<std::size_t>(row) * cols : nullptr, cols};
}
__device__ __forceinline__ tiles::SplitRow row_source(const SplitActivations& x, int row,
                                                      int cols) {
  if (row < 0) return tiles::SplitRow{nullptr, nullptr, 1.0f, cols};
  const std::size_t at = static_cast<std::size_t>(row) * cols;
  return tiles::SplitRow{x.hi + at, x.lo + at, x.inv_scale[row], cols};
}

// 16-byte alignment, which the vector loads and cp.async copies of the kernels need.
inline bool aligned16(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

// Opts a kernel into `bytes` of dynamic shared memory (above the default 48 KB). Set every
// launch: the attribute belongs to the current device.
template <class Kernel>
void allow_smem(Kernel kernel, int bytes, const char* op) {
  const cudaError_t err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    fail(op, cat(bytes, " bytes of shared memory: ", cudaGetErrorString(err)));
  }
}

}  // namespace mimo::cuda::launch
