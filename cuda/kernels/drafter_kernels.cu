// Kernels and launchers of the DFlash drafter: its non-causal attention and the block / context
// inputs (see drafter_ops.hpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "cuda/kernels/drafter_ops.hpp"
#include "cuda/tiles/drafter_attention.cuh"
#include "mimo/error.hpp"

namespace mimo::cuda {
namespace {

__global__ void drafter_attention_kernel(tiles::DrafterAttentionShape shape,
                                         const tiles::DrafterStepInputs* inputs, const float* q,
                                         const float* ctx_k, const float* ctx_v, const int* ctx_pos,
                                         const float* blk_k, const float* blk_v, const float* sinks,
                                         float* out) {
  __shared__ float scratch[tiles::drafter_attention_scratch(
      tiles::kDrafterAttentionThreads / tiles::kWarpSize, tiles::kDrafterMaxHeadDim)];
  const float* qh =
      q + (static_cast<long long>(blockIdx.x) * shape.num_heads + blockIdx.y) * shape.head_dim;
  tiles::drafter_attention_tile(shape, *inputs, qh, ctx_k, ctx_v, ctx_pos, blk_k, blk_v, sinks, out,
                                blockIdx.x, blockIdx.y, scratch);
}

__global__ void drafter_block_inputs_kernel(const tiles::DrafterStepInputs* inputs, int block,
                                            int mask_token, int* ids, int* positions) {
  const int i = threadIdx.x;
  if (i >= block) return;
  ids[i] = i == 0 ? inputs->anchor : mask_token;
  positions[i] = inputs->anchor_position + i;
}

__global__ void drafter_context_inputs_kernel(int* positions, int* append_at, int first, int n,
                                              int valid) {
  const int start = blockIdx.x * blockDim.x + threadIdx.x;
  if (start == 0) *append_at = valid;
  for (int i = start; i < n; i += gridDim.x * blockDim.x) positions[i] = first + i;
}

__global__ void drafter_append_rows_kernel(unsigned* dst, const unsigned* src, long long words,
                                           int row_words, const int* append_at) {
  unsigned* out = dst + static_cast<long long>(*append_at) * row_words;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < words;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    out[i] = src[i];
  }
}

void check_launch(const char* op) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw Error(ErrorCode::kDevice,
                std::string("CUDA kernel ") + op + ": " + cudaGetErrorString(err));
  }
}

}  // namespace

void drafter_block_inputs(const tiles::DrafterStepInputs* inputs, int block, int mask_token,
                          int* ids, int* positions, Stream stream) {
  if (!(block > 0 && block <= 1024)) {
    throw Error(ErrorCode::kInvalidArgument,
                "cuda::drafter_block_inputs: block " + std::to_string(block) + " not in [1, 1024]");
  }
  drafter_block_inputs_kernel<<<1, 1024, 0, static_cast<cudaStream_t>(stream)>>>(
      inputs, block, mask_token, ids, positions);
  check_launch("drafter_block_inputs");
}

void drafter_context_inputs(int* positions, int* append_at, int first, int n, int valid,
                            Stream stream) {
  const int blocks = std::clamp((n + 255) / 256, 1, 1024);
  drafter_context_inputs_kernel<<<blocks, 256, 0, static_cast<cudaStream_t>(stream)>>>(
      positions, append_at, first, n, valid);
  check_launch("drafter_context_inputs");
}

void drafter_append_rows(void* dst, const void* src, int rows, int row_words, const int* append_at,
                         Stream stream) {
  const long long words = static_cast<long long>(rows) * row_words;
  if (words <= 0) return;
  const int blocks = static_cast<int>(std::min<long long>((words + 255) / 256, 1024));
  drafter_append_rows_kernel<<<blocks, 256, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<unsigned*>(dst), static_cast<const unsigned*>(src), words, row_words, append_at);
  check_launch("drafter_append_rows");
}

void drafter_attention(const tiles::DrafterAttentionShape& shape,
                       const tiles::DrafterStepInputs* inputs, const float* q, const float* ctx_k,
                       const float* ctx_v, const int* ctx_pos, const float* blk_k,
                       const float* blk_v, const float* sinks, float* out, Stream stream) {
  if (!(shape.block > 0 && shape.num_kv_heads > 0 && shape.num_heads % shape.num_kv_heads == 0 &&
        shape.head_dim > 0 && shape.v_head_dim > 0 && shape.head_dim <= tiles::kDrafterMaxHeadDim &&
        shape.v_head_dim <= tiles::kDrafterMaxHeadDim)) {
    throw Error(ErrorCode::kInvalidArgument,
                "cuda::drafter_attention: bad shape (heads " + std::to_string(shape.num_heads) +
                    ", kv heads " + std::to_string(shape.num_kv_heads) + ", head_dim " +
                    std::to_string(shape.head_dim) + ", v_head_dim " +
                    std::to_string(shape.v_head_dim) + "; head dims at most " +
                    std::to_string(tiles::kDrafterMaxHeadDim) + ")");
  }
  drafter_attention_kernel<<<dim3(shape.block, shape.num_heads), tiles::kDrafterAttentionThreads, 0,
                             static_cast<cudaStream_t>(stream)>>>(
      shape, inputs, q, ctx_k, ctx_v, ctx_pos, blk_k, blk_v, sinks, out);
  check_launch("drafter_attention");
}

}  // namespace mimo::cuda
