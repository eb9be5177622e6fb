// GpuDrafter's state (gpu_drafter.cpp's and no one else's): the drafter's stream, weights and
// runner, the context cache and its deferred rows, the block and context graphs, the pinned
// host I/O, and the operations on them that the public methods compose.
#pragma once

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/kernels/drafter_ops.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/stream/drafter_runner.hpp"
#include "cuda/stream/gpu_drafter.hpp"
#include "cuda/stream/gpu_drafter_weights.hpp"
#include "cuda/stream/graph_capture.hpp"
#include "mimo/error.hpp"
#include "program/drafter_program.hpp"

namespace mimo::cuda {
namespace gpu_drafter_detail {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw Error(ErrorCode::kDevice,
                fmt::format("GPU drafter, {}: {}", what, cudaGetErrorString(err)));
  }
}

// A device buffer of at least `bytes`, reallocated (contents dropped) when too small.
inline float* ensure(DeviceBuffer& buffer, std::size_t bytes) {
  if (buffer.bytes() < bytes) buffer = DeviceBuffer(std::max<std::size_t>(bytes, 256));
  return buffer.as<float>();
}

// Device context rows a drafter defers at most before projecting them (at least a block).
constexpr int kDeferredRows = 128;

}  // namespace gpu_drafter_detail

using namespace gpu_drafter_detail;

struct GpuDrafter::Impl {
  const model::DrafterConfig& config;
  const model::ModelConfig& target;
  int block = 0;
  cudaStream_t stream = nullptr;
  DrafterDeviceWeights w;
  DrafterRunner runner;
  program::DrafterProgram block_program;  // [anchor, MASK...]: drafts of rows 1 .. block - 1
  // Context cache: positions ascending (host copy for lookups, device copy for the mask), and
  // per layer keys [capacity, kv, hd] / values [capacity, kv, vhd]; the first `rows` are valid.
  std::vector<std::int64_t> positions;
  DeviceBuffer device_positions;
  std::vector<DeviceBuffer> keys, values;
  std::int64_t capacity = 0;
  // Scratch of the context projection (grows with the rows of one call) and of the block.
  DeviceBuffer features, ctx, ctx_k, ctx_v, ctx_pos;
  DeviceBuffer x, x_other, h, delta, q, k, v, heads, gate, up, act, logits, ids, block_pos, drafts;
  DeviceBuffer stacked;  // a stacked product's rows: [q | k | v] or [gate | up]
  DeviceBuffer step_inputs;
  tiles::DrafterStepInputs* host_inputs = nullptr;  // pinned
  int* host_drafts = nullptr;                       // pinned, block - 1 ids
  bool use_graph = true;
  cudaGraphExec_t graph = nullptr;
  // The block pass as one cluster kernel where the drafter's shapes allow (fused_reason empty),
  // with the deferred context rows folded in where those allow (fold_reason empty); chosen by
  // set_fused_block / set_fused_context or MIMO_DRAFTER_FUSED (1 = both, block = no fold).
  std::string fused_reason, fold_reason;
  int fused_cluster = 0;
  bool fused = false, fold = false;
  DeviceBuffer fold_context, fold_kv;  // the fold's scratch (fixed: the block graph holds them)
  // Device context updates (add_device_context): the cache row they append at, in device memory,
  // and one graph per row count 1 .. block (index = rows), captured on first use.
  DeviceBuffer append_at;
  std::vector<cudaGraphExec_t> context_graphs;
  // Deferred device context: rows of consecutive positions deferred_first .. + deferred_rows - 1,
  // copied from the taps into `deferred` and projected together when a block forward (or a
  // reader of the cache) needs them, or when the buffer is full. A speculator that often takes
  // no drafter step (lookup first) then pays a copy a step instead of a context pass.
  DeviceBuffer deferred;
  std::int64_t deferred_first = 0;
  int deferred_rows = 0;
  int deferred_capacity = 0;
  bool defer = true;
  std::int64_t context_passes = 0;  // context passes issued (tests)
  std::int64_t folded_rows = 0;     // context rows the one-kernel pass projected (tests)

  Impl(const model::DrafterConfig& c, const model::ModelConfig& t, const DeviceModel& d, int b)
      : config(c), target(t), block(b), runner(c, t, w, d) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Also when GpuDrafter's constructor failed half way: nothing it made leaks.
  ~Impl() {
    if (stream != nullptr) cudaStreamSynchronize(stream);
    drop_graph();
    drop_context_graphs();
    if (host_inputs != nullptr) cudaFreeHost(host_inputs);
    if (host_drafts != nullptr) cudaFreeHost(host_drafts);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }

  // The device buffers of a pass, as they are now (a captured graph keeps these addresses).
  DrafterPassBuffers buffers(const float* features_rows) {
    DrafterPassBuffers b;
    b.features = features_rows;
    b.context = ctx.as<float>();
    b.ctx_k = ctx_k.as<float>();
    b.ctx_v = ctx_v.as<float>();
    b.ctx_positions = ctx_pos.as<int>();
    b.append_at = append_at.as<int>();
    for (int l = 0; l < config.num_layers; ++l) {
      b.keys.push_back(keys[l].as<float>());
      b.values.push_back(values[l].as<float>());
    }
    b.cache_positions = device_positions.as<int>();
    b.inputs = static_cast<const tiles::DrafterStepInputs*>(step_inputs.get());
    b.ids = ids.as<int>();
    b.positions = block_pos.as<int>();
    b.x = x.as<float>();
    b.x_other = x_other.as<float>();
    b.deferred = deferred.as<float>();
    b.fold_context = fold_context.as<float>();
    b.fold_kv = fold_kv.as<float>();
    b.h = h.as<float>();
    b.delta = delta.as<float>();
    b.q = q.as<float>();
    b.k = k.as<float>();
    b.v = v.as<float>();
    b.heads = heads.as<float>();
    b.gate = gate.as<float>();
    b.up = up.as<float>();
    b.act = act.as<float>();
    b.stacked = stacked.as<float>();
    b.logits = logits.as<float>();
    b.drafts = drafts.as<int>();
    return b;
  }

  int kv_width() const { return config.num_kv_heads * config.head_dim; }
  int v_width() const { return config.num_kv_heads * config.v_head_dim; }

  // Room for `rows` cached positions, keeping the valid ones.
  void reserve(std::int64_t rows) {
    if (rows <= capacity) return;
    const std::int64_t grown = std::max<std::int64_t>({rows, 2 * capacity, 256});
    const std::int64_t valid = static_cast<std::int64_t>(positions.size());
    const auto regrow = [&](DeviceBuffer& buffer, std::size_t row_bytes) {
      DeviceBuffer bigger(std::size_t(grown) * row_bytes);
      if (valid > 0) {
        check(cudaMemcpyAsync(bigger.get(), buffer.get(), std::size_t(valid) * row_bytes,
                              cudaMemcpyDeviceToDevice, stream),
              "context cache growth");
      }
      check(cudaStreamSynchronize(stream), "context cache growth");
      buffer = std::move(bigger);
    };
    for (int l = 0; l < config.num_layers; ++l) {
      regrow(keys[l], std::size_t(kv_width()) * sizeof(float));
      regrow(values[l], std::size_t(v_width()) * sizeof(float));
    }
    regrow(device_positions, sizeof(int));
    capacity = grown;
    drop_graph();  // the graphs hold the old cache addresses
    drop_context_graphs();
  }

  // Block scratch, allocated once (a captured graph keeps these addresses).
  void allocate_block_scratch() {
    const std::size_t b = block, hidden = config.hidden_size, inter = config.intermediate_size;
    const std::size_t heads_n = config.num_heads;
    ensure(ids, b * sizeof(int));
    ensure(block_pos, b * sizeof(int));
    ensure(x, b * hidden * 4);
    ensure(x_other, b * hidden * 4);
    ensure(fold_context, b * hidden * 4);
    ensure(fold_kv, std::size_t(config.num_layers) * b * (kv_width() + v_width()) * 4);
    ensure(h, b * hidden * 4);
    ensure(delta, b * hidden * 4);
    ensure(q, b * heads_n * config.head_dim * 4);
    ensure(k, b * kv_width() * 4);
    ensure(v, b * v_width() * 4);
    ensure(heads, b * heads_n * config.v_head_dim * 4);
    ensure(gate, b * inter * 4);
    ensure(up, b * inter * 4);
    ensure(act, b * inter * 4);
    ensure(
        stacked,
        b * std::max(std::size_t(kv_width() + v_width()) + heads_n * config.head_dim, 2 * inter) *
            4);
    ensure(logits, (b - 1) * std::size_t(target.vocab_size) * 4);
    ensure(drafts, b * sizeof(int));
    ensure(step_inputs, sizeof(tiles::DrafterStepInputs));
    ensure(append_at, sizeof(int));
    context_graphs.assign(block + 1, nullptr);
    deferred_capacity = std::max(kDeferredRows, block);
    ensure(deferred, std::size_t(deferred_capacity) * w.fc.cols * 4);
    check(cudaHostAlloc(reinterpret_cast<void**>(&host_inputs), sizeof(tiles::DrafterStepInputs),
                        cudaHostAllocDefault),
          "pinned step inputs");
    check(cudaHostAlloc(reinterpret_cast<void**>(&host_drafts), b * sizeof(int),
                        cudaHostAllocDefault),
          "pinned drafts");
  }

  // Issues the block forward for the inputs in host_inputs (pinned): the block program's ops
  // (the final-normed hidden states end in `h`, the argmax of the target lm_head on rows 1 ..
  // block-1 in `drafts`), then the drafts' download into host_drafts. Nothing here
  // synchronises or allocates, so it can be captured into a graph.
  void issue_block() {
    check(cudaMemcpyAsync(step_inputs.get(), host_inputs, sizeof(tiles::DrafterStepInputs),
                          cudaMemcpyHostToDevice, stream),
          "step inputs upload");
    if (fused) {
      runner.run_fused_block(block_program, buffers(nullptr), fused_cluster, fold, stream);
    } else {
      runner.run(block_program, buffers(nullptr), stream);
    }
    check(cudaMemcpyAsync(host_drafts, drafts.get(), (block - 1) * sizeof(int),
                          cudaMemcpyDeviceToHost, stream),
          "drafts download");
  }

  // The first position a new context row may take: after the cached and the deferred ones.
  std::int64_t next_position() const {
    if (deferred_rows > 0) return deferred_first + deferred_rows;
    return positions.empty() ? 0 : positions.back() + 1;
  }

  void check_follows(std::int64_t first_position) const {
    if (first_position < next_position()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("GPU DFlash drafter: context position {} is not after the cached {}",
                              first_position, next_position() - 1));
    }
  }

  // Makes room in the caches for `rows` more positions and sizes the context scratch (growth
  // waits for the stream, where earlier calls may still read the old buffers, and drops the
  // context graphs, which hold their addresses); `features` too unless the rows are deferred ones.
  void begin_context(std::int64_t rows, bool features_rows) {
    reserve(static_cast<std::int64_t>(positions.size()) + rows);
    const std::size_t r = rows;
    const auto grow = [&](DeviceBuffer& buffer, std::size_t bytes) {
      if (buffer.bytes() >= bytes) return;
      check(cudaStreamSynchronize(stream), "context scratch growth");
      drop_context_graphs();
      ensure(buffer, bytes);
    };
    if (features_rows) grow(features, r * w.fc.cols * 4);  // deferred rows have their own buffer
    grow(ctx, r * config.hidden_size * 4);
    grow(ctx_k, r * (kv_width() + v_width()) * 4);  // [k | v] rows of a stacked product
    grow(ctx_v, r * v_width() * 4);
    grow(ctx_pos, r * sizeof(int));
  }

  // Enqueues the context pass of n rows whose features and positions are in `src` / `ctx_pos`:
  // the context program's ops (fc, context norm, per layer k / v, then k_norm, RoPE and the
  // append of keys, values and positions at the cache row in `append_at`). The cache row is
  // device memory: nothing depends on host values but n, so it can be captured once per n.
  void issue_context(const float* src, int n) {
    program::DrafterShape shape;
    shape.context = n;
    runner.run(program::build_drafter_program(config, target.vocab_size, shape), buffers(src),
               stream);
  }

  // Enqueues the context pass of n rows at positions first .. first + n - 1 whose features are in
  // `src` (begin_context sized the caches and scratch): their positions and cache row into
  // device memory, then the pass - for up to a block of deferred rows (a verify step's) the
  // graph of their count, else op by op - and records the positions.
  void project(const float* src, std::int64_t first, int n) {
    drafter_context_inputs(ctx_pos.as<int>(), append_at.as<int>(), static_cast<int>(first), n,
                           static_cast<int>(positions.size()), stream);
    if (use_graph && n <= block && src == deferred.as<float>()) {
      cudaGraphExec_t& g = context_graphs[n];
      if (g == nullptr) {
        const auto issue = [this, n] { issue_context(deferred.as<float>(), n); };
        g = capture_graph(stream, issue, "drafter context");
      }
      check(cudaGraphLaunch(g, stream), "drafter context graph launch");
    } else {
      issue_context(src, n);
    }
    for (int i = 0; i < n; ++i) positions.push_back(first + i);
    ++context_passes;
  }

  // Projects the deferred rows (device context) into the caches, on the drafter's stream.
  void flush_deferred() {
    if (deferred_rows == 0) return;
    begin_context(deferred_rows, false);
    project(deferred.as<float>(), deferred_first, deferred_rows);
    deferred_rows = 0;  // queued: cleared only now, so a failure above leaves them waiting
  }

  void drop_context_graphs() {
    for (cudaGraphExec_t& g : context_graphs) {
      if (g != nullptr) cudaGraphExecDestroy(g);
      g = nullptr;
    }
  }

  void drop_graph() {
    if (graph != nullptr) cudaGraphExecDestroy(graph);
    graph = nullptr;
  }

  // Runs the block for (anchor, anchor_position), replaying the captured graph (captured on
  // first use, and again after the context cache moved); returns after the drafts arrived.
  void run_block(std::int32_t anchor, std::int64_t anchor_position) {
    host_inputs->context_rows = 0;
    // The one-kernel pass projects up to a block of deferred rows before the block (same cache
    // bits); they count as cached once the pass is queued (until then a failure leaves them
    // waiting, as flush_deferred does).
    const int folded = fused && fold && deferred_rows <= block ? deferred_rows : 0;
    if (folded > 0) {
      reserve(static_cast<std::int64_t>(positions.size()) + folded);
      host_inputs->context_rows = folded;
      host_inputs->context_first = static_cast<int>(deferred_first);
      host_inputs->append_at = static_cast<int>(positions.size());
    } else {
      flush_deferred();
    }
    // Positions are ascending and the folded rows (deferred_first ..) follow the cached ones.
    const std::int64_t n_ctx =
        (std::lower_bound(positions.begin(), positions.end(), anchor_position) -
         positions.begin()) +
        std::clamp<std::int64_t>(anchor_position - deferred_first, 0, folded);
    host_inputs->anchor = anchor;
    host_inputs->anchor_position = static_cast<int>(anchor_position);
    host_inputs->n_context = static_cast<int>(n_ctx);
    if (!use_graph) {
      issue_block();
    } else {
      if (graph == nullptr) {
        const auto issue = [this] { issue_block(); };
        graph = capture_graph(stream, issue, "drafter block");
      }
      check(cudaGraphLaunch(graph, stream), "drafter graph launch");
    }
    if (folded > 0) {  // queued: the rows are the cache's now
      for (int i = 0; i < folded; ++i) positions.push_back(deferred_first + i);
      ++context_passes;
      folded_rows += folded;
      deferred_rows = 0;
    }
    check(cudaStreamSynchronize(stream), "drafter block forward");
  }
};

}  // namespace mimo::cuda
