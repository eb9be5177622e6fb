// GpuDrafter (see gpu_drafter.hpp): the drafter programs of lib/program/drafter_program.hpp (the
// passes lib/spec/dflash_drafter.cpp runs on the CPU) issued by DrafterRunner on the drafter's
// own stream, around them the context cache, the deferred rows, the graphs and the host I/O
// (the state and its operations: gpu_drafter_impl.hpp; here the public methods).
#include "cuda/stream/gpu_drafter.hpp"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "cuda/kernels/drafter_ops.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/stream/drafter_runner.hpp"
#include "cuda/stream/gpu_drafter_impl.hpp"
#include "cuda/stream/gpu_drafter_weights.hpp"
#include "cuda/stream/graph_capture.hpp"
#include "mimo/error.hpp"
#include "program/drafter_program.hpp"

namespace mimo::cuda {

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
  check(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  upload_drafter_weights(config, weights, block_size, m.w);
  program::DrafterShape block_shape;
  block_shape.block = block_size;
  block_shape.draft_rows = block_size - 1;
  block_shape.argmax = true;
  m.block_program = program::build_drafter_program(config, target.vocab_size, block_shape);
  m.keys.resize(config.num_layers);
  m.values.resize(config.num_layers);
  m.reserve(256);
  m.allocate_block_scratch();
  m.fused_reason = m.runner.fused_block_unsupported(m.block_program, m.buffers(nullptr), false);
  m.fold_reason = m.fused_reason.empty()
                      ? m.runner.fused_block_unsupported(m.block_program, m.buffers(nullptr), true)
                      : m.fused_reason;
  if (m.fused_reason.empty()) {
    try {
      m.fused_cluster =
          m.runner.fused_block_cluster(m.block_program, m.buffers(nullptr), m.fold_reason.empty());
    } catch (const Error& e) {  // no cluster fits: the op-by-op pass
      m.fused_reason = m.fold_reason = e.what();
    }
  }
  // Off by default: on an H100 the one-kernel pass is bit-exact and 1.9x slower than op by op
  // (docs/performance.md, twenty-second session). MIMO_DRAFTER_FUSED=1 (with the fold) or
  // =block (without) turns it on for measurement, as set_fused_block(true) does.
  const char* env = std::getenv("MIMO_DRAFTER_FUSED");
  const std::string mode = env != nullptr ? env : "";
  m.fused = m.fused_reason.empty() && (mode == "1" || mode == "block");
  m.fold = m.fold_reason.empty() && mode != "block";
}

GpuDrafter::~GpuDrafter() = default;

void GpuDrafter::set_use_graph(bool on) {
  impl_->use_graph = on;
}

bool GpuDrafter::set_fused_block(bool on) {
  Impl& m = *impl_;
  const bool fused = on && m.fused_reason.empty();
  if (fused != m.fused) {
    check(cudaStreamSynchronize(m.stream), "drafter pass switch");
    m.drop_graph();
    m.fused = fused;
  }
  return m.fused;
}

bool GpuDrafter::fused_block() const {
  return impl_->fused;
}

bool GpuDrafter::set_fused_context(bool on) {
  Impl& m = *impl_;
  const bool fold = on && m.fold_reason.empty();
  if (fold != m.fold) {  // the block graph holds the kernel's arguments
    check(cudaStreamSynchronize(m.stream), "drafter pass switch");
    m.drop_graph();
    m.fold = fold;
  }
  return m.fold;
}

bool GpuDrafter::fused_context() const {
  return impl_->fused && impl_->fold;
}

const std::string& GpuDrafter::fused_context_unsupported() const {
  return impl_->fold_reason;
}

const std::string& GpuDrafter::fused_block_unsupported() const {
  return impl_->fused_reason;
}

int GpuDrafter::fused_block_cluster() const {
  return impl_->fused_cluster;
}

int GpuDrafter::block_size() const {
  return impl_->block;
}

int GpuDrafter::num_layers() const {
  return impl_->config.num_layers;
}

std::int64_t GpuDrafter::context_rows() const {
  return static_cast<std::int64_t>(impl_->positions.size()) + impl_->deferred_rows;
}

void GpuDrafter::add_context(std::int64_t first_position, const float* features,
                             std::int64_t rows) {
  Impl& m = *impl_;
  if (rows <= 0) return;
  m.check_follows(first_position);
  m.flush_deferred();
  m.begin_context(rows, true);
  check(cudaMemcpyAsync(m.features.get(), features, std::size_t(rows) * m.w.fc.cols * 4,
                        cudaMemcpyHostToDevice, m.stream),
        "features upload");
  m.project(m.features.as<float>(), first_position, static_cast<int>(rows));
  // The features are pageable host memory read by the copy above: wait for it.
  check(cudaStreamSynchronize(m.stream), "context projection");
}

void GpuDrafter::add_device_context(std::int64_t first_position, const float* features,
                                    std::int64_t rows, void* ready, void* released) {
  Impl& m = *impl_;
  if (rows <= 0) return;
  m.check_follows(first_position);
  // Deferred rows stay consecutive: a gap, or rows that do not fit, project what waits first.
  if (m.deferred_rows > 0 &&
      (first_position != m.next_position() || m.deferred_rows + rows > m.deferred_capacity)) {
    m.flush_deferred();
  }
  const bool at_once = rows > m.deferred_capacity;  // a prompt's taps: projected at once
  if (at_once) m.begin_context(rows, true);
  float* staging = at_once ? m.features.as<float>()
                           : m.deferred.as<float>() + std::size_t(m.deferred_rows) * m.w.fc.cols;
  // Stream order only: the copy waits for the step that wrote the taps, and the step that
  // rewrites them waits for `released`; the host goes on at once.
  if (ready != nullptr) {
    check(cudaStreamWaitEvent(m.stream, static_cast<cudaEvent_t>(ready), 0), "wait for the taps");
  }
  check(cudaMemcpyAsync(staging, features, std::size_t(rows) * m.w.fc.cols * 4,
                        cudaMemcpyDeviceToDevice, m.stream),
        "features copy");
  if (released != nullptr) {
    check(cudaEventRecord(static_cast<cudaEvent_t>(released), m.stream), "taps released");
  }
  if (at_once) {
    m.project(staging, first_position, static_cast<int>(rows));
    return;
  }
  if (m.deferred_rows == 0) m.deferred_first = first_position;
  m.deferred_rows += static_cast<int>(rows);
  if (!m.defer) m.flush_deferred();
}

std::int64_t GpuDrafter::context_passes() const {
  return impl_->context_passes;
}

std::int64_t GpuDrafter::folded_rows() const {
  return impl_->folded_rows;
}

bool GpuDrafter::stacks_projections() const {
  return impl_->w.stacked();
}

void GpuDrafter::set_defer_context(bool on) {
  impl_->defer = on;
  if (!on) impl_->flush_deferred();
}

void GpuDrafter::truncate(std::int64_t length) {
  Impl& m = *impl_;
  if (m.deferred_rows > 0) {
    m.deferred_rows =
        static_cast<int>(std::clamp<std::int64_t>(length - m.deferred_first, 0, m.deferred_rows));
  }
  const auto keep = std::lower_bound(m.positions.begin(), m.positions.end(), length);
  m.positions.erase(keep, m.positions.end());
}

namespace {
// The context's rows of one cache buffer (`width` floats a row), after the drafter's stream.
template <class Impl, class Buffer>
std::vector<float> download_context(Impl& m, const Buffer& rows, std::size_t width,
                                    const char* what) {
  m.flush_deferred();
  std::vector<float> out(m.positions.size() * width);
  check(cudaStreamSynchronize(m.stream), what);
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

const float* GpuDrafter::device_logits(std::int32_t anchor, std::int64_t anchor_position) {
  impl_->run_block(anchor, anchor_position);
  return impl_->logits.as<float>();
}

}  // namespace mimo::cuda
