// Attention kernels of the launch executor: the single-pass decode / multi-token kernel, and
// the key-segment (flash-decoding) pair whose partials are merged in segment order.
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>

#include "cuda/kernels/launch_support.cuh"
#include "cuda/kernels/ops.hpp"
#include "cuda/tiles/attention.cuh"

namespace mimo::cuda {
namespace {

using namespace tiles;
using namespace launch;

constexpr int kAttentionWarps = 4;
constexpr int kAttentionTokensPerBlock = 2;  // multi-token steps: tokens a segment block takes

__global__ void __launch_bounds__(kAttentionWarps* kWarpSize)
    attention_kernel(const float* q, const int* positions, AttentionShape a, KvCacheView cache,
                     const float* sinks, float* out) {
  follow_previous_kernel();
  extern __shared__ float smem[];
  const int h = blockIdx.x, t = blockIdx.y;
  const int kv_head = h / (a.num_heads / a.num_kv_heads);
  const std::size_t head = static_cast<std::size_t>(t) * a.num_heads + h;
  attention_head_tile(q + head * a.head_dim, cache, a, kv_head, positions[t],
                      sinks ? sinks[h] : -INFINITY, out + head * a.v_head_dim, smem);
}

// Keys begin..last (inclusive; empty when begin > last) of key segment `segment` of a query at
// `pos`: its visible keys (the window's, or all up to pos) in `segments` ranges of
// ceil(keys / segments).
struct KeyRange {
  int begin, last;
};
__device__ __forceinline__ KeyRange segment_key_range(int pos, int window, int segments,
                                                      int segment) {
  const int first = window > 0 ? max(0, pos - window + 1) : 0;
  const int per_segment = (pos - first + segments) / segments;
  const int begin = first + segment * per_segment;
  return KeyRange{begin, min(pos, begin + per_segment - 1)};
}

// Segmented attention: blockIdx.z = key segment of the token's key range (ceil(keys / segments)
// each); a block takes tokens blockIdx.y * per_block .. + per_block - 1 one after the other (in
// a multi-token step they share the segment's keys through L1). A token's arithmetic does not
// depend on per_block, so it gives the same bits alone as in a step.
// With `arrivals` (fused.counters), the last segment block of a (head, token block) to finish
// merges the head's partials into `out` (the combine kernel's work, one launch fewer).
struct FusedAttentionTail {
  unsigned* counters = nullptr;  // [token blocks * heads], zero
  const float* sinks = nullptr;
  float* out = nullptr;
};
__global__ void __launch_bounds__(kAttentionWarps* kWarpSize)
    attention_segment_kernel(const float* q, const int* positions, int n_tokens, int per_block,
                             AttentionShape a, KvCacheView cache, int segments, float* partial,
                             FusedAttentionTail fused) {
  const int h = blockIdx.x, segment = blockIdx.z;
  const int kv_head = h / (a.num_heads / a.num_kv_heads);
  const int t_begin = blockIdx.y * per_block;
  const int t_end = min(n_tokens, t_begin + per_block);
  // While the previous kernel finishes: the first token's keys and values of this segment move
  // towards L2. Only a hint (the cache rows of this step's own positions are rewritten by the
  // kernel before), so reading the positions before the wait is harmless.
  if (t_begin < n_tokens) {
    const KeyRange r = segment_key_range(positions[t_begin], a.window, segments, segment);
    const int keys = max(0, r.last - r.begin + 1);
    const int k_lines = a.head_dim / 32, v_lines = a.v_head_dim / 32;  // 128-byte lines a row
    for (int i = threadIdx.x; i < keys * (k_lines + v_lines); i += blockDim.x) {
      const int key = i / (k_lines + v_lines), line = i % (k_lines + v_lines);
      const std::size_t slot =
          static_cast<std::size_t>((r.begin + key) % cache.capacity) * a.num_kv_heads + kv_head;
      prefetch_l2(line < k_lines ? cache.k + slot * a.head_dim + 32 * line
                                 : cache.v + slot * a.v_head_dim + 32 * (line - k_lines));
    }
  }
  follow_previous_kernel();
  extern __shared__ float smem[];
  for (int t = t_begin; t < t_end; ++t) {
    const std::size_t head = static_cast<std::size_t>(t) * a.num_heads + h;
    const KeyRange r = segment_key_range(positions[t], a.window, segments, segment);
    attention_partial_tile(q + head * a.head_dim, cache, a, kv_head, r.begin, r.last,
                           partial + (head * segments + segment) * (2 + a.v_head_dim), smem);
    __syncthreads();  // the next token rewrites the shared query and partials
  }
  if (fused.counters == nullptr) return;
  if (!arrive_last(fused.counters + blockIdx.y * a.num_heads + h, segments)) return;
  for (int t = t_begin; t < t_end; ++t) {
    const std::size_t head = static_cast<std::size_t>(t) * a.num_heads + h;
    attention_combine_tile(partial + head * segments * (2 + a.v_head_dim), segments, a.v_head_dim,
                           fused.sinks ? fused.sinks[h] : -INFINITY,
                           fused.out + head * a.v_head_dim);
  }
}

__global__ void attention_combine_kernel(const float* partial, int segments, AttentionShape a,
                                         const float* sinks, float* out) {
  follow_previous_kernel();
  const int h = blockIdx.x, t = blockIdx.y;
  const std::size_t head = static_cast<std::size_t>(t) * a.num_heads + h;
  attention_combine_tile(partial + head * segments * (2 + a.v_head_dim), segments, a.v_head_dim,
                         sinks ? sinks[h] : -INFINITY, out + head * a.v_head_dim);
}

}  // namespace

void attention(const float* q, const int* positions, int n_tokens, const AttentionShape& shape,
               const KvCacheView& cache, const float* sinks, float* out, Stream stream,
               float* partial, int segments, unsigned* arrivals) {
  if (!(n_tokens > 0 && shape.num_kv_heads > 0 && shape.num_heads % shape.num_kv_heads == 0 &&
        shape.head_dim <= kMaxHeadDim && shape.v_head_dim <= kMaxHeadDim))
    fail("attention", cat(shape.num_heads, " heads over ", shape.num_kv_heads,
                          " kv heads, head dims ", shape.head_dim, "/", shape.v_head_dim));
  const int smem =
      attention_smem_floats(shape.head_dim, shape.v_head_dim, kAttentionWarps) * sizeof(float);
  if (partial != nullptr && segments > 1) {
    if (segments > kMaxAttentionKeySegments) fail("attention", cat(segments, " key segments"));
    const int per_block = n_tokens > 1 ? kAttentionTokensPerBlock : 1;
    FusedAttentionTail fused;
    if (arrivals != nullptr) fused = FusedAttentionTail{arrivals, sinks, out};
    launch_kernel("attention(segments)", attention_segment_kernel,
                  dim3(shape.num_heads, blocks_for(n_tokens, per_block), segments),
                  kAttentionWarps * kWarpSize, smem, as_stream(stream), q, positions, n_tokens,
                  per_block, shape, cache, segments, partial, fused);
    if (arrivals != nullptr) return;
    launch_kernel("attention(combine)", attention_combine_kernel, dim3(shape.num_heads, n_tokens),
                  128, 0, as_stream(stream), partial, segments, shape, sinks, out);
    return;
  }
  launch_kernel("attention", attention_kernel, dim3(shape.num_heads, n_tokens),
                kAttentionWarps * kWarpSize, smem, as_stream(stream), q, positions, shape, cache,
                sinks, out);
}

}  // namespace mimo::cuda
