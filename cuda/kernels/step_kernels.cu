// Kernels of step_ops.hpp: expert tables over any tile-readable format, sliding-ring slot
// save / restore, synthetic-weight fills.
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda/kernels/launch_support.cuh"
#include "cuda/kernels/step_ops.hpp"
#include "cuda/tiles/linear.cuh"
#include "mimo/error.hpp"

namespace mimo::cuda {
namespace {

using namespace tiles;
using namespace launch;

constexpr int kRowWarps = 8;
constexpr int kRowThreads = kRowWarps * kWarpSize;

template <class Matrix>
__global__ void __launch_bounds__(kRowThreads)
    expert_rows_kernel(const Matrix* table, int rows, const float* x, const int* experts, int top_k,
                       float* out) {
  follow_previous_kernel();
  const int row = blockIdx.y * kRowWarps + threadIdx.x / kWarpSize;
  if (row >= rows) return;  // warp-uniform
  const int slot = blockIdx.x;
  const Matrix m = table[experts[slot]];
  float acc[1];
  row_dot<1>(m, row, x + static_cast<std::size_t>(slot / top_k) * m.cols, m.cols, 1, acc);
  if (threadIdx.x % kWarpSize == 0) out[static_cast<std::size_t>(slot) * rows + row] = acc[0];
}

template <class Matrix>
__global__ void __launch_bounds__(kRowThreads)
    expert_down_rows_kernel(const Matrix* table, int rows, int cols, const float* act,
                            const int* experts, const float* weights, int top_k, float* y) {
  follow_previous_kernel();
  const int row = blockIdx.y * kRowWarps + threadIdx.x / kWarpSize;
  if (row >= rows) return;
  const int t = blockIdx.x;
  float total = 0.0f;
  for (int k = 0; k < top_k; ++k) {
    const int slot = t * top_k + k;
    float acc[1];
    row_dot<1>(table[experts[slot]], row, act + static_cast<std::size_t>(slot) * cols, cols, 1,
               acc);
    total = fmaf(weights[slot], acc[0], total);
  }
  if (threadIdx.x % kWarpSize == 0) y[static_cast<std::size_t>(t) * rows + row] = total;
}

__global__ void copy_ring_slots_kernel(float* ring, float* saved, int capacity, int width,
                                       long long first_pos, int count, bool to_ring) {
  follow_previous_kernel();
  const int layer = blockIdx.y, j = blockIdx.x;
  const long long slot = (first_pos + j) % capacity;
  float* r = ring + (static_cast<std::size_t>(layer) * capacity + slot) * width;
  float* s = saved + (static_cast<std::size_t>(layer) * count + j) * width;
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    if (to_ring) {
      r[i] = s[i];
    } else {
      s[i] = r[i];
    }
  }
}

__device__ __forceinline__ std::uint64_t mix(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

__device__ __forceinline__ float uniform_pm1(std::uint64_t seed, std::size_t i) {
  return static_cast<float>(mix(seed ^ mix(i)) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

__global__ void fill_bytes_kernel(std::uint8_t* data, std::size_t count, std::uint64_t seed,
                                  std::uint8_t and_mask, std::uint8_t add) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    data[i] = static_cast<std::uint8_t>((mix(seed ^ mix(i)) & and_mask) + add);
  }
}

__global__ void fill_f32_kernel(float* data, std::size_t count, std::uint64_t seed, float scale) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    data[i] = scale * uniform_pm1(seed, i);
  }
}

__global__ void fill_bf16_kernel(std::uint16_t* data, std::size_t count, std::uint64_t seed,
                                 float scale) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const float v = scale * uniform_pm1(seed, i);
    data[i] = static_cast<std::uint16_t>(__float_as_uint(v) >> 16);  // truncation: no NaN / inf
  }
}

__global__ void fill_constant_kernel(float* data, std::size_t count, float value) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    data[i] = value;
  }
}

unsigned fill_blocks(std::size_t count) {
  return static_cast<unsigned>(std::min<std::size_t>((count + 255) / 256, 8192));
}

}  // namespace

template <class Matrix>
void expert_rows(const Matrix* table, int rows, const float* x, const int* experts, int n_tokens,
                 int top_k, float* out, Stream stream) {
  if (!(rows > 0 && n_tokens > 0 && top_k > 0)) {
    throw Error(ErrorCode::kInvalidArgument, "cuda::expert_rows: empty step or matrix");
  }
  // Slots along x (a long prefill chunk has more than grid.y's 65535), row blocks along y.
  launch_kernel("expert_rows", expert_rows_kernel<Matrix>,
                dim3(n_tokens * top_k, blocks_for(rows, kRowWarps)), kRowThreads, 0,
                as_stream(stream), table, rows, x, experts, top_k, out);
}

template <class Matrix>
void expert_down_rows(const Matrix* table, int rows, int cols, const float* act, const int* experts,
                      const float* weights, int n_tokens, int top_k, float* y, Stream stream) {
  if (!(rows > 0 && cols > 0 && n_tokens > 0 && top_k > 0)) {
    throw Error(ErrorCode::kInvalidArgument, "cuda::expert_down_rows: empty step or matrix");
  }
  launch_kernel("expert_down_rows", expert_down_rows_kernel<Matrix>,
                dim3(n_tokens, blocks_for(rows, kRowWarps)), kRowThreads, 0, as_stream(stream),
                table, rows, cols, act, experts, weights, top_k, y);
}

#define MIMO_EXPERT_TABLE(Matrix)                                                           \
  template void expert_rows<Matrix>(const Matrix*, int, const float*, const int*, int, int, \
                                    float*, Stream);                                        \
  template void expert_down_rows<Matrix>(const Matrix*, int, int, const float*, const int*, \
                                         const float*, int, int, float*, Stream);
MIMO_EXPERT_TABLE(Fp8Matrix)
MIMO_EXPERT_TABLE(Mxfp4Matrix)
MIMO_EXPERT_TABLE(Bf16Matrix)
MIMO_EXPERT_TABLE(F32Matrix)
#undef MIMO_EXPERT_TABLE

void copy_ring_slots(float* ring, float* saved, int layers, int capacity, int width,
                     long long first_pos, int count, bool to_ring, Stream stream) {
  if (layers == 0 || count == 0) return;
  if (!(count <= capacity && width > 0)) {
    throw Error(ErrorCode::kInvalidArgument, "cuda::copy_ring_slots: more slots than the ring");
  }
  launch_kernel("copy_ring_slots", copy_ring_slots_kernel, dim3(count, layers), 256, 0,
                as_stream(stream), ring, saved, capacity, width, first_pos, count, to_ring);
}

void fill_random_bytes(std::uint8_t* data, std::size_t count, std::uint64_t seed,
                       std::uint8_t and_mask, std::uint8_t add, Stream stream) {
  if (count == 0) return;
  fill_bytes_kernel<<<fill_blocks(count), 256, 0, as_stream(stream)>>>(data, count, seed, and_mask,
                                                                       add);
  check_launch("fill_random_bytes");
}

void fill_random_f32(float* data, std::size_t count, std::uint64_t seed, float scale,
                     Stream stream) {
  if (count == 0) return;
  fill_f32_kernel<<<fill_blocks(count), 256, 0, as_stream(stream)>>>(data, count, seed, scale);
  check_launch("fill_random_f32");
}

void fill_random_bf16(std::uint16_t* data, std::size_t count, std::uint64_t seed, float scale,
                      Stream stream) {
  if (count == 0) return;
  fill_bf16_kernel<<<fill_blocks(count), 256, 0, as_stream(stream)>>>(data, count, seed, scale);
  check_launch("fill_random_bf16");
}

void fill_constant_f32(float* data, std::size_t count, float value, Stream stream) {
  if (count == 0) return;
  fill_constant_kernel<<<fill_blocks(count), 256, 0, as_stream(stream)>>>(data, count, value);
  check_launch("fill_constant_f32");
}

}  // namespace mimo::cuda
