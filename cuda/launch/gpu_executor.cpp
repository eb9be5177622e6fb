// GpuExecutor: issues the forward of lib/cpu/forward.cpp kernel by kernel on one stream; steps
// that fit one chunk (decode, verify blocks) are replayed from CUDA graphs captured per shape.
// Layer by layer:
//   h = rmsnorm(x += delta); q, k, v = linear(h); rope(q, k) and store k, v * value_scale (one
//   kernel);
//   heads = attention(q, cache); delta = o(heads)
//   h = rmsnorm(x += delta); delta = dense MLP(h) or sum_k w_k expert_k(h)
// The residual add of each block is fused into the next RMSNorm.
#include "cuda/launch/gpu_executor.hpp"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <utility>

#include "cuda/launch/cuda_check.hpp"
#include "cuda/launch/device_model.hpp"
#include "cuda/launch/device_query.hpp"
#include "cuda/launch/expert_tables.hpp"
#include "cuda/launch/gpu_state.hpp"
#include "cuda/launch/step_ops.hpp"
#include "mimo/error.hpp"

namespace mimo::cuda {

struct GpuExecutor::Impl {
  const model::ModelConfig& config;
  std::unique_ptr<DeviceModel> model;
  cudaStream_t stream = nullptr;
  std::string name;
  bool use_graphs = true;
  bool profiling = false;
  int cancel_after_chunks = -1;
  StepStats last;
  // Profiling: an event after each op, named by the op it ends.
  cudaEvent_t profile_start = nullptr;
  std::vector<std::pair<std::string, cudaEvent_t>> marks;
  std::mutex mutex;

  Impl(const model::ModelConfig& c, std::unique_ptr<DeviceModel> m)
      : config(c), model(std::move(m)) {}

  void mark(const char* op, bool capturing) {
    if (!profiling || capturing) return;
    cudaEvent_t e;
    check(cudaEventCreate(&e), "cudaEventCreate");
    check(cudaEventRecord(e, stream), "cudaEventRecord");
    marks.emplace_back(op, e);
  }

  // Issues one chunk of n tokens whose ids and positions are already in s.scratch.tokens /
  // positions. Tap copies (layer l's output to taps[t, k]) and the logits of the last row
  // (or of all rows) into scratch.logits.
  void issue_chunk(GpuState& s, int n, const exec::StepOptions& options, bool all_logits,
                   bool capturing) {
    const model::ModelConfig& c = config;
    const DeviceModel& m = *model;
    GpuState::Scratch& b = s.scratch;
    Stream st = stream;
    const int hidden = c.hidden_size;
    const float eps = static_cast<float>(c.rms_norm_eps);
    float* x = b.x.as<float>();
    float* h = b.h.as<float>();
    float* delta = b.delta.as<float>();
    const int* tokens = b.tokens.as<int>();
    const int* positions = b.positions.as<int>();
    const int n_taps = static_cast<int>(options.hidden_taps.size());
    const auto store_tap = [&](int layer, const float* from) {
      for (int k = 0; k < n_taps; ++k) {
        if (options.hidden_taps[k] != layer) continue;
        check(cudaMemcpy2DAsync(b.taps.as<float>() + std::size_t(k) * hidden,
                                std::size_t(n_taps) * hidden * sizeof(float), from,
                                std::size_t(hidden) * sizeof(float), hidden * sizeof(float), n,
                                cudaMemcpyDeviceToDevice, stream),
              "copy of a hidden tap");
      }
    };
    if (profiling && !capturing && marks.empty()) {
      check(cudaEventRecord(profile_start, stream), "cudaEventRecord");
    }
    if (m.embed_format == MatrixFormat::kBf16) {
      embed(m.embed_bf16, tokens, n, x, st);
    } else {
      embed(m.embed_f32, tokens, n, x, st);
    }
    mark("embed", capturing);
    const int top_k = c.num_experts_per_tok;
    int moe_index = 0;
    // The tensor-core tiles read the normed hidden rows (and the experts' activations) split
    // once by their producer instead of re-splitting them in every block.
    const bool split_hidden = hidden % 8 == 0;
    const SplitActivations split_h = b.split(hidden);
    const auto apply_normed = [&](const DeviceLinear& w, float* y) {
      if (split_hidden && w.format == MatrixFormat::kFp8 && fp8_on_tensor_cores(w.fp8)) {
        linear(w.fp8, split_h, n, y, st);
      } else {
        apply(w, h, n, y, st);
      }
    };
    // Projections of the same normed rows in one launch where all are FP8 on tensor cores.
    const auto apply_normed_batch =
        [&](std::initializer_list<std::pair<const DeviceLinear*, float*>> ws) {
          Fp8Batch batch;
          for (const auto& [w, y] : ws) {
            if (!split_hidden || w->format != MatrixFormat::kFp8 || !fp8_on_tensor_cores(w->fp8) ||
                batch.count == kMaxFp8Batch) {
              for (const auto& [w2, y2] : ws) apply_normed(*w2, y2);
              return;
            }
            batch.w[batch.count] = w->fp8;
            batch.y[batch.count++] = y;
          }
          linear(batch, split_h, n, st);
        };
    const auto norm = [&](const float* add, const float* weight) {
      if (split_hidden) {
        rmsnorm(x, add, weight, n, hidden, eps, h, split_h, st);
      } else {
        rmsnorm(x, add, weight, n, hidden, eps, h, st);
      }
    };
    for (int l = 0; l < c.num_layers; ++l) {
      if (!capturing && options.cancel && options.cancel->load(std::memory_order_relaxed)) {
        throw Error(ErrorCode::kCancelled, "forward: cancelled");
      }
      const DeviceLayer& w = m.layers[l];
      const model::AttentionSpec& a = c.attention(l);
      const bool sliding = c.layers[l].attention == model::AttentionKind::kSliding;
      norm(l == 0 ? nullptr : delta, w.input_norm);
      mark("rmsnorm", capturing);
      if (l > 0) store_tap(l - 1, x);
      float* q = b.q.as<float>();
      float* k = b.k.as<float>();
      float* v = b.v.as<float>();
      apply_normed_batch({{&w.q, q}, {&w.k, k}, {&w.v, v}});
      mark("qkv linear", capturing);
      const float* inv_freq = sliding ? m.sliding_inv_freq : m.full_inv_freq;
      AttentionShape shape;
      shape.num_heads = a.num_heads;
      shape.num_kv_heads = a.num_kv_heads;
      shape.head_dim = a.head_dim;
      shape.v_head_dim = a.v_head_dim;
      shape.window = sliding ? c.sliding_window : 0;
      shape.score_scale = static_cast<float>(std::pow(static_cast<double>(a.head_dim), -0.5));
      rope_store_kv(q, k, v, positions, n, shape, a.rotary_dim, inv_freq,
                    static_cast<float>(c.attention_value_scale), s.cache(l), st);
      mark("rope + store kv", capturing);
      attention(q, positions, n, shape, s.cache(l), w.sinks, b.heads.as<float>(), st,
                b.attention_partial.as<float>(), s.attention_splits(l), b.attention_arrivals());
      mark("attention", capturing);
      const int heads_width = a.num_heads * a.v_head_dim;
      if (w.o.format == MatrixFormat::kFp8 && fp8_on_tensor_cores(w.o.fp8) &&
          heads_width % 8 == 0) {
        // Split once (one launch) rather than in every block of the o projection, which would
        // split each of its token's chunks twice over (hi and lo lanes).
        const SplitActivations split_heads = b.split(heads_width);
        split_activations(b.heads.as<float>(), n, heads_width, split_heads, st);
        linear(w.o.fp8, split_heads, n, delta, st);
      } else {
        apply(w.o, b.heads.as<float>(), n, delta, st);
      }
      mark("o linear", capturing);
      norm(delta, w.post_attention_norm);
      mark("rmsnorm", capturing);
      float* gate = b.gate.as<float>();
      float* up = b.up.as<float>();
      float* act = b.act.as<float>();
      if (!w.moe) {
        apply_normed_batch({{&w.gate, gate}, {&w.up, up}});
        silu_mul(gate, up, std::size_t(n) * w.gate.rows, act, st);
        apply(w.down, act, n, delta, st);
        mark("dense mlp", capturing);
        continue;
      }
      const std::size_t slots = std::size_t(s.max_step_tokens()) * top_k;
      int* experts = b.experts.as<int>() + moe_index * slots;
      float* weights = b.expert_weights.as<float>() + moe_index * slots;
      ++moe_index;
      apply(w.router, h, n, b.router_logits.as<float>(), st);
      RouterShape r;
      r.num_experts = c.n_routed_experts;
      r.top_k = top_k;
      r.n_group = c.n_group;
      r.topk_group = c.topk_group;
      r.norm_topk_prob = c.norm_topk_prob;
      r.routed_scaling_factor = static_cast<float>(c.routed_scaling_factor);
      const DeviceExperts& e = w.experts;
      int* groups = b.expert_groups.as<int>();
      if (e.stacked && e.gate_stack.count == r.num_experts) {
        route_and_group(b.router_logits.as<float>(), w.router_bias, n, r, experts, weights, groups,
                        st);
      } else {
        route(b.router_logits.as<float>(), w.router_bias, n, r, experts, weights, st);
        if (e.stacked) group_experts(experts, n, top_k, e.gate_stack.count, groups, st);
      }
      mark("router", capturing);
      if (e.stacked) {
        const int inter = e.gate_stack.rows;
        if (split_hidden) {
          expert_gate_up(e.gate_stack, e.up_stack, split_h, groups, n, top_k, act, st);
        } else {
          expert_gate_up(e.gate_stack, e.up_stack, h, groups, n, top_k, act, st);
        }
        mark("experts gate/up", capturing);
        if (inter % 8 == 0) {  // the split rows of h are spent: the buffers take act's
          const SplitActivations split_act = b.split(inter);
          split_activations(act, n * top_k, inter, split_act, st);
          expert_down(e.down_stack, split_act, groups, weights, n, top_k,
                      b.expert_partial.as<float>(), delta, st);
        } else {
          expert_down(e.down_stack, act, groups, weights, n, top_k, b.expert_partial.as<float>(),
                      delta, st);
        }
        mark("experts down", capturing);
      } else {
        expert_table_rows(e.gate, h, experts, n, top_k, gate, st);
        expert_table_rows(e.up, h, experts, n, top_k, up, st);
        silu_mul(gate, up, std::size_t(n) * top_k * e.gate.rows, act, st);
        mark("experts gate/up", capturing);
        expert_table_down(e.down, act, experts, weights, n, top_k, delta, st);
        mark("experts down", capturing);
      }
    }
    if (!capturing && options.cancel && options.cancel->load(std::memory_order_relaxed)) {
      throw Error(ErrorCode::kCancelled, "forward: cancelled");
    }
    rmsnorm(x, delta, m.final_norm, n, hidden, eps, h, st);  // lm_head is BF16: no split
    mark("rmsnorm", capturing);
    store_tap(c.num_layers - 1, h);  // the last layer's tap is taken after the final norm
    if (all_logits) {
      apply(m.lm_head, h, n, b.logits.as<float>(), st);
    } else {
      apply(m.lm_head, h + std::size_t(n - 1) * hidden, 1, b.logits.as<float>(), st);
    }
    mark("lm_head", capturing);
  }

  // scratch.taps holds n_taps hidden rows for each of `tokens` tokens. Captured step graphs
  // point at it, so growing it drops them.
  void ensure_taps(GpuState& s, int tokens, int n_taps) {
    const std::size_t bytes = std::size_t(tokens) * n_taps * config.hidden_size * sizeof(float);
    if (n_taps == 0 || s.scratch.taps.bytes() >= bytes) return;
    s.drop_step_graphs();
    s.scratch.taps = DeviceBuffer(bytes);
  }

  // Records one single-chunk step of `n` tokens (ids and positions read from step_io, logits and
  // taps written to step_logits / step_taps) and instantiates it.
  cudaGraphExec_t capture_step(GpuState& s, int n, const exec::StepOptions& options, int sample) {
    GpuState::Scratch& b = s.scratch;
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
      issue_chunk(s, n, options, options.all_logits, true);
      if (sample > 0) {
        issue_samples(s, options.all_logits ? n : 1, sample);
      } else {
        check(cudaMemcpyAsync(s.step_logits.as<float>(), b.logits.get(),
                              (options.all_logits ? n : 1) * vocab * sizeof(float),
                              cudaMemcpyDeviceToHost, stream),
              "logits download");
      }
      if (n_taps > 0) {
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
    const std::size_t vocab = config.vocab_size, hidden = config.hidden_size;
    ensure_taps(s, max_step, n_taps);
    const std::size_t taps_bytes = std::size_t(max_step) * n_taps * hidden * sizeof(float);
    if (s.step_io.bytes() == 0) {
      s.step_io = PinnedBuffer(std::size_t(2) * max_step * sizeof(int));
      s.step_logits = PinnedBuffer(std::size_t(max_step) * vocab * sizeof(float));
    }
    if (s.step_taps.bytes() < taps_bytes) {
      s.drop_step_graphs();
      s.step_taps = PinnedBuffer(taps_bytes);
    }
    const int sample = stage_sampling(s, options, n, max_step);
    auto found = std::find_if(s.step_graphs.begin(), s.step_graphs.end(), [&](const auto& g) {
      return g.tokens == n && g.all_logits == options.all_logits && g.taps == options.hidden_taps &&
             g.sample == sample;
    });
    if (found == s.step_graphs.end()) {
      s.step_graphs.push_back({n, options.all_logits, options.hidden_taps, sample,
                               capture_step(s, n, options, sample)});
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
    out.hidden.resize(n_taps > 0 ? std::size_t(n) * n_taps * hidden : 0);
    check(cudaStreamSynchronize(stream), "forward step");
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
    const int chunk = options.max_chunk > 0 ? std::min(options.max_chunk, s.max_step_tokens())
                                            : s.max_step_tokens();
    const int n_taps = static_cast<int>(options.hidden_taps.size());
    const int vocab = config.vocab_size, hidden = config.hidden_size;
    exec::StepOutput out;
    out.logits.resize((options.all_logits ? total : 1) * vocab);
    out.hidden.resize(total * n_taps * hidden);
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
    try {
      copy_rings(false);
      int chunks = 0;
      for (std::int64_t begin = 0; begin < total; begin += chunk, ++chunks) {
        if (chunks == fail_after) throw Error(ErrorCode::kCancelled, "forward: cancelled (test)");
        const int n = static_cast<int>(std::min<std::int64_t>(chunk, total - begin));
        const bool last_chunk = begin + n == total;
        check(cudaMemcpyAsync(s.scratch.tokens.get(), ids + begin, n * sizeof(int),
                              cudaMemcpyHostToDevice, stream),
              "token upload");
        check(cudaMemcpyAsync(s.scratch.positions.get(), positions + begin, n * sizeof(int),
                              cudaMemcpyHostToDevice, stream),
              "position upload");
        issue_chunk(s, n, options, options.all_logits, false);
        if (begin + n == total) {
          last.host_us =
              std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                  .count();
        }
        if (sample > 0 && last_chunk) {  // a sampled all-logits step is one chunk
          issue_samples(s, options.all_logits ? n : 1, sample);
        } else if (options.all_logits) {
          check(cudaMemcpyAsync(out.logits.data() + begin * vocab, s.scratch.logits.get(),
                                std::size_t(n) * vocab * sizeof(float), cudaMemcpyDeviceToHost,
                                stream),
                "logits download");
        } else if (last_chunk) {
          check(cudaMemcpyAsync(out.logits.data(), s.scratch.logits.get(), vocab * sizeof(float),
                                cudaMemcpyDeviceToHost, stream),
                "logits download");
        }
        if (n_taps > 0) {
          check(cudaMemcpyAsync(out.hidden.data() + begin * n_taps * hidden, s.scratch.taps.get(),
                                std::size_t(n) * n_taps * hidden * sizeof(float),
                                cudaMemcpyDeviceToHost, stream),
                "hidden taps download");
        }
        s.commit(n);
      }
      check(cudaStreamSynchronize(stream), "forward step");
    } catch (...) {
      try {
        copy_rings(true);
        cudaStreamSynchronize(stream);
      } catch (...) {
      }
      s.restore(saved_length, saved_floor);
      throw;
    }
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
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (!s.samplers[i]->fits(*rows[i]) || DeviceSampler::mode_of(*rows[i]) != mode) return 0;
    }
    for (std::size_t i = 0; i < rows.size(); ++i) s.samplers[i]->stage(*rows[i]);
    return 1 + static_cast<int>(mode);
  }

  // Samples logits rows 0 .. rows - 1 of the step, each with its staged request.
  void issue_samples(GpuState& s, int rows, int sample) {
    for (int i = 0; i < rows; ++i) {
      s.samplers[i]->issue(s.scratch.logits.as<float>() + std::size_t(i) * config.vocab_size,
                           DeviceSampler::Mode(sample - 1), stream);
    }
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
    : impl_(std::make_unique<Impl>(config, std::move(model))) {
  check(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaEventCreate(&impl_->profile_start), "cudaEventCreate");
  impl_->name = "cuda:0 " + describe_devices();
}

GpuExecutor::~GpuExecutor() {
  for (auto& [op, e] : impl_->marks) cudaEventDestroy(e);
  cudaEventDestroy(impl_->profile_start);
  cudaStreamDestroy(impl_->stream);
}

std::unique_ptr<exec::ExecutorState> GpuExecutor::new_state(std::int64_t max_context,
                                                            int max_step_tokens) const {
  return std::make_unique<GpuState>(impl_->config, max_context, max_step_tokens);
}

exec::StepOutput GpuExecutor::run(exec::ExecutorState& state, std::span<const std::int32_t> tokens,
                                  const exec::StepOptions& options) const {
  const auto start = std::chrono::steady_clock::now();
  auto* s = dynamic_cast<GpuState*>(&state);
  if (s == nullptr) {
    throw Error(ErrorCode::kInternal, "GpuExecutor::run: state belongs to another executor");
  }
  const model::ModelConfig& c = impl_->config;
  if (tokens.empty()) throw Error(ErrorCode::kInvalidArgument, "forward: no tokens given");
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("forward: token {} at index {} is outside the vocabulary [0, {})",
                              tokens[i], i, c.vocab_size));
    }
  }
  if (s->length() + static_cast<std::int64_t>(tokens.size()) > s->max_context()) {
    throw Error(ErrorCode::kOutOfRange,
                fmt::format("forward: {} cached + {} new tokens exceed the context of {}",
                            s->length(), tokens.size(), s->max_context()));
  }
  for (int tap : options.hidden_taps) {
    if (tap < 0 || tap >= c.num_layers) {
      throw Error(
          ErrorCode::kInvalidArgument,
          fmt::format("forward: hidden tap {} is not a layer index [0, {})", tap, c.num_layers));
    }
  }
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (options.cancel && options.cancel->load(std::memory_order_relaxed)) {
    throw Error(ErrorCode::kCancelled, "forward: cancelled");
  }
  impl_->last = StepStats{};
  impl_->last.tokens = static_cast<int>(tokens.size());
  if (impl_->use_graphs && impl_->cancel_after_chunks < 0) {
    const auto n = static_cast<std::int64_t>(tokens.size());
    if (n <= s->max_step_tokens() && (options.max_chunk <= 0 || n <= options.max_chunk)) {
      impl_->last.graph = true;
      return impl_->run_step_graph(*s, tokens, options, start);
    }
  }
  return impl_->run_direct(*s, tokens, options, start);
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
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const std::size_t vocab = impl_->config.vocab_size;
  std::vector<float> logits(vocab);
  copy_to_host(logits.data(), s->scratch.logits.as<float>() + std::size_t(row) * vocab,
               vocab * sizeof(float));
  return logits;
}

std::string GpuExecutor::device_name() const {
  return impl_->name;
}

void GpuExecutor::set_use_graphs(bool on) {
  impl_->use_graphs = on;
}
void GpuExecutor::set_profiling(bool on) {
  impl_->profiling = on;
}
void GpuExecutor::cancel_after_chunks_for_testing(int chunks) {
  impl_->cancel_after_chunks = chunks;
}
StepStats GpuExecutor::last_step() const {
  return impl_->last;
}
const DeviceModel& GpuExecutor::device_model() const {
  return *impl_->model;
}

std::vector<std::pair<std::string, double>> GpuExecutor::take_profile() {
  check(cudaStreamSynchronize(impl_->stream), "profile");
  std::vector<std::pair<std::string, double>> totals;
  cudaEvent_t previous = impl_->profile_start;
  for (auto& [op, e] : impl_->marks) {
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
  for (auto& [op, e] : impl_->marks) cudaEventDestroy(e);
  impl_->marks.clear();
  return totals;
}

std::vector<std::vector<int>> GpuExecutor::last_experts(const exec::ExecutorState& state,
                                                        int n_tokens) const {
  const auto& s = dynamic_cast<const GpuState&>(state);
  const int top_k = impl_->config.num_experts_per_tok;
  const std::size_t slots = std::size_t(s.max_step_tokens()) * top_k;
  std::vector<std::vector<int>> out;
  int moe_index = 0;
  for (const model::LayerSpec& l : impl_->config.layers) {
    if (l.mlp != model::MlpKind::kMoe) continue;
    std::vector<int> ids(std::size_t(n_tokens) * top_k);
    copy_to_host(ids.data(), s.scratch.experts.as<int>() + moe_index * slots,
                 ids.size() * sizeof(int));
    out.push_back(std::move(ids));
    ++moe_index;
  }
  return out;
}

std::unique_ptr<exec::Executor> make_gpu_executor(const model::ModelConfig& config,
                                                  const model::ModelWeights& weights) {
  if (device_count() == 0) {
    throw Error(ErrorCode::kDevice, "no usable CUDA device: " + describe_devices());
  }
  return std::make_unique<GpuExecutor>(config, upload_model(config, weights));
}

}  // namespace mimo::cuda
