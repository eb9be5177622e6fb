// The DFlash drafter forward on the GPU (the device twin of lib/spec/dflash_drafter.hpp): the
// drafter's weights are uploaded once in their stored precision (BF16 / F32 as the checkpoint
// holds them, through the executor's upload rules), the context cache (per drafter layer the
// keys / values of every observed position: fc -> context norm -> k_proj / v_proj, k_norm, RoPE)
// lives on the device, and a block [anchor, MASK x (B-1)] runs through the layers in one
// non-causal pass whose drafts are the argmax of the TARGET's lm_head, read from the target's
// DeviceModel (embedding and lm_head are shared, not copied). Only the drafts (B-1 ints) come
// back to the host per step (their logits too when sampled drafts are asked for), and the block
// forward is one CUDA graph (the anchor, its position and the visible context length are read from
// device memory). Context rows already on the device (the target's taps) are appended without a
// host wait, projected when the next block forward needs them (by a CUDA graph per row count up
// to a block). No CUDA types in this header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "spec/drafter_weights.hpp"

namespace mimo::cuda {

struct DeviceModel;

class GpuDrafter {
 public:
  // config, target and target_device must outlive the drafter; weights are uploaded here (their
  // mapping may go away afterwards). block_size >= 2. Throws kDevice / kUnsupported.
  GpuDrafter(const model::DrafterConfig& config, const spec::DrafterWeights& weights,
             const model::ModelConfig& target, const DeviceModel& target_device, int block_size);
  ~GpuDrafter();
  GpuDrafter(const GpuDrafter&) = delete;
  GpuDrafter& operator=(const GpuDrafter&) = delete;

  int block_size() const;
  int num_layers() const;
  // Host context rows (target features, [rows, K * target_hidden]) of positions first ..
  // first+rows-1, projected on the device and appended to every layer's context cache (one
  // host -> device copy of the features). Positions must exceed every cached one.
  void add_context(std::int64_t first_position, const float* features, std::int64_t rows);
  // As add_context for rows already in device memory (a step's device taps, exec::DeviceTaps):
  // the drafter's stream waits for the event `ready` (a cudaEvent_t, or null), copies them
  // device to device and records `released` (or null) after that copy. Nothing waits on the
  // host. The rows' projection is deferred (set_defer_context) until a block forward or a
  // reader of the cache needs it, or 128 rows wait: many steps' rows then cost one pass.
  void add_device_context(std::int64_t first_position, const float* features, std::int64_t rows,
                          void* ready, void* released);
  // Whether device context rows wait for the next block forward (default) or are projected at
  // once; the caches and drafts are the same bits either way.
  void set_defer_context(bool on);
  // Context passes issued so far (each projects one or more updates' rows; tests).
  std::int64_t context_passes() const;
  // Context rows the one-kernel block pass projected itself (set_fused_context; tests).
  std::int64_t folded_rows() const;
  // Whether every layer runs q / k / v as one product and gate / up as one (their formats
  // stack: BF16 or F32 alike); else they run apart (tests).
  bool stacks_projections() const;
  // Forgets cached context positions >= length.
  void truncate(std::int64_t length);
  std::int64_t context_rows() const;
  // A drafter layer's cached keys [context_rows, kv, hd] / values [.., kv, vhd] (tests; waits).
  std::vector<float> context_keys(int layer) const;
  std::vector<float> context_values(int layer) const;

  // The final-normed hidden states of the block at anchor_position, [block_size, hidden] (tests).
  std::vector<float> block_hidden(std::int32_t anchor, std::int64_t anchor_position);
  // Argmax of the target lm_head on block rows 1 .. count (count <= block_size - 1). The lm_head
  // always runs on all block_size - 1 rows, so one captured graph serves every count.
  std::vector<std::int32_t> propose(std::int32_t anchor, std::int64_t anchor_position, int count);
  // The target lm_head's logits of block rows 1 .. block_size - 1, [block_size - 1, target
  // vocab] floats in device memory, valid until the next block forward: the distributions
  // sampled drafts are drawn from (DraftDraws, or downloaded for Speculator::draft_logits).
  const float* device_logits(std::int32_t anchor, std::int64_t anchor_position);
  // The block forward replays a CUDA graph captured on first use (default) or is launched op by
  // op; both give identical results.
  void set_use_graph(bool on);
  // The block forward up to the final norm as one cluster kernel (cuda/kernels/drafter_block.hpp)
  // or as one kernel an op; the same bits either way. Available where the drafter's shapes and
  // formats allow (fused_block_unsupported() says why not); OFF by default (measured 1.9x slower
  // than the op-by-op pass on an H100): set_fused_block(true) or the environment variable
  // MIMO_DRAFTER_FUSED=1 turns it on. Returns whether it is on now.
  bool set_fused_block(bool on);
  bool fused_block() const;
  const std::string& fused_block_unsupported() const;
  int fused_block_cluster() const;  // blocks of its cluster (0: unsupported)
  // With the one-kernel block pass, the deferred context rows waiting for a block (up to a
  // block of them) are projected by the same kernel first instead of by the context pass: the
  // same cache bits. On where the drafter's fc and k / v products allow it (MIMO_DRAFTER_FUSED=
  // block turns it off). Returns whether it is on now (it takes effect only while
  // fused_block() is).
  bool set_fused_context(bool on);
  bool fused_context() const;
  const std::string& fused_context_unsupported() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mimo::cuda
