// Tensor-core building blocks of the FP8 linear and MXFP4 expert tiles: one m16n8k16 F16 mma
// with F32 accumulation, the split of F32 activations into F16 hi + lo halves, and the weight
// decoders to F16 pairs (E4M3 and E2M1 values are exact in F16).
//
// Accuracy: a token's activations are multiplied by a power of two putting the largest
// magnitude of the step's chunk (F32Row) or of the whole row (SplitRow) into [2^14, 2^15); hi
// keeps the top 11 significant bits, lo the next 11, so every value carries ~22 bits relative
// to that peak (the float32 reference has 24) and nothing overflows F16. The mma
// accumulates exact F16 x F16 products in F32. A token's arithmetic depends only on its own
// activations, so a row computed in a verify step equals the decode step's bit for bit.
//
// Fragment coordinates (PTX m16n8k16): lane = 4 g + q. A (weights, 16 rows x 16 k): rows g and
// g + 8, k = 2q, 2q + 1 (regs 0, 1) and 2q + 8, 2q + 9 (regs 2, 3). B (activations, 16 k x 8
// tokens): token g, the same k pairs. C: rows g and g + 8, tokens 2q and 2q + 1. The k order
// inside one mma is free as long as A and B agree; the tiles use that to read 16 contiguous
// bytes a lane.
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

#include "cuda/tiles/common.cuh"

namespace mimo::cuda::tiles {

__device__ __forceinline__ void mma_f16(float (&d)[4], const std::uint32_t (&a)[4],
                                        std::uint32_t b0, std::uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// TF32 tensor cores (the prefill attention's 3xTF32 products): x = split big + small, both
// TF32 (10 explicit mantissa bits, rounded to nearest); x - big is exact in float32.
__device__ __forceinline__ void split_tf32(float x, std::uint32_t& big, std::uint32_t& small) {
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(big) : "f"(x));
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(small) : "f"(x - __uint_as_float(big)));
}

__device__ __forceinline__ void mma_tf32(float (&d)[4], const std::uint32_t (&a)[4],
                                         std::uint32_t b0, std::uint32_t b1) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ std::uint32_t half2_bits(float low, float high) {
  const __half2 h = __floats2half2_rn(low, high);
  return *reinterpret_cast<const std::uint32_t*>(&h);
}

// (a, b), already scaled, as hi + lo F16 pairs: hi = the value cut to 11 significant bits.
__device__ __forceinline__ void split_pair(float a, float b, std::uint32_t& hi, std::uint32_t& lo) {
  const float ah = __uint_as_float(__float_as_uint(a) & 0xFFFFE000u);
  const float bh = __uint_as_float(__float_as_uint(b) & 0xFFFFE000u);
  hi = half2_bits(ah, bh);
  lo = half2_bits(a - ah, b - bh);
}

// Power-of-two scale s putting max_abs into [2^14, 2^15) (at most 2^126), and 1 / s.
__device__ __forceinline__ void token_scale(float max_abs, float& s, float& inv_s) {
  const int e = (__float_as_int(max_abs) >> 23) & 0xFF;
  const int se = min(268 - e, 253);  // biased exponent of s = 2^(141 - e)
  s = __int_as_float(se << 23);
  inv_s = __int_as_float((254 - se) << 23);
}

// Max over the four lanes of a quad (the lanes holding one token's chunk).
__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

// Where a lane's B fragments come from: its token's float32 row, split on the fly with a scale
// per step (the quad's columns), or a row split beforehand (SplitActivations, one scale a row).
// The loaders (load_b_half) fill words of F16 pairs for consecutive columns (word k: columns
// 2k, 2k + 1) and the token's 1 / scale; columns at or past `cols` read as zero. Called by all
// 32 lanes.
struct F32Row {
  const float* row = nullptr;  // null: no token in this lane's B column
  int cols = 0;
};
struct SplitRow {
  const std::uint16_t* hi = nullptr;  // null: no token
  const std::uint16_t* lo = nullptr;
  float inv_scale = 1.0f;
  int cols = 0;
};

// kPieces runs of 8 columns starting at col0 + kStride * p, split on the fly into hi and lo;
// words[p][k] for k = 0..3.
template <int kPieces, int kStride>
__device__ __forceinline__ void load_b(const F32Row& src, int col0, std::uint32_t (&hi)[kPieces][4],
                                       std::uint32_t (&lo)[kPieces][4], float& inv_scale) {
  float4 v[kPieces][2];
  float max_abs = 0.0f;
#pragma unroll
  for (int p = 0; p < kPieces; ++p) {
    const int col = col0 + kStride * p;
    const bool in = src.row != nullptr && col < src.cols;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      v[p][j] = in ? __ldg(reinterpret_cast<const float4*>(src.row + col) + j)
                   : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      max_abs = fmaxf(max_abs, fmaxf(fmaxf(fabsf(v[p][j].x), fabsf(v[p][j].y)),
                                     fmaxf(fabsf(v[p][j].z), fabsf(v[p][j].w))));
    }
  }
  float s;
  token_scale(quad_max(max_abs), s, inv_scale);
#pragma unroll
  for (int p = 0; p < kPieces; ++p) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      split_pair(v[p][j].x * s, v[p][j].y * s, hi[p][2 * j], lo[p][2 * j]);
      split_pair(v[p][j].z * s, v[p][j].w * s, hi[p][2 * j + 1], lo[p][2 * j + 1]);
    }
  }
}

// Packed token sets: one mma multiplies up to four tokens' hi halves (B columns 0-3) and their
// lo halves (columns 4-7), so a step of up to four tokens needs half the mmas of one column a
// token. Lane 4 g + q supplies column g: token g % 4 of its set, the lo half when g >= 4. The
// hi and lo products are accumulated apart and added at the end (finish_packed), the same way
// whichever set and column a token lands in.
// A split row's hi or lo words at col0 + kStride p, loaded by load(address) (16 bytes).
template <int kPieces, int kStride, class Load>
__device__ __forceinline__ void load_split_half(const SplitRow& src, bool lo, int col0,
                                                std::uint32_t (&w)[kPieces][4], float& inv_scale,
                                                Load&& load) {
  const std::uint16_t* half = lo ? src.lo : src.hi;
#pragma unroll
  for (int p = 0; p < kPieces; ++p) {
    const int col = col0 + kStride * p;
    const uint4 v = src.hi != nullptr && col < src.cols
                        ? load(reinterpret_cast<const uint4*>(half + col))
                        : make_uint4(0, 0, 0, 0);
    w[p][0] = v.x;
    w[p][1] = v.y;
    w[p][2] = v.z;
    w[p][3] = v.w;
  }
  inv_scale = src.inv_scale;
}
template <int kPieces, int kStride>
__device__ __forceinline__ void load_b_half(const SplitRow& src, bool lo, int col0,
                                            std::uint32_t (&w)[kPieces][4], float& inv_scale) {
  load_split_half<kPieces, kStride>(src, lo, col0, w, inv_scale,
                                    [](const uint4* p) { return __ldg(p); });
}
// A SplitRow written earlier in the same launch (the persistent engine): read through L2
// (ld.global.cg), because the non-coherent path load_b_half(SplitRow) takes may hold lines an
// earlier layer left in this multiprocessor's cache.
struct FreshSplitRow : SplitRow {};
template <int kPieces, int kStride>
__device__ __forceinline__ void load_b_half(const FreshSplitRow& src, bool lo, int col0,
                                            std::uint32_t (&w)[kPieces][4], float& inv_scale) {
  load_split_half<kPieces, kStride>(src, lo, col0, w, inv_scale,
                                    [](const uint4* p) { return __ldcg(p); });
}
template <int kPieces, int kStride>
__device__ __forceinline__ void load_b_half(const F32Row& src, bool lo, int col0,
                                            std::uint32_t (&w)[kPieces][4], float& inv_scale) {
  std::uint32_t hi_w[kPieces][4], lo_w[kPieces][4];
  load_b<kPieces, kStride>(src, col0, hi_w, lo_w, inv_scale);
#pragma unroll
  for (int p = 0; p < kPieces; ++p)
#pragma unroll
    for (int k = 0; k < 4; ++k) w[p][k] = lo ? lo_w[p][k] : hi_w[p][k];
}

// Runs run(src) with src the B sources of one packed set (n <= 4 tokens, every decode step) or
// two (up to 8): source(set) gives this lane's source in a set. n must be block-uniform.
template <class SourceOf, class Run>
__device__ __forceinline__ void with_packed_sets(int n, const SourceOf& source, const Run& run) {
  using Source = decltype(source(0));
  if (n <= 4) {
    const Source src[1] = {source(0)};
    run(src);
  } else {
    const Source src[2] = {source(0), source(1)};
    run(src);
  }
}

// Whether a source's scale is one per row (SplitRow: applied once, by finish_packed) or one per
// step (F32Row: applied to each step's products, step_token_scales).
template <class Source>
inline constexpr bool kRowScaled = false;
template <>
inline constexpr bool kRowScaled<SplitRow> = true;
template <>
inline constexpr bool kRowScaled<FreshSplitRow> = true;

// The factors a step's packed C fragment (columns 2q, 2q + 1) takes on top of its weight scale:
// its tokens' step scales times `unit` for F32Row, 1 for SplitRow. inv: this lane's B token's
// 1 / scale of the step. Called by all 32 lanes.
template <class Source>
__device__ __forceinline__ void step_token_scales(float inv, float unit, float (&f)[2]) {
  if constexpr (kRowScaled<Source>) {
    f[0] = f[1] = 1.0f;
  } else {
    const int q = threadIdx.x % 4;
    f[0] = __shfl_sync(0xffffffffu, inv, 4 * ((2 * q) % 4)) * unit;
    f[1] = __shfl_sync(0xffffffffu, inv, 4 * ((2 * q + 1) % 4)) * unit;
  }
}

// Packed accumulators (acc[set][n]: C fragments of kN tiles, columns as load_b_half) to the
// one-column-a-token layout: lane 4 g + q gets tokens 2q, 2q + 1 (of 8: set 0 then set 1) of
// rows g, g + 8, hi + lo added, times the token's 1 / scale and `unit`. inv[set]: the 1 / scale
// of this lane's B token. Called by all 32 lanes.
template <int kSets, int kN>
__device__ __forceinline__ void finish_packed(const float (&acc)[kSets][kN][4],
                                              const float (&inv)[kSets], float unit,
                                              float (&out)[kN][4]) {
  const int q = threadIdx.x % 4;
  float sums[kSets][kN][4];
#pragma unroll
  for (int s = 0; s < kSets; ++s) {
    // Tokens 2q % 4 and (2q + 1) % 4 of the set: their B columns are lanes 4 t.
    const float inv0 = __shfl_sync(0xffffffffu, inv[s], 4 * ((2 * q) % 4)) * unit;
    const float inv1 = __shfl_sync(0xffffffffu, inv[s], 4 * ((2 * q + 1) % 4)) * unit;
#pragma unroll
    for (int n = 0; n < kN; ++n)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const float lo = __shfl_down_sync(0xffffffffu, acc[s][n][c], 2);  // lane q + 2
        sums[s][n][c] = (acc[s][n][c] + lo) * (c % 2 == 0 ? inv0 : inv1);
      }
  }
#pragma unroll
  for (int n = 0; n < kN; ++n)
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const float second = kSets > 1 ? __shfl_up_sync(0xffffffffu, sums[kSets - 1][n][c], 2) : 0.0f;
      out[n][c] = q < 2 ? sums[0][n][c] : second;
    }
}

// Producer side of SplitActivations: four values (float4 i of the row), times the row's scale s,
// stored as hi and lo halves.
__device__ __forceinline__ void store_split4(float4 v, float s, std::uint16_t* hi,
                                             std::uint16_t* lo, int i) {
  std::uint32_t h0, l0, h1, l1;
  split_pair(v.x * s, v.y * s, h0, l0);
  split_pair(v.z * s, v.w * s, h1, l1);
  reinterpret_cast<uint2*>(hi)[i] = make_uint2(h0, h1);
  reinterpret_cast<uint2*>(lo)[i] = make_uint2(l0, l1);
}

__device__ __forceinline__ float max_abs4(float4 v) {
  return fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
}

// One block splits one row of `cols` floats (cols % 4 == 0): out_hi / out_lo / *out_inv of
// that row. scratch: 32 floats of shared memory. Called by every thread of the block.
__device__ __forceinline__ void split_row_tile(const float* x, int cols, std::uint16_t* out_hi,
                                               std::uint16_t* out_lo, float* out_inv,
                                               float* scratch, const Team& me = Team::block()) {
  const float4* x4 = reinterpret_cast<const float4*>(x);
  float m = 0.0f;
  for (int i = me.thread; i < cols / 4; i += me.threads) m = fmaxf(m, max_abs4(x4[i]));
  float s, inv;
  token_scale(block_max(m, scratch, me), s, inv);
  for (int i = me.thread; i < cols / 4; i += me.threads) store_split4(x4[i], s, out_hi, out_lo, i);
  if (me.thread == 0) *out_inv = inv;
}

// Two E4M3 codes (low byte first) as an F16 pair (low half first); exact, NaN stays NaN.
__device__ __forceinline__ std::uint32_t e4m3x2_to_half2(std::uint32_t pair) {
  const __half2_raw h =
      __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(pair & 0xFFFFu), __NV_E4M3);
  return static_cast<std::uint32_t>(h.x) | (static_cast<std::uint32_t>(h.y) << 16);
}

// The eight E2M1 codes of one tile-order word (Mxfp4Stack) as four F16 pairs equal to the codes'
// values times 2^-14 (kFp4ScaledUnit undoes it): pair p holds codes 2p (low half) and 2p + 1.
// Each code becomes the high byte of its F16 pattern (sign in bit 7, the three exponent /
// mantissa bits in bits 1-3: the bias gap is the 2^-14), the low byte zero.
__device__ __forceinline__ void e2m1x8_to_half2(std::uint32_t w, std::uint32_t (&pair)[4]) {
  const std::uint32_t low = w & 0x8E8E8E8Eu;  // codes 0-3, one a byte
  const std::uint32_t high = ((w >> 3) & 0x0E0E0E0Eu) | ((w << 7) & 0x80808080u);  // codes 4-7
  pair[0] = __byte_perm(low, 0u, 0x1404);
  pair[1] = __byte_perm(low, 0u, 0x3424);
  pair[2] = __byte_perm(high, 0u, 0x1404);
  pair[3] = __byte_perm(high, 0u, 0x3424);
}

// mma_f16 into a zero accumulator (no register clearing).
__device__ __forceinline__ void mma_f16_from_zero(float (&d)[4], const std::uint32_t (&a)[4],
                                                  std::uint32_t b0, std::uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%10, %10, %10, %10};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "f"(0.0f));
}

// BF16 tensor cores (the lm_head): one m16n8k16 BF16 mma with F32 accumulation. A float32
// activation is split exactly into three BF16 pieces, hi + mid + lo (8 significant bits each:
// 24 in all, float32's), so weights exact in BF16 times the three pieces are exact products and
// only the F32 accumulation rounds. BF16 keeps float32's exponent range: no token scale.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const std::uint32_t (&a)[4],
                                         std::uint32_t b0, std::uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// (a, b) as three BF16 pairs (low half a): piece[0] = the values cut to 8 significant bits,
// piece[1] the next 8 of the remainder, piece[2] the rest (at most 8 bits: exact). Every cut
// and subtraction is exact, so a = hi + mid + lo.
__device__ __forceinline__ void split3_bf16_pair(float a, float b, std::uint32_t (&piece)[3]) {
  std::uint32_t ua = __float_as_uint(a), ub = __float_as_uint(b);
#pragma unroll
  for (int p = 0; p < 3; ++p) {
    const std::uint32_t ha = ua & 0xFFFF0000u, hb = ub & 0xFFFF0000u;
    piece[p] = (ha >> 16) | hb;
    ua = __float_as_uint(__uint_as_float(ua) - __uint_as_float(ha));
    ub = __float_as_uint(__uint_as_float(ub) - __uint_as_float(hb));
  }
}

// Adds the warps' C fragments in warp order and hands each (row offset, token, value) of the
// block's kMats x kM tiles to store(mat, row_in_block, token, value). red: warps * kMats * kM *
// 128 floats of shared memory. Called by every thread of the block.
template <int kMats, int kM, class Store>
__device__ __forceinline__ void reduce_warp_tiles(const float (&acc)[kMats][kM][4], float* red,
                                                  Store&& store, const Team& me = Team::block()) {
  const int lane = me.lane(), warp = me.warp();
  const int warps = me.warps();
  constexpr int kPerWarp = kMats * kM * 4 * kWarpSize;
#pragma unroll
  for (int i = 0; i < kMats; ++i)
#pragma unroll
    for (int m = 0; m < kM; ++m)
#pragma unroll
      for (int c = 0; c < 4; ++c)
        red[warp * kPerWarp + ((i * kM + m) * 4 + c) * kWarpSize + lane] = acc[i][m][c];
  me.sync();
  for (int o = me.thread; o < kM * 4 * kWarpSize; o += me.threads) {
    const int m = o / (4 * kWarpSize), c = (o / kWarpSize) % 4, l = o % kWarpSize;
    const int row = 16 * m + l / 4 + 8 * (c / 2), token = 2 * (l % 4) + c % 2;
    float total[kMats];
#pragma unroll
    for (int i = 0; i < kMats; ++i) {
      total[i] = 0.0f;
      for (int w = 0; w < warps; ++w)
        total[i] += red[w * kPerWarp + ((i * kM + m) * 4 + c) * kWarpSize + l];
    }
    store(row, token, total);
  }
  me.sync();  // red may be reused
}

}  // namespace mimo::cuda::tiles
