// Prefill attention on tensor cores: prefill_attention.cuh's tile (64 query rows of one kv
// group, key tiles of 32 staged in shared memory, online softmax) with its two products - the
// scores S = Q K^T and the weighted sum P V - on mma.m16n8k8 TF32 instead of CUDA-core FMAs.
//
// Precision (3xTF32): every float32 operand x is split into big = tf32(x) (10 explicit mantissa
// bits, rounded) and small = tf32(x - big) (x - big is exact in float32); a product takes three
// mmas, small x big + big x small + big x big, leaving out only small x small (~2^-22 relative).
// That is float32-level accuracy with float32's exponent range, so no operand needs a scale (an
// F16 split would: values far below 1 lose their low half to F16 subnormals).
//
// Roles inside the block (256 threads, 8 warps):
// - products: warp w owns rows 16 (w / 2) .. + 15; for the scores, keys 16 (w % 2) .. + 15 of the
//   tile (two 8-key n-tiles); for the output, value columns (w % 2) v / 2 .. + v / 2 - 1.
// - softmax: prefill_attention.cuh's layout (a half-warp per 4 rows, 2 keys a lane), reading the
//   scores from shared memory and writing the probabilities back in place; each row's rescale
//   factor exp(m_old - m_new) goes through shared memory to the warps that own its accumulators.
// Same math and masking as prefill_attention.cuh, another summation order (so other bits).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "cuda/tiles/async_copy.cuh"
#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"
#include "cuda/tiles/mma.cuh"
#include "cuda/tiles/prefill_attention.cuh"

namespace mimo::cuda::tiles {

// Q and K rows are padded to head_dim + 4 floats and V rows to v_head_dim + 8: a fragment load
// (lanes 4g + t read row g, column t) then falls in 32 different banks for the dims in use
// (head_dim % 8 == 0 gives a stride of 4 mod 8; v_head_dim % 16 == 0 gives 8 or 24 mod 32).
inline constexpr int kMmaQkPad = 4;
inline constexpr int kMmaVPad = 8;

__host__ __device__ constexpr int prefill_attention_mma_smem_floats(int head_dim, int v_head_dim) {
  return (kPrefillRows + kPrefillKeys) * (head_dim + kMmaQkPad) +
         kPrefillKeys * (v_head_dim + kMmaVPad) + kPrefillRows * kPrefillScoreStride + kPrefillRows;
}
static_assert(2 * (prefill_attention_mma_smem_floats(192, 128) * 4 + 1024) <= 228 * 1024,
              "two blocks an H100 SM at MiMo's head dims (1 KB a block reserved)");
static_assert(prefill_attention_mma_smem_floats(256, 256) * 4 <= 227 * 1024);

// Value n-tiles (8 columns) a warp owns: half of v_head_dim.
__host__ __device__ constexpr int prefill_mma_value_tiles(int v_head_dim) {
  return v_head_dim / 16;
}

// A operand of m16n8k8 (rows g, g + 8; columns t, t + 4 of the 8), split once for several n-tiles.
struct SplitA {
  std::uint32_t big[4], small[4];
};
__device__ __forceinline__ SplitA split_a(const float* row_g, int stride) {
  const float v[4] = {row_g[0], row_g[8 * stride], row_g[4], row_g[8 * stride + 4]};
  SplitA a;
#pragma unroll
  for (int i = 0; i < 4; ++i) split_tf32(v[i], a.big[i], a.small[i]);
  return a;
}
// d += A x B in three TF32 products; b0 / b1: B at k rows t and t + 4 of column g.
__device__ __forceinline__ void mma_3xtf32(float (&d)[4], const SplitA& a, float b0, float b1) {
  std::uint32_t b0_big, b0_small, b1_big, b1_small;
  split_tf32(b0, b0_big, b0_small);
  split_tf32(b1, b1_big, b1_small);
  mma_tf32(d, a.small, b0_big, b1_big);
  mma_tf32(d, a.big, b0_small, b1_small);
  mma_tf32(d, a.big, b0_big, b1_big);
}

// Arguments as prefill_attention_tile; smem: prefill_attention_mma_smem_floats(...) floats,
// 16-byte aligned. Needs head_dim % 8 == 0 and v_head_dim % 16 == 0 with
// prefill_mma_value_tiles(v_head_dim) <= kValueTiles. Called by every thread of a team of
// kPrefillThreads.
template <int kValueTiles>
__device__ __forceinline__ void prefill_attention_mma_tile(
    const float* q, const int* positions, const AttentionShape& a, const KvCacheView& cache,
    const float* sinks, const PrefillRows& rows, float* out, float* smem, const Team& me) {
  constexpr int R = kPrefillRowsPerThread, K = kPrefillKeysPerLane;
  constexpr int S = kPrefillScoreStride;
  // Softmax layout.
  const int lane = me.thread % kPrefillLanes, row0 = me.thread / kPrefillLanes * R;
  // Product layout.
  const int warp = me.thread / kWarpSize, g = me.thread % kWarpSize / 4, t = me.thread % 4;
  const int tile_row = 16 * (warp / 2), half = warp % 2;
  const int value_tiles = prefill_mma_value_tiles(a.v_head_dim);
  const int value_col0 = half * (a.v_head_dim / 2);

  const int group_size = a.num_heads / a.num_kv_heads;
  const int kv_head = rows.head0 / group_size;
  const int n_rows = rows.heads * rows.tokens;
  const int qk_stride = a.head_dim + kMmaQkPad, v_stride = a.v_head_dim + kMmaVPad;
  float* qs = smem;                           // [kPrefillRows][qk_stride]
  float* ks = qs + kPrefillRows * qk_stride;  // [kPrefillKeys][qk_stride]
  float* vs = ks + kPrefillKeys * qk_stride;  // [kPrefillKeys][v_stride]
  float* ps = vs + kPrefillKeys * v_stride;   // [kPrefillRows][S]: scores, then probabilities
  float* row_factor = ps + kPrefillRows * S;  // [kPrefillRows]
  load_query_rows(q, a, rows, qs, qk_stride, me);
  const KeyRanges keys = key_ranges(positions, a, rows, row0);
  const int begin = keys.begin, end = keys.end;

  float m[R], l[R];
#pragma unroll
  for (int i = 0; i < R; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;  // this lane's keys only; the row's 16 lanes are summed at the end
  }
  float acc[kValueTiles][4];
#pragma unroll
  for (int n = 0; n < kValueTiles; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;

  copy_key_tile_async(ks, qk_stride, cache.k, a.head_dim, cache, a.num_kv_heads, kv_head, begin,
                      end, me);
  commit_copies();
  for (int k0 = begin; k0 <= end; k0 += kPrefillKeys) {
    me.sync();  // the previous tile's values, probabilities and factors are no longer read
    copy_key_tile_async(vs, v_stride, cache.v, a.v_head_dim, cache, a.num_kv_heads, kv_head, k0,
                        end, me);
    commit_copies();
    wait_copies<1>();  // this tile's keys (the older group); its values keep coming
    me.sync();

    {  // Scores of rows tile_row.. + 15 x keys 16 half .. + 15 into ps (unscaled, unmasked).
      float c[2][4] = {};
      const float* qa = qs + (tile_row + g) * qk_stride + t;
      const float* kb = ks + (16 * half + g) * qk_stride + t;
      for (int d = 0; d < a.head_dim; d += 8) {
        const SplitA qa_split = split_a(qa + d, qk_stride);
#pragma unroll
        for (int j = 0; j < 2; ++j)
          mma_3xtf32(c[j], qa_split, kb[8 * j * qk_stride + d], kb[8 * j * qk_stride + d + 4]);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        float* p = ps + (tile_row + g) * S + 16 * half + 8 * j + 2 * t;
        *reinterpret_cast<float2*>(p) = make_float2(c[j][0], c[j][1]);
        *reinterpret_cast<float2*>(p + 8 * S) = make_float2(c[j][2], c[j][3]);
      }
    }
    me.sync();

    // Online softmax in prefill_attention.cuh's layout, the probabilities written over the
    // scores; each row's rescale factor goes to the warps holding its accumulators.
#pragma unroll
    for (int i = 0; i < R; ++i) {
      float* row = ps + (row0 + i) * S + lane;
      float s[K];
#pragma unroll
      for (int j = 0; j < K; ++j) s[j] = row[kPrefillLanes * j];
      const float correction = online_softmax_row(s, k0 + lane, keys.first[i], keys.last[i],
                                                  a.score_scale, m[i], l[i], row);
      if (lane == 0) row_factor[row0 + i] = correction;
    }
    wait_copies<0>();
    me.sync();  // values, probabilities and factors visible; no warp reads the keys any more
    if (k0 + kPrefillKeys <= end) {
      copy_key_tile_async(ks, qk_stride, cache.k, a.head_dim, cache, a.num_kv_heads, kv_head,
                          k0 + kPrefillKeys, end, me);
      commit_copies();
    }

    {  // acc = acc x factor + P V for rows tile_row + g (c0, c1) and + 8 (c2, c3).
      const float f0 = row_factor[tile_row + g], f1 = row_factor[tile_row + g + 8];
#pragma unroll
      for (int n = 0; n < kValueTiles; ++n) {
        acc[n][0] *= f0;
        acc[n][1] *= f0;
        acc[n][2] *= f1;
        acc[n][3] *= f1;
      }
      const float* pa = ps + (tile_row + g) * S + t;
      const float* vb = vs + t * v_stride + value_col0 + g;
#pragma unroll
      for (int k = 0; k < kPrefillKeys; k += 8) {
        const SplitA p_split = split_a(pa + k, S);
#pragma unroll
        for (int n = 0; n < kValueTiles; ++n) {
          if (n < value_tiles)
            mma_3xtf32(acc[n], p_split, vb[k * v_stride + 8 * n], vb[(k + 4) * v_stride + 8 * n]);
        }
      }
    }
  }

  // The rows' output factors (prefill_attention.cuh's output_factor) go to the accumulators'
  // warps through shared memory.
  me.sync();  // every warp has read the last tile's factors
#pragma unroll
  for (int i = 0; i < R; ++i) {
    const float l_row = half_warp_sum(l[i]);
    const int r = row0 + i;
    const float f =
        r < n_rows
            ? output_factor(m[i], l_row, sinks ? sinks[rows.head0 + r % rows.heads] : -INFINITY)
            : 0.0f;
    if (lane == 0) row_factor[r] = f;
  }
  me.sync();
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = tile_row + g + 8 * h;
    if (r >= n_rows) continue;
    const float f = row_factor[r];
    float* o = out +
               (static_cast<std::size_t>(rows.token0 + r / rows.heads) * a.num_heads + rows.head0 +
                r % rows.heads) *
                   a.v_head_dim +
               value_col0 + 2 * t;
#pragma unroll
    for (int n = 0; n < kValueTiles; ++n) {
      if (n < value_tiles)
        *reinterpret_cast<float2*>(o + 8 * n) =
            make_float2(acc[n][2 * h] * f, acc[n][2 * h + 1] * f);
    }
  }
}

}  // namespace mimo::cuda::tiles
