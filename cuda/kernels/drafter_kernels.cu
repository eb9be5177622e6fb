// Kernels and launchers of the DFlash drafter: its non-causal attention and the block / context
// inputs (see drafter_ops.hpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "cuda/kernels/drafter_ops.hpp"
#include "cuda/tiles/drafter_attention.cuh"
#include "cuda/tiles/head_norm_rope.cuh"
#include "cuda/tiles/moe.cuh"
#include "cuda/tiles/norm.cuh"
#include "cuda/tiles/rope.cuh"
#include "mimo/error.hpp"

namespace mimo::cuda {
namespace {

template <int kDims>
__global__ void drafter_attention_kernel(tiles::DrafterAttentionShape shape,
                                         const tiles::DrafterStepInputs* inputs, const float* q,
                                         const float* ctx_k, const float* ctx_v, const int* ctx_pos,
                                         const float* blk_k, const float* blk_v, const float* sinks,
                                         float* out) {
  __shared__ float scratch[tiles::drafter_attention_scratch(
      tiles::kDrafterAttentionThreads / tiles::kWarpSize, tiles::kDrafterMaxHeadDim)];
  const float* qh =
      q + (static_cast<long long>(blockIdx.x) * shape.num_heads + blockIdx.y) * shape.head_dim;
  tiles::drafter_attention_tile<kDims>(shape, *inputs, qh, ctx_k, ctx_v, ctx_pos, blk_k, blk_v,
                                       sinks, out, blockIdx.x, blockIdx.y, scratch);
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

// Block (t, h): query head h of token t for h < q_heads, else key head h - q_heads and its value
// head, from rows `in.stride` floats apart into the contiguous q / k / v.
__global__ void drafter_qkv_norm_rope_kernel(DrafterQkvRows in, int q_heads, int kv_heads,
                                             int head_dim, int v_head_dim, const float* q_norm,
                                             const float* k_norm, float eps, int half,
                                             const float* inv_freq, const int* positions, float* q,
                                             float* k, float* v) {
  __shared__ float scratch[32];
  const int t = blockIdx.x, h = blockIdx.y;
  if (h < q_heads) {
    tiles::head_norm_rope_tile(in.q + static_cast<long long>(t) * in.q_stride + h * head_dim,
                               q + (static_cast<long long>(t) * q_heads + h) * head_dim, q_norm,
                               head_dim, eps, half, inv_freq, positions[t], scratch);
    return;
  }
  const int kh = h - q_heads;
  tiles::head_norm_rope_tile(in.k + static_cast<long long>(t) * in.k_stride + kh * head_dim,
                             k + (static_cast<long long>(t) * kv_heads + kh) * head_dim, k_norm,
                             head_dim, eps, half, inv_freq, positions[t], scratch);
  const float* v_in = in.v + static_cast<long long>(t) * in.v_stride + kh * v_head_dim;
  float* v_out = v + (static_cast<long long>(t) * kv_heads + kh) * v_head_dim;
  if (v_in != v_out) {
    for (int d = threadIdx.x; d < v_head_dim; d += blockDim.x) v_out[d] = v_in[d];
  }
}

// Block (t, h): key head h of context row t normed and rotated into cache row *append_at + t,
// its value head copied there (and the row's position, when positions_out is set).
__global__ void drafter_context_kv_kernel(DrafterQkvRows in, int kv_heads, int head_dim,
                                          int v_head_dim, const float* k_norm, float eps, int half,
                                          const float* inv_freq, const int* positions,
                                          const int* append_at, float* key_cache,
                                          float* value_cache, int* positions_out) {
  __shared__ float scratch[32];
  const int t = blockIdx.x, h = blockIdx.y;
  const long long dst = (static_cast<long long>(*append_at) + t) * kv_heads + h;
  tiles::head_norm_rope_tile(in.k + static_cast<long long>(t) * in.k_stride + h * head_dim,
                             key_cache + dst * head_dim, k_norm, head_dim, eps, half, inv_freq,
                             positions[t], scratch);
  const float* v_in = in.v + static_cast<long long>(t) * in.v_stride + h * v_head_dim;
  for (int d = threadIdx.x; d < v_head_dim; d += blockDim.x) {
    value_cache[dst * v_head_dim + d] = v_in[d];
  }
  if (positions_out != nullptr && h == 0 && threadIdx.x == 0) {
    positions_out[*append_at + t] = positions[t];
  }
}

// out [n, inter] = silu(gate) * up of rows [gate | up] (2 inter floats a row).
__global__ void drafter_silu_mul_rows_kernel(const float* gate_up, int n, int inter, float* out) {
  const long long count = static_cast<long long>(n) * inter;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long t = i / inter, c = i % inter;
    const float* row = gate_up + t * 2 * inter;
    out[i] = tiles::silu(row[c]) * row[inter + c];
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

void drafter_qkv_norm_rope(const DrafterQkvRows& in, int n, int q_heads, int kv_heads, int head_dim,
                           int v_head_dim, const float* q_norm, const float* k_norm, float eps,
                           int rotary_dim, const float* inv_freq, const int* positions, float* q,
                           float* k, float* v, Stream stream) {
  if (!(n > 0 && q_heads > 0 && kv_heads > 0 && head_dim > 0 && v_head_dim > 0 &&
        rotary_dim % 2 == 0 && rotary_dim <= head_dim && q_norm != nullptr && k_norm != nullptr &&
        in.q_stride >= q_heads * head_dim && in.k_stride >= kv_heads * head_dim &&
        in.v_stride >= kv_heads * v_head_dim)) {
    throw Error(ErrorCode::kInvalidArgument,
                "cuda::drafter_qkv_norm_rope: bad shape or row strides (" + std::to_string(n) +
                    " rows, heads " + std::to_string(q_heads) + " / " + std::to_string(kv_heads) +
                    ", head dims " + std::to_string(head_dim) + " / " + std::to_string(v_head_dim) +
                    ", rotary_dim " + std::to_string(rotary_dim) + ") or a missing norm weight");
  }
  drafter_qkv_norm_rope_kernel<<<dim3(n, q_heads + kv_heads),
                                 tiles::drafter_head_threads(head_dim, v_head_dim), 0,
                                 static_cast<cudaStream_t>(stream)>>>(
      in, q_heads, kv_heads, head_dim, v_head_dim, q_norm, k_norm, eps, rotary_dim / 2, inv_freq,
      positions, q, k, v);
  check_launch("drafter_qkv_norm_rope");
}

void drafter_context_kv(const DrafterQkvRows& in, int n, int kv_heads, int head_dim, int v_head_dim,
                        const float* k_norm, float eps, int rotary_dim, const float* inv_freq,
                        const int* positions, const int* append_at, float* key_cache,
                        float* value_cache, int* positions_out, Stream stream) {
  if (!(n > 0 && kv_heads > 0 && head_dim > 0 && v_head_dim > 0 && rotary_dim % 2 == 0 &&
        rotary_dim <= head_dim && k_norm != nullptr && in.k_stride >= kv_heads * head_dim &&
        in.v_stride >= kv_heads * v_head_dim)) {
    throw Error(ErrorCode::kInvalidArgument,
                "cuda::drafter_context_kv: bad shape or row strides (" + std::to_string(n) +
                    " rows, kv heads " + std::to_string(kv_heads) + ", head dims " +
                    std::to_string(head_dim) + " / " + std::to_string(v_head_dim) +
                    ", rotary_dim " + std::to_string(rotary_dim) + ") or a missing k_norm");
  }
  drafter_context_kv_kernel<<<dim3(n, kv_heads), tiles::drafter_head_threads(head_dim, v_head_dim),
                              0, static_cast<cudaStream_t>(stream)>>>(
      in, kv_heads, head_dim, v_head_dim, k_norm, eps, rotary_dim / 2, inv_freq, positions,
      append_at, key_cache, value_cache, positions_out);
  check_launch("drafter_context_kv");
}

void drafter_silu_mul_rows(const float* gate_up, int n, int inter, float* out, Stream stream) {
  if (!(n > 0 && inter > 0)) {
    throw Error(ErrorCode::kInvalidArgument, "cuda::drafter_silu_mul_rows: " + std::to_string(n) +
                                                 " rows of " + std::to_string(inter));
  }
  const long long count = static_cast<long long>(n) * inter;
  const int blocks = static_cast<int>(std::min<long long>((count + 255) / 256, 1024));
  drafter_silu_mul_rows_kernel<<<blocks, 256, 0, static_cast<cudaStream_t>(stream)>>>(gate_up, n,
                                                                                      inter, out);
  check_launch("drafter_silu_mul_rows");
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
  const dim3 grid(shape.block, shape.num_heads);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int dims = tiles::drafter_attention_lane_dims(shape.head_dim, shape.v_head_dim);
  const auto kernel = dims == 2   ? drafter_attention_kernel<2>
                      : dims == 4 ? drafter_attention_kernel<4>
                                  : drafter_attention_kernel<8>;
  kernel<<<grid, tiles::kDrafterAttentionThreads, 0, s>>>(shape, inputs, q, ctx_k, ctx_v, ctx_pos,
                                                          blk_k, blk_v, sinks, out);
  check_launch("drafter_attention");
}

}  // namespace mimo::cuda
