// GpuDrafter (see gpu_drafter.hpp): weights, the context cache, graphs, and the forward of
// lib/spec/dflash_drafter.cpp as the persistent passes (cuda/kernels/drafter_ops.hpp) or op by op
// (gpu_drafter_ops.cpp), then the target's lm_head and an argmax.
#include "cuda/stream/gpu_drafter.hpp"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "cuda/kernels/drafter_ops.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/stream/drafter_pass_setup.hpp"
#include "cuda/stream/gpu_drafter_impl.hpp"
#include "mimo/error.hpp"
#include "model/rope_table.hpp"

namespace mimo::cuda {
namespace {

const float* upload_floats(const std::vector<float>& v, DeviceArena& arena) {
  if (v.empty()) return nullptr;
  return static_cast<const float*>(arena.upload(v.data(), v.size() * sizeof(float)));
}

}  // namespace

GpuDrafter::GpuDrafter(const model::DrafterConfig& config, const spec::DrafterWeights& weights,
                       const model::ModelConfig& target, const DeviceModel& target_device,
                       int block_size)
    : impl_(std::make_unique<Impl>(config, target, target_device, block_size)) {
  Impl& m = *impl_;
  if (block_size < 2) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("GPU drafter: block size {} must be at least 2", block_size));
  }
  if (config.head_dim > tiles::kDrafterMaxHeadDim ||
      config.v_head_dim > tiles::kDrafterMaxHeadDim) {
    throw Error(ErrorCode::kUnsupported,
                fmt::format("GPU drafter: head dims {} / {} (the attention tile takes at most {})",
                            config.head_dim, config.v_head_dim, tiles::kDrafterMaxHeadDim));
  }
  drafter_check(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  m.fc = upload_device_linear(weights.fc, m.arena);
  m.context_norm = upload_floats(weights.context_norm, m.arena);
  m.final_norm = upload_floats(weights.final_norm, m.arena);
  if (!weights.mask_embedding.empty()) {
    m.mask_embedding = upload_floats(weights.mask_embedding, m.arena);
  }
  m.inv_freq =
      upload_floats(model::rope_inv_freq(config.frequency_dim(), config.rope_theta), m.arena);
  for (const spec::DrafterLayerWeights& lw : weights.layers) {
    DrafterLayer d;
    d.input_norm = upload_floats(lw.input_norm, m.arena);
    d.post_attention_norm = upload_floats(lw.post_attention_norm, m.arena);
    d.q_norm = upload_floats(lw.q_norm, m.arena);
    d.k_norm = upload_floats(lw.k_norm, m.arena);
    d.sinks = upload_floats(lw.sink, m.arena);
    d.q = upload_device_linear(lw.q, m.arena);
    d.k = upload_device_linear(lw.k, m.arena);
    d.v = upload_device_linear(lw.v, m.arena);
    d.o = upload_device_linear(lw.o, m.arena);
    d.gate = upload_device_linear(lw.mlp.gate, m.arena);
    d.up = upload_device_linear(lw.mlp.up, m.arena);
    d.down = upload_device_linear(lw.mlp.down, m.arena);
    m.layers.push_back(d);
  }
  DrafterGlobals globals{&m.fc, m.context_norm, m.final_norm, m.mask_embedding, m.inv_freq};
  m.pass_ok = fill_drafter_pass(config, block_size, target_device, m.layers, globals, m.pass);
  // MIMO_DRAFTER_PASSES=0 launches the drafter op by op (an A/B switch for mimo-bench).
  const char* passes = std::getenv("MIMO_DRAFTER_PASSES");
  m.use_pass = passes == nullptr || std::string(passes) != "0";
  m.keys.resize(config.num_layers);
  m.values.resize(config.num_layers);
  m.reserve(256);
  m.allocate_block_scratch();
}

GpuDrafter::~GpuDrafter() {
  Impl& m = *impl_;
  if (m.stream != nullptr) cudaStreamSynchronize(m.stream);
  m.drop_graph();
  m.drop_context_graphs();
  if (m.host_inputs != nullptr) cudaFreeHost(m.host_inputs);
  if (m.host_drafts != nullptr) cudaFreeHost(m.host_drafts);
  if (m.stream != nullptr) cudaStreamDestroy(m.stream);
}

void GpuDrafter::set_use_graph(bool on) {
  impl_->use_graph = on;
}

bool GpuDrafter::set_persistent_passes(bool on) {
  Impl& m = *impl_;
  drafter_check(cudaStreamSynchronize(m.stream), "drafter pass switch");
  m.use_pass = on;
  m.drop_graph();  // the graphs hold the other form's launches
  m.drop_context_graphs();
  return on && m.pass_ok;
}

int GpuDrafter::block_size() const {
  return impl_->block;
}

int GpuDrafter::num_layers() const {
  return impl_->config.num_layers;
}

std::int64_t GpuDrafter::context_rows() const {
  return static_cast<std::int64_t>(impl_->positions.size());
}

void GpuDrafter::add_context(std::int64_t first_position, const float* features,
                             std::int64_t rows) {
  Impl& m = *impl_;
  if (rows <= 0) return;
  m.begin_context(first_position, rows);
  const int n = static_cast<int>(rows);
  drafter_check(cudaMemcpyAsync(m.features.get(), features, std::size_t(rows) * m.fc.cols * 4,
                                cudaMemcpyHostToDevice, m.stream),
                "features upload");
  // From here on as a device update (the same kernels, so the same bits as add_device_context).
  drafter_context_inputs(m.ctx_pos.as<int>(), m.append_at.as<int>(),
                         static_cast<int>(first_position), n, static_cast<int>(m.positions.size()),
                         m.stream);
  m.issue_context(n);
  // features is pageable host memory read by the copy above: wait for it.
  drafter_check(cudaStreamSynchronize(m.stream), "context projection");
  for (int i = 0; i < n; ++i) m.positions.push_back(first_position + i);
}

void GpuDrafter::add_device_context(std::int64_t first_position, const float* features,
                                    std::int64_t rows, void* ready, void* released) {
  Impl& m = *impl_;
  if (rows <= 0) return;
  m.begin_context(first_position, rows);
  // Stream order only: the copy waits for the step that wrote the taps, and the step that
  // rewrites them waits for `released`; the host goes on at once.
  if (ready != nullptr) {
    drafter_check(cudaStreamWaitEvent(m.stream, static_cast<cudaEvent_t>(ready), 0),
                  "wait for the taps");
  }
  drafter_check(cudaMemcpyAsync(m.features.get(), features, std::size_t(rows) * m.fc.cols * 4,
                                cudaMemcpyDeviceToDevice, m.stream),
                "features copy");
  if (released != nullptr) {
    drafter_check(cudaEventRecord(static_cast<cudaEvent_t>(released), m.stream), "taps released");
  }
  const int n = static_cast<int>(rows);
  drafter_context_inputs(m.ctx_pos.as<int>(), m.append_at.as<int>(),
                         static_cast<int>(first_position), n, static_cast<int>(m.positions.size()),
                         m.stream);
  // A verify step's rows (n <= block) replay the graph of their count; longer updates (a
  // prompt) are launched op by op.
  if (m.use_graph && n <= m.block) {
    cudaGraphExec_t& g = m.context_graphs[n];
    if (g == nullptr) {
      const auto issue = [&m, n] { m.issue_context(n); };
      g = capture_graph(m.stream, issue, "drafter context");
    }
    drafter_check(cudaGraphLaunch(g, m.stream), "drafter context graph launch");
  } else {
    m.issue_context(n);
  }
  for (int i = 0; i < n; ++i) m.positions.push_back(first_position + i);
}

void GpuDrafter::truncate(std::int64_t length) {
  Impl& m = *impl_;
  const auto keep = std::lower_bound(m.positions.begin(), m.positions.end(), length);
  m.positions.erase(keep, m.positions.end());
}

namespace {
// The context's rows of one cache buffer (`width` floats a row), after the drafter's stream.
template <class Impl, class Buffer>
std::vector<float> download_context(const Impl& m, const Buffer& rows, std::size_t width,
                                    const char* what) {
  std::vector<float> out(m.positions.size() * width);
  drafter_check(cudaStreamSynchronize(m.stream), what);
  copy_to_host(out.data(), rows.get(), out.size() * 4);
  return out;
}
}  // namespace

std::vector<float> GpuDrafter::context_keys(int layer) const {
  return download_context(*impl_, impl_->keys.at(layer), impl_->kv_width(), "context keys");
}

std::vector<float> GpuDrafter::context_values(int layer) const {
  return download_context(*impl_, impl_->values.at(layer), impl_->v_width(), "context values");
}

std::vector<float> GpuDrafter::block_hidden(std::int32_t anchor, std::int64_t anchor_position) {
  Impl& m = *impl_;
  m.run_block(anchor, anchor_position);
  std::vector<float> out(std::size_t(m.block) * m.config.hidden_size);
  copy_to_host(out.data(), m.h.get(), out.size() * 4);
  return out;
}

std::vector<std::int32_t> GpuDrafter::propose(std::int32_t anchor, std::int64_t anchor_position,
                                              int count) {
  Impl& m = *impl_;
  count = std::min(count, m.block - 1);
  if (count <= 0) return {};
  m.run_block(anchor, anchor_position);
  return std::vector<std::int32_t>(m.host_drafts, m.host_drafts + count);
}

}  // namespace mimo::cuda
