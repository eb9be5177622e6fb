// The kernel-per-op executor's other launches (ops.hpp): norms, activation splits, RoPE, the KV
// cache, SiLU, embedding, argmax and the read probe (linear: linear_kernels.cu; attention:
// attention_kernels.cu; MoE: moe_kernels.cu).
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "cuda/kernels/launch_support.cuh"
#include "cuda/kernels/ops.hpp"
#include "cuda/tiles/argmax.cuh"
#include "cuda/tiles/embedding.cuh"
#include "cuda/tiles/moe.cuh"
#include "cuda/tiles/norm.cuh"
#include "cuda/tiles/rope.cuh"
#include "mimo/error.hpp"

namespace mimo::cuda {
namespace {

using namespace tiles;
using namespace launch;

// ---- norms, rope, kv ----

__global__ void rmsnorm_kernel(float* x, const float* delta, const float* weight, int dim,
                               float eps, float* out) {
  follow_previous_kernel();
  __shared__ float scratch[32];
  const std::size_t base = static_cast<std::size_t>(blockIdx.x) * dim;
  rmsnorm_token_tile(x + base, delta ? delta + base : nullptr, weight, dim, eps, out + base,
                     scratch);
}

constexpr int kNormThreads = 512;  // 256 and 128 measured slower (docs/performance.md)
constexpr int kNormVec = 4;        // float4s a thread keeps: dim <= 8192

__global__ void __launch_bounds__(kNormThreads)
    rmsnorm_vec_kernel(float* x, const float* delta, const float* weight, int dim, float eps,
                       float* out, SplitActivations split) {
  // The norm's weight (a constant) moves towards L2 while the previous kernel finishes.
  for (int i = 32 * threadIdx.x; i < dim; i += 32 * blockDim.x) prefetch_l2(weight + i);
  follow_previous_kernel();
  __shared__ float scratch[32];
  const std::size_t base = static_cast<std::size_t>(blockIdx.x) * dim;
  const bool with_split = split.hi != nullptr;
  rmsnorm_token_tile_vec<kNormVec>(x + base, delta ? delta + base : nullptr, weight, dim, eps,
                                   out + base, scratch, with_split ? split.hi + base : nullptr,
                                   with_split ? split.lo + base : nullptr,
                                   with_split ? split.inv_scale + blockIdx.x : nullptr);
}

__global__ void split_rows_kernel(const float* x, int cols, SplitActivations out) {
  follow_previous_kernel();
  __shared__ float scratch[32];
  const std::size_t base = static_cast<std::size_t>(blockIdx.x) * cols;
  split_row_tile(x + base, cols, out.hi + base, out.lo + base, out.inv_scale + blockIdx.x, scratch);
}

// Block (t, h): head h of token t.
__global__ void rope_kernel(float* x, const int* positions, int n_heads, int head_dim, int half,
                            const float* inv_freq) {
  follow_previous_kernel();
  const int t = blockIdx.x, h = blockIdx.y;
  float* head = x + (static_cast<std::size_t>(t) * n_heads + h) * head_dim;
  rope_head_tile(head, half, inv_freq, positions[t], BlockThread{threadIdx.x, blockDim.x});
}

// Block (t, h): kv head h of token t.
__global__ void store_kv_kernel(const float* k, const float* v, const int* positions,
                                AttentionShape a, float value_scale, KvCacheView cache) {
  follow_previous_kernel();
  const int t = blockIdx.x, h = blockIdx.y;
  store_kv_tile(k, v, t, h, positions[t], a, value_scale, cache,
                BlockThread{threadIdx.x, blockDim.x});
}

// Blocks (t, h): h < num_heads rotates query head h; the others rotate key head
// h - num_heads and then store it and its value head into the cache (one launch for both ropes
// and the store).
__global__ void rope_store_kv_kernel(float* q, float* k, const float* v, const int* positions,
                                     AttentionShape a, int half, const float* inv_freq,
                                     float value_scale, KvCacheView cache) {
  follow_previous_kernel();
  const int t = blockIdx.x;
  const int pos = positions[t];
  if (static_cast<int>(blockIdx.y) < a.num_heads) {
    float* head = q + (static_cast<std::size_t>(t) * a.num_heads + blockIdx.y) * a.head_dim;
    rope_head_tile(head, half, inv_freq, pos, BlockThread{threadIdx.x, blockDim.x});
    return;  // block-uniform
  }
  rope_store_kv_tile(k, v, t, blockIdx.y - a.num_heads, pos, a, half, inv_freq, value_scale, cache,
                     BlockThread{threadIdx.x, blockDim.x});
}

__global__ void silu_mul_kernel(const float* gate, const float* up, std::size_t count, float* out) {
  follow_previous_kernel();
  silu_mul_tile(gate, up, count, out,
                blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x,
                static_cast<std::size_t>(gridDim.x) * blockDim.x);
}

// ---- embedding, sampling, probes ----

template <class Table>
__global__ void embed_kernel(Table table, const int* tokens, float* out) {
  follow_previous_kernel();
  const int t = blockIdx.x;
  const int token = tokens[t];
  float* row = out + static_cast<std::size_t>(t) * table.cols;
  if (token < 0 || token >= table.rows) {
    for (int c = threadIdx.x; c < table.cols; c += blockDim.x) row[c] = NAN;
    return;
  }
  embed_token_tile(table, token, row);
}

__global__ void argmax_kernel(const float* logits, int vocab, int* out) {
  follow_previous_kernel();
  __shared__ float scratch_v[32];
  __shared__ int scratch_i[32];
  const int best = block_argmax(logits + static_cast<std::size_t>(blockIdx.x) * vocab, vocab,
                                scratch_v, scratch_i);
  if (threadIdx.x == 0) out[blockIdx.x] = best;
}

__global__ void stream_read_kernel(const uint4* data, std::size_t count, float* sink) {
  unsigned acc = 0;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const uint4 v = __ldg(data + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9E3779B9u) *sink = static_cast<float>(acc);  // keeps the loads alive
}

std::atomic<bool> programmatic_launch_on{true};

}  // namespace

void set_programmatic_launch(bool on) {
  programmatic_launch_on = on;
}
bool programmatic_launch() {
  return programmatic_launch_on;
}

void rmsnorm(float* x, const float* delta, const float* weight, int n_tokens, int dim, float eps,
             float* out, Stream stream) {
  rmsnorm(x, delta, weight, n_tokens, dim, eps, out, SplitActivations{}, stream);
}

void rmsnorm(float* x, const float* delta, const float* weight, int n_tokens, int dim, float eps,
             float* out, const SplitActivations& split, Stream stream) {
  if (!(n_tokens > 0 && dim > 0)) fail("rmsnorm", cat(n_tokens, " tokens of dim ", dim));
  if (split.hi != nullptr) check_split(split, dim, "rmsnorm");
  if (dim % 4 == 0 && dim <= 4 * kNormVec * kNormThreads && aligned16(x) && aligned16(delta) &&
      aligned16(weight) && aligned16(out)) {
    launch_kernel("rmsnorm", rmsnorm_vec_kernel, n_tokens, kNormThreads, 0, as_stream(stream), x,
                  delta, weight, dim, eps, out, split);
    return;
  }
  launch_kernel("rmsnorm", rmsnorm_kernel, n_tokens, 256, 0, as_stream(stream), x, delta, weight,
                dim, eps, out);
  if (split.hi != nullptr) split_activations(out, n_tokens, dim, split, stream);
}

void split_activations(const float* x, int rows, int cols, const SplitActivations& out,
                       Stream stream) {
  if (!(rows > 0 && aligned16(x))) fail("split_activations", cat(rows, " rows, unaligned input"));
  check_split(out, cols, "split_activations");
  launch_kernel("split_activations", split_rows_kernel, rows, cols >= 4096 ? 1024 : 256, 0,
                as_stream(stream), x, cols, out);
}

void rope(float* x, const int* positions, int n_tokens, int n_heads, int head_dim, int rotary_dim,
          const float* inv_freq, Stream stream) {
  if (!(n_tokens > 0 && n_heads > 0 && rotary_dim % 2 == 0 && rotary_dim <= head_dim))
    fail("rope", cat("rotary_dim ", rotary_dim, " of head_dim ", head_dim));
  const int half = rotary_dim / 2;
  launch_kernel("rope", rope_kernel, dim3(n_tokens, n_heads), std::max(32, std::min(half, 128)), 0,
                as_stream(stream), x, positions, n_heads, head_dim, half, inv_freq);
}

void store_kv(const float* k, const float* v, const int* positions, int n_tokens,
              const AttentionShape& shape, float value_scale, const KvCacheView& cache,
              Stream stream) {
  if (!(n_tokens > 0 && cache.capacity > 0)) fail("store_kv", "empty step or cache");
  launch_kernel("store_kv", store_kv_kernel, dim3(n_tokens, shape.num_kv_heads), 128, 0,
                as_stream(stream), k, v, positions, shape, value_scale, cache);
}

void rope_store_kv(float* q, float* k, const float* v, const int* positions, int n_tokens,
                   const AttentionShape& shape, int rotary_dim, const float* inv_freq,
                   float value_scale, const KvCacheView& cache, Stream stream) {
  if (!(n_tokens > 0 && cache.capacity > 0 && shape.num_heads > 0 && shape.num_kv_heads > 0 &&
        rotary_dim % 2 == 0 && rotary_dim <= shape.head_dim))
    fail("rope_store_kv", cat("rotary_dim ", rotary_dim, " of head_dim ", shape.head_dim, ", ",
                              n_tokens, " tokens"));
  const int half = rotary_dim / 2;
  launch_kernel("rope_store_kv", rope_store_kv_kernel,
                dim3(n_tokens, shape.num_heads + shape.num_kv_heads), 128, 0, as_stream(stream), q,
                k, v, positions, shape, half, inv_freq, value_scale, cache);
}

void silu_mul(const float* gate, const float* up, std::size_t count, float* out, Stream stream) {
  if (count == 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<std::size_t>((count + 255) / 256, 4096));
  launch_kernel("silu_mul", silu_mul_kernel, blocks, 256, 0, as_stream(stream), gate, up, count,
                out);
}

void embed(const Bf16Matrix& table, const int* tokens, int n_tokens, float* out, Stream stream) {
  if (!(n_tokens > 0)) fail("embed", "no tokens");
  launch_kernel("embed(bf16)", embed_kernel<Bf16Matrix>, n_tokens, 256, 0, as_stream(stream), table,
                tokens, out);
}

void embed(const F32Matrix& table, const int* tokens, int n_tokens, float* out, Stream stream) {
  if (!(n_tokens > 0)) fail("embed", "no tokens");
  launch_kernel("embed(f32)", embed_kernel<F32Matrix>, n_tokens, 256, 0, as_stream(stream), table,
                tokens, out);
}

void argmax(const float* logits, int n_tokens, int vocab, int* out, Stream stream) {
  if (!(n_tokens > 0 && vocab > 0)) fail("argmax", cat(n_tokens, " tokens, vocab ", vocab));
  launch_kernel("argmax", argmax_kernel, n_tokens, 1024, 0, as_stream(stream), logits, vocab, out);
}

void stream_read(const void* data, std::size_t bytes, float* sink, Stream stream) {
  if (!(bytes % 16 == 0)) fail("stream_read", cat(bytes, " bytes, not a multiple of 16"));
  stream_read_kernel<<<1056, 512, 0, as_stream(stream)>>>(static_cast<const uint4*>(data),
                                                          bytes / 16, sink);
  check_launch("stream_read");
}

}  // namespace mimo::cuda
