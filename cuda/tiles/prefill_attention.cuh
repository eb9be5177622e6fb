// Prefill attention tile: one block computes a tile of up to 64 query rows - (token, head) pairs
// of consecutive step tokens and the query heads sharing one kv head - against the KV cache. Each
// tile of 32 keys and values is copied into shared memory once and used by every row (flash
// attention: a running max, a running sum and a rescaled accumulator per row), where the decode
// tiles (attention.cuh) re-read a token's keys for every query. Same math as attention.cuh: keys
// first..pos of a query at pos (first = pos - window + 1 for sliding layers, else 0) in slots
// p % capacity, the sink logit joining the softmax denominator only. Float32 on CUDA cores.
//
// Thread layout (256 threads): row group g = thread / 16 owns rows 4g..4g+3, column lane c =
// thread % 16 owns keys c and c + 16 of a tile for the scores and value columns 4c + 64i..+3 for
// the output; a row's 16 lanes are one half-warp, so its max and sum are half-warp shuffles.
#pragma once

#include <climits>
#include <cmath>
#include <cstddef>

#include "cuda/tiles/async_copy.cuh"
#include "cuda/tiles/attention.cuh"
#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda::tiles {

inline constexpr int kPrefillRows = 64;
inline constexpr int kPrefillKeys = 32;
inline constexpr int kPrefillThreads = 256;
inline constexpr int kPrefillLanes = 16;  // column lanes a row group
inline constexpr int kPrefillRowsPerThread = kPrefillRows * kPrefillLanes / kPrefillThreads;
inline constexpr int kPrefillKeysPerLane = kPrefillKeys / kPrefillLanes;
// Key rows padded by 4 floats: the 8 lanes of a 16-byte shared load phase read 8 different keys
// at the same column, which a stride of head_dim (a multiple of 32) would put in one bank.
inline constexpr int kPrefillKeyPad = 4;
inline constexpr int kPrefillScoreStride = kPrefillKeys + 4;  // likewise for the two row groups
static_assert(kPrefillRowsPerThread == 4 && kPrefillKeysPerLane == 2);

// The block's rows: heads head0..head0 + heads - 1 for tokens token0..token0 + tokens - 1 of the
// step, row r = (token0 + r / heads, head0 + r % heads); heads * tokens <= kPrefillRows.
struct PrefillRows {
  int head0, heads, token0, tokens;
};

// Shared memory of the tile, in floats: the query rows, one tile of keys, one of values and the
// rows' probabilities for it.
__host__ __device__ constexpr int prefill_attention_smem_floats(int head_dim, int v_head_dim) {
  return kPrefillRows * head_dim + kPrefillKeys * (head_dim + kPrefillKeyPad) +
         kPrefillKeys * v_head_dim + kPrefillRows * kPrefillScoreStride;
}
static_assert(prefill_attention_smem_floats(kMaxHeadDim, kMaxHeadDim) * 4 <= 227 * 1024,
              "the largest head dims fit an H100 block's shared memory");
static_assert(2 * (prefill_attention_smem_floats(192, 128) * 4 + 1024) <= 228 * 1024,
              "two blocks an H100 SM at MiMo's head dims (1 KB a block reserved)");

// Value column groups of 64 a lane covers: 4 columns in each (v_head_dim <= 64 * kGroups).
constexpr int prefill_value_groups(int v_head_dim) {
  return (v_head_dim + 63) / 64;
}

// Starts copying the rows of keys k0..k0 + kPrefillKeys - 1 (zeros past `last`) of kv head
// `kv_head` from `cache_rows` ([capacity, num_kv_heads, dim]) into dst (row stride `stride`).
__device__ __forceinline__ void copy_key_tile_async(float* dst, int stride, const float* cache_rows,
                                                    int dim, const KvCacheView& cache,
                                                    int num_kv_heads, int kv_head, int k0, int last,
                                                    const Team& me) {
  const int chunks = dim / 4;
  for (int i = me.thread; i < kPrefillKeys * chunks; i += me.threads) {
    const int key = i / chunks, c = i % chunks;
    const int j = min(k0 + key, last);  // a real slot even when masked: the address stays valid
    const std::size_t slot = static_cast<std::size_t>(j % cache.capacity) * num_kv_heads + kv_head;
    copy_16_async(dst + key * stride + 4 * c, cache_rows + slot * dim + 4 * c, k0 + key <= last);
  }
}

__device__ __forceinline__ float half_warp_max(float v) {
#pragma unroll
  for (int offset = kPrefillLanes / 2; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}
__device__ __forceinline__ float half_warp_sum(float v) {
#pragma unroll
  for (int offset = kPrefillLanes / 2; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float4 load4(const float* p) {
  return *reinterpret_cast<const float4*>(p);
}
__device__ __forceinline__ float dot4(float4 a, float4 b, float acc) {
  return fmaf(a.w, b.w, fmaf(a.z, b.z, fmaf(a.y, b.y, fmaf(a.x, b.x, acc))));
}
__device__ __forceinline__ void axpy4(float p, float4 v, float4& acc) {
  acc.x = fmaf(p, v.x, acc.x);
  acc.y = fmaf(p, v.y, acc.y);
  acc.z = fmaf(p, v.z, acc.z);
  acc.w = fmaf(p, v.w, acc.w);
}
__device__ __forceinline__ float component(float4 v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// The block's query rows into qs (row stride `stride` floats; zeros past the block's rows).
__device__ __forceinline__ void load_query_rows(const float* q, const AttentionShape& a,
                                                const PrefillRows& rows, float* qs, int stride,
                                                const Team& me) {
  const int n_rows = rows.heads * rows.tokens, q_chunks = a.head_dim / 4;
  for (int i = me.thread; i < kPrefillRows * q_chunks; i += me.threads) {
    const int r = i / q_chunks, c = i % q_chunks;
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (r < n_rows) {
      const std::size_t head =
          static_cast<std::size_t>(rows.token0 + r / rows.heads) * a.num_heads + rows.head0 +
          r % rows.heads;
      v = load4(q + head * a.head_dim + 4 * c);
    }
    *reinterpret_cast<float4*>(qs + r * stride + 4 * c) = v;
  }
}

// Keys a query at pos sees: first..pos, first = pos - window + 1 on sliding layers, else 0.
// KeyRanges: those of a thread's rows row0..row0 + 3 (empty past the block's rows) and the
// block's: from the smallest first to the largest position of its tokens.
struct KeyRanges {
  int first[kPrefillRowsPerThread], last[kPrefillRowsPerThread];
  int begin, end;
};
__device__ __forceinline__ KeyRanges key_ranges(const int* positions, const AttentionShape& a,
                                                const PrefillRows& rows, int row0) {
  const auto first_key = [&](int pos) { return a.window > 0 ? max(0, pos - a.window + 1) : 0; };
  const int n_rows = rows.heads * rows.tokens;
  KeyRanges k;
#pragma unroll
  for (int i = 0; i < kPrefillRowsPerThread; ++i) {
    const int r = row0 + i;
    const int pos = r < n_rows ? positions[rows.token0 + r / rows.heads] : -1;
    k.first[i] = r < n_rows ? first_key(pos) : 0;
    k.last[i] = pos;
  }
  k.begin = INT_MAX;
  k.end = -1;
  for (int t = rows.token0; t < rows.token0 + rows.tokens; ++t) {
    const int pos = positions[t];
    k.begin = min(k.begin, first_key(pos));
    k.end = max(k.end, pos);
  }
  return k;
}

// One row's online-softmax step over this lane's keys k0 + lane + 16 j of a tile: scores s[j]
// (unscaled) of keys outside first..last are masked; m becomes the row's max so far, l (this
// lane's share of the row's sum) is rescaled by exp(m_old - m_new) and takes the tile's
// probabilities, written to p[16 j]. Returns the rescale factor. A row without keys yet keeps
// m = -inf and uses 0 in the exponents, so its factors are exp(-inf) = 0 rather than NaN.
__device__ __forceinline__ float online_softmax_row(const float (&s)[kPrefillKeysPerLane], int key0,
                                                    int first, int last, float scale, float& m,
                                                    float& l, float* p) {
  constexpr int K = kPrefillKeysPerLane;
  float z[K], tile_max = -INFINITY;
#pragma unroll
  for (int j = 0; j < K; ++j) {
    const int key = key0 + kPrefillLanes * j;
    z[j] = key >= first && key <= last ? s[j] * scale : -INFINITY;
    tile_max = fmaxf(tile_max, z[j]);
  }
  const float m_new = fmaxf(m, half_warp_max(tile_max));
  const float m_use = m_new == -INFINITY ? 0.0f : m_new;
  const float correction = expf(m - m_use);
  l *= correction;
#pragma unroll
  for (int j = 0; j < K; ++j) {
    const float e = expf(z[j] - m_use);
    l += e;
    p[kPrefillLanes * j] = e;
  }
  m = m_new;
  return correction;
}

// The factor of a row's accumulator at the end: out = acc e^(m - m_all) / (l e^(m - m_all) +
// e^(sink - m_all)), m_all = max(m, sink) - the decode tile's merge with one partial. l: the
// row's whole sum. A valid row has seen its own position: m is finite.
__device__ __forceinline__ float output_factor(float m, float l, float sink) {
  const float m_all = fmaxf(m, sink);
  const float rescale = expf(m - m_all);
  return rescale / fmaf(l, rescale, isinf(sink) ? 0.0f : expf(sink - m_all));
}

// q: [step tokens, num_heads, head_dim]; positions: [step tokens]; sinks: [num_heads] or null;
// out: [step tokens, num_heads, v_head_dim], the block's rows written. smem:
// prefill_attention_smem_floats(...) floats, 16-byte aligned. kGroups =
// prefill_value_groups(v_head_dim). Called by every thread of a team of kPrefillThreads.
template <int kGroups>
__device__ __forceinline__ void prefill_attention_tile(const float* q, const int* positions,
                                                       const AttentionShape& a,
                                                       const KvCacheView& cache, const float* sinks,
                                                       const PrefillRows& rows, float* out,
                                                       float* smem, const Team& me) {
  constexpr int R = kPrefillRowsPerThread, K = kPrefillKeysPerLane;
  const int lane = me.thread % kPrefillLanes, row0 = me.thread / kPrefillLanes * R;
  const int group_size = a.num_heads / a.num_kv_heads;
  const int kv_head = rows.head0 / group_size;
  const int n_rows = rows.heads * rows.tokens;
  const int key_stride = a.head_dim + kPrefillKeyPad;
  float* qs = smem;                              // [kPrefillRows][head_dim]
  float* ks = qs + kPrefillRows * a.head_dim;    // [kPrefillKeys][key_stride]
  float* vs = ks + kPrefillKeys * key_stride;    // [kPrefillKeys][v_head_dim]
  float* ps = vs + kPrefillKeys * a.v_head_dim;  // [kPrefillRows][kPrefillScoreStride]
  load_query_rows(q, a, rows, qs, a.head_dim, me);
  const KeyRanges keys = key_ranges(positions, a, rows, row0);
  const int begin = keys.begin, end = keys.end;

  float m[R], l[R];
  float4 acc[R][kGroups];
#pragma unroll
  for (int i = 0; i < R; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;  // this lane's keys only; the row's 16 lanes are summed at the end
#pragma unroll
    for (int g = 0; g < kGroups; ++g) acc[i][g] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
  // Copies in flight: a tile's keys during the previous tile's weighted sum of values, its values
  // during its own scores (one buffer each: each is refilled once every thread is done with it).
  copy_key_tile_async(ks, key_stride, cache.k, a.head_dim, cache, a.num_kv_heads, kv_head, begin,
                      end, me);
  commit_copies();
  for (int k0 = begin; k0 <= end; k0 += kPrefillKeys) {
    me.sync();  // the previous tile's values and probabilities are no longer read
    copy_key_tile_async(vs, a.v_head_dim, cache.v, a.v_head_dim, cache, a.num_kv_heads, kv_head, k0,
                        end, me);
    commit_copies();
    wait_copies<1>();  // this tile's keys (the older group); its values keep coming
    me.sync();

    float s[R][K] = {};
    for (int d = 0; d < a.head_dim; d += 4) {
      float4 qv[R], kv[K];
#pragma unroll
      for (int i = 0; i < R; ++i) qv[i] = load4(qs + (row0 + i) * a.head_dim + d);
#pragma unroll
      for (int j = 0; j < K; ++j) kv[j] = load4(ks + (lane + kPrefillLanes * j) * key_stride + d);
#pragma unroll
      for (int i = 0; i < R; ++i) {
#pragma unroll
        for (int j = 0; j < K; ++j) s[i][j] = dot4(qv[i], kv[j], s[i][j]);
      }
    }
    // Online softmax; the accumulator takes the rows' rescale factors.
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const float correction =
          online_softmax_row(s[i], k0 + lane, keys.first[i], keys.last[i], a.score_scale, m[i],
                             l[i], ps + (row0 + i) * kPrefillScoreStride + lane);
#pragma unroll
      for (int g = 0; g < kGroups; ++g) {
        acc[i][g].x *= correction;
        acc[i][g].y *= correction;
        acc[i][g].z *= correction;
        acc[i][g].w *= correction;
      }
    }
    wait_copies<0>();
    me.sync();  // the values and every row's probabilities; no thread reads the keys any more
    if (k0 + kPrefillKeys <= end) {
      copy_key_tile_async(ks, key_stride, cache.k, a.head_dim, cache, a.num_kv_heads, kv_head,
                          k0 + kPrefillKeys, end, me);
      commit_copies();
    }

#pragma unroll 2
    for (int c = 0; c < kPrefillKeys; c += 4) {
      float4 pv[R];
#pragma unroll
      for (int i = 0; i < R; ++i) pv[i] = load4(ps + (row0 + i) * kPrefillScoreStride + c);
#pragma unroll
      for (int u = 0; u < 4; ++u) {
#pragma unroll
        for (int g = 0; g < kGroups; ++g) {
          const int col = 4 * lane + 64 * g;
          if (col < a.v_head_dim) {
            const float4 v = load4(vs + (c + u) * a.v_head_dim + col);
#pragma unroll
            for (int i = 0; i < R; ++i) axpy4(component(pv[i], u), v, acc[i][g]);
          }
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < R; ++i) {
    const float l_row = half_warp_sum(l[i]);
    const int r = row0 + i;
    if (r >= n_rows) continue;
    const int head = rows.head0 + r % rows.heads;
    const float f = output_factor(m[i], l_row, sinks ? sinks[head] : -INFINITY);
    float* o = out + (static_cast<std::size_t>(rows.token0 + r / rows.heads) * a.num_heads + head) *
                         a.v_head_dim;
#pragma unroll
    for (int g = 0; g < kGroups; ++g) {
      const int col = 4 * lane + 64 * g;
      if (col < a.v_head_dim) {
        *reinterpret_cast<float4*>(o + col) =
            make_float4(acc[i][g].x * f, acc[i][g].y * f, acc[i][g].z * f, acc[i][g].w * f);
      }
    }
  }
}

}  // namespace mimo::cuda::tiles
