// Geometry of one DFlash drafter attention call (cuda/tiles/drafter_attention.cuh): a plain
// struct with no CUDA types, filled on the host and passed to the kernel by value.
#pragma once

namespace mimo::cuda::tiles {

// window < 0: no window.
struct DrafterAttentionShape {
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int v_head_dim = 0;
  int n_context = 0;  // context keys visible to the block (positions < anchor)
  int block = 0;      // block keys (and queries), positions anchor .. anchor + block - 1
  long long anchor = 0;
  long long window = -1;
  float score_scale = 0;
  float value_scale = 1;
};

// Threads of one drafter attention block, and keys scored per pass.
inline constexpr int kDrafterKeysPerChunk = 256;

}  // namespace mimo::cuda::tiles
