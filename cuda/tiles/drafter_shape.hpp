// Geometry of one DFlash drafter attention call (cuda/tiles/drafter_attention.cuh): a plain
// struct with no CUDA types, filled on the host and passed to the kernel by value.
#pragma once

namespace mimo::cuda::tiles {

// window < 0: no window. The anchor position and the number of visible context keys are read
// from device memory (DrafterStepInputs), so a captured graph replays with new values.
struct DrafterAttentionShape {
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int v_head_dim = 0;
  int block = 0;  // block keys (and queries), positions anchor .. anchor + block - 1
  long long window = -1;
  float score_scale = 0;
  float value_scale = 1;
};

// What changes per step, in device memory.
struct DrafterStepInputs {
  int anchor = 0;           // token id
  int anchor_position = 0;  // the block's positions are anchor_position .. + block - 1
  int n_context = 0;        // context keys visible to the block (positions < anchor_position)
  // Deferred context rows the one-kernel block pass projects into the caches first (0: none):
  // positions context_first .. + context_rows - 1, at cache rows append_at ..
  int context_rows = 0;
  int context_first = 0;
  int append_at = 0;
};

// Threads of one drafter attention block (the op-by-op kernel), the widest head it takes, and
// the shared floats its merge needs for `warps` warps.
inline constexpr int kDrafterAttentionThreads = 256;
inline constexpr int kDrafterMaxHeadDim = 256;
// Threads of the team that norms and rotates one head (the op-by-op head kernels' block, the
// one-kernel pass's head teams): a thread an element of the wider head, whole warps, <= 256.
constexpr int drafter_head_threads(int head_dim, int v_head_dim) {
  const int d = head_dim > v_head_dim ? head_dim : v_head_dim;
  const int t = (d + 31) / 32 * 32;
  return t < 32 ? 32 : (t > 256 ? 256 : t);
}

// Head dims a lane of the attention tile holds for these heads: 2, 4 or 8 (32 lanes a warp).
constexpr int drafter_attention_lane_dims(int head_dim, int v_head_dim) {
  const int d = head_dim > v_head_dim ? head_dim : v_head_dim;
  return d <= 64 ? 2 : (d <= 128 ? 4 : 8);
}
constexpr int drafter_attention_scratch(int warps, int v_head_dim) {
  return warps * (2 + v_head_dim);
}

}  // namespace mimo::cuda::tiles
