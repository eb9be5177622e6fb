// The DFlash drafter's block pass (embed -> layers -> final norm) as ONE kernel: a thread-block
// cluster whose blocks run the pass's phases (per layer: norm + q/k/v, head norms + RoPE +
// attention, o, norm + gate/up, SiLU + down) with a hardware cluster barrier between them,
// instead of ~40 kernels. Each phase runs the same tiles, with the same team sizes, as the
// op-by-op kernels, so the hidden states (and so the logits, drafts and, with the context fold,
// the cache rows) are the same bits; the residual scratch x / x_other is left otherwise. The
// lm_head and argmax stay apart (they want the whole GPU). With `context_fold`, the deferred
// context rows waiting for this block (DrafterStepInputs::context_rows) are projected into the
// caches first, in three more phases (fc; context norm + every layer's k/v; key norms + RoPE + the
// appends) instead of the context pass's ~11 kernels - the same bits again. No CUDA types here;
// every pointer is device memory.
#pragma once

#include <cstddef>
#include <string>

#include "cuda/kernels/ops.hpp"
#include "cuda/tiles/drafter_shape.hpp"
#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda {

inline constexpr int kDrafterBlockMaxLayers = 8;

struct DrafterBlockLayer {
  Bf16Matrix qkv, o, gate_up, down;  // [q; k; v] and [gate; up] stacked
  Bf16Matrix kv;                     // the context pass's [k; v] (context_fold)
  int qkv_warps = 0, o_warps = 0, gate_up_warps = 0, down_warps = 0;  // bf16_linear_warps
  int kv_warps = 0;
  const float* input_norm = nullptr;
  const float* post_norm = nullptr;
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  const float* sinks = nullptr;  // or null
  float* keys = nullptr;         // the context cache [.., kv, hd] (appended to by context_fold)
  float* values = nullptr;
  tiles::DrafterAttentionShape attention;  // the layer's (as the op-by-op attention takes it)
};

struct DrafterBlockPass {
  int block = 0, hidden = 0, inter = 0, num_layers = 0;
  int heads = 0, kv_heads = 0, head_dim = 0, v_head_dim = 0, rotary_half = 0;
  int mask_token = 0;
  float eps = 0;
  bool embed_bf16 = true;  // which table is set
  Bf16Matrix embed_table_bf16;
  F32Matrix embed_table_f32;
  const float* mask_rows = nullptr;  // [block - 1, hidden] or null
  const float* inv_freq = nullptr;
  const float* final_norm = nullptr;
  const tiles::DrafterStepInputs* inputs = nullptr;
  int* cache_positions = nullptr;  // the cache's positions (appended to by context_fold)
  int* ids = nullptr;              // [block]: written for the op-by-op path's readers
  int* positions = nullptr;        // [block]
  float* x = nullptr;              // [block, hidden] residual, and a second buffer of that size
  float* x_other = nullptr;
  float* delta = nullptr;      // [block, hidden]
  float* stacked = nullptr;    // [block, max(q + k + v widths, 2 inter)]
  float* heads_out = nullptr;  // [block, heads, v_head_dim]
  float* out = nullptr;        // [block, hidden]: the final-normed hidden states
  bool context_fold = false;
  Bf16Matrix fc;
  int fc_warps = 0;
  const float* context_norm = nullptr;
  const float* features = nullptr;  // [block, fc.cols]: the deferred rows' target features
  float* context = nullptr;         // [block, hidden]
  float* context_kv = nullptr;      // [layers, block, kv.rows]
  DrafterBlockLayer layers[kDrafterBlockMaxLayers];
};

// Why `pass`'s shapes and formats do not fit the fused tiles ("" when they do), and the shared
// memory a block of it takes - no device needed.
std::string drafter_block_shape_problem(const DrafterBlockPass& pass);
std::size_t drafter_block_shared_bytes(const DrafterBlockPass& pass);

// Why `pass` cannot run as one kernel on the current device (a shape or format the fused tiles
// do not take, too much shared memory, no cluster that fits), or "" when it can.
std::string drafter_block_unsupported(const DrafterBlockPass& pass);
// The same for its context fold (fc, the layers' stacked [k; v] products).
std::string drafter_block_context_unsupported(const DrafterBlockPass& pass);

// Blocks of the cluster the pass runs on (16 where the device co-schedules them, else 8, ...),
// which also sets the kernel's attributes on the current device (call it once, with the larger
// of the passes it will launch: the context fold's), and the launch. Call
// drafter_block_unsupported first. The launch neither synchronises nor allocates, so it can be
// captured into a graph.
int drafter_block_cluster_size(const DrafterBlockPass& pass);
void drafter_block_pass(const DrafterBlockPass& pass, int cluster_size, Stream stream);

}  // namespace mimo::cuda
