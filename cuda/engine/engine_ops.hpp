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
