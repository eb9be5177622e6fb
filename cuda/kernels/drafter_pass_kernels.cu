// The DFlash drafter's persistent passes (cuda/tiles/drafter_pass.cuh): a block forward or a
// context update in one cooperative launch, grid barriers between the phases.
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda/kernels/drafter_ops.hpp"
#include "cuda/kernels/launch_support.cuh"
#include "cuda/tiles/drafter_pass.cuh"
#include "mimo/error.hpp"

namespace mimo::cuda {
namespace {

using namespace tiles;
using namespace launch;

// Rows 0 .. block-1 of the block's input (the anchor's embedding, then the mask's or the mask
// embedding) into xs and hs; block 0 writes them to x.
__device__ void drafter_embed_block(const DrafterPassArgs& a, const DrafterStepInputs& in, float* x,
                                    float* xs, float* hs) {
  const int count = a.block * a.hidden;
  for (int i = threadIdx.x; i < count; i += blockDim.x) {
    const int t = i / a.hidden, c = i % a.hidden;
    float v;
    if (t > 0 && a.mask_embedding != nullptr) {
      v = a.mask_embedding[c];
    } else {
      const size_t at = static_cast<size_t>(t == 0 ? in.anchor : a.mask_token) * a.embed.cols + c;
      v = a.embed.bf16 ? bf16_bits_to_float(static_cast<const std::uint16_t*>(a.embed.values)[at])
                       : static_cast<const float*>(a.embed.values)[at];
    }
    xs[i] = v;
    hs[i] = v;
    if (blockIdx.x == 0) x[i] = v;
  }
}

// The grid's warps over the rows of q, k and v (one index space) for the block's rows hs.
__device__ void drafter_qkv_phase(const DrafterPassArgs& a, const DrafterPassLayer& L,
                                  const float* hs) {
  const int lane = threadIdx.x % kWarpSize, warps = blockDim.x / kWarpSize;
  const int total = L.q.rows + L.k.rows + L.v.rows;
  float acc[kMaxDrafterPassRows];
  for (int r = blockIdx.x * warps + threadIdx.x / kWarpSize; r < total; r += gridDim.x * warps) {
    const bool is_q = r < L.q.rows, is_k = !is_q && r < L.q.rows + L.k.rows;
    const DrafterPassMatrix& w = is_q ? L.q : is_k ? L.k : L.v;
    const int row = is_q ? r : is_k ? r - L.q.rows : r - L.q.rows - L.k.rows;
    float* y = is_q ? a.q : is_k ? a.k : a.v;
    drafter_row_dots(w, row, hs, a.block, lane, acc);
    if (lane == 0) {
#pragma unroll
      for (int t = 0; t < kMaxDrafterPassRows; ++t) {
        if (t < a.block) y[static_cast<size_t>(t) * w.rows + row] = acc[t];
      }
    }
  }
}

// Attention of query (i, h) for every (i, h) a block takes: the query head and the block's keys
// of its group normed and rotated in shared memory, the values staged, then the drafter's
// attention tile over [context ; block].
__device__ void drafter_attention_phase(const DrafterPassArgs& a, const DrafterPassLayer& L,
                                        const DrafterStepInputs& in, float* smem) {
  const int b = a.block, hd = a.head_dim, vhd = a.v_head_dim;
  float* qs = smem;                            // [b, heads, hd]
  float* ks = qs + b * a.heads * hd;           // [b, kv, hd]
  float* vs = ks + b * a.kv_heads * hd;        // [b, kv, vhd]
  float* scratch = vs + b * a.kv_heads * vhd;  // blockDim.x + 32
  DrafterAttentionShape shape;
  shape.num_heads = a.heads;
  shape.num_kv_heads = a.kv_heads;
  shape.head_dim = hd;
  shape.v_head_dim = vhd;
  shape.block = b;
  shape.window = L.window;
  shape.score_scale = a.score_scale;
  shape.value_scale = a.value_scale;
  const int lane = threadIdx.x % kWarpSize, warps = blockDim.x / kWarpSize;
  for (int item = blockIdx.x; item < b * a.heads; item += gridDim.x) {
    const int i = item / a.heads, h = item % a.heads, g = h / (a.heads / a.kv_heads);
    __syncthreads();  // the previous item's tile is done with the buffers
    float* qh = qs + (static_cast<size_t>(i) * a.heads + h) * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
      qh[d] = __ldcg(a.q + (static_cast<size_t>(i) * a.heads + h) * hd + d);
    }
    for (int e = threadIdx.x; e < b * hd; e += blockDim.x) {
      const size_t at = (static_cast<size_t>(e / hd) * a.kv_heads + g) * hd + e % hd;
      ks[at] = __ldcg(a.k + at);
    }
    for (int e = threadIdx.x; e < b * vhd; e += blockDim.x) {
      const size_t at = (static_cast<size_t>(e / vhd) * a.kv_heads + g) * vhd + e % vhd;
      vs[at] = __ldcg(a.v + at);
    }
    __syncthreads();
    // Row 0: the query head; rows 1 .. b: the block's keys.
    for (int row = threadIdx.x / kWarpSize; row <= b; row += warps) {
      float* p = row == 0 ? qh : ks + (static_cast<size_t>(row - 1) * a.kv_heads + g) * hd;
      drafter_warp_rmsnorm(p, row == 0 ? L.q_norm : L.k_norm, hd, a.eps, lane);
      const int pos = in.anchor_position + (row == 0 ? i : row - 1);
      for (int j = lane; j < a.rotary_half; j += kWarpSize) {
        rope_pair_tile(p, a.rotary_half, j, a.inv_freq[j], pos);
      }
    }
    __syncthreads();
    drafter_attention_tile(shape, in, qs, L.keys, L.values, a.context_positions, ks, vs, L.sinks,
                           a.heads_out, i, h, scratch);
  }
}

// gate and up rows r for every block row: act = silu(gate) * up.
__device__ void drafter_gate_up_phase(const DrafterPassLayer& L, const float* hs, int b,
                                      float* act) {
  const int lane = threadIdx.x % kWarpSize, warps = blockDim.x / kWarpSize;
  float g[kMaxDrafterPassRows], u[kMaxDrafterPassRows];
  for (int r = blockIdx.x * warps + threadIdx.x / kWarpSize; r < L.gate.rows;
       r += gridDim.x * warps) {
    drafter_row_dots(L.gate, r, hs, b, lane, g);
    drafter_row_dots(L.up, r, hs, b, lane, u);
    if (lane == 0) {
#pragma unroll
      for (int t = 0; t < kMaxDrafterPassRows; ++t) {
        if (t < b) act[static_cast<size_t>(t) * L.gate.rows + r] = silu(g[t]) * u[t];
      }
    }
  }
}

__global__ void __launch_bounds__(kDrafterPassThreads, 1)
    drafter_block_pass_kernel(DrafterPassArgs a, int stage_floats) {
  extern __shared__ float smem[];
  const DrafterStepInputs in = *a.inputs;
  const int b = a.block;
  float* xs = smem;
  float* hs = smem + stage_floats;
  unsigned generation = 0;
  int cur = 0;
  for (int l = 0; l < a.num_layers; ++l) {
    const DrafterPassLayer& L = a.layers[l];
    if (l == 0) {
      drafter_embed_block(a, in, a.x[0], xs, hs);
      __syncthreads();
      const int lane = threadIdx.x % kWarpSize, warps = blockDim.x / kWarpSize;
      for (int t = threadIdx.x / kWarpSize; t < b; t += warps) {
        drafter_warp_rmsnorm(hs + static_cast<size_t>(t) * a.hidden, L.input_norm, a.hidden, a.eps,
                             lane);
      }
      __syncthreads();
    } else {
      drafter_residual_norm(a.x[cur], a.delta, a.x[cur ^ 1], L.input_norm, b, a.hidden, a.eps, xs,
                            hs);
      cur ^= 1;
    }
    drafter_qkv_phase(a, L, hs);
    drafter_grid_barrier(a.barrier, ++generation);
    drafter_attention_phase(a, L, in, smem);
    drafter_grid_barrier(a.barrier, ++generation);
    drafter_stage(xs, a.heads_out, b * a.heads * a.v_head_dim);
    __syncthreads();
    drafter_linear_phase(L.o, xs, b, a.delta, a.hidden);
    drafter_grid_barrier(a.barrier, ++generation);
    drafter_residual_norm(a.x[cur], a.delta, a.x[cur ^ 1], L.post_attention_norm, b, a.hidden,
                          a.eps, xs, hs);
    cur ^= 1;
    drafter_gate_up_phase(L, hs, b, a.act);
    drafter_grid_barrier(a.barrier, ++generation);
    drafter_stage(xs, a.act, b * a.inter);
    __syncthreads();
    drafter_linear_phase(L.down, xs, b, a.delta, a.hidden);
    drafter_grid_barrier(a.barrier, ++generation);
  }
  if (blockIdx.x != 0) return;  // block-uniform: the final norm is one block's work
  drafter_residual_norm(a.x[cur], a.delta, nullptr, a.final_norm, b, a.hidden, a.eps, xs, hs);
  for (int i = threadIdx.x; i < b * a.hidden; i += blockDim.x) a.h[i] = hs[i];
}

// Per (layer, kv head, key or value): the head's rows of the n normed context rows; keys normed
// and rotated; appended to the cache at *append_at.
__device__ void drafter_context_heads(const DrafterPassArgs& a, const float* hs, int n, int append,
                                      float* outs) {
  const int lane = threadIdx.x % kWarpSize, warps = blockDim.x / kWarpSize;
  const int items = a.num_layers * a.kv_heads * 2;
  float acc[kMaxDrafterPassRows];
  for (int item = blockIdx.x; item < items; item += gridDim.x) {
    const DrafterPassLayer& L = a.layers[item / (a.kv_heads * 2)];
    const int g = (item / 2) % a.kv_heads;
    const bool is_v = item % 2 == 1;
    const DrafterPassMatrix& w = is_v ? L.v : L.k;
    const int width = is_v ? a.v_head_dim : a.head_dim;
    __syncthreads();  // the previous item's rows are stored
    for (int rr = threadIdx.x / kWarpSize; rr < width; rr += warps) {
      drafter_row_dots(w, g * width + rr, hs, n, lane, acc);
      if (lane == 0) {
#pragma unroll
        for (int t = 0; t < kMaxDrafterPassRows; ++t) {
          if (t < n) outs[t * width + rr] = acc[t];
        }
      }
    }
    __syncthreads();
    if (!is_v) {
      for (int t = threadIdx.x / kWarpSize; t < n; t += warps) {
        float* p = outs + t * width;
        drafter_warp_rmsnorm(p, L.k_norm, width, a.eps, lane);
        const int pos = a.feature_positions[t];
        for (int j = lane; j < a.rotary_half; j += kWarpSize) {
          rope_pair_tile(p, a.rotary_half, j, a.inv_freq[j], pos);
        }
      }
      __syncthreads();
    }
    float* cache = is_v ? L.values : L.keys;
    for (int e = threadIdx.x; e < n * width; e += blockDim.x) {
      const int t = e / width;
      cache[(static_cast<size_t>(append + t) * a.kv_heads + g) * width + e % width] = outs[e];
    }
  }
}

__global__ void __launch_bounds__(kDrafterPassThreads, 1)
    drafter_context_pass_kernel(DrafterPassArgs a, int n) {
  extern __shared__ float smem[];
  const int append = *a.append_at;
  drafter_stage(smem, a.features, n * a.fc.cols);
  __syncthreads();
  drafter_linear_phase(a.fc, smem, n, a.ctx, a.hidden);
  drafter_grid_barrier(a.barrier, 1);
  float* xs = smem;
  float* hs = xs + n * a.hidden;
  drafter_residual_norm(a.ctx, nullptr, nullptr, a.context_norm, n, a.hidden, a.eps, xs, hs);
  if (blockIdx.x == 0) {
    for (int t = threadIdx.x; t < n; t += blockDim.x) {
      a.cache_positions[append + t] = a.feature_positions[t];
    }
  }
  drafter_context_heads(a, hs, n, append, hs + n * a.hidden);
}

int ceil_div(int a, int b) {
  return (a + b - 1) / b;
}

// One block an SM at most, every block resident at once (the cooperative attribute makes the
// launch fail rather than start blocks that could wait forever at a barrier).
template <class Kernel>
void launch_cooperative(const char* op, Kernel kernel, int blocks, std::size_t smem,
                        cudaStream_t stream, const DrafterPassArgs& a, int extra) {
  static_assert(sizeof(DrafterPassArgs) < 4000, "kernel parameters are limited to 4 KB");
  if (smem > 48 * 1024) allow_smem(kernel, static_cast<int>(smem), op);
  cudaLaunchAttribute cooperative{};
  cooperative.id = cudaLaunchAttributeCooperative;
  cooperative.val.cooperative = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(blocks);
  config.blockDim = dim3(kDrafterPassThreads);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = &cooperative;
  config.numAttrs = 1;
  const cudaError_t err = cudaLaunchKernelEx(&config, kernel, a, extra);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear it: the error is reported here
    throw Error(ErrorCode::kDevice, cat("CUDA kernel ", op, ": ", cudaGetErrorString(err)));
  }
}

void zero_barrier(unsigned* barrier, cudaStream_t s, const char* op) {
  const cudaError_t err = cudaMemsetAsync(barrier, 0, sizeof(unsigned), s);
  if (err != cudaSuccess) {
    throw Error(ErrorCode::kDevice, cat(op, " barrier: ", cudaGetErrorString(err)));
  }
}

constexpr int kPassWarps = kDrafterPassThreads / kWarpSize;

}  // namespace

std::size_t drafter_block_pass_smem(const tiles::DrafterPassArgs& a) {
  const int widest = std::max({a.hidden, a.heads * a.v_head_dim, a.inter});
  const std::size_t staging = 2 * std::size_t(a.block) * widest;
  const std::size_t attention =
      std::size_t(a.block) * (a.heads * a.head_dim + a.kv_heads * (a.head_dim + a.v_head_dim)) +
      kDrafterPassThreads + 32;
  return std::max(staging, attention) * sizeof(float);
}

std::size_t drafter_context_pass_smem(const tiles::DrafterPassArgs& a, int rows) {
  const std::size_t fc = std::size_t(rows) * a.fc.cols;
  const std::size_t heads = std::size_t(rows) * (2 * a.hidden + std::max(a.head_dim, a.v_head_dim));
  return std::max(fc, heads) * sizeof(float);
}

void drafter_block_pass(const tiles::DrafterPassArgs& a, Stream stream) {
  const cudaStream_t s = as_stream(stream);
  const int widest_rows =
      std::max({a.layers[0].q.rows + a.layers[0].k.rows + a.layers[0].v.rows, a.inter, a.hidden});
  const int blocks =
      std::min(sm_count(), std::max(ceil_div(widest_rows, kPassWarps), a.block * a.heads));
  const int widest = std::max({a.hidden, a.heads * a.v_head_dim, a.inter});
  zero_barrier(a.barrier, s, "drafter block pass");
  launch_cooperative("drafter_block_pass", drafter_block_pass_kernel, blocks,
                     drafter_block_pass_smem(a), s, a, a.block * widest);
}

void drafter_context_pass(const tiles::DrafterPassArgs& a, int rows, Stream stream) {
  const cudaStream_t s = as_stream(stream);
  const int items = a.num_layers * a.kv_heads * 2;
  const int blocks = std::min(sm_count(), std::max(ceil_div(a.hidden, kPassWarps), items));
  zero_barrier(a.barrier, s, "drafter context pass");
  launch_cooperative("drafter_context_pass", drafter_context_pass_kernel, blocks,
                     drafter_context_pass_smem(a, rows), s, a, rows);
}

}  // namespace mimo::cuda
