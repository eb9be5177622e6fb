// mimo-tp-bench: the tensor-parallel executor (cuda/tp) on N GPUs of one process, on synthetic
// weights of the MiMo-V2-Flash layer geometry or, with --geometry pro, the MiMo-V2.5-Pro one
// (--layers / --experts change its size; experts split by intermediate units over the ranks).
// Reports, per step shape (decode-1, verify-B): median step time and tokens/s; per GPU the bytes it
// must read (its shard of the non-expert weights + its slice of the distinct experts the router
// chose + its KV cache), its read bandwidth measured before the weights were made, and their ratio
// (roofline fraction); and the communication: time between events around every all-reduce of a
// directly launched step (including waits for the slower rank), and back-to-back all-reduces
// without compute. With --one-rank: only rank 0's shard of an N-rank split, timed alone on one
// GPU (its compute and reads, no collectives), and a projection of the N-GPU step that adds
// the step's all-reduces at a given measured cost (--all-reduce-us).
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/stream/gpu_executor.hpp"
#include "cuda/tp/rank_models.hpp"
#include "cuda/tp/tp_executor.hpp"
#include "mimo/error.hpp"
#include "model/benchmark_config.hpp"

namespace {

using namespace mimo;
using cuda::tp::TensorParallelExecutor;

struct Args {
  int ranks = 2, layers = 0, experts = 0, context = 256, verify = 8, steps = 20;
  std::string geometry = "flash", out;
  bool one_rank = false;
  double all_reduce_us = 0;  // measured cost of one all-reduce at N ranks (0: not given)
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: mimo-tp-bench --synthetic [--geometry flash|pro] [--ranks N] [--layers L] "
               "[--experts E] [--context C] [--verify B] [--steps S] [--out FILE] "
               "[--one-rank [--all-reduce-us U]]\n"
               "  flash: MiMo-V2-Flash layer shapes (default 48 layers, 64 experts)\n"
               "  pro:   MiMo-V2.5-Pro layer shapes (default 70 layers, 384 experts)\n"
               "  --one-rank: rank 0's shard of the --ranks split alone on GPU 0 (a projection: "
               "its compute plus the step's all-reduces at U us each, measured elsewhere)\n");
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  bool synthetic = false;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> int {
      if (i + 1 >= argc) usage();
      return std::atoi(argv[++i]);
    };
    if (k == "--synthetic") {
      synthetic = true;
    } else if (k == "--ranks") {
      a.ranks = value();
    } else if (k == "--layers") {
      a.layers = value();
    } else if (k == "--experts") {
      a.experts = value();
    } else if (k == "--context") {
      a.context = value();
    } else if (k == "--verify") {
      a.verify = value();
    } else if (k == "--steps") {
      a.steps = value();
    } else if (k == "--geometry") {
      if (i + 1 >= argc) usage();
      a.geometry = argv[++i];
    } else if (k == "--out") {
      if (i + 1 >= argc) usage();
      a.out = argv[++i];
    } else if (k == "--one-rank") {
      a.one_rank = true;
    } else if (k == "--all-reduce-us") {
      if (i + 1 >= argc) usage();
      a.all_reduce_us = std::atof(argv[++i]);
    } else {
      usage();
    }
  }
  const bool pro = a.geometry == "pro";
  if (a.layers == 0) a.layers = pro ? 70 : 48;
  if (a.experts == 0) a.experts = pro ? 384 : 64;
  if (!synthetic || (a.geometry != "flash" && !pro) || a.ranks < 1 || a.layers < 2 ||
      a.experts < 8 || a.context < 1 || a.verify < 1 || a.steps < 1 || a.all_reduce_us < 0 ||
      (a.all_reduce_us > 0 && !a.one_rank)) {
    usage();
  }
  return a;
}

// MiMo-V2.5-Pro layer shapes (../shared/docs/MIMO.md): hidden 6144, 128 heads over 8 kv heads
// in both attention kinds, layer 0 dense. Full attention at its layers 0, 7, 15, 23, 31, 39, 47,
// 55, 62, 69 when there are 70; for other counts at 0, every eighth from 7, and the last.
model::ModelConfig pro_config(int layers, int experts) {
  model::ModelConfig c = model::benchmark_config(layers, experts);
  c.architecture = "MiMoV2ForCausalLM";
  c.hidden_size = 6144;
  c.full = {128, 8, 192, 128, 10000000.0, 64, false};
  c.sliding = {128, 8, 192, 128, 10000.0, 64, true};
  c.attention_value_scale = 0.612;
  const std::set<int> full_at_70 = {0, 7, 15, 23, 31, 39, 47, 55, 62, 69};
  for (int l = 0; l < layers; ++l) {
    const bool full =
        layers == 70 ? full_at_70.count(l) > 0 : l == 0 || l % 8 == 7 || l == layers - 1;
    c.layers[l].attention = full ? model::AttentionKind::kFull : model::AttentionKind::kSliding;
  }
  return c;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// GB/s of the 16-byte-load probe over 2 GiB on `device` (median of 5).
double read_bandwidth(int device) {
  cudaSetDevice(device);
  const std::size_t bytes = std::size_t(2) << 30;
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
      if (f != nullptr) {
        std::fprintf(f, format, values...);
        std::fflush(f);
      }
    }
  }
};

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

// A state with room for the context and a verify block (at least 16 tokens a step).
std::unique_ptr<exec::ExecutorState> bench_state(const exec::Executor& executor, const Args& args) {
  const int max_step = std::max(args.verify, 16);
  return executor.new_state({args.context + max_step + 16, max_step});
}

std::vector<std::int32_t> random_tokens(int count, std::uniform_int_distribution<int>& token,
                                        std::mt19937& rng) {
  std::vector<std::int32_t> ids(count);
  for (auto& t : ids) t = token(rng);
  return ids;
}

// Distinct experts the router chose in each MoE layer of a step (GpuExecutor / TP last_experts).
std::vector<std::set<int>> distinct_experts(const std::vector<std::vector<int>>& chosen) {
  std::vector<std::set<int>> out;
  for (const auto& layer : chosen) out.emplace_back(layer.begin(), layer.end());
  return out;
}

// Bytes one GPU reads in a step: its fixed weights, its KV cache at `context` and its slice of
// every distinct chosen expert (`experts`, one set per MoE layer of `c` in order).
double step_bytes(const cuda::DeviceModel& m, const model::ModelConfig& c, long long context,
                  const std::vector<std::set<int>>& experts) {
  double bytes = double(m.fixed_step_bytes()) + kv_bytes(c, context);
  for (std::size_t l = 0, moe = 0; l < c.layers.size(); ++l) {
    if (c.layers[l].mlp != model::MlpKind::kMoe) continue;
    bytes += double(experts[moe++].size()) * m.layers[l].experts.bytes_per_expert;
  }
  return bytes;
}

// Mean distinct experts a MoE layer (0 without MoE layers).
double mean_distinct(const std::vector<std::set<int>>& experts) {
  double total = 0;
  for (const auto& e : experts) total += e.size();
  return experts.empty() ? 0 : total / experts.size();
}

struct StepResult {
  double ms = 0, host_us = 0, distinct = 0;
  std::vector<double> bytes;  // per rank
};

StepResult measure(TensorParallelExecutor& tp, exec::ExecutorState& state,
                   const model::ModelConfig& c, int block, int steps, std::mt19937& rng) {
  std::uniform_int_distribution<int> token(0, c.vocab_size - 1);
  const int n_ranks = tp.num_ranks();
  std::vector<double> ms, host, distinct;
  std::vector<std::vector<double>> bytes(n_ranks);
  exec::StepOptions options;
  options.all_logits = block > 1;
  for (int i = 0; i < steps + 2; ++i) {
    std::vector<std::int32_t> ids(block);
    for (auto& t : ids) t = token(rng);
    const auto start = std::chrono::steady_clock::now();
    tp.run(state, ids, options);
    const double elapsed =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const auto experts = distinct_experts(tp.last_experts(state, block));
    std::vector<double> rank_bytes(n_ranks);
    for (int r = 0; r < n_ranks; ++r) {
      rank_bytes[r] = step_bytes(tp.rank_model(r), tp.rank_config(r), state.length(), experts);
    }
    state.truncate(state.length() - block);
    if (i < 2) continue;  // warm-up (graph capture)
    ms.push_back(elapsed);
    host.push_back(tp.last_step().host_us);
    distinct.push_back(mean_distinct(experts));
    for (int r = 0; r < n_ranks; ++r) bytes[r].push_back(rank_bytes[r]);
  }
  StepResult out{median(ms), median(host), median(distinct), {}};
  for (auto& b : bytes) out.bytes.push_back(median(b));
  return out;
}

// Rank 0's shard of an args.ranks split (experts by intermediate units, as the executor splits
// them) as a one-GPU model: the geometry its kernels see, no collectives in its programs.
int run_one_rank(const Args& args, const model::ModelConfig& config) {
  int count = 0;
  cudaGetDeviceCount(&count);
  if (count < 1) {
    std::printf("SKIP: --one-rank needs a CUDA device, found none\n");
    return 77;
  }
  Report out;
  if (!args.out.empty()) out.files[1] = std::fopen(args.out.c_str(), "w");
  const double bandwidth = read_bandwidth(0);
  const exec::ShardingPlan plan =
      exec::make_sharding_plan(config, args.ranks, exec::MoeSplit::kExpertColumns);
  const model::ModelConfig rank = cuda::tp::rank_config(config, plan.ranks[0]);
  const auto t0 = std::chrono::steady_clock::now();
  cuda::GpuExecutor gpu(rank, cuda::tp::synthetic_rank_model(config, plan.ranks[0], 1234));
  const double made_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const cuda::DeviceModel& m = gpu.device_model();
  out.line("device: %s\n", gpu.device_name().c_str());
  out.line(
      "PROJECTION: rank 0 of %d of the synthetic %s layer geometry (%d layers, %d experts, "
      "top-%d, hidden %d), alone on one GPU: %d local heads, %d of %d vocab rows, each "
      "expert's %d of %d intermediate units; weights %.2f GB, made in %.1f s; read bandwidth "
      "%.0f GB/s\n",
      args.ranks, args.geometry == "pro" ? "MiMo-V2.5-Pro" : "MiMo-V2-Flash", config.num_layers,
      config.n_routed_experts, config.num_experts_per_tok, config.hidden_size, rank.full.num_heads,
      rank.vocab_size, config.vocab_size, rank.moe_intermediate_size, config.moe_intermediate_size,
      m.arena.bytes() / 1e9, made_s, bandwidth);
  auto state = bench_state(gpu, args);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> token(0, rank.vocab_size - 1);
  gpu.run(*state, random_tokens(args.context, token, rng), exec::StepOptions{});
  // Per step: two all-reduces a layer (attention output, MLP output) of tokens x hidden floats,
  // and the logits' all-gather (not counted: one small collective a step).
  const int reduces = 2 * config.num_layers;
  out.line("%-10s %9s %9s %9s %9s %9s %12s %12s\n", "step", "ms", "tok/s", "experts", "GB",
           "roofline", "+ comm ms", "projected/s");
  for (int block : {1, args.verify}) {
    exec::StepOptions options;
    options.all_logits = block > 1;
    std::vector<double> ms, distinct, bytes;
    for (int i = 0; i < args.steps + 2; ++i) {
      std::vector<std::int32_t> ids(block);
      for (auto& t : ids) t = token(rng);
      const auto start = std::chrono::steady_clock::now();
      gpu.run(*state, ids, options);
      const double elapsed =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      const auto experts = distinct_experts(gpu.last_experts(*state, block));
      const double read = step_bytes(m, rank, state->length(), experts);
      state->truncate(state->length() - block);
      if (i < 2) continue;  // warm-up (graph capture)
      ms.push_back(elapsed);
      distinct.push_back(mean_distinct(experts));
      bytes.push_back(read);
    }
    const double step_ms = median(ms), gb = median(bytes) / 1e9;
    const double comm_ms = reduces * args.all_reduce_us / 1000;
    char projected[64] = "-";
    if (args.all_reduce_us > 0) {
      std::snprintf(projected, sizeof projected, "%.1f", block / ((step_ms + comm_ms) * 1e-3));
    }
    out.line("%-10s %9.3f %9.1f %9.1f %9.3f %9.3f %12.3f %12s\n",
             block == 1 ? "decode-1" : ("verify-" + std::to_string(block)).c_str(), step_ms,
             block / (step_ms * 1e-3), median(distinct), gb,
             gb / (step_ms * 1e-3) / (bandwidth / 1.0), comm_ms, projected);
  }
  out.line(
      "(context %d; a projection, not a %d-GPU measurement: the rank's step alone, plus %d "
      "all-reduces at %.1f us each%s; the verify tok/s counts every token of the block)\n",
      args.context, args.ranks, reduces, args.all_reduce_us,
      args.all_reduce_us > 0 ? "" : " (not given: --all-reduce-us)");
  if (out.files[1] != nullptr) std::fclose(out.files[1]);
  return 0;
}

int run(const Args& args) {
  if (args.one_rank) {
    const model::ModelConfig config = args.geometry == "pro"
                                          ? pro_config(args.layers, args.experts)
                                          : model::benchmark_config(args.layers, args.experts);
    return run_one_rank(args, config);
  }
  int count = 0;
  cudaGetDeviceCount(&count);
  if (count < args.ranks) {
    std::printf("SKIP: %d ranks need %d CUDA devices, found %d\n", args.ranks, args.ranks, count);
    return 77;
  }
  std::vector<int> devices;
  for (int r = 0; r < args.ranks; ++r) devices.push_back(r);
  Report out;
  if (!args.out.empty()) out.files[1] = std::fopen(args.out.c_str(), "w");
  std::vector<double> bandwidth;
  for (int d : devices) bandwidth.push_back(read_bandwidth(d));
  const model::ModelConfig config = args.geometry == "pro"
                                        ? pro_config(args.layers, args.experts)
                                        : model::benchmark_config(args.layers, args.experts);
  const auto t0 = std::chrono::steady_clock::now();
  TensorParallelExecutor tp(config, devices, 1234);
  const double made_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.line("device: %s\n", tp.device_name().c_str());
  out.line(
      "model: synthetic %s layer geometry, %d layers, %d experts (top-%d), "
      "hidden %d, vocab %d, split over %d ranks (experts by intermediate units), made in "
      "%.1f s\n",
      args.geometry == "pro" ? "MiMo-V2.5-Pro" : "MiMo-V2-Flash", config.num_layers,
      config.n_routed_experts, config.num_experts_per_tok, config.hidden_size, config.vocab_size,
      args.ranks, made_s);
  for (int r = 0; r < args.ranks; ++r) {
    std::size_t free_b = 0, total_b = 0;
    cudaSetDevice(devices[r]);
    cudaMemGetInfo(&free_b, &total_b);
    out.line("rank %d (GPU %d): weights %.2f GB, read bandwidth %.0f GB/s, %.1f GB free of %.1f\n",
             r, devices[r], tp.rank_model(r).arena.bytes() / 1e9, bandwidth[r], free_b / 1e9,
             total_b / 1e9);
  }
  const int max_step = std::max(args.verify, 16);
  auto state = bench_state(tp, args);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> token(0, config.vocab_size - 1);
  const auto p0 = std::chrono::steady_clock::now();
  tp.run(*state, random_tokens(args.context, token, rng), exec::StepOptions{});
  const double prefill_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count();
  out.line("prefill: %d tokens in chunks of %d: %.1f tokens/s\n", args.context, max_step,
           args.context / prefill_s);
  out.line("%-10s %9s %9s %9s %9s %s\n", "step", "ms", "tok/s", "experts", "host us",
           "per GPU: GB needed / GB/s / roofline");
  for (int block : {1, args.verify}) {
    const StepResult r = measure(tp, *state, config, block, args.steps, rng);
    std::string per_gpu;
    for (int g = 0; g < args.ranks; ++g) {
      const double achieved = r.bytes[g] / (r.ms * 1e-3) / 1e9;
      char cell[96];
      std::snprintf(cell, sizeof cell, "  [%d] %.3f / %.0f / %.3f", g, r.bytes[g] / 1e9, achieved,
                    achieved / bandwidth[g]);
      per_gpu += cell;
    }
    out.line("%-10s %9.3f %9.1f %9.1f %9.1f%s\n",
             block == 1 ? "decode-1" : ("verify-" + std::to_string(block)).c_str(), r.ms,
             block / (r.ms * 1e-3), r.distinct, r.host_us, per_gpu.c_str());
  }
  out.line(
      "(context %d; steps of up to max_step_tokens graph-replayed; experts = distinct per MoE "
      "layer; each GPU "
      "reads its 1/%d slice of every chosen expert)\n",
      args.context, args.ranks);
  if (args.ranks > 1) {
    tp.set_use_graphs(false);
    tp.set_comm_timing(true);
    for (int block : {1, args.verify}) {
      std::vector<double> wall;
      std::vector<std::vector<double>> comm(args.ranks);
      int reduces = 0;
      for (int i = 0; i < std::max(3, args.steps / 2) + 1; ++i) {
        std::vector<std::int32_t> ids(block);
        for (auto& t : ids) t = token(rng);
        const auto start = std::chrono::steady_clock::now();
        tp.run(*state, ids, exec::StepOptions{});
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        state->truncate(state->length() - block);
        if (i == 0) continue;
        wall.push_back(ms);
        const auto stats = tp.last_step();
        reduces = stats.all_reduces;
        for (int g = 0; g < args.ranks; ++g) comm[g].push_back(stats.comm_ms[g]);
      }
      std::string per_gpu;
      for (int g = 0; g < args.ranks; ++g) {
        char cell[48];
        std::snprintf(cell, sizeof cell, " [%d] %.3f ms", g, median(comm[g]));
        per_gpu += cell;
      }
      out.line(
          "comm in a %d-token step (direct launches, %.3f ms wall): %d all-reduces of "
          "%d floats, event time around them:%s\n",
          block, median(wall), reduces, block * config.hidden_size, per_gpu.c_str());
    }
    tp.set_comm_timing(false);
    tp.set_use_graphs(true);
    const int per_step = 2 * config.num_layers;
    for (int block : {1, args.verify, 16}) {
      const double ms = tp.time_all_reduces(per_step, block, 5);
      out.line(
          "%d back-to-back all-reduces of %d x %d floats (no compute): %.3f ms, %.1f us "
          "each\n",
          per_step, block, config.hidden_size, ms, 1000 * ms / per_step);
    }
  }
  if (out.files[1] != nullptr) std::fclose(out.files[1]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  try {
    return run(args);
  } catch (const mimo::Error& e) {
    std::fprintf(stderr, "mimo-tp-bench: %s\n", e.what());
    return 1;
  }
}
