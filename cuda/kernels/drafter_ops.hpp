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
// *append_at = valid (the cache row its rows go to, read by drafter_append_rows).
void drafter_context_inputs(int* positions, int* append_at, int first, int n, int valid,
                            Stream stream = nullptr);

// dst[(*append_at) * row_words ...] = src[0 .. rows * row_words): rows of 32-bit words appended
// at a cache row read from device memory (a captured context update serves every offset).
void drafter_append_rows(void* dst, const void* src, int rows, int row_words, const int* append_at,
                         Stream stream = nullptr);

// Per-head RMSNorm then RoPE, in place, of the block's queries q [n, q_heads, head_dim] (weight
// q_norm) and keys k [n, kv_heads, head_dim] (k_norm) at positions[0 .. n): one launch for what
// rmsnorm + rope did in four. rotary_dim even, <= head_dim.
void drafter_qk_norm_rope(float* q, float* k, int n, int q_heads, int kv_heads, int head_dim,
                          const float* q_norm, const float* k_norm, float eps, int rotary_dim,
                          const float* inv_freq, const int* positions, Stream stream = nullptr);

// A context pass's keys k [n, kv_heads, head_dim] normed (k_norm) and rotated in place at
// positions[0 .. n), then stored with the values v [n, kv_heads, v_head_dim] at cache rows
// *append_at .. + n - 1 of key_cache / value_cache; positions_out (or null) gets the rows'
// positions at the same rows. One launch for rmsnorm, rope and three appends.
void drafter_context_kv(float* k, const float* v, int n, int kv_heads, int head_dim, int v_head_dim,
                        const float* k_norm, float eps, int rotary_dim, const float* inv_freq,
                        const int* positions, const int* append_at, float* key_cache,
                        float* value_cache, int* positions_out, Stream stream = nullptr);

}  // namespace mimo::cuda
