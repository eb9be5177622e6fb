// Prefill attention: the attention of a step of many tokens (a prompt's chunk) with each key
// tile read once per block of query rows (cuda/tiles/prefill_attention.cuh) instead of once per
// query token as the decode kernels do.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "cuda/kernels/launch_support.cuh"
#include "cuda/kernels/ops.hpp"
#include "cuda/tiles/prefill_attention.cuh"
#include "cuda/tiles/prefill_attention_mma.cuh"

namespace mimo::cuda {
namespace {

using namespace tiles;
using namespace launch;

__device__ __forceinline__ PrefillRows block_rows(const AttentionShape& a, int n_tokens,
                                                  int heads_per_block, int tokens_per_block) {
  const int group_size = a.num_heads / a.num_kv_heads;
  const int head_blocks = (group_size + heads_per_block - 1) / heads_per_block;
  const int kv_head = blockIdx.x / head_blocks, part = blockIdx.x % head_blocks;
  PrefillRows rows;
  rows.head0 = kv_head * group_size + part * heads_per_block;
  rows.heads = min(heads_per_block, group_size - part * heads_per_block);
  rows.token0 = blockIdx.y * tokens_per_block;
  rows.tokens = min(tokens_per_block, n_tokens - rows.token0);
  return rows;
}

// Block (x, y): heads [heads_per_block * (x % head_blocks), +heads_per_block) of kv head
// x / head_blocks's group (the last part of a group may be shorter), step tokens
// [tokens_per_block * y, +tokens_per_block).
template <int kGroups>
__global__ void __launch_bounds__(kPrefillThreads, kGroups <= 2 ? 2 : 1)
    prefill_attention_kernel(const float* q, const int* positions, int n_tokens, AttentionShape a,
                             KvCacheView cache, const float* sinks, int heads_per_block,
                             int tokens_per_block, float* out) {
  follow_previous_kernel();
  extern __shared__ float4 smem4[];  // float4: 16-byte aligned for the tile's vector accesses
  const PrefillRows rows = block_rows(a, n_tokens, heads_per_block, tokens_per_block);
  prefill_attention_tile<kGroups>(q, positions, a, cache, sinks, rows, out,
                                  reinterpret_cast<float*>(smem4), Team::block());
}

// The same blocks on tensor cores (cuda/tiles/prefill_attention_mma.cuh).
template <int kValueTiles>
__global__ void __launch_bounds__(kPrefillThreads, kValueTiles <= 8 ? 2 : 1)
    prefill_attention_mma_kernel(const float* q, const int* positions, int n_tokens,
                                 AttentionShape a, KvCacheView cache, const float* sinks,
                                 int heads_per_block, int tokens_per_block, float* out) {
  follow_previous_kernel();
  extern __shared__ float4 smem4[];
  const PrefillRows rows = block_rows(a, n_tokens, heads_per_block, tokens_per_block);
  prefill_attention_mma_tile<kValueTiles>(q, positions, a, cache, sinks, rows, out,
                                          reinterpret_cast<float*>(smem4), Team::block());
}

template <class Kernel>
void launch_prefill_kernel(Kernel kernel, int smem, const float* q, const int* positions,
                           int n_tokens, const AttentionShape& a, const KvCacheView& cache,
                           const float* sinks, float* out, Stream stream) {
  // Rows = heads of one kv group x consecutive tokens: the block's tokens are few (4 at GQA 16),
  // so its key range (the union of theirs) is hardly wider than one token's.
  const int group_size = a.num_heads / a.num_kv_heads;
  const int heads_per_block = std::min(group_size, kPrefillRows);
  const int tokens_per_block = kPrefillRows / heads_per_block;
  const int head_blocks = (group_size + heads_per_block - 1) / heads_per_block;
  allow_smem(kernel, smem, "prefill_attention");
  launch_kernel("prefill_attention", kernel,
                dim3(a.num_kv_heads * head_blocks, blocks_for(n_tokens, tokens_per_block)),
                kPrefillThreads, smem, as_stream(stream), q, positions, n_tokens, a, cache, sinks,
                heads_per_block, tokens_per_block, out);
}

template <int kGroups>
void launch_prefill(const float* q, const int* positions, int n_tokens, const AttentionShape& a,
                    const KvCacheView& cache, const float* sinks, float* out, Stream stream) {
  launch_prefill_kernel(prefill_attention_kernel<kGroups>,
                        prefill_attention_smem_floats(a.head_dim, a.v_head_dim) * sizeof(float), q,
                        positions, n_tokens, a, cache, sinks, out, stream);
}

template <int kValueTiles>
void launch_prefill_mma(const float* q, const int* positions, int n_tokens, const AttentionShape& a,
                        const KvCacheView& cache, const float* sinks, float* out, Stream stream) {
  launch_prefill_kernel(prefill_attention_mma_kernel<kValueTiles>,
                        prefill_attention_mma_smem_floats(a.head_dim, a.v_head_dim) * sizeof(float),
                        q, positions, n_tokens, a, cache, sinks, out, stream);
}

// kAuto: tensor cores where the shape allows, unless MIMO_PREFILL_ATTENTION=simt (an A/B switch
// for benchmarks, read once).
bool use_tensor_cores(PrefillAttentionPath path, const AttentionShape& shape) {
  if (path == PrefillAttentionPath::kSimt || !prefill_attention_mma_supports(shape)) return false;
  if (path == PrefillAttentionPath::kTensorCores) return true;
  static const bool simt = [] {
    const char* v = std::getenv("MIMO_PREFILL_ATTENTION");
    return v != nullptr && std::strcmp(v, "simt") == 0;
  }();
  return !simt;
}

}  // namespace

bool prefill_attention_mma_supports(const AttentionShape& shape) {
  return prefill_attention_supports(shape) && shape.head_dim % 8 == 0 && shape.v_head_dim % 16 == 0;
}

bool prefill_attention_supports(const AttentionShape& shape) {
  return shape.head_dim > 0 && shape.v_head_dim > 0 && shape.head_dim % 4 == 0 &&
         shape.v_head_dim % 4 == 0 && shape.head_dim <= kMaxHeadDim &&
         shape.v_head_dim <= kMaxHeadDim;
}

void prefill_attention(const float* q, const int* positions, int n_tokens,
                       const AttentionShape& shape, const KvCacheView& cache, const float* sinks,
                       float* out, Stream stream, PrefillAttentionPath path) {
  if (!(n_tokens > 0 && shape.num_kv_heads > 0 && shape.num_heads % shape.num_kv_heads == 0 &&
        prefill_attention_supports(shape) && cache.capacity > 0))
    fail("prefill_attention", cat(n_tokens, " tokens, ", shape.num_heads, " heads over ",
                                  shape.num_kv_heads, " kv heads, head dims ", shape.head_dim, "/",
                                  shape.v_head_dim, ", cache of ", cache.capacity));
  if (path == PrefillAttentionPath::kTensorCores && !prefill_attention_mma_supports(shape))
    fail("prefill_attention", cat("tensor cores need head dims multiples of 8 / 16, not ",
                                  shape.head_dim, "/", shape.v_head_dim));
  if (use_tensor_cores(path, shape)) {
    const int tiles = prefill_mma_value_tiles(shape.v_head_dim);
    if (tiles <= 4)
      return launch_prefill_mma<4>(q, positions, n_tokens, shape, cache, sinks, out, stream);
    if (tiles <= 8)
      return launch_prefill_mma<8>(q, positions, n_tokens, shape, cache, sinks, out, stream);
    return launch_prefill_mma<16>(q, positions, n_tokens, shape, cache, sinks, out, stream);
  }
  switch (prefill_value_groups(shape.v_head_dim)) {
    case 1:
      return launch_prefill<1>(q, positions, n_tokens, shape, cache, sinks, out, stream);
    case 2:
      return launch_prefill<2>(q, positions, n_tokens, shape, cache, sinks, out, stream);
    case 3:
      return launch_prefill<3>(q, positions, n_tokens, shape, cache, sinks, out, stream);
    default:
      return launch_prefill<4>(q, positions, n_tokens, shape, cache, sinks, out, stream);
  }
}

}  // namespace mimo::cuda
