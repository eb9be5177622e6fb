// What the persistent engine's step kernel needs to run each op of a step program segment:
// one plain record per op (its kind and the pointers and shapes of exactly the stream runner's
// launch for it), filled on the host by EngineRunner and uploaded once per step shape and
// session state. The kernel reproduces the stream kernels' grids as virtual blocks, so a tile
// computes the same bits in either runner. No CUDA types.
#pragma once

#include "cuda/kernels/ops.hpp"
#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda::engine {

// The engine's block: 16 warps, split into teams of a stream kernel's block size (named
// barriers 1..15) so several virtual blocks run side by side.
inline constexpr int kEngineThreads = 512;
// A fifth warpgroup streams weight pages into the block's page ring (page_ring.cuh): its first
// warp loads, the other three leave at once. It gives registers to the consumers (setmaxnreg
// moves them within the block's own allocation, 640 x 96 at launch: 4 x 128 x 112 + 128 x 24
// fit in it; asking for more blocks the consumers forever).
inline constexpr int kEngineBlockThreads = kEngineThreads + 128;
inline constexpr int kLaunchRegisters = 96;
inline constexpr int kConsumerRegisters = 112;
inline constexpr int kLoaderRegisters = 24;
static_assert(kEngineThreads * kConsumerRegisters + 128 * kLoaderRegisters <=
                  kEngineBlockThreads * kLaunchRegisters,
              "setmaxnreg can only move registers within the block's allocation");

// The page ring: pages of 16 rows x 2048 bytes of an FP8 matrix, rows 2112 bytes apart (pages
// of 1024 bytes measured slower: twice the copies for the loader to issue).
inline constexpr int kPageRows = 16;
inline constexpr int kPageBytes = 2048;
inline constexpr int kRowStride = kPageBytes + 64;
inline constexpr int kRingPages = 6;
inline constexpr int kRingBytes = kRingPages * kPageRows * kRowStride;
// Arrivals that release a page: a team of w warps reading it arrives kReleaseCount / w times a
// warp (w divides 16).
inline constexpr unsigned kReleaseCount = 16;
// Shared memory of one engine block, in floats (the largest op's teams: attention's 4 teams).
inline constexpr int kEngineSmemFloats = 4096;

// Shared floats of one 128-thread attention team (the tiles' attention_smem_floats for 4 warps,
// and the merge's arrival flag).
constexpr int attention_team_floats(int head_dim, int v_head_dim) {
  return head_dim + 4 * (2 + v_head_dim) + 1;
}

enum class EngineOpKind : int {
  kEmbed,
  kAddNorm,
  kProjection,  // FP8 tensor-core batch over split activations (q/k/v, or o)
  kRopeStoreKv,
  kAttention,
  kTap,
};

struct EmbedArgs {
  Bf16Matrix bf16;  // values null: the F32 table
  F32Matrix f32;
  const int* tokens;
  float* out;
};

struct AddNormArgs {
  float* x;
  const float* delta;  // null: no residual add
  const float* weight;
  float* out;
  SplitActivations split;  // hi null: no split
  int dim;
  float eps;
};

// Projection tiles: virtual block (x, y) of fp8_mma_linear_kernel<1> - 16 rows of the batch's
// row tiles (x) for tokens 8y .. 8y + 7. A prologue splits `split_source` rows into `input`
// first (the o projection's heads); without one, `input` is already split (the normed rows).
struct ProjectionArgs {
  Fp8Batch batch;  // first_block filled
  SplitActivations input;
  const float* split_source;  // null: no prologue
  int row_tiles;              // x extent
  int warps;                  // the stream launch's block size / 32
  // 1: tasks of one token tile read their weights from the page ring (cols % 16 == 0, codes
  // 16-byte aligned, warps dividing 16); 0: straight from global memory.
  int paged;
};

struct RopeStoreKvArgs {
  float* q;
  float* k;
  const float* v;
  const int* positions;
  AttentionShape a;
  int half;
  const float* inv_freq;
  float value_scale;
  KvCacheView cache;
};

// Segmented attention (segments > 1): virtual block (head, token block, segment) of
// attention_segment_kernel with its fused merge; segments == 1: (head, token) of
// attention_kernel.
struct AttentionArgs {
  const float* q;
  const int* positions;
  AttentionShape a;
  KvCacheView cache;
  const float* sinks;  // null: none
  float* out;
  float* partial;
  unsigned* arrivals;
  int segments;
  int tokens_per_block;
};

struct TapArgs {
  const float* from;  // [tokens, hidden]
  float* to;          // [tokens, n_taps, hidden] at the tap's slot
  int hidden;
  int n_taps;
};

struct EngineOp {
  EngineOpKind kind;
  int tokens;
  int heads_per_kv;  // attention: query heads a tile (kv head) covers
  EmbedArgs embed;
  AddNormArgs norm;
  ProjectionArgs projection;
  RopeStoreKvArgs rope;
  AttentionArgs attention;
  TapArgs tap;
};

}  // namespace mimo::cuda::engine
