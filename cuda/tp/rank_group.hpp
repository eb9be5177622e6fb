// The tensor-parallel executor's ranks (tp_executor.cpp, its only includer): each rank's device,
// shard model, stream runner and stream, and the rank group that issues one step on all of them
// - a chunk's program per rank with NCCL all-reduces, per-shape step graphs replayed on every
// rank, direct chunk launches for longer steps, the host gather of the logits columns.
#pragma once

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "cuda/comm/communicator.hpp"
#include "cuda/kernels/cuda_check.hpp"
#include "cuda/kernels/ops.hpp"
#include "cuda/kernels/step_ops.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/runtime/gpu_state.hpp"
#include "cuda/stream/graph_capture.hpp"
#include "cuda/stream/stream_runner.hpp"
#include "cuda/tp/rank_models.hpp"
#include "cuda/tp/tp_executor.hpp"
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

}  // namespace mimo::cuda::tp
