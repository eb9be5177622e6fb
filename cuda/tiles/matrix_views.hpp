// Device-memory views of weights in their stored formats and of the KV cache, as the tile
// functions read them. Plain structs with no CUDA types, so host code fills them and passes them
// by value to kernels. Layout rules each view relies on are stated next to it; the uploader
// (cuda/runtime/device_weights.hpp) checks them.
#pragma once

#include <cstdint>

namespace mimo::cuda {

// F8_E4M3 codes, row-major [rows, cols], row stride = cols bytes (cols % 16 == 0 so each lane
// reads 16 codes with one 16-byte load). Scale of (r, c) is
// scales[((r + scale_row_offset) / block_rows) * scale_cols + c / block_cols]
// (block_cols % 16 == 0: a 16-code chunk never straddles two blocks).
struct Fp8Matrix {
  const std::uint8_t* codes = nullptr;
  const float* scales = nullptr;
  int rows = 0;
  int cols = 0;
  int scale_cols = 0;
  int block_rows = 128;
  int block_cols = 128;
  int scale_row_offset = 0;  // the first row's offset inside its block (row slices of fused qkv)
};

// MXFP4: E2M1 codes two a byte (low nibble = even column), [rows, cols / 2]; one E8M0 scale per
// 32 columns, [rows, cols / 32]. One 16-byte load is exactly one 32-value group. cols % 32 == 0.
struct Mxfp4Matrix {
  const std::uint8_t* codes = nullptr;
  const std::uint8_t* scales = nullptr;
  int rows = 0;
  int cols = 0;
};

// `count` MXFP4 matrices of one shape (the routed experts of one projection), back to back, in
// the tensor-core tile order the expert kernels read (cuda/tiles/moe_grouped.cuh), so that one
// 16-byte load a lane makes a warp read 512 contiguous bytes:
// - codes: expert e at e * mxfp4_mma_code_bytes(rows, cols). Rows form tiles of 16 (the last
//   zero-padded), columns groups of 128 (likewise). Tile T, group G is one 1024-byte block at
//   (T * groups + G) * 1024; its row 16 T + 8 h + g at 512 h + 64 g, and there lane q's 16
//   bytes at 16 q: the 4-byte word at 4 b holds the 8 codes of columns 128 G + 32 b + 8 q + i,
//   i = 0..7: byte j (0..3) has code j's magnitude (E2M1 bits 0-2) in bits 1-3 and its sign
//   in bit 7, and code j + 4's magnitude in bits 4-6 and its sign in bit 0 (a mask or two
//   shifts then put each code into the high byte of an F16 pattern).
// - scales: expert e at e * mxfp4_mma_scale_bytes(rows, cols); tile T, group G at
//   (T * groups + G) * 64, row 16 T + r at 4 r, byte b = the E8M0 scale of block b (padding 0).
// special_scales: some real scale byte is 0x00 (2^-127, a float32 subnormal) or 0xFF (NaN), so
// the kernels decode every scale exactly; without them (the usual case) a shift and a mask do.
struct Mxfp4Stack {
  const std::uint8_t* codes = nullptr;
  const std::uint8_t* scales = nullptr;
  int count = 0;
  int rows = 0;
  int cols = 0;  // a multiple of 32
  bool special_scales = true;
};
constexpr int mxfp4_mma_groups(int cols) {
  return (cols + 127) / 128;
}
constexpr int mxfp4_mma_tiles(int rows) {
  return (rows + 15) / 16;
}
constexpr long long mxfp4_mma_code_bytes(int rows, int cols) {
  return 1024LL * mxfp4_mma_tiles(rows) * mxfp4_mma_groups(cols);
}
constexpr long long mxfp4_mma_scale_bytes(int rows, int cols) {
  return 64LL * mxfp4_mma_tiles(rows) * mxfp4_mma_groups(cols);
}

// Activations handed to the tensor-core tiles already split (cuda/tiles/mma.cuh): row t holds
// x_t * 2^e_t as F16 hi + lo halves (hi: the value cut to 11 significant bits, lo: the rest),
// e_t chosen so the row's largest magnitude lies in [2^14, 2^15); inv_scale[t] = 2^-e_t.
// hi, lo: [rows, cols] halves (cols % 8 == 0, rows 16-byte aligned); inv_scale: [rows].
struct SplitActivations {
  std::uint16_t* hi = nullptr;
  std::uint16_t* lo = nullptr;
  float* inv_scale = nullptr;
  int cols = 0;
};

// BF16 row-major [rows, cols], cols % 8 == 0.
struct Bf16Matrix {
  const std::uint16_t* values = nullptr;
  int rows = 0;
  int cols = 0;
};

// F32 row-major [rows, cols], cols % 4 == 0.
struct F32Matrix {
  const float* values = nullptr;
  int rows = 0;
  int cols = 0;
};

// Geometry of one attention flavour (full or sliding layers).
struct AttentionShape {
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;       // q and k; a multiple of 32, at most 256
  int v_head_dim = 0;     // a multiple of 32, at most 256
  int window = 0;         // sliding window (keys pos - window < j <= pos); 0 = full attention
  float score_scale = 0;  // head_dim^-0.5
};

// One layer's KV cache in float32: the token at position p lives in slot p % capacity.
// k: [capacity, num_kv_heads, head_dim], v: [capacity, num_kv_heads, v_head_dim] (v already
// multiplied by the value scale). Full layers: capacity >= the context; sliding layers: a ring
// of at least window + max_chunk_tokens - 1 slots (the largest chunk a step appends).
struct KvCacheView {
  float* k = nullptr;
  float* v = nullptr;
  int capacity = 0;
};

// Router configuration of one MoE layer.
struct RouterShape {
  int num_experts = 0;  // at most 1024
  int top_k = 0;        // at most 32
  int n_group = 1;
  int topk_group = 1;
  bool norm_topk_prob = true;
  float routed_scaling_factor = 1.0f;
};

}  // namespace mimo::cuda
