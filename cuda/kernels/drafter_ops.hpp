// Host entry point of the DFlash drafter's non-causal attention (cuda/tiles/drafter_attention.cuh):
// one kernel on a stream, no synchronisation, no CUDA types. Every pointer is device memory.
#pragma once

#include "cuda/kernels/ops.hpp"
#include "cuda/tiles/drafter_shape.hpp"

namespace mimo::cuda {

// out [block, heads, v_head_dim] = attention of the block's queries q [block, heads, head_dim]
// over inputs->n_context context keys (ctx_k / ctx_v / ctx_pos) then the block's keys blk_k /
// blk_v, with no causal mask. sinks: [heads] logits or null. v_head_dim <= 1024.
void drafter_attention(const tiles::DrafterAttentionShape& shape,
                       const tiles::DrafterStepInputs* inputs, const float* q, const float* ctx_k,
                       const float* ctx_v, const int* ctx_pos, const float* blk_k,
                       const float* blk_v, const float* sinks, float* out, Stream stream = nullptr);

// The block's token ids [anchor, mask x (block - 1)] and positions from the step inputs.
void drafter_block_inputs(const tiles::DrafterStepInputs* inputs, int block, int mask_token,
                          int* ids, int* positions, Stream stream = nullptr);

// A context update's inputs without a host upload: positions[i] = first + i for i < n, and
// *append_at = valid (the cache row its rows go to, read by drafter_context_kv).
void drafter_context_inputs(int* positions, int* append_at, int first, int n, int valid,
                            Stream stream = nullptr);

// Where a step's q / k / v rows are: each tensor's row t at `q + t * q_stride` (and so on),
// so the three may be one product's columns side by side ([q | k | v] a row) or three buffers.
struct DrafterQkvRows {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  int q_stride = 0, k_stride = 0, v_stride = 0;  // floats from one row to the next
};

// The block's queries and keys per-head RMSNorm'd (q_norm / k_norm) then rotated at positions[0
// .. n) into q [n, q_heads, head_dim] / k [n, kv_heads, head_dim], and the values copied into
// v [n, kv_heads, v_head_dim] (unless in.v is v already): one launch. rotary_dim even, <=
// head_dim. The outputs may be the inputs (contiguous rows).
void drafter_qkv_norm_rope(const DrafterQkvRows& in, int n, int q_heads, int kv_heads, int head_dim,
                           int v_head_dim, const float* q_norm, const float* k_norm, float eps,
                           int rotary_dim, const float* inv_freq, const int* positions, float* q,
                           float* k, float* v, Stream stream = nullptr);

// A context pass's keys (in.k, in.k_stride) normed with k_norm and rotated at positions[0 .. n)
// into cache rows *append_at .. + n - 1 of key_cache [rows, kv_heads, head_dim], their values
// (in.v) into value_cache, and positions_out (or null) the rows' positions: one launch for
// rmsnorm, rope and three appends. in.q is not read.
void drafter_context_kv(const DrafterQkvRows& in, int n, int kv_heads, int head_dim, int v_head_dim,
                        const float* k_norm, float eps, int rotary_dim, const float* inv_freq,
                        const int* positions, const int* append_at, float* key_cache,
                        float* value_cache, int* positions_out, Stream stream = nullptr);

// out [n, inter] = silu(gate) * up, from rows [gate | up] of 2 inter floats (one product of the
// stacked gate and up projections).
void drafter_silu_mul_rows(const float* gate_up, int n, int inter, float* out,
                           Stream stream = nullptr);

}  // namespace mimo::cuda
