// Kernels and launchers of the DFlash drafter: its non-causal attention and the block / context
// inputs (see drafter_ops.hpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "cuda/kernels/drafter_ops.hpp"
#include "cuda/tiles/drafter_attention.cuh"
#include "cuda/tiles/norm.cuh"
#include "cuda/tiles/rope.cuh"
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

// One head of one token in place: per-head RMSNorm with `weight`, then RoPE at `pos` (pairs
// i, i + half). The block's threads split the head.
__device__ __forceinline__ void norm_rope_head(float* head, const float* weight, int head_dim,
                                               float eps, int half, const float* inv_freq, int pos,
                                               float* scratch) {
  tiles::rmsnorm_token_tile(head, nullptr, weight, head_dim, eps, head, scratch);
  __syncthreads();  // RoPE pairs elements other threads normalised
  tiles::rope_head_tile(head, half, inv_freq, pos, tiles::Team::block());
}

// Block (t, h): query head h of token t for h < q_heads, else key head h - q_heads.
__global__ void drafter_qk_norm_rope_kernel(float* q, float* k, int q_heads, int kv_heads,
                                            int head_dim, const float* q_norm, const float* k_norm,
                                            float eps, int half, const float* inv_freq,
                                            const int* positions) {
  __shared__ float scratch[32];
  const int t = blockIdx.x, h = blockIdx.y;
  const bool query = h < q_heads;
  float* head = query ? q + (static_cast<long long>(t) * q_heads + h) * head_dim
                      : k + (static_cast<long long>(t) * kv_heads + h - q_heads) * head_dim;
  norm_rope_head(head, query ? q_norm : k_norm, head_dim, eps, half, inv_freq, positions[t],
                 scratch);
}

// Block (t, h): key head h of context row t normed and rotated, then it and value head h stored
// at cache row *append_at + t (and the row's position, when positions_out is set).
__global__ void drafter_context_kv_kernel(float* k, const float* v, int kv_heads, int head_dim,
                                          int v_head_dim, const float* k_norm, float eps, int half,
                                          const float* inv_freq, const int* positions,
                                          const int* append_at, float* key_cache,
                                          float* value_cache, int* positions_out) {
  __shared__ float scratch[32];
  const int t = blockIdx.x, h = blockIdx.y;
  const long long src = static_cast<long long>(t) * kv_heads + h;
  float* head = k + src * head_dim;
  norm_rope_head(head, k_norm, head_dim, eps, half, inv_freq, positions[t], scratch);
  __syncthreads();
  const long long row = static_cast<long long>(*append_at) + t;
  const long long dst = row * kv_heads + h;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) key_cache[dst * head_dim + d] = head[d];
  for (int d = threadIdx.x; d < v_head_dim; d += blockDim.x) {
    value_cache[dst * v_head_dim + d] = v[src * v_head_dim + d];
  }
  if (positions_out != nullptr && h == 0 && threadIdx.x == 0) positions_out[row] = positions[t];
}

// Threads a block of the head kernels: one element a thread up to 256.
int head_threads(int head_dim) {
  return std::clamp((head_dim + 31) / 32 * 32, 32, 256);
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

void drafter_qk_norm_rope(float* q, float* k, int n, int q_heads, int kv_heads, int head_dim,
                          const float* q_norm, const float* k_norm, float eps, int rotary_dim,
                          const float* inv_freq, const int* positions, Stream stream) {
  if (!(n > 0 && q_heads > 0 && kv_heads > 0 && head_dim > 0 && rotary_dim % 2 == 0 &&
        rotary_dim <= head_dim && q_norm != nullptr && k_norm != nullptr)) {
    throw Error(ErrorCode::kInvalidArgument,
                "cuda::drafter_qk_norm_rope: bad shape (" + std::to_string(n) + " rows, heads " +
                    std::to_string(q_heads) + " / " + std::to_string(kv_heads) + ", head_dim " +
                    std::to_string(head_dim) + ", rotary_dim " + std::to_string(rotary_dim) +
                    ") or a missing norm weight");
  }
  drafter_qk_norm_rope_kernel<<<dim3(n, q_heads + kv_heads), head_threads(head_dim), 0,
                                static_cast<cudaStream_t>(stream)>>>(
      q, k, q_heads, kv_heads, head_dim, q_norm, k_norm, eps, rotary_dim / 2, inv_freq, positions);
  check_launch("drafter_qk_norm_rope");
}

void drafter_context_kv(float* k, const float* v, int n, int kv_heads, int head_dim, int v_head_dim,
                        const float* k_norm, float eps, int rotary_dim, const float* inv_freq,
                        const int* positions, const int* append_at, float* key_cache,
                        float* value_cache, int* positions_out, Stream stream) {
  if (!(n > 0 && kv_heads > 0 && head_dim > 0 && v_head_dim > 0 && rotary_dim % 2 == 0 &&
        rotary_dim <= head_dim && k_norm != nullptr)) {
    throw Error(ErrorCode::kInvalidArgument,
                "cuda::drafter_context_kv: bad shape (" + std::to_string(n) + " rows, kv heads " +
                    std::to_string(kv_heads) + ", head dims " + std::to_string(head_dim) + " / " +
                    std::to_string(v_head_dim) + ", rotary_dim " + std::to_string(rotary_dim) +
                    ") or a missing k_norm");
  }
  drafter_context_kv_kernel<<<dim3(n, kv_heads), head_threads(std::max(head_dim, v_head_dim)), 0,
                              static_cast<cudaStream_t>(stream)>>>(
      k, v, kv_heads, head_dim, v_head_dim, k_norm, eps, rotary_dim / 2, inv_freq, positions,
      append_at, key_cache, value_cache, positions_out);
  check_launch("drafter_context_kv");
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
