// TensorParallelExecutor: the tensor-parallel step program (program::tensor_parallel), each
// rank's ops issued by a StreamRunner over the rank's shard - the same kernels as GpuExecutor -
// with the partial outputs summed across ranks (NCCL) before each residual add:
//   h = rmsnorm(x += delta); q, k, v = linear_r(h); rope + store k, v; heads = attention_r
//   delta = all_reduce(o_r(heads))
//   h = rmsnorm(x += delta); delta = all_reduce(dense_r(h) or sum_k w_k expert_slice_r,k(h))
//   logits[:, vocab_r] = lm_head_r(rmsnorm(x += delta))
// The router runs on every rank on identical h (NCCL's ring hands every rank the same sums), so
// every rank picks the same experts without exchanging anything.
#include "cuda/tp/tp_executor.hpp"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <mutex>

#include "cuda/comm/communicator.hpp"
#include "cuda/kernels/cuda_check.hpp"
#include "cuda/kernels/ops.hpp"
#include "cuda/kernels/step_ops.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/runtime/gpu_state.hpp"
#include "cuda/stream/graph_capture.hpp"
#include "cuda/stream/stream_runner.hpp"
#include "cuda/tp/rank_models.hpp"
#include "cuda/tp/tp_state.hpp"
#include "exec/rank_workers.hpp"
#include "exec/step_envelope.hpp"
#include "mimo/error.hpp"
#include "program/program_cache.hpp"

namespace mimo::cuda::tp {

struct Rank {
  int index = 0;
  int device = 0;
  model::ModelConfig config;  // local geometry; GpuStates keep a reference
  exec::Range vocab;
  std::unique_ptr<DeviceModel> model;
  std::unique_ptr<StreamRunner> runner;  // over config and model
  cudaStream_t stream = nullptr;
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> comm_events;
};

struct TensorParallelExecutor::RankGroup {
  const model::ModelConfig& config;
  const model::ModelWeights* weights = nullptr;  // null for random weights
  std::unique_ptr<DeviceModel> draft_head;       // on rank 0's device, made on first use
  exec::ShardingPlan plan;
  std::vector<std::unique_ptr<Rank>> ranks;
  std::vector<comm::Communicator> comms;  // empty with one rank
  program::ProgramCache programs;         // the tensor-parallel programs, per chunk shape
  exec::RankWorkers workers;              // a kept host thread per rank issues its work
  bool use_graphs = true;
  bool comm_timing = false;
  TpStepStats last;
  std::mutex mutex;

  explicit RankGroup(const model::ModelConfig& c, const std::vector<int>& devices)
      : config(c),
        plan(exec::make_sharding_plan(c, static_cast<int>(devices.size()),
                                      exec::MoeSplit::kExpertColumns)),
        programs(c, static_cast<int>(devices.size())),
        workers(static_cast<int>(devices.size())) {
    int count = 0;
    check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    for (std::size_t r = 0; r < devices.size(); ++r) {
      if (devices[r] < 0 || devices[r] >= count ||
          std::count(devices.begin(), devices.end(), devices[r]) != 1) {
        throw Error(ErrorCode::kDevice,
                    fmt::format("tensor parallel: device {} of rank {} is missing or repeated "
                                "({} CUDA devices)",
                                devices[r], r, count));
      }
      auto rank = std::make_unique<Rank>();
      rank->index = static_cast<int>(r);
      rank->device = devices[r];
      rank->config = tp::rank_config(c, plan.ranks[r]);
      rank->vocab = plan.ranks[r].vocab;
      ranks.push_back(std::move(rank));
    }
  }

  void make_streams() {
    const DeviceGuard guard;
    for (auto& rank : ranks) {
      rank->runner = std::make_unique<StreamRunner>(rank->config, *rank->model);
      check(cudaSetDevice(rank->device), "cudaSetDevice");
      check(cudaStreamCreateWithFlags(&rank->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    }
    if (ranks.size() > 1) {
      std::vector<int> devices;
      for (auto& rank : ranks) devices.push_back(rank->device);
      comms = comm::Communicator::create_local(devices);
    }
  }

  void all_reduce(Rank& rank, float* data, std::size_t count, bool capturing) {
    if (comms.empty()) return;
    const bool timed = comm_timing && !capturing;
    std::pair<cudaEvent_t, cudaEvent_t> events{};
    if (timed) {
      check(cudaEventCreate(&events.first), "cudaEventCreate");
      check(cudaEventCreate(&events.second), "cudaEventCreate");
      check(cudaEventRecord(events.first, rank.stream), "cudaEventRecord");
    }
    comms[rank.index].all_reduce_sum(data, data, count, comm::DType::kF32,
                                     reinterpret_cast<comm::Stream>(rank.stream));
    if (timed) {
      check(cudaEventRecord(events.second, rank.stream), "cudaEventRecord");
      rank.comm_events.push_back(events);
    }
  }

  // One chunk's tensor-parallel step program on one rank: its stream runner issues every op
  // over the rank's shard, the all-reduces go through NCCL; the all-gather of the logits is
  // the host's (each rank's vocabulary columns are downloaded into the host rows). Only rank 0
  // copies hidden taps.
  void issue_chunk(Rank& rank, GpuState& s, const program::StepProgram& program, bool capturing) {
    const std::size_t row_floats = std::size_t(program.shape.tokens) * config.hidden_size;
    const StreamRunner::Mark no_mark = [](const char*) {};
    for (const program::Op& op : program.ops) {
      switch (op.kind) {
        case program::OpKind::kAllReduce:
          all_reduce(rank, s.scratch.delta.as<float>(), row_floats, capturing);
          break;
        case program::OpKind::kAllGather:
          break;
        case program::OpKind::kTap:
          if (rank.index == 0) rank.runner->issue(op, program.shape, s, rank.stream, no_mark);
          break;
        default:
          rank.runner->issue(op, program.shape, s, rank.stream, no_mark);
      }
    }
  }

  // Copies `rows` local logit rows into their vocabulary columns of the host rows at `dst`.
  void download_logits(Rank& rank, const float* local, int rows, float* dst) {
    const std::size_t width = std::size_t(rank.vocab.size()) * sizeof(float);
    check(cudaMemcpy2DAsync(dst + rank.vocab.begin, std::size_t(config.vocab_size) * sizeof(float),
                            local, width, width, rows, cudaMemcpyDeviceToHost, rank.stream),
          "logits download");
  }

  // Records one rank's single-chunk step of program.shape.tokens tokens, its NCCL calls included
  // (ids and positions read from s.step_io; the rank's logits rows into s.step_logits, rank 0's
  // taps into s.step_taps unless they stay on the device), and instantiates it.
  cudaGraphExec_t capture_step(Rank& rank, GpuState& s, const program::StepProgram& program,
                               bool all_logits, int n_taps, bool device_taps) {
    const int n = program.shape.tokens, max_step = s.max_step_tokens();
    const auto issue = [&] {
      GpuState::Scratch& b = s.scratch;
      check(cudaMemcpyAsync(b.tokens.get(), s.step_io.as<int>(), n * sizeof(int),
                            cudaMemcpyHostToDevice, rank.stream),
            "token upload");
      check(cudaMemcpyAsync(b.positions.get(), s.step_io.as<int>() + max_step, n * sizeof(int),
                            cudaMemcpyHostToDevice, rank.stream),
            "position upload");
      issue_chunk(rank, s, program, true);
      check(cudaMemcpyAsync(s.step_logits.as<float>(), b.logits.get(),
                            std::size_t(all_logits ? n : 1) * rank.vocab.size() * sizeof(float),
                            cudaMemcpyDeviceToHost, rank.stream),
            "logits download");
      if (rank.index == 0 && n_taps > 0 && !device_taps) {
        check(cudaMemcpyAsync(s.step_taps.as<float>(), b.taps.get(),
                              std::size_t(n) * n_taps * config.hidden_size * sizeof(float),
                              cudaMemcpyDeviceToHost, rank.stream),
              "hidden taps download");
      }
    };
    return capture_graph(rank.stream, issue, "tensor-parallel step");
  }

  // The pinned host side and taps buffer of one rank's step graphs, sized for max_step_tokens
  // once (growing them drops the graphs, which hold their addresses). Rank 0 only holds taps, and
  // host taps only where they are downloaded.
  void ensure_step_buffers(Rank& rank, GpuState& s, int n_taps, bool device_taps) {
    const std::size_t max_step = s.max_step_tokens();
    if (s.step_io.bytes() == 0) {
      s.step_io = PinnedBuffer(2 * max_step * sizeof(int));
      s.step_logits = PinnedBuffer(max_step * rank.vocab.size() * sizeof(float));
    }
    if (rank.index != 0 || n_taps == 0) return;
    const std::size_t taps = max_step * n_taps * config.hidden_size * sizeof(float);
    const bool host_short = !device_taps && s.step_taps.bytes() < taps;
    if (s.scratch.taps.bytes() < taps || host_short) {
      s.sync_taps_released();  // a reader of the last step's device taps is done with them
      s.drop_step_graphs();
      if (s.scratch.taps.bytes() < taps) s.scratch.taps = DeviceBuffer(taps);
      if (host_short) s.step_taps = PinnedBuffer(taps);
    }
  }

  // A step that fits one chunk (decode, a verify block, a short prompt), replayed on every rank
  // from a graph captured per step shape on first use: one launch a rank instead of the step's
  // kernels. Each rank's logits columns land in their columns of the host rows; taps asked on
  // the device stay in rank 0's scratch.taps (exec::DeviceTaps, for a drafter on that device).
  exec::StepOutput run_step_graph(TpState& state, std::span<const std::int32_t> tokens,
                                  const exec::StepOptions& options,
                                  std::chrono::steady_clock::time_point start) {
    const int n = static_cast<int>(tokens.size());
    const int n_taps = static_cast<int>(options.hidden_taps.size());
    const int rows = options.all_logits ? n : 1;
    const std::size_t vocab = config.vocab_size, hidden = config.hidden_size;
    const program::StepProgram& program = programs.get(exec::chunk_shape(options, n, true));
    const bool device_taps = options.taps_on_device && n_taps > 0;
    const std::int64_t position = state.length();
    exec::StepOutput out;
    out.logits.resize(rows * vocab);
    out.hidden.resize(device_taps ? 0 : std::size_t(n) * n_taps * hidden);
    // Two rounds: every rank's buffers and graph first, then the launches. A rank that failed
    // while its peers already ran their all-reduces would leave them waiting for ever.
    std::vector<cudaGraphExec_t> graphs(ranks.size());
    workers.run([&](int r) {
      Rank& rank = *ranks[r];
      GpuState& s = *state.ranks[r];
      check(cudaSetDevice(rank.device), "cudaSetDevice");
      ensure_step_buffers(rank, s, n_taps, device_taps);
      auto found = std::find_if(s.step_graphs.begin(), s.step_graphs.end(), [&](const auto& g) {
        return g.shape == program.shape && g.device_taps == device_taps;
      });
      if (found == s.step_graphs.end()) {
        GpuState::StepGraph g;
        g.shape = program.shape;
        g.exec = capture_step(rank, s, program, options.all_logits, n_taps, device_taps);
        g.device_taps = device_taps;
        s.step_graphs.push_back(std::move(g));
        found = s.step_graphs.end() - 1;
      }
      graphs[r] = found->exec;
    });
    std::vector<double> issued(ranks.size());
    workers.run([&](int r) {
      Rank& rank = *ranks[r];
      GpuState& s = *state.ranks[r];
      check(cudaSetDevice(rank.device), "cudaSetDevice");
      const int max_step = s.max_step_tokens();
      int* io = s.step_io.as<int>();
      for (int i = 0; i < n; ++i) {
        io[i] = tokens[i];
        io[max_step + i] = static_cast<int>(position + i);
      }
      check(cudaGraphLaunch(graphs[r], rank.stream), "cudaGraphLaunch");
      if (r == 0 && device_taps) out.device_taps = s.hand_out_taps(n, rank.stream);
      issued[r] =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
              .count();
      check(cudaStreamSynchronize(rank.stream), "forward step");
      const std::size_t local = rank.vocab.size();
      for (int row = 0; row < rows; ++row) {
        std::copy_n(s.step_logits.as<float>() + row * local, local,
                    out.logits.data() + row * vocab + rank.vocab.begin);
      }
      if (r == 0) std::copy_n(s.step_taps.as<float>(), out.hidden.size(), out.hidden.begin());
    });
    last.host_us = *std::max_element(issued.begin(), issued.end());
    for (auto& s : state.ranks) s->commit(n);
    return out;
  }

  exec::StepOutput run_direct(TpState& state, std::span<const std::int32_t> tokens,
                              const exec::StepOptions& options,
                              std::chrono::steady_clock::time_point start) {
    const std::int64_t total = static_cast<std::int64_t>(tokens.size());
    GpuState& first = *state.ranks.front();
    const int chunk = exec::chunk_tokens(options, first);
    const int n_ranks = static_cast<int>(ranks.size());
    const int vocab = config.vocab_size, hidden = config.hidden_size;
    const int n_taps = static_cast<int>(options.hidden_taps.size());
    exec::StepOutput out;
    out.logits.resize((options.all_logits ? total : 1) * vocab);
    out.hidden.resize(total * n_taps * hidden);
    const std::int64_t saved_length = first.length(), saved_floor = first.ring_floor();
    const int saved_slots = static_cast<int>(std::min<std::int64_t>(total, first.ring_capacity()));
    // Per rank: token ids then positions of the whole run, in pinned staging.
    workers.run([&](int r) {
      GpuState& s = *state.ranks[r];
      check(cudaSetDevice(ranks[r]->device), "cudaSetDevice");
      if (r == 0 && n_taps > 0 &&
          s.scratch.taps.bytes() < std::size_t(chunk) * n_taps * hidden * 4) {
        s.sync_taps_released();  // a reader of the last step's device taps is done with them
        s.drop_step_graphs();    // they hold the old buffer's address
        s.scratch.taps = DeviceBuffer(std::size_t(chunk) * n_taps * hidden * 4);
      }
      if (s.staging.bytes() < std::size_t(total) * 2 * sizeof(int)) {
        s.staging = PinnedBuffer(std::size_t(total) * 2 * sizeof(int));
      }
      int* ids = s.staging.as<int>();
      for (std::int64_t i = 0; i < total; ++i) {
        ids[i] = tokens[i];
        ids[total + i] = static_cast<int>(saved_length + i);
      }
    });
    const auto copy_rings = [&](Rank& rank, GpuState& s, bool to_ring) {
      copy_ring_slots(s.ring_k(), s.undo_k(), s.ring_layers(), static_cast<int>(s.ring_capacity()),
                      s.ring_k_width(), saved_length, saved_slots, to_ring, rank.stream);
      copy_ring_slots(s.ring_v(), s.undo_v(), s.ring_layers(), static_cast<int>(s.ring_capacity()),
                      s.ring_v_width(), saved_length, saved_slots, to_ring, rank.stream);
    };
    for (auto& rank : ranks) {
      for (auto& [a, b] : rank->comm_events) {
        cudaEventDestroy(a);
        cudaEventDestroy(b);
      }
      rank->comm_events.clear();
    }
    const auto run_chunk = [&](std::int64_t begin, int n, bool last_chunk) {
      // Decided once for all ranks, between chunks: a rank stopping alone would leave its
      // peers waiting in an all-reduce.
      exec::throw_if_cancelled(options);
      const program::StepProgram& program = programs.get(exec::chunk_shape(options, n, last_chunk));
      workers.run([&](int r) {
        Rank& rank = *ranks[r];
        GpuState& s = *state.ranks[r];
        check(cudaSetDevice(rank.device), "cudaSetDevice");
        const int* ids = s.staging.as<int>();
        check(cudaMemcpyAsync(s.scratch.tokens.get(), ids + begin, n * sizeof(int),
                              cudaMemcpyHostToDevice, rank.stream),
              "token upload");
        check(cudaMemcpyAsync(s.scratch.positions.get(), ids + total + begin, n * sizeof(int),
                              cudaMemcpyHostToDevice, rank.stream),
              "position upload");
        issue_chunk(rank, s, program, false);
        if (options.all_logits) {
          download_logits(rank, s.scratch.logits.as<float>(), n, out.logits.data() + begin * vocab);
        } else if (last_chunk) {
          download_logits(rank, s.scratch.logits.as<float>(), 1, out.logits.data());
        }
        if (r == 0 && n_taps > 0) {
          check(cudaMemcpyAsync(out.hidden.data() + begin * n_taps * hidden, s.scratch.taps.get(),
                                std::size_t(n) * n_taps * hidden * sizeof(float),
                                cudaMemcpyDeviceToHost, rank.stream),
                "hidden taps download");
        }
        s.commit(n);
      });
      if (!last_chunk) return;
      last.host_us =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
              .count();
      workers.run([&](int r) {
        check(cudaSetDevice(ranks[r]->device), "cudaSetDevice");
        check(cudaStreamSynchronize(ranks[r]->stream), "forward step");
      });
    };
    // A failed or cancelled step puts back every rank's overwritten ring slots and length.
    const auto undo = [&] {
      for (int r = 0; r < n_ranks; ++r) {
        try {
          cudaSetDevice(ranks[r]->device);
          copy_rings(*ranks[r], *state.ranks[r], true);
          cudaStreamSynchronize(ranks[r]->stream);
        } catch (...) {
        }
        state.ranks[r]->restore(saved_length, saved_floor);
      }
    };
    workers.run([&](int r) {
      check(cudaSetDevice(ranks[r]->device), "cudaSetDevice");
      copy_rings(*ranks[r], *state.ranks[r], false);
    });
    exec::run_chunks(total, chunk, run_chunk, undo);
    last.comm_ms.assign(n_ranks, 0.0);
    last.all_reduces = static_cast<int>(ranks.front()->comm_events.size());
    for (int r = 0; r < n_ranks; ++r) {
      for (auto& [a, b] : ranks[r]->comm_events) {
        float ms = 0;
        if (cudaEventElapsedTime(&ms, a, b) == cudaSuccess) last.comm_ms[r] += ms;
      }
    }
    return out;
  }
};

TensorParallelExecutor::TensorParallelExecutor(const model::ModelConfig& config,
                                               const model::ModelWeights& weights,
                                               const std::vector<int>& devices)
    : group_(std::make_unique<RankGroup>(config, devices)) {
  group_->weights = &weights;
  group_->workers.run([&](int r) {
    Rank& rank = *group_->ranks[r];
    check(cudaSetDevice(rank.device), "cudaSetDevice");
    rank.model = upload_rank_model(config, weights, group_->plan.ranks[r]);
  });
  group_->make_streams();
}

TensorParallelExecutor::TensorParallelExecutor(const model::ModelConfig& config,
                                               const std::vector<int>& devices, std::uint64_t seed)
    : group_(std::make_unique<RankGroup>(config, devices)) {
  group_->workers.run([&](int r) {
    Rank& rank = *group_->ranks[r];
    check(cudaSetDevice(rank.device), "cudaSetDevice");
    rank.model = synthetic_rank_model(config, group_->plan.ranks[r], seed);
  });
  group_->make_streams();
}

TensorParallelExecutor::~TensorParallelExecutor() {
  const DeviceGuard guard;
  group_->comms.clear();
  for (auto& rank : group_->ranks) {
    cudaSetDevice(rank->device);
    for (auto& [a, b] : rank->comm_events) {
      cudaEventDestroy(a);
      cudaEventDestroy(b);
    }
    if (rank->stream != nullptr) cudaStreamDestroy(rank->stream);
    if (rank->index == 0) group_->draft_head.reset();
    rank->model.reset();
  }
}

std::unique_ptr<exec::ExecutorState> TensorParallelExecutor::new_state(
    const exec::StateLimits& limits) const {
  const DeviceGuard guard;
  auto state = std::make_unique<TpState>();
  for (auto& rank : group_->ranks) {
    check(cudaSetDevice(rank->device), "cudaSetDevice");
    state->devices.push_back(rank->device);
    state->ranks.push_back(std::make_unique<GpuState>(rank->config, limits));
  }
  return state;
}

exec::StepOutput TensorParallelExecutor::run(exec::ExecutorState& state,
                                             std::span<const std::int32_t> tokens,
                                             const exec::StepOptions& options) const {
  const auto start = std::chrono::steady_clock::now();
  auto* s = dynamic_cast<TpState*>(&state);
  if (s == nullptr) {
    throw Error(ErrorCode::kInternal,
                "TensorParallelExecutor::run: state belongs to another executor");
  }
  exec::validate_step(group_->config, *s, tokens, options);
  std::lock_guard<std::mutex> lock(group_->mutex);
  const DeviceGuard guard;
  exec::throw_if_cancelled(options);
  group_->last = TpStepStats{};
  group_->last.tokens = static_cast<int>(tokens.size());
  // The last step's device taps may still be read on the drafter's stream: this step rewrites
  // them (rank 0's stream waits, the host does not).
  {
    const Rank& first = *group_->ranks.front();
    check(cudaSetDevice(first.device), "cudaSetDevice");
    s->ranks.front()->wait_taps_released(first.stream);
  }
  // Graphs for steps of up to max_step_tokens (decode, verify blocks, short prompts), as in
  // GpuExecutor; longer prompts launch their chunks directly.
  const auto n = static_cast<std::int64_t>(tokens.size());
  if (group_->use_graphs && n <= s->max_step_tokens() &&
      (options.max_chunk <= 0 || n <= options.max_chunk)) {
    group_->last.graph = true;
    return group_->run_step_graph(*s, tokens, options, start);
  }
  return group_->run_direct(*s, tokens, options, start);
}

std::string TensorParallelExecutor::device_name() const {
  std::string devices;
  for (auto& rank : group_->ranks) {
    devices += fmt::format("{}{}", devices.empty() ? "" : ",", rank->device);
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, group_->ranks.front()->device);
  return fmt::format("cuda:{} tensor parallel, {} ranks ({})", devices, num_ranks(), prop.name);
}

int TensorParallelExecutor::num_ranks() const {
  return static_cast<int>(group_->ranks.size());
}
const exec::ShardingPlan& TensorParallelExecutor::plan() const {
  return group_->plan;
}
const DeviceModel& TensorParallelExecutor::rank_model(int rank) const {
  return *group_->ranks.at(rank)->model;
}
const model::ModelConfig& TensorParallelExecutor::rank_config(int rank) const {
  return group_->ranks.at(rank)->config;
}
void TensorParallelExecutor::set_use_graphs(bool on) {
  group_->use_graphs = on;
}
void TensorParallelExecutor::set_comm_timing(bool on) {
  group_->comm_timing = on;
}
TpStepStats TensorParallelExecutor::last_step() const {
  return group_->last;
}

std::vector<std::vector<int>> TensorParallelExecutor::last_experts(const exec::ExecutorState& state,
                                                                   int n_tokens) const {
  const GpuState& s = *dynamic_cast<const TpState&>(state).ranks.front();
  const DeviceGuard guard;
  check(cudaSetDevice(group_->ranks.front()->device), "cudaSetDevice");
  return s.chosen_experts(n_tokens);
}

int TensorParallelExecutor::draft_device() const {
  return group_->ranks.front()->device;
}

const DeviceModel& TensorParallelExecutor::draft_head() const {
  const Rank& first = *group_->ranks.front();
  if (num_ranks() == 1) return *first.model;  // its lm_head holds every vocabulary row
  std::lock_guard<std::mutex> lock(group_->mutex);
  if (group_->draft_head != nullptr) return *group_->draft_head;
  if (group_->weights == nullptr) {
    throw Error(ErrorCode::kUnsupported,
                "tensor parallel: a drafter needs the whole lm_head, and random weights on "
                "several ranks have none");
  }
  const DeviceGuard on(first.device);
  auto head = std::make_unique<DeviceModel>();
  head->embed_format = first.model->embed_format;  // rank 0's whole table, not copied
  head->embed_bf16 = first.model->embed_bf16;
  head->embed_f32 = first.model->embed_f32;
  head->lm_head = upload_device_linear(group_->weights->lm_head, head->arena);
  synchronize();
  group_->draft_head = std::move(head);
  return *group_->draft_head;
}

double TensorParallelExecutor::time_all_reduces(int count, int n_tokens, int reps) const {
  std::lock_guard<std::mutex> lock(group_->mutex);
  const int n_ranks = num_ranks();
  const std::size_t floats = std::size_t(n_tokens) * group_->config.hidden_size;
  std::vector<std::vector<double>> ms(n_ranks);
  group_->workers.run([&](int r) {
    Rank& rank = *group_->ranks[r];
    check(cudaSetDevice(rank.device), "cudaSetDevice");
    DeviceBuffer buffer(floats * sizeof(float));
    check(cudaMemsetAsync(buffer.get(), 0, floats * sizeof(float), rank.stream), "memset");
    cudaEvent_t a, b;
    check(cudaEventCreate(&a), "cudaEventCreate");
    check(cudaEventCreate(&b), "cudaEventCreate");
    for (int i = 0; i < reps + 1; ++i) {
      check(cudaEventRecord(a, rank.stream), "cudaEventRecord");
      for (int k = 0; k < count; ++k) group_->all_reduce(rank, buffer.as<float>(), floats, true);
      check(cudaEventRecord(b, rank.stream), "cudaEventRecord");
      check(cudaEventSynchronize(b), "all-reduce timing");
      float t = 0;
      check(cudaEventElapsedTime(&t, a, b), "cudaEventElapsedTime");
      if (i > 0) ms[r].push_back(t);  // the first round warms NCCL's channels up
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  });
  double slowest = 0;
  for (auto& v : ms) {
    std::sort(v.begin(), v.end());
    slowest = std::max(slowest, v[v.size() / 2]);
  }
  return slowest;
}

}  // namespace mimo::cuda::tp

namespace mimo::cuda {

std::unique_ptr<exec::Executor> make_tensor_parallel_executor(const model::ModelConfig& config,
                                                              const model::ModelWeights& weights,
                                                              const std::vector<int>& devices) {
  if (devices.size() < 2) {
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("tensor parallel: {} devices given, at least 2 needed", devices.size()));
  }
  return std::make_unique<tp::TensorParallelExecutor>(config, weights, devices);
}

}  // namespace mimo::cuda
