// GpuDrafter's state (see gpu_drafter.hpp), shared by gpu_drafter.cpp (lifecycle, context cache,
// graphs, the persistent passes) and gpu_drafter_ops.cpp (the op-by-op forms). Private to
// cuda/stream.
#pragma once

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cuda/kernels/drafter_ops.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/stream/drafter_pass_setup.hpp"
#include "cuda/stream/gpu_drafter.hpp"
#include "cuda/stream/graph_capture.hpp"
#include "mimo/error.hpp"

namespace mimo::cuda {

inline void drafter_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw Error(ErrorCode::kDevice,
                fmt::format("GPU drafter, {}: {}", what, cudaGetErrorString(err)));
  }
}

// A device buffer of at least `bytes`, reallocated (contents dropped) when too small.
inline float* ensure_bytes(DeviceBuffer& buffer, std::size_t bytes) {
  if (buffer.bytes() < bytes) buffer = DeviceBuffer(std::max<std::size_t>(bytes, 256));
  return buffer.as<float>();
}

struct GpuDrafter::Impl {
  const model::DrafterConfig& config;
  const model::ModelConfig& target;
  const DeviceModel& target_device;
  int block = 0;
  cudaStream_t stream = nullptr;
  DeviceArena arena;
  DeviceLinear fc;
  const float* context_norm = nullptr;
  const float* final_norm = nullptr;
  const float* mask_embedding = nullptr;  // [hidden] input of the mask slots, or null
  const float* inv_freq = nullptr;
  std::vector<DrafterLayer> layers;
  // Context cache: positions ascending (host copy for lookups, device copy for the mask), and
  // per layer keys [capacity, kv, hd] / values [capacity, kv, vhd]; the first `rows` are valid.
  std::vector<std::int64_t> positions;
  DeviceBuffer device_positions;
  std::vector<DeviceBuffer> keys, values;
  std::int64_t capacity = 0;
  // Scratch of the context projection (grows with the rows of one call) and of the block.
  DeviceBuffer features, ctx, ctx_k, ctx_v, ctx_pos;
  DeviceBuffer x, h, delta, q, k, v, heads, gate, up, act, logits, ids, block_pos, drafts;
  DeviceBuffer step_inputs;
  tiles::DrafterStepInputs* host_inputs = nullptr;  // pinned
  int* host_drafts = nullptr;                       // pinned, block - 1 ids
  bool use_graph = true;
  cudaGraphExec_t graph = nullptr;
  // Device context updates (add_device_context): the cache row they append at, in device memory,
  // and one graph per row count 1 .. block (index = rows), captured on first use.
  DeviceBuffer append_at;
  std::vector<cudaGraphExec_t> context_graphs;
  // The persistent passes (drafter_block_pass / drafter_context_pass): their weights and
  // geometry, filled once when the drafter's shapes allow them (pass_ok), the buffer pointers
  // refreshed before each launch; x2 is the second residual buffer, pass_barrier their counter.
  bool use_pass = true;
  bool pass_ok = false;
  tiles::DrafterPassArgs pass{};
  DeviceBuffer x2, pass_barrier;

  Impl(const model::DrafterConfig& c, const model::ModelConfig& t, const DeviceModel& d, int b)
      : config(c), target(t), target_device(d), block(b) {}

  bool sliding(int layer) const {
    if (!config.sliding_window) return false;
    if (config.layer_types.empty()) return true;
    return config.layer_types[layer] == model::AttentionKind::kSliding;
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
        drafter_check(cudaMemcpyAsync(bigger.get(), buffer.get(), std::size_t(valid) * row_bytes,
                                      cudaMemcpyDeviceToDevice, stream),
                      "context cache growth");
      }
      drafter_check(cudaStreamSynchronize(stream), "context cache growth");
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

  // The passes' arguments with today's buffers (the cache and the context scratch move when they
  // grow; the graphs that captured older ones are dropped then).
  const tiles::DrafterPassArgs& pass_args() {
    for (int l = 0; l < config.num_layers; ++l) {
      pass.layers[l].keys = keys[l].as<float>();
      pass.layers[l].values = values[l].as<float>();
      pass.layers[l].window = sliding(l) ? *config.sliding_window : -1;
    }
    pass.inputs = static_cast<const tiles::DrafterStepInputs*>(step_inputs.get());
    pass.context_positions = device_positions.as<int>();
    pass.cache_positions = device_positions.as<int>();
    pass.features = features.as<float>();
    pass.feature_positions = ctx_pos.as<int>();
    pass.append_at = append_at.as<int>();
    pass.x[0] = x.as<float>();
    pass.x[1] = x2.as<float>();
    pass.delta = delta.as<float>();
    pass.h = h.as<float>();
    pass.q = q.as<float>();
    pass.k = k.as<float>();
    pass.v = v.as<float>();
    pass.heads_out = heads.as<float>();
    pass.act = act.as<float>();
    pass.ctx = ctx.as<float>();
    pass.barrier = static_cast<unsigned*>(pass_barrier.get());
    return pass;
  }

  // Block scratch, allocated once (a captured graph keeps these addresses).
  void allocate_block_scratch() {
    const std::size_t b = block, hidden = config.hidden_size, inter = config.intermediate_size;
    const std::size_t heads_n = config.num_heads;
    ensure_bytes(ids, b * sizeof(int));
    ensure_bytes(block_pos, b * sizeof(int));
    ensure_bytes(x, b * hidden * 4);
    ensure_bytes(x2, b * hidden * 4);
    ensure_bytes(pass_barrier, sizeof(unsigned));
    ensure_bytes(h, b * hidden * 4);
    ensure_bytes(delta, b * hidden * 4);
    ensure_bytes(q, b * heads_n * config.head_dim * 4);
    ensure_bytes(k, b * kv_width() * 4);
    ensure_bytes(v, b * v_width() * 4);
    ensure_bytes(heads, b * heads_n * config.v_head_dim * 4);
    ensure_bytes(gate, b * inter * 4);
    ensure_bytes(up, b * inter * 4);
    ensure_bytes(act, b * inter * 4);
    ensure_bytes(logits, (b - 1) * std::size_t(target.vocab_size) * 4);
    ensure_bytes(drafts, b * sizeof(int));
    ensure_bytes(step_inputs, sizeof(tiles::DrafterStepInputs));
    ensure_bytes(append_at, sizeof(int));
    context_graphs.assign(block + 1, nullptr);
    drafter_check(cudaHostAlloc(reinterpret_cast<void**>(&host_inputs),
                                sizeof(tiles::DrafterStepInputs), cudaHostAllocDefault),
                  "pinned step inputs");
    drafter_check(cudaHostAlloc(reinterpret_cast<void**>(&host_drafts), b * sizeof(int),
                                cudaHostAllocDefault),
                  "pinned drafts");
  }

  // Issues the block forward for the inputs in host_inputs (pinned): the final-normed hidden
  // states end in `h`, the argmax of the target lm_head on rows 1 .. block-1 in host_drafts.
  // Nothing here synchronises or allocates, so it can be captured into a graph.
  void issue_block() {
    const int b = block, hidden = config.hidden_size;
    auto* inputs = static_cast<tiles::DrafterStepInputs*>(step_inputs.get());
    drafter_check(cudaMemcpyAsync(inputs, host_inputs, sizeof(tiles::DrafterStepInputs),
                                  cudaMemcpyHostToDevice, stream),
                  "step inputs upload");
    if (use_pass && pass_ok) {
      drafter_block_pass(pass_args(), stream);
    } else {
      issue_block_ops(inputs);
    }
    apply(target_device.lm_head, h.as<float>() + hidden, b - 1, logits.as<float>(), stream);
    argmax(logits.as<float>(), b - 1, target.vocab_size, drafts.as<int>(), stream);
    drafter_check(cudaMemcpyAsync(host_drafts, drafts.get(), (b - 1) * sizeof(int),
                                  cudaMemcpyDeviceToHost, stream),
                  "drafts download");
  }

  // Checks the rows' positions follow the cache, makes room for them and sizes the context
  // scratch (growth waits for the stream, where earlier calls may still read the old buffers,
  // and drops the context graphs, which hold their addresses).
  void begin_context(std::int64_t first_position, std::int64_t rows) {
    if (!positions.empty() && first_position <= positions.back()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("GPU DFlash drafter: context position {} is not after the cached {}",
                              first_position, positions.back()));
    }
    reserve(static_cast<std::int64_t>(positions.size()) + rows);
    const std::size_t r = rows;
    const auto grow = [&](DeviceBuffer& buffer, std::size_t bytes) {
      if (buffer.bytes() >= bytes) return;
      drafter_check(cudaStreamSynchronize(stream), "context scratch growth");
      drop_context_graphs();
      ensure_bytes(buffer, bytes);
    };
    grow(features, r * fc.cols * 4);
    grow(ctx, r * config.hidden_size * 4);
    grow(ctx_k, r * kv_width() * 4);
    grow(ctx_v, r * v_width() * 4);
    grow(ctx_pos, r * sizeof(int));
  }

  // Enqueues the context pass of n rows whose features and positions are in `features` /
  // `ctx_pos`: fc, context norm, per layer k / v projections, k_norm and RoPE, appended to the
  // caches at the row in `append_at` (nothing depends on host values but n: it can be captured
  // once per n).
  void issue_context(int n) {
    if (use_pass && pass_ok && n <= tiles::kMaxDrafterPassRows) {
      drafter_context_pass(pass_args(), n, stream);
    } else {
      issue_context_ops(n);
    }
  }

  // The op-by-op forms (gpu_drafter_ops.cpp): the block forward, the context update, and
  // their pieces.
  void issue_block_ops(const tiles::DrafterStepInputs* inputs);
  void issue_context_ops(int n);
  void norm_and_rope(float* data, int n, int n_heads, const float* weight, const int* pos);

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
    const std::int64_t n_ctx =
        std::lower_bound(positions.begin(), positions.end(), anchor_position) - positions.begin();
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
      drafter_check(cudaGraphLaunch(graph, stream), "drafter graph launch");
    }
    drafter_check(cudaStreamSynchronize(stream), "drafter block forward");
  }
};

}  // namespace mimo::cuda
