// The GPU drafter's runner: issues each op of a DFlash drafter program
// (program/drafter_program.hpp) as the drafter's kernels on one stream - the device twin of
// exec::CpuDrafterRunner, as StreamRunner is the target's. GpuDrafter (gpu_drafter.cpp) owns the
// buffers, the context cache, the graphs and the envelope around a pass (the step inputs'
// upload, the drafts' download). No CUDA types in this header.
#pragma once

#include <string>
#include <vector>

#include "cuda/kernels/drafter_block.hpp"
#include "cuda/kernels/ops.hpp"
#include "cuda/stream/gpu_drafter_weights.hpp"
#include "cuda/tiles/drafter_shape.hpp"
#include "model/config.hpp"
#include "program/drafter_program.hpp"

namespace mimo::cuda {

struct DeviceModel;

// Where a pass reads and writes (device memory). Context pass: features -> context -> ctx_k
// ([k | v] rows of a stacked product, else k) and ctx_v -> the cache rows from *append_at on.
// Block pass: inputs -> ids, positions -> x, h, delta, q, k, v, heads, gate, up, act, stacked
// -> logits -> drafts.
struct DrafterPassBuffers {
  const float* features = nullptr;
  float* context = nullptr;
  float* ctx_k = nullptr;
  float* ctx_v = nullptr;
  const int* ctx_positions = nullptr;
  const int* append_at = nullptr;
  std::vector<float*> keys, values;  // the context cache, per layer
  int* cache_positions = nullptr;
  const tiles::DrafterStepInputs* inputs = nullptr;
  int* ids = nullptr;
  int* positions = nullptr;
  float *x = nullptr, *h = nullptr, *delta = nullptr;
  float* x_other = nullptr;  // the one-kernel block pass's second residual buffer
  // Its context fold: the deferred rows' features [block, fc.cols], and its scratch.
  const float* deferred = nullptr;
  float* fold_context = nullptr;  // [block, hidden]
  float* fold_kv = nullptr;       // [layers, block, kv rows]
  float *q = nullptr, *k = nullptr, *v = nullptr, *heads = nullptr;
  float *gate = nullptr, *up = nullptr, *act = nullptr;
  float* stacked = nullptr;  // a stacked product's rows: [q | k | v] or [gate | up]
  float* logits = nullptr;
  int* drafts = nullptr;
};

class DrafterRunner {
 public:
  // config, target, weights and head (the target's embedding and lm_head) must outlive it.
  DrafterRunner(const model::DrafterConfig& config, const model::ModelConfig& target,
                const DrafterDeviceWeights& weights, const DeviceModel& head);

  // Issues every op of `program` in order. Nothing here synchronises or allocates, so a pass
  // can be captured into a graph.
  void run(const program::DrafterProgram& program, const DrafterPassBuffers& b,
           Stream stream) const;

  // The block pass as one cluster kernel (cuda/kernels/drafter_block.hpp) where the drafter's
  // shapes and formats allow it: why not ("" when it can; fold: with the context fold too), the
  // cluster it takes, and the pass - the kernel for every op up to the final norm (first, with
  // `fold`, the deferred rows the step inputs name), then the program's lm_head and argmax ops.
  // Same bits in `h`, `logits`, `drafts` and the caches as the context and block programs run().
  std::string fused_block_unsupported(const program::DrafterProgram& program,
                                      const DrafterPassBuffers& b, bool fold) const;
  int fused_block_cluster(const program::DrafterProgram& program, const DrafterPassBuffers& b,
                          bool fold) const;
  void run_fused_block(const program::DrafterProgram& program, const DrafterPassBuffers& b,
                       int cluster, bool fold, Stream stream) const;

 private:
  void issue(const program::Op& op, const program::DrafterShape& shape, const DrafterPassBuffers& b,
             Stream stream) const;
  void block_embed(int n, const DrafterPassBuffers& b, Stream stream) const;
  void add_norm(const program::Op& op, int n, const DrafterPassBuffers& b, Stream stream) const;
  void qkv(int layer, int n, const DrafterPassBuffers& b, Stream stream) const;
  void qk_norm_rope(int layer, int n, const DrafterPassBuffers& b, Stream stream) const;
  void attention(int layer, int n, const DrafterPassBuffers& b, Stream stream) const;
  void dense_mlp(int layer, int n, const DrafterPassBuffers& b, Stream stream) const;
  void context_kv(int layer, int n, const DrafterPassBuffers& b, Stream stream) const;
  void store_context(int layer, int n, const DrafterPassBuffers& b, Stream stream) const;
  bool sliding(int layer) const;
  // The attention tile's shape for `layer` and a block of n tokens (both passes use it).
  tiles::DrafterAttentionShape attention_shape(int layer, int n) const;
  DrafterBlockPass block_pass(const program::DrafterProgram& program, const DrafterPassBuffers& b,
                              bool fold) const;

  const model::DrafterConfig& config_;
  const model::ModelConfig& target_;
  const DrafterDeviceWeights& w_;
  const DeviceModel& head_;
};

}  // namespace mimo::cuda
