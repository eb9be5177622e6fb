// What the persistent drafter passes (cuda/tiles/drafter_pass.cuh) read: plain structs filled on
// the host once per drafter (and again when the context cache moves), passed to the kernel by
// value. No CUDA types.
#pragma once

#include <cstdint>

#include "cuda/tiles/drafter_shape.hpp"

namespace mimo::cuda::tiles {

// A drafter linear as the passes read it: row-major [rows, cols], BF16 or F32 values.
struct DrafterPassMatrix {
  const void* values = nullptr;
  int rows = 0;
  int cols = 0;
  bool bf16 = false;
};

inline constexpr int kMaxDrafterPassLayers = 8;
inline constexpr int kMaxDrafterPassRows = 16;  // block positions (or context rows) a pass takes
inline constexpr int kDrafterPassThreads = 256;

struct DrafterPassLayer {
  DrafterPassMatrix q, k, v, o, gate, up, down;
  const float* input_norm = nullptr;
  const float* post_attention_norm = nullptr;
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  const float* sinks = nullptr;  // [heads] or null
  float* keys = nullptr;         // context cache [capacity, kv, head_dim]
  float* values = nullptr;       // [capacity, kv, v_head_dim]
  long long window = -1;         // sliding window, or -1
};

// Everything one drafter pass reads and writes. Activations: the residual stream x (two
// buffers, the pass alternates between them), delta, q / k / v, heads, act, all device memory of
// at least block rows; h gets the final-normed block (what the lm_head reads).
struct DrafterPassArgs {
  // geometry
  int hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, v_head_dim = 0, inter = 0;
  int rotary_half = 0;  // rotary_dim / 2
  int block = 0;
  int num_layers = 0;
  int mask_token = 0;
  float eps = 0, score_scale = 0, value_scale = 1;
  const float* inv_freq = nullptr;
  DrafterPassLayer layers[kMaxDrafterPassLayers];
  const float* final_norm = nullptr;
  // the block's input: the target's embedding (BF16 or F32 [vocab, hidden]), an optional mask
  // embedding for rows 1 .. block-1, the step inputs (anchor, its position, visible context)
  DrafterPassMatrix embed;
  const float* mask_embedding = nullptr;
  const DrafterStepInputs* inputs = nullptr;
  const int* context_positions = nullptr;  // the cache's positions, ascending
  // context update: features [rows, fc.cols] -> fc -> context_norm -> per layer k / v
  DrafterPassMatrix fc;
  const float* context_norm = nullptr;
  const float* features = nullptr;
  const int* feature_positions = nullptr;  // [rows]
  const int* append_at = nullptr;          // the cache row the rows go to
  int* cache_positions = nullptr;          // context_positions, writable
  // scratch
  float* x[2] = {nullptr, nullptr};
  float* delta = nullptr;
  float* h = nullptr;
  float* q = nullptr;
  float* k = nullptr;
  float* v = nullptr;
  float* heads_out = nullptr;
  float* act = nullptr;
  float* ctx = nullptr;         // [rows, hidden] of a context update
  unsigned* barrier = nullptr;  // one counter, zero before each launch
};

}  // namespace mimo::cuda::tiles
