// Host entry points of the kernel-per-op CUDA executor: each call launches one kernel on a
// stream and returns without synchronising (so a step can be captured into a CUDA graph).
// No CUDA types: streams are opaque pointers (a cudaStream_t; nullptr = the default stream);
// every pointer argument is device memory. Launch failures throw mimo::Error(kDevice).
// Activations are float32, row-major, one row per token.
#pragma once

#include <cstddef>

#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda {

using Stream = void*;

// Programmatic dependent launch of the forward's kernels (on by default): each kernel may start
// while the previous one finishes (docs/cuda.md). Off gives plain stream order, for A/B runs.
void set_programmatic_launch(bool on);
bool programmatic_launch();

// y[t, r] = W[r] . x[t]: x [n_tokens, w.cols], y [n_tokens, w.rows]. Weights are read once per
// 16 tokens (one pass for a decode or verify step).
void linear(const Fp8Matrix& w, const float* x, int n_tokens, float* y, Stream stream = nullptr);
void linear(const Mxfp4Matrix& w, const float* x, int n_tokens, float* y, Stream stream = nullptr);
void linear(const Bf16Matrix& w, const float* x, int n_tokens, float* y, Stream stream = nullptr);
void linear(const F32Matrix& w, const float* x, int n_tokens, float* y, Stream stream = nullptr);

// FP8 on tensor cores (block columns a multiple of 64): the same product from activations split
// beforehand (SplitActivations of w.cols columns; rmsnorm or split_activations write them).
// A token's result is bit-identical whichever way its activations come and however many tokens
// share the launch. Other FP8 matrices need the float32 overload.
bool fp8_on_tensor_cores(const Fp8Matrix& w);
// Warps of one block of the BF16 tensor-core linear (cols % 64 == 0) for `w`: a 16-row tile's
// sums depend on it, so a fused kernel that runs the same tile with this many warps gets the
// same bits.
int bf16_linear_warps(const Bf16Matrix& w);
void linear(const Fp8Matrix& w, const SplitActivations& x, int n_tokens, float* y,
            Stream stream = nullptr);

// Up to kMaxFp8Batch tensor-core FP8 products of the same split input in one launch (a layer's
// q, k and v): y[i] [n_tokens, w[i].rows] = W_i x, all W_i with x.cols columns. Fewer launches,
// and the small k / v matrices ride along with q instead of running alone at low occupancy.
// The tile shape follows the batch's total rows, so a matrix may round differently here than
// alone; the same batch always gives the same bits.
inline constexpr int kMaxFp8Batch = 3;
struct Fp8Batch {
  Fp8Matrix w[kMaxFp8Batch];
  float* y[kMaxFp8Batch] = {};
  int count = 0;
  int first_block[kMaxFp8Batch] = {};  // filled by the launcher
};
void linear(const Fp8Batch& batch, const SplitActivations& x, int n_tokens,
            Stream stream = nullptr);

// The same FP8 products (one matrix, or a batch of up to kMaxFp8Batch) for steps of many tokens:
// the prefill GEMM (cuda/tiles/prefill_gemm.cuh) stages each tile of 64 or 256 weight rows in
// shared memory once for 64 tokens, where linear reads the weights once per 8 tokens. Same
// inputs, precision and tolerance as linear(Fp8Matrix, SplitActivations), not its bits; a
// token's result does not depend on the token count or the batch. The stream runner takes it
// for steps of at least kPrefillGemmMinTokens tokens that are longer than any decode or verify
// step (GpuState::prefill_gemm), so those keep linear's bits.
inline constexpr int kPrefillGemmMinTokens = 64;
void prefill_linear(const Fp8Batch& batch, const SplitActivations& x, int n_tokens,
                    Stream stream = nullptr);
void prefill_linear(const Fp8Matrix& w, const SplitActivations& x, int n_tokens, float* y,
                    Stream stream = nullptr);

// Per token: if delta, x += delta (x written back); out = weight * x * rsqrt(mean(x^2) + eps).
// x, delta, out: [n_tokens, dim]; out may alias x. The second form also writes out split for
// the tensor-core tiles (split.cols == dim).
void rmsnorm(float* x, const float* delta, const float* weight, int n_tokens, int dim, float eps,
             float* out, Stream stream = nullptr);
void rmsnorm(float* x, const float* delta, const float* weight, int n_tokens, int dim, float eps,
             float* out, const SplitActivations& split, Stream stream = nullptr);

// out = rows x [rows, cols] split for the tensor-core tiles (one scale a row).
void split_activations(const float* x, int rows, int cols, const SplitActivations& out,
                       Stream stream = nullptr);

// Partial neox RoPE in place on x [n_tokens, n_heads, head_dim]: the first rotary_dim dims of
// each head rotate by positions[t] * inv_freq[i] (inv_freq: rotary_dim / 2 floats).
void rope(float* x, const int* positions, int n_tokens, int n_heads, int head_dim, int rotary_dim,
          const float* inv_freq, Stream stream = nullptr);

// Writes k [n_tokens, kv_heads, head_dim] and value_scale * v [n_tokens, kv_heads, v_head_dim]
// into the cache slots positions[t] % capacity.
void store_kv(const float* k, const float* v, const int* positions, int n_tokens,
              const AttentionShape& shape, float value_scale, const KvCacheView& cache,
              Stream stream = nullptr);

// rope on q [n_tokens, num_heads, head_dim] and k [n_tokens, num_kv_heads, head_dim] (both in
// place), then store_kv of the rotated k and v: the three ops of a layer in one launch.
void rope_store_kv(float* q, float* k, const float* v, const int* positions, int n_tokens,
                   const AttentionShape& shape, int rotary_dim, const float* inv_freq,
                   float value_scale, const KvCacheView& cache, Stream stream = nullptr);

// out [n_tokens, num_heads, v_head_dim] = attention of q [n_tokens, num_heads, head_dim] at
// positions[t] over the cache (which already holds every key up to each position). sinks:
// [num_heads] logits or null. With `partial` and 2 <= segments <= kMaxAttentionKeySegments,
// each token's keys are cut into `segments` key segments computed by separate blocks and merged
// in segment order (flash-decoding; deterministic); partial: attention_partial_floats(...) floats.
inline constexpr int kMaxAttentionKeySegments = 32;
constexpr std::size_t attention_partial_floats(int n_tokens, int num_heads, int v_head_dim,
                                               int segments) {
  return static_cast<std::size_t>(n_tokens) * num_heads * segments * (2 + v_head_dim);
}
// With `arrivals` (attention_arrival_counters(n_tokens, num_heads) zeroed counters, left zero)
// the segmented path merges the partials in the segment kernel's last block of each head (one
// launch, same bits).
constexpr std::size_t attention_arrival_counters(int n_tokens, int num_heads) {
  return static_cast<std::size_t>(n_tokens) * num_heads;
}
void attention(const float* q, const int* positions, int n_tokens, const AttentionShape& shape,
               const KvCacheView& cache, const float* sinks, float* out, Stream stream = nullptr,
               float* partial = nullptr, int segments = 1, unsigned* arrivals = nullptr);

// The same attention for a step of many tokens (a prompt's chunk): blocks of up to 64 (token,
// head) rows of one kv group read each tile of 32 keys once for all their rows (flash attention,
// cuda/tiles/prefill_attention.cuh). Not the decode kernels' bits (another summation order).
// prefill_attention_supports(shape): head_dim and v_head_dim multiples of 4, at most 256.
// Two kernels: float32 on CUDA cores (kSimt) and the same tiles' products on TF32 tensor cores
// in three products each (kTensorCores, cuda/tiles/prefill_attention_mma.cuh: float32-level
// accuracy; head_dim % 8 == 0 and v_head_dim % 16 == 0, prefill_attention_mma_supports). kAuto
// takes tensor cores where supported, unless the environment sets MIMO_PREFILL_ATTENTION=simt.
enum class PrefillAttentionPath { kAuto, kSimt, kTensorCores };
bool prefill_attention_supports(const AttentionShape& shape);
bool prefill_attention_mma_supports(const AttentionShape& shape);
void prefill_attention(const float* q, const int* positions, int n_tokens,
                       const AttentionShape& shape, const KvCacheView& cache, const float* sinks,
                       float* out, Stream stream = nullptr,
                       PrefillAttentionPath path = PrefillAttentionPath::kAuto);

// Router on logits [n_tokens, num_experts] (+ bias [num_experts] or null): experts and weights,
// [n_tokens, top_k] each. num_experts <= 1024, top_k <= 32.
void route(const float* logits, const float* bias, int n_tokens, const RouterShape& shape,
           int* experts, float* weights, Stream stream = nullptr);

// The (token, k) slots of a step grouped by expert: `table` (expert_group_table_ints(n_tokens *
// top_k) ints, cuda/tiles/moe_grouped.cuh) lists each distinct selected expert once with its
// slots, so the expert kernels read each selected expert's weights once per step.
// num_experts <= 1024.
constexpr int expert_group_table_ints(int n_slots) {
  return 2 + 3 * n_slots;
}
void group_experts(const int* experts, int n_tokens, int top_k, int num_experts, int* table,
                   Stream stream = nullptr);
// route + group_experts (table for num_experts experts), in one launch for steps of up to 64
// tokens: the same experts, weights and table.
void route_and_group(const float* logits, const float* bias, int n_tokens, const RouterShape& shape,
                     int* experts, float* weights, int* table, Stream stream = nullptr);
// act[t, k, :] = silu(gate_e x_t) * (up_e x_t) for e = experts[t, k] (from the group table);
// act [n_tokens, top_k, gate.rows].
void expert_gate_up(const Mxfp4Stack& gate, const Mxfp4Stack& up, const float* x, const int* groups,
                    int n_tokens, int top_k, float* act, Stream stream = nullptr);
void expert_gate_up(const Mxfp4Stack& gate, const Mxfp4Stack& up, const SplitActivations& x,
                    const int* groups, int n_tokens, int top_k, float* act,
                    Stream stream = nullptr);
// y[t] = sum_k weights[t, k] * down_{experts[t, k]} act[t, k] (k in order); y [n_tokens,
// down.rows]. partial: [n_tokens * top_k, down.rows] scratch (one product per slot).
void expert_down(const Mxfp4Stack& down, const float* act, const int* groups, const float* weights,
                 int n_tokens, int top_k, float* partial, float* y, Stream stream = nullptr);
void expert_down(const Mxfp4Stack& down, const SplitActivations& act, const int* groups,
                 const float* weights, int n_tokens, int top_k, float* partial, float* y,
                 Stream stream = nullptr);
// expert_down's last step: y[t] = sum_k weights[t, k] * partial[t * top_k + k] (k in order).
void expert_reduce(const float* partial, const float* weights, int rows, int n_tokens, int top_k,
                   float* y, Stream stream = nullptr);

// The same expert products for steps of many tokens (a prompt's chunk): the prefill GEMM of the
// experts (cuda/tiles/prefill_moe_gemm.cuh) stages each weight tile of an expert in shared memory
// once for up to 64 of its members, where expert_gate_up / expert_down read the expert's weights
// once per 8 members. Same arguments and outputs (act per slot; partial per slot and y reduced
// over k in order) as the split forms of expert_gate_up / expert_down, the same precision and
// tolerance, not their bits; a member's result does not depend on the group sizes or on which
// tokens share its expert. Any stack shape (columns a multiple of 32); no host sync: the grid
// covers the most work tiles the step can have and the blocks past the real ones exit. The
// stream runner takes them where it takes prefill_linear (GpuState::prefill_gemm).
void prefill_expert_gate_up(const Mxfp4Stack& gate, const Mxfp4Stack& up, const SplitActivations& x,
                            const int* groups, int n_tokens, int top_k, float* act,
                            Stream stream = nullptr);
void prefill_expert_down(const Mxfp4Stack& down, const SplitActivations& act, const int* groups,
                         const float* weights, int n_tokens, int top_k, float* partial, float* y,
                         Stream stream = nullptr);

// out[i] = silu(gate[i]) * up[i] for i < count (the dense MLP's activation).
void silu_mul(const float* gate, const float* up, std::size_t count, float* out,
              Stream stream = nullptr);

// out [n_tokens, table.cols] = rows tokens[t] of the table (ids outside the table give NaN rows).
void embed(const Bf16Matrix& table, const int* tokens, int n_tokens, float* out,
           Stream stream = nullptr);
void embed(const F32Matrix& table, const int* tokens, int n_tokens, float* out,
           Stream stream = nullptr);

// out[t] = arg max of logits [n_tokens, vocab] row t (ties: lowest index; NaN ignored).
void argmax(const float* logits, int n_tokens, int vocab, int* out, Stream stream = nullptr);

// Reads `bytes` (a multiple of 16) with 16-byte loads and writes nothing useful: the
// bandwidth probe benchmarks compare against. sink: one float.
void stream_read(const void* data, std::size_t bytes, float* sink, Stream stream = nullptr);

}  // namespace mimo::cuda
