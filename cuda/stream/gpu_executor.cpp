// GpuExecutor: the executor envelope (exec/step_envelope.hpp) around the stream runner, which
// issues each chunk's step program kernel by kernel on one stream; steps that fit one chunk
// (decode, verify blocks) are replayed from a CUDA graph captured per step shape.
#include "cuda/stream/gpu_executor.hpp"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <utility>

#include "cuda/engine/engine_runner.hpp"
#include "cuda/kernels/cuda_check.hpp"
#include "cuda/kernels/step_ops.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/runtime/device_query.hpp"
#include "cuda/runtime/gpu_state.hpp"
#include "cuda/stream/stream_runner.hpp"
#include "exec/step_envelope.hpp"
#include "mimo/error.hpp"
#include "program/program_cache.hpp"

namespace mimo::cuda {

struct GpuExecutor::Backend {
  const model::ModelConfig& config;
  std::unique_ptr<DeviceModel> model;
  cudaStream_t stream = nullptr;
  int device = 0;  // current when the executor was made
  std::string name;
  bool use_graphs = true;
  bool profiling = false;
  int cancel_after_chunks = -1;
  StepStats last;
  // Profiling: an event after each op, named by the op it ends.
  cudaEvent_t profile_start = nullptr;
  std::vector<std::pair<std::string, cudaEvent_t>> marks;
  std::mutex mutex;

  StreamRunner runner;
  program::ProgramCache programs;  // one program per chunk shape, planned on first use
  std::unique_ptr<engine::EngineRunner> engine;  // set: the persistent engine issues steps

  Backend(const model::ModelConfig& c, std::unique_ptr<DeviceModel> m)
      : config(c), model(std::move(m)), runner(c, *model), programs(c) {}

  void mark(const char* op, bool capturing) {
    if (!profiling || capturing) return;
    cudaEvent_t e;
    check(cudaEventCreate(&e), "cudaEventCreate");
    check(cudaEventRecord(e, stream), "cudaEventRecord");
    marks.emplace_back(op, e);
  }

  // Issues the ops of one chunk's program; its ids and positions are already in s.scratch.
  // Tap copies go to scratch.taps, the logits to scratch.logits, samples to s.samplers.
  void issue_chunk(GpuState& s, const program::StepProgram& program,
                   const exec::StepOptions& options, bool capturing) {
    if (profiling && !capturing && marks.empty()) {
      check(cudaEventRecord(profile_start, stream), "cudaEventRecord");
    }
    const StreamRunner::Mark mark_op = [&](const char* op) { mark(op, capturing); };
    if (engine) {
      if (!capturing) exec::throw_if_cancelled(options);
      engine->issue(
          program, s, stream,
          [&](int i) { runner.issue(program.ops[i], program.shape, s, stream, mark_op); }, mark_op,
          capturing);
      return;
    }
    for (const program::Op& op : program.ops) {
      if (!capturing && program::starts_layer(op)) exec::throw_if_cancelled(options);
      runner.issue(op, program.shape, s, stream, mark_op);
    }
  }

  // After an engine step: a watchdog fault fails it, and the graphs that hold its plans go (the
  // next step plans afresh).
  void check_engine(GpuState& s) {
    try {
      engine->check_fault();
    } catch (...) {
      s.drop_step_graphs();
      throw;
    }
  }

  // scratch.taps holds n_taps hidden rows for each of `tokens` tokens. Captured step graphs
  // point at it, so growing it drops them (after a reader of device taps is done with it).
  void ensure_taps(GpuState& s, int tokens, int n_taps) {
    const std::size_t bytes = std::size_t(tokens) * n_taps * config.hidden_size * sizeof(float);
    if (n_taps == 0 || s.scratch.taps.bytes() >= bytes) return;
    s.sync_taps_released();
    s.drop_step_graphs();
    s.scratch.taps = DeviceBuffer(bytes);
  }

  // Records one single-chunk step of `n` tokens (ids and positions read from step_io, logits and
  // taps written to step_logits / step_taps; with device_taps the taps stay in scratch.taps) and
  // instantiates it.
  cudaGraphExec_t capture_step(GpuState& s, const program::StepProgram& program,
                               const exec::StepOptions& options, bool device_taps) {
    GpuState::Scratch& b = s.scratch;
    const int n = program.shape.tokens;
    const int max_step = s.max_step_tokens(), n_taps = int(options.hidden_taps.size());
    const std::size_t vocab = config.vocab_size, hidden = config.hidden_size;
    check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
          "cudaStreamBeginCapture");
    cudaGraph_t graph = nullptr;
    try {
      check(cudaMemcpyAsync(b.tokens.get(), s.step_io.as<int>(), n * sizeof(int),
                            cudaMemcpyHostToDevice, stream),
            "token upload");
      check(cudaMemcpyAsync(b.positions.get(), s.step_io.as<int>() + max_step, n * sizeof(int),
                            cudaMemcpyHostToDevice, stream),
            "position upload");
      issue_chunk(s, program, options, true);
      if (program.shape.sample_mode == 0) {
        check(cudaMemcpyAsync(s.step_logits.as<float>(), b.logits.get(),
                              (options.all_logits ? n : 1) * vocab * sizeof(float),
                              cudaMemcpyDeviceToHost, stream),
              "logits download");
      }
      if (n_taps > 0 && !device_taps) {
        check(cudaMemcpyAsync(s.step_taps.as<float>(), b.taps.get(),
                              std::size_t(n) * n_taps * hidden * sizeof(float),
                              cudaMemcpyDeviceToHost, stream),
              "hidden taps download");
      }
    } catch (...) {
      cudaStreamEndCapture(stream, &graph);
      if (graph != nullptr) cudaGraphDestroy(graph);
      throw;
    }
    check(cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t err = cudaGraphInstantiateWithFlags(&exec, graph, 0);
    cudaGraphDestroy(graph);
    check(err, "cudaGraphInstantiate of a step");
    return exec;
  }

  // A step that fits one chunk, replayed from a graph captured for its shape on first use: no
  // host issue time (a verify block of a speculative step costs one launch).
  exec::StepOutput run_step_graph(GpuState& s, std::span<const std::int32_t> tokens,
                                  const exec::StepOptions& options,
                                  std::chrono::steady_clock::time_point start) {
    const int n = static_cast<int>(tokens.size()), max_step = s.max_step_tokens();
    const int n_taps = static_cast<int>(options.hidden_taps.size());
    const bool device_taps = options.taps_on_device && n_taps > 0;
    const std::size_t vocab = config.vocab_size, hidden = config.hidden_size;
    ensure_taps(s, max_step, n_taps);
    const std::size_t taps_bytes = std::size_t(max_step) * n_taps * hidden * sizeof(float);
    if (s.step_io.bytes() == 0) {
      s.step_io = PinnedBuffer(std::size_t(2) * max_step * sizeof(int));
      s.step_logits = PinnedBuffer(std::size_t(max_step) * vocab * sizeof(float));
    }
    if (!device_taps && s.step_taps.bytes() < taps_bytes) {
      s.drop_step_graphs();
      s.step_taps = PinnedBuffer(taps_bytes);
    }
    const int sample = stage_sampling(s, options, n, max_step);
    const program::StepProgram& program = programs.get(exec::chunk_shape(options, n, true, sample));
    const std::uint64_t runner_id = engine ? engine->id() : 0;
    auto found = std::find_if(s.step_graphs.begin(), s.step_graphs.end(), [&](const auto& g) {
      return g.shape == program.shape && g.engine == runner_id && g.device_taps == device_taps;
    });
    if (found == s.step_graphs.end()) {
      // The engine's plans upload and synchronise: never inside a capture.
      std::shared_ptr<const void> plans = engine ? engine->prepare(program, s) : nullptr;
      s.step_graphs.push_back({program.shape, capture_step(s, program, options, device_taps),
                               runner_id, std::move(plans), device_taps});
      found = s.step_graphs.end() - 1;
    }
    int* io = s.step_io.as<int>();
    for (int i = 0; i < n; ++i) {
      io[i] = tokens[i];
      io[max_step + i] = static_cast<int>(s.length() + i);
    }
    check(cudaGraphLaunch(found->exec, stream), "cudaGraphLaunch");
    last.host_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    // The outputs' fresh pages are faulted in while the GPU runs (a verify block's logits are
    // megabytes: ~0.1 ms of page faults otherwise), leaving one copy after the step.
    exec::StepOutput out;
    if (sample == 0) out.logits.resize((options.all_logits ? n : 1) * vocab);
    out.hidden.resize(n_taps > 0 && !device_taps ? std::size_t(n) * n_taps * hidden : 0);
    if (device_taps) out.device_taps = s.hand_out_taps(n, stream);
    check(cudaStreamSynchronize(stream), "forward step");
    if (engine) check_engine(s);
    std::copy_n(s.step_logits.as<float>(), out.logits.size(), out.logits.begin());
    std::copy_n(s.step_taps.as<float>(), out.hidden.size(), out.hidden.begin());
    s.commit(n);
    if (sample > 0) take_samples(s, out, options.all_logits ? n : 1, options.all_logits);
    return out;
  }

  exec::StepOutput run_direct(GpuState& s, std::span<const std::int32_t> tokens,
                              const exec::StepOptions& options,
                              std::chrono::steady_clock::time_point start) {
    const std::int64_t total = static_cast<std::int64_t>(tokens.size());
    const int chunk = exec::chunk_tokens(options, s);
    const int n_taps = static_cast<int>(options.hidden_taps.size());
    const int vocab = config.vocab_size, hidden = config.hidden_size;
    // Device taps need the whole step in scratch.taps: one chunk.
    const bool device_taps = options.taps_on_device && n_taps > 0 && total <= chunk;
    exec::StepOutput out;
    out.logits.resize((options.all_logits ? total : 1) * vocab);
    if (!device_taps) out.hidden.resize(total * n_taps * hidden);
    ensure_taps(s, chunk, n_taps);
    if (s.staging.bytes() < std::size_t(total) * 2 * sizeof(int)) {
      s.staging = PinnedBuffer(std::size_t(total) * 2 * sizeof(int));
    }
    int* ids = s.staging.as<int>();
    int* positions = ids + total;
    for (std::int64_t i = 0; i < total; ++i) {
      ids[i] = tokens[i];
      positions[i] = static_cast<int>(s.length() + i);
    }
    const std::int64_t saved_length = s.length(), saved_floor = s.ring_floor();
    const int saved_slots = static_cast<int>(std::min<std::int64_t>(total, s.ring_capacity()));
    const auto copy_rings = [&](bool to_ring) {
      copy_ring_slots(s.ring_k(), s.undo_k(), s.ring_layers(), static_cast<int>(s.ring_capacity()),
                      s.ring_k_width(), saved_length, saved_slots, to_ring, stream);
      copy_ring_slots(s.ring_v(), s.undo_v(), s.ring_layers(), static_cast<int>(s.ring_capacity()),
                      s.ring_v_width(), saved_length, saved_slots, to_ring, stream);
    };
    const int fail_after = std::exchange(cancel_after_chunks, -1);
    const int sample = stage_sampling(s, options, total, chunk);
    int chunks = 0;
    const auto run_chunk = [&](std::int64_t begin, int n, bool last_chunk) {
      if (chunks++ == fail_after) throw Error(ErrorCode::kCancelled, "forward: cancelled (test)");
      check(cudaMemcpyAsync(s.scratch.tokens.get(), ids + begin, n * sizeof(int),
                            cudaMemcpyHostToDevice, stream),
            "token upload");
      check(cudaMemcpyAsync(s.scratch.positions.get(), positions + begin, n * sizeof(int),
                            cudaMemcpyHostToDevice, stream),
            "position upload");
      // A sampled all-logits step is one chunk; a last-row sample belongs to the last chunk.
      const int chunk_sample = last_chunk ? sample : 0;
      issue_chunk(s, programs.get(exec::chunk_shape(options, n, last_chunk, chunk_sample)), options,
                  false);
      if (last_chunk) {
        last.host_us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                .count();
      }
      if (chunk_sample == 0 && options.all_logits) {
        check(
            cudaMemcpyAsync(out.logits.data() + begin * vocab, s.scratch.logits.get(),
                            std::size_t(n) * vocab * sizeof(float), cudaMemcpyDeviceToHost, stream),
            "logits download");
      } else if (chunk_sample == 0 && last_chunk) {
        check(cudaMemcpyAsync(out.logits.data(), s.scratch.logits.get(), vocab * sizeof(float),
                              cudaMemcpyDeviceToHost, stream),
              "logits download");
      }
      if (n_taps > 0 && !device_taps) {
        check(cudaMemcpyAsync(out.hidden.data() + begin * n_taps * hidden, s.scratch.taps.get(),
                              std::size_t(n) * n_taps * hidden * sizeof(float),
                              cudaMemcpyDeviceToHost, stream),
              "hidden taps download");
      }
      s.commit(n);
      if (last_chunk) {
        check(cudaStreamSynchronize(stream), "forward step");
        if (engine) check_engine(s);
      }
    };
    // A failed or cancelled step puts back the ring slots it overwrote and its length.
    const auto undo = [&] {
      try {
        copy_rings(true);
        cudaStreamSynchronize(stream);
      } catch (...) {
      }
      s.restore(saved_length, saved_floor);
    };
    copy_rings(false);
    exec::run_chunks(total, chunk, run_chunk, undo);
    if (device_taps) out.device_taps = s.hand_out_taps(total, stream);
    if (sample > 0) {
      take_samples(s, out, options.all_logits ? static_cast<int>(total) : 1, options.all_logits);
    }
    return out;
  }

  // When the step should sample on the device: stages one request a sampled row (the last row,
  // or every row of an all-logits step of at most `max_rows` tokens) and returns 1 + their
  // common mode; 0 to return logits instead (no request, a request the device samplers cannot
  // hold, or rows of different modes).
  int stage_sampling(GpuState& s, const exec::StepOptions& options, std::int64_t tokens,
                     int max_rows) {
    std::vector<const exec::SampleRequest*> rows;
    if (options.all_logits) {
      if (options.sample_rows == nullptr || tokens > max_rows ||
          static_cast<std::int64_t>(options.sample_rows->size()) != tokens) {
        return 0;
      }
      for (const exec::SampleRequest& r : *options.sample_rows) rows.push_back(&r);
    } else {
      if (options.sample == nullptr) return 0;
      rows.push_back(options.sample);
    }
    const DeviceSampler::Mode mode = DeviceSampler::mode_of(*rows.front());
    while (s.samplers.size() < rows.size()) {
      s.samplers.push_back(std::make_unique<DeviceSampler>(config.vocab_size));
    }
    if (rows.size() > 1) s.sample_lanes(static_cast<int>(rows.size()));  // made before a capture
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (!s.samplers[i]->fits(*rows[i]) || DeviceSampler::mode_of(*rows[i]) != mode) return 0;
    }
    for (std::size_t i = 0; i < rows.size(); ++i) s.samplers[i]->stage(*rows[i]);
    return 1 + static_cast<int>(mode);
  }

  // After a sampling step: its results (and no logits), or, when the device declined a row, the
  // logits of every row for the host.
  void take_samples(GpuState& s, exec::StepOutput& out, int rows, bool all_logits) {
    for (int i = 0; i < rows; ++i) {
      std::optional<SampleResult> r = s.samplers[i]->result();
      if (!r) {
        out.sampled.reset();
        out.sampled_rows.clear();
        out.logits.resize(std::size_t(rows) * config.vocab_size);
        copy_to_host(out.logits.data(), s.scratch.logits.get(), out.logits.size() * sizeof(float));
        return;
      }
      if (all_logits) {
        out.sampled_rows.push_back(std::move(*r));
      } else {
        out.sampled = std::move(r);
      }
    }
    out.logits.clear();
  }
};

GpuExecutor::GpuExecutor(const model::ModelConfig& config, std::unique_ptr<DeviceModel> model)
    : backend_(std::make_unique<Backend>(config, std::move(model))) {
  check(cudaStreamCreateWithFlags(&backend_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaEventCreate(&backend_->profile_start), "cudaEventCreate");
  backend_->device = current_device();
  backend_->name = "cuda:0 " + describe_devices();
}

GpuExecutor::~GpuExecutor() {
  for (auto& [op, e] : backend_->marks) cudaEventDestroy(e);
  cudaEventDestroy(backend_->profile_start);
  cudaStreamDestroy(backend_->stream);
}

std::unique_ptr<exec::ExecutorState> GpuExecutor::new_state(const exec::StateLimits& limits) const {
  return std::make_unique<GpuState>(backend_->config, limits);
}

exec::StepOutput GpuExecutor::run(exec::ExecutorState& state, std::span<const std::int32_t> tokens,
                                  const exec::StepOptions& options) const {
  const auto start = std::chrono::steady_clock::now();
  auto* s = dynamic_cast<GpuState*>(&state);
  if (s == nullptr) {
    throw Error(ErrorCode::kInternal, "GpuExecutor::run: state belongs to another executor");
  }
  exec::validate_step(backend_->config, *s, tokens, options);
  std::lock_guard<std::mutex> lock(backend_->mutex);
  exec::throw_if_cancelled(options);
  // The last step's device taps may still be read on another stream: this step rewrites them.
  s->wait_taps_released(backend_->stream);
  backend_->last = StepStats{};
  backend_->last.tokens = static_cast<int>(tokens.size());
  // Graphs for steps of up to max_step_tokens (decode, verify blocks, short prompts); longer
  // prompts launch their chunks directly (GpuState: step graphs).
  if (backend_->use_graphs && backend_->cancel_after_chunks < 0) {
    const auto n = static_cast<std::int64_t>(tokens.size());
    if (n <= s->max_step_tokens() && (options.max_chunk <= 0 || n <= options.max_chunk)) {
      backend_->last.graph = true;
      return backend_->run_step_graph(*s, tokens, options, start);
    }
  }
  return backend_->run_direct(*s, tokens, options, start);
}

std::vector<float> GpuExecutor::fetch_logits(const exec::ExecutorState& state, int row) const {
  const auto* s = dynamic_cast<const GpuState*>(&state);
  if (s == nullptr) {
    throw Error(ErrorCode::kInternal,
                "GpuExecutor::fetch_logits: state belongs to another executor");
  }
  if (row < 0 || row >= s->max_step_tokens()) {
    throw Error(ErrorCode::kInternal, fmt::format("GpuExecutor::fetch_logits: row {} outside the "
                                                  "step's {} rows",
                                                  row, s->max_step_tokens()));
  }
  std::lock_guard<std::mutex> lock(backend_->mutex);
  const std::size_t vocab = backend_->config.vocab_size;
  std::vector<float> logits(vocab);
  copy_to_host(logits.data(), s->scratch.logits.as<float>() + std::size_t(row) * vocab,
               vocab * sizeof(float));
  return logits;
}

std::string GpuExecutor::device_name() const {
  return backend_->name;
}

void GpuExecutor::set_use_graphs(bool on) {
  backend_->use_graphs = on;
}
void GpuExecutor::set_engine(bool persistent) {
  std::lock_guard<std::mutex> lock(backend_->mutex);
  if (!persistent) {
    backend_->engine.reset();
  } else if (!backend_->engine) {
    backend_->engine = std::make_unique<engine::EngineRunner>(backend_->config, *backend_->model);
  }
}
engine::EngineRunner* GpuExecutor::engine_runner() const {
  return backend_->engine.get();
}
void GpuExecutor::set_profiling(bool on) {
  backend_->profiling = on;
}
void GpuExecutor::cancel_after_chunks_for_testing(int chunks) {
  backend_->cancel_after_chunks = chunks;
}
StepStats GpuExecutor::last_step() const {
  return backend_->last;
}
const DeviceModel& GpuExecutor::device_model() const {
  return *backend_->model;
}

int GpuExecutor::draft_device() const {
  return backend_->device;
}

std::vector<std::pair<std::string, double>> GpuExecutor::take_profile() {
  check(cudaStreamSynchronize(backend_->stream), "profile");
  std::vector<std::pair<std::string, double>> totals;
  cudaEvent_t previous = backend_->profile_start;
  for (auto& [op, e] : backend_->marks) {
    float ms = 0;
    // A chunk restarts at profile_start: an event earlier than its predecessor begins anew.
    if (cudaEventElapsedTime(&ms, previous, e) != cudaSuccess || ms < 0) ms = 0;
    auto it = std::find_if(totals.begin(), totals.end(), [&](auto& t) { return t.first == op; });
    if (it == totals.end()) {
      totals.emplace_back(op, ms);
    } else {
      it->second += ms;
    }
    previous = e;
  }
  for (auto& [op, e] : backend_->marks) cudaEventDestroy(e);
  backend_->marks.clear();
  return totals;
}

std::vector<std::vector<int>> GpuExecutor::last_experts(const exec::ExecutorState& state,
                                                        int n_tokens) const {
  return dynamic_cast<const GpuState&>(state).chosen_experts(n_tokens);
}

std::unique_ptr<exec::Executor> make_gpu_executor(const model::ModelConfig& config,
                                                  const model::ModelWeights& weights) {
  if (device_count() == 0) {
    throw Error(ErrorCode::kDevice, "no usable CUDA device: " + describe_devices());
  }
  return std::make_unique<GpuExecutor>(config, upload_model(config, weights));
}

}  // namespace mimo::cuda
