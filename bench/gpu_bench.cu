// mimo-bench: the GPU executor's decode-1, verify-B and prefill steps against the HBM roofline,
// on a checkpoint (-m DIR) or on synthetic weights of ../shared/docs/PERFORMANCE.md's benchmark
// geometry generated on the device (--synthetic; --layers / --experts / --context change it).
// For each step shape: median step time, tokens/s, bytes the step must read (weights touched,
// counting only the distinct experts the router chose, plus the KV cache), the read bandwidth
// measured in the same run, their ratio (the roofline fraction), distinct experts, host time.
// --profile adds a per-op breakdown from events around each kernel (direct launches), of a
// prefill chunk too. --prefill-chunk N[,N...] times the prefill of the --context-token prompt
// in chunks of each size (ModelOptions::prefill_chunk_tokens; default its default), each in a
// state sized for that chunk: one untimed run, then the median of --prefill-runs runs.
// --no-pdl launches the kernels without programmatic dependent launch (for A/B runs).
// --draft-projection (--synthetic) adds the projection of draft_projection_gpu.hpp; --spec-eval
// DIR (-m, --draft) runs only the held-out speculative evaluation of spec_eval.hpp on the GPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "api/sampler_access.hpp"
#include "api/speculative_verify.hpp"
#include "cuda/engine/engine_runner.hpp"
#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/runtime/device_query.hpp"
#include "cuda/stream/gpu_executor.hpp"
#include "draft_projection_gpu.hpp"
#include "engine_probe.hpp"
#include "gpu_bench_args.hpp"
#include "io/checkpoint.hpp"
#include "mimo/error.hpp"
#include "mimo/model.hpp"
#include "mimo/sampler.hpp"
#include "model/benchmark_config.hpp"
#include "model/config_parse.hpp"
#include "model/weight_binder.hpp"
#include "spec_eval.hpp"
#include "speculative_bench.hpp"

namespace {

using namespace mimo;
using bench::Args;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// GB/s of the read-only 16-byte-load probe over 4 GiB (median of 5), in this process.
double read_bandwidth() {
  const std::size_t bytes = std::size_t(4) << 30;
  cuda::DeviceBuffer data(bytes), sink(sizeof(float));
  cudaMemset(data.get(), 1, bytes);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<double> gbs;
  for (int i = 0; i < 6; ++i) {
    cudaEventRecord(a);
    cuda::stream_read(data.get(), bytes, sink.as<float>());
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    if (i > 0) gbs.push_back(bytes / (ms * 1e-3) / 1e9);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return median(gbs);
}

struct Report {
  FILE* files[2] = {stdout, nullptr};
  template <class... T>
  void line(const char* format, T... values) {
    for (FILE* f : files) {
      if (f != nullptr) std::fprintf(f, format, values...);
    }
  }
};

// Bytes a step reads from the KV cache at context `ctx`, float32 keys and values.
double kv_bytes(const model::ModelConfig& c, long long ctx) {
  double total = 0;
  for (int l = 0; l < c.num_layers; ++l) {
    const model::AttentionSpec& a = c.attention(l);
    const bool sliding = c.layers[l].attention == model::AttentionKind::kSliding;
    const long long keys = sliding ? std::min<long long>(ctx, c.sliding_window) : ctx;
    total += double(keys) * a.num_kv_heads * (a.head_dim + a.v_head_dim) * 4;
  }
  return total;
}

struct StepResult {
  double ms = 0, host_us = 0, bytes = 0, distinct = 0;
};

// `steps` runs of `block` tokens at the same context (each rewound afterwards).
StepResult measure(cuda::GpuExecutor& gpu, exec::ExecutorState& state, const model::ModelConfig& c,
                   int block, int steps, std::mt19937& rng) {
  const cuda::DeviceModel& m = gpu.device_model();
  std::uniform_int_distribution<int> token(0, c.vocab_size - 1);
  std::vector<double> ms, host, bytes, distinct;
  exec::StepOptions options;
  options.all_logits = block > 1;
  for (int i = 0; i < steps + 2; ++i) {
    std::vector<std::int32_t> ids(block);
    for (auto& t : ids) t = token(rng);
    const auto start = std::chrono::steady_clock::now();
    gpu.run(state, ids, options);
    const double elapsed =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    double step_bytes = double(m.fixed_step_bytes()) + kv_bytes(c, state.length());
    double experts = 0;
    const auto chosen = gpu.last_experts(state, block);
    for (std::size_t l = 0, moe = 0; l < m.layers.size(); ++l) {
      if (!m.layers[l].moe) continue;
      const std::set<int> set(chosen[moe].begin(), chosen[moe].end());
      step_bytes += double(set.size()) * m.layers[l].experts.bytes_per_expert;
      experts += set.size();
      ++moe;
    }
    state.truncate(state.length() - block);
    if (i < 2) continue;  // warm-up (graph capture)
    ms.push_back(elapsed);
    host.push_back(gpu.last_step().host_us);
    bytes.push_back(step_bytes);
    distinct.push_back(chosen.empty() ? 0 : experts / chosen.size());
  }
  return {median(ms), median(host), median(bytes), median(distinct)};
}

// Decode-1 steps that end in a token, median ms: sampled on the device inside the step
// (StepOptions::sample), or on the host by mimo::Sampler from the downloaded logits.
double measure_sampled_step(cuda::GpuExecutor& gpu, exec::ExecutorState& state,
                            const model::ModelConfig& c, const SamplerConfig& config,
                            bool on_device, int steps) {
  Sampler sampler(config);
  std::vector<double> ms;
  std::int32_t token = 1;
  for (int i = 0; i < steps + 2; ++i) {
    const auto start = std::chrono::steady_clock::now();
    exec::StepOptions options;
    std::optional<exec::SampleRequest> request;
    if (on_device) request = SamplerAccess::device_request(sampler, c.vocab_size);
    options.sample = request ? &*request : nullptr;
    exec::StepOutput out = gpu.run(state, std::span(&token, 1), options);
    if (out.sampled) {
      token = out.sampled->token;
      SamplerAccess::consume_device_draw(sampler);
    } else {
      if (on_device) throw Error(ErrorCode::kInternal, "mimo-bench: the device declined a sample");
      token = sampler.sample(out.logits.data(), c.vocab_size).token;
    }
    sampler.accept(token);
    const double elapsed =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    state.truncate(state.length() - 1);
    if (i >= 2) ms.push_back(elapsed);
  }
  return median(ms);
}

// A verify step of `block` tokens that ends in every row's decided token (what speculative
// decoding checks the drafts against: the block's tokens after the first are the drafts), median
// ms: rows decided on the device inside the step (StepOptions::sample_rows) or on the host from
// the downloaded all-logits (greedy: Sampler::sample; sampling: the verification's coin and
// redraw over Sampler::probabilities). Every row is decided, as when all drafts are accepted.
double measure_verified_step(cuda::GpuExecutor& gpu, exec::ExecutorState& state,
                             const model::ModelConfig& c, int block, const SamplerConfig& config,
                             bool on_device, int steps, std::mt19937& rng) {
  std::uniform_int_distribution<int> pick(0, c.vocab_size - 1);
  Sampler sampler(config);
  const bool greedy = config.temperature == 0.0f;
  std::vector<double> ms;
  std::vector<float> p;
  for (int i = 0; i < steps + 2; ++i) {
    std::vector<std::int32_t> ids(block);
    for (auto& t : ids) t = pick(rng);
    const auto start = std::chrono::steady_clock::now();
    exec::StepOptions options;
    options.all_logits = true;
    std::vector<exec::SampleRequest> rows;
    if (on_device) {
      Sampler probe = sampler;
      for (int r = 0; r < block; ++r) {
        rows.push_back(*SamplerAccess::device_request(probe, c.vocab_size, greedy ? 0 : r));
        if (!greedy) rows.back().draft = r + 1 < block ? ids[r + 1] : -1;
        probe.accept(ids[r]);
      }
      options.sample_rows = &rows;
    }
    exec::StepOutput out = gpu.run(state, ids, options);
    if (on_device && out.sampled_rows.size() != std::size_t(block)) {
      throw Error(ErrorCode::kInternal, "mimo-bench: the device declined the verify rows");
    }
    std::int64_t checksum = 0;
    for (int r = 0; r < block && !on_device; ++r) {
      const float* row = out.logits.data() + std::size_t(r) * c.vocab_size;
      if (greedy) {
        checksum += sampler.sample(row, c.vocab_size).token;
        continue;
      }
      const std::int32_t draft = r + 1 < block ? ids[r + 1] : -1;
      checksum += verify_sampled(sampler, row, c.vocab_size, draft, p).token;
    }
    const double elapsed =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (checksum < 0) throw Error(ErrorCode::kInternal, "mimo-bench: no token decided");
    state.truncate(state.length() - block);
    if (i >= 2) ms.push_back(elapsed);
  }
  return median(ms);
}

// One decode step on the engine with per-task clocks (direct launches: captured graphs hold the
// plans without the timeline), written as CSV for tools/engine/timeline.py.
void write_timeline(cuda::GpuExecutor& gpu, exec::ExecutorState& state,
                    const model::ModelConfig& config, const std::string& path) {
  cuda::engine::EngineRunner& engine = *gpu.engine_runner();
  engine.record_timeline(true);
  gpu.set_use_graphs(false);
  const std::vector<std::int32_t> token{1};
  gpu.run(state, token, exec::StepOptions{});
  state.truncate(state.length() - 1);
  gpu.set_use_graphs(true);
  program::StepShape decode;
  const program::StepProgram p = program::build_step_program(config, decode);
  const auto tasks = engine.timeline(p, dynamic_cast<cuda::GpuState&>(state));
  engine.record_timeline(false);
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw Error(ErrorCode::kIo, "mimo-bench: cannot write " + path);
  std::fprintf(f, "segment,op,kind,layer,tile,chunk,prologue,queue,sm,start_ns,end_ns\n");
  for (const auto& t : tasks) {
    std::fprintf(f, "%d,%d,%s,%d,%d,%d,%d,%d,%d,%llu,%llu\n", t.segment, t.op, t.op_name,
                 p.ops[t.op].layer, t.tile, t.chunk, t.prologue ? 1 : 0, t.entry.queue, t.entry.sm,
                 t.entry.start_ns, t.entry.end_ns);
  }
  std::fclose(f);
  std::printf("timeline: %zu engine tasks of a decode step in %s\n", tasks.size(), path.c_str());
}

int run(const Args& args) {
  if (args.engine_probe) {  // plans only: no weights needed
    const model::ModelConfig probed = args.synthetic
                                          ? model::benchmark_config(args.layers, args.experts)
                                          : model::load_model_config(args.model_dir);
    std::printf("device: %s\n", cuda::describe_devices().c_str());
    bench::engine_probe(probed, args.verify, stdout);
    return 0;
  }
  model::ModelConfig config;
  std::unique_ptr<io::Checkpoint> checkpoint;
  model::ModelWeights weights;
  std::unique_ptr<cuda::DeviceModel> device_model;
  const auto t0 = std::chrono::steady_clock::now();
  if (args.synthetic) {
    config = model::benchmark_config(args.layers, args.experts);
    device_model = cuda::synthetic_model(config, 1234);
  } else {
    config = model::load_model_config(args.model_dir);
    checkpoint = std::make_unique<io::Checkpoint>(io::Checkpoint::open(args.model_dir));
    weights = model::bind_weights(config, *checkpoint);
    device_model = cuda::upload_model(config, weights);
  }
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  cuda::GpuExecutor gpu(config, std::move(device_model));
  gpu.set_engine(args.persistent);
  if (args.paged) gpu.engine_runner()->set_paging(true);
  Report out;
  if (!args.out.empty()) out.files[1] = std::fopen(args.out.c_str(), "w");
  out.line("device: %s\n", gpu.device_name().c_str());
  out.line(
      "model: %s, %d layers, %d experts (top-%d), hidden %d, vocab %d; weights %.2f GB "
      "on the device, made in %.1f s\n",
      args.synthetic ? "synthetic benchmark geometry" : args.model_dir.c_str(), config.num_layers,
      config.n_routed_experts, config.num_experts_per_tok, config.hidden_size, config.vocab_size,
      gpu.device_model().arena.bytes() / 1e9, load_s);
  const double bandwidth = read_bandwidth();
  out.line("read bandwidth (16-byte loads, 4 GiB, median of 5): %.0f GB/s\n", bandwidth / 1.0);
  out.line("runner: %s\n", !args.persistent ? "stream (a kernel per op)"
                           : args.paged     ? "persistent engine, projections through the page ring"
                                            : "persistent engine (--engine persistent)");

  const int max_step = std::max(args.verify, 16);
  const int max_prefill_chunk =
      *std::max_element(args.prefill_chunks.begin(), args.prefill_chunks.end());
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> token(0, config.vocab_size - 1);
  {
    auto warm = gpu.new_state({64, max_step});
    std::vector<std::int32_t> ids(16, 1);
    gpu.run(*warm, ids, exec::StepOptions{});
  }
  std::vector<std::int32_t> prompt(args.context);
  for (auto& t : prompt) t = token(rng);
  // Each chunk size in its own state; the largest's, prefilled, then serves the decode and verify
  // steps at context `context` (and --profile's prefill chunk).
  std::unique_ptr<exec::ExecutorState> state;
  for (int chunk : args.prefill_chunks) {
    auto prefill_state = gpu.new_state({args.context + max_prefill_chunk + 16, max_step, chunk});
    exec::StepOptions options;  // the prompt's last row only, as Session::prefill runs it
    options.max_chunk = chunk;
    std::vector<double> seconds;
    for (int i = 0; i <= args.prefill_runs; ++i) {
      prefill_state->truncate(0);
      const auto p0 = std::chrono::steady_clock::now();
      gpu.run(*prefill_state, prompt, options);
      if (i > 0) {  // the first run plans the chunk shapes
        seconds.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count());
      }
    }
    out.line("prefill: %d tokens in chunks of %d: %.1f tokens/s (median of %d runs)\n",
             args.context, chunk, args.context / median(seconds), args.prefill_runs);
    if (chunk == max_prefill_chunk && !state) state = std::move(prefill_state);
  }

  out.line("%-10s %9s %9s %10s %9s %9s %9s %9s\n", "step", "ms", "tok/s", "GB needed", "GB/s",
           "roofline", "experts", "host us");
  for (int block : {1, args.verify}) {
    const StepResult r = measure(gpu, *state, config, block, args.steps, rng);
    const double achieved = r.bytes / (r.ms * 1e-3) / 1e9;
    out.line("%-10s %9.3f %9.1f %10.3f %9.0f %9.3f %9.1f %9.1f\n",
             block == 1 ? "decode-1" : ("verify-" + std::to_string(block)).c_str(), r.ms,
             block / (r.ms * 1e-3), r.bytes / 1e9, achieved, achieved / bandwidth, r.distinct,
             r.host_us);
  }
  out.line(
      "(context %d; experts = distinct experts per MoE layer; verify tok/s counts every "
      "token of the block)\n",
      args.context);
  if (args.draft_projection) {
    out.line("%s", bench::run_draft_projection(gpu, *state, config, args.steps).c_str());
  }
  if (args.persistent) {
    program::StepShape decode;
    const program::StepProgram p = program::build_step_program(config, decode);
    const auto c = gpu.engine_runner()->coverage(p, dynamic_cast<cuda::GpuState&>(*state));
    out.line("engine: %d of %d decode ops in %d persistent launches, %d ops as stream kernels\n",
             c.engine_ops, c.engine_ops + c.stream_ops, c.engine_launches, c.stream_ops);
    if (!args.timeline.empty()) write_timeline(gpu, *state, config, args.timeline);
  }
  // What a generated token costs end to end: the step plus sampling, device vs host.
  SamplerConfig greedy, nucleus, plain;
  nucleus.temperature = 0.8f;
  nucleus.top_p = 0.95f;
  nucleus.repetition_penalty = 1.1f;
  plain.temperature = 1.0f;  // no truncation: sampled without ranking the vocabulary
  for (const auto& [name, sc] :
       {std::pair{"greedy", greedy}, std::pair{"T0.8-top-p", nucleus}, std::pair{"T1.0", plain}}) {
    if (!args.sampling) break;
    const double device_ms = measure_sampled_step(gpu, *state, config, sc, true, args.steps);
    const double host_ms = measure_sampled_step(gpu, *state, config, sc, false, args.steps);
    out.line("decode-1 + %-10s token: %.3f ms sampled on the device, %.3f ms on the host\n", name,
             device_ms, host_ms);
  }
  for (const auto& [name, sc] :
       {std::pair{"greedy", greedy}, std::pair{"T0.8-top-p", nucleus}, std::pair{"T1.0", plain}}) {
    if (!args.sampling) break;
    const double device_ms =
        measure_verified_step(gpu, *state, config, args.verify, sc, true, args.steps, rng);
    const double host_ms =
        measure_verified_step(gpu, *state, config, args.verify, sc, false, args.steps, rng);
    out.line("verify-%d + %-10s rows: %.3f ms decided on the device, %.3f ms on the host\n",
             args.verify, name, device_ms, host_ms);
  }
  if (args.profile) {
    gpu.set_use_graphs(false);
    gpu.set_profiling(true);
    for (int block : {1, args.verify, max_prefill_chunk}) {
      std::vector<std::int32_t> ids(block);
      for (auto& t : ids) t = token(rng);
      gpu.take_profile();
      const auto start = std::chrono::steady_clock::now();
      exec::StepOptions options;
      options.max_chunk = block;  // one chunk (the prefill chunk: its last row's logits only)
      gpu.run(*state, ids, options);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      state->truncate(state->length() - block);
      const auto profile = gpu.take_profile();
      double sum = 0;
      for (const auto& [op, t] : profile) sum += t;
      out.line(
          "per-op breakdown, %d-token step, direct launches with events (%.3f ms wall, "
          "%.3f ms in ops):\n",
          block, ms, sum);
      for (const auto& [op, t] : profile) {
        out.line("  %-18s %8.3f ms  %5.1f%%\n", op.c_str(), t, 100 * t / sum);
      }
    }
    gpu.set_profiling(false);
    gpu.set_use_graphs(true);
  }
  if (out.files[1] != nullptr) std::fclose(out.files[1]);
  return 0;
}

// The held-out evaluation (spec_eval.hpp) with the target and drafter on the GPU: exit 1 when
// greedy speculative output differs from plain output.
int run_gpu_spec_eval(const Args& args) {
  bench::SpecEvalOptions options;
  options.model_dir = args.model_dir;
  options.drafter_dir = args.draft_dir;
  options.prompts_dir = args.spec_eval_dir;
  options.device = Device::kCuda;
  options.tokens = args.generate_tokens;
  options.argmax_drafts = args.argmax_drafts;
  if (args.most_drafts) options.draft_length = GenerateOptions::DraftLength::kMax;
  if (args.lookup_drafts > 0) options.lookup_drafts = args.lookup_drafts;
  const bench::SpecEvalReport report = bench::run_spec_eval(options);
  std::fputs(bench::format_spec_eval(report).c_str(), stdout);
  return report.lossless ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = bench::parse_args(argc, argv);
  if (cuda::device_count() == 0) {
    std::printf("SKIP: mimo-bench needs a CUDA device: %s\n", cuda::describe_devices().c_str());
    return 77;
  }
  cuda::set_programmatic_launch(args.programmatic_launch);
  try {
    if (!args.spec_eval_dir.empty()) return run_gpu_spec_eval(args);
    const int rc = run(args);
    if (rc != 0 || args.draft_dir.empty()) return rc;
    return bench::run_speculative_bench(args.model_dir, args.draft_dir, args.generate_tokens, 5);
  } catch (const mimo::Error& e) {
    std::fprintf(stderr, "mimo-bench: %s\n", e.what());
    return 1;
  }
}
