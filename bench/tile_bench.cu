// mimo-tile-bench: Google Benchmark microbenchmarks of the launch executor's tile kernels at the
// benchmark geometry of ../shared/docs/PERFORMANCE.md (hidden 4096, 64 heads over 4 kv heads,
// head dims 192 / 128, 64 experts of 2048 x 4096 top-8, vocab 152576), one kernel (or one op's
// kernels) per benchmark, for 1 and 8 tokens (the prefill GEMM and attention: 256 / 512).
//
// Each benchmark reports per call: the bytes the op must read (counter "bytes", as a rate), its
// FLOPs ("FLOP", as a rate) and "roofline" = bytes / (time x the read bandwidth of a 16-byte-load
// probe measured first in the same process). Timing: 20 calls captured into one CUDA graph,
// rotating over weight copies larger than the 50 MB L2, replayed per iteration; the manual time
// is the replay's event time / 20. Weights are random (no FP8 NaN codes, E8M0 scales near 2^-7).
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "cuda/runtime/device_sampler.hpp"

namespace {

using namespace mimo::cuda;

#define CHECK_CUDA(call)                                                 \
  do {                                                                   \
    cudaError_t err_ = (call);                                           \
    if (err_ != cudaSuccess) {                                           \
      std::fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(err_)); \
      std::exit(1);                                                      \
    }                                                                    \
  } while (0)

constexpr int kHidden = 4096, kHeads = 64, kKvHeads = 4, kHeadDim = 192, kVHeadDim = 128;
constexpr int kExperts = 64, kInter = 2048, kTopK = 8, kVocab = 152576, kContext = 256;
constexpr int kCalls = 20;  // calls captured into one graph

std::mt19937_64 rng(20261127);
double probe_bytes_per_s = 0;  // measured before any benchmark runs

DeviceBuffer random_bytes(std::size_t n, bool fp8_safe) {
  std::vector<std::uint64_t> host((n + 7) / 8);
  for (auto& v : host) v = rng();
  auto* bytes = reinterpret_cast<std::uint8_t*>(host.data());
  if (fp8_safe) {
    for (std::size_t i = 0; i < n; ++i) {
      if ((bytes[i] & 0x7F) == 0x7F) bytes[i] ^= 0x01;  // no E4M3 NaN codes
    }
  }
  DeviceBuffer d(n);
  copy_to_device(d.get(), host.data(), n);
  return d;
}

DeviceBuffer random_floats(std::size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> host(n);
  for (auto& v : host) v = dist(rng);
  return to_device(host);
}

DeviceBuffer e8m0_scales(std::size_t n) {
  std::vector<std::uint8_t> host(n);
  for (auto& v : host) v = static_cast<std::uint8_t>(118 + rng() % 6);
  DeviceBuffer d(n);
  copy_to_device(d.get(), host.data(), n);
  return d;
}

// Copies of a weight of `bytes` so that a graph rotating over them reads from DRAM, not L2.
int copies_for(std::size_t bytes) {
  return static_cast<int>(std::clamp<std::size_t>((std::size_t(256) << 20) / bytes, 1, kCalls));
}

// Runs `call(stream, i)` for i = 0 .. kCalls - 1 as one graph per iteration; manual time per call.
void run_timed(benchmark::State& state, const std::function<void(cudaStream_t, int)>& call,
               double bytes, double flops) {
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  for (int i = 0; i < 3; ++i) call(stream, i);  // warm-up (module load, attributes)
  CHECK_CUDA(cudaStreamSynchronize(stream));
  cudaGraph_t graph;
  CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < kCalls; ++i) call(stream, i);
  CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec;
  CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  CHECK_CUDA(cudaGraphLaunch(exec, stream));
  for (auto _ : state) {
    CHECK_CUDA(cudaEventRecord(start, stream));
    CHECK_CUDA(cudaGraphLaunch(exec, stream));
    CHECK_CUDA(cudaEventRecord(stop, stream));
    CHECK_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms / 1000.0 / kCalls);
  }
  using benchmark::Counter;
  state.counters["bytes"] = Counter(bytes, Counter::kIsIterationInvariantRate, Counter::kIs1000);
  state.counters["FLOP"] = Counter(flops, Counter::kIsIterationInvariantRate, Counter::kIs1000);
  if (probe_bytes_per_s > 0) {
    state.counters["roofline"] =
        Counter(bytes / probe_bytes_per_s, Counter::kIsIterationInvariantRate);
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(stream);
}

// Splits `rows` rows of x into `split` (SplitActivations buffers owned by the caller).
struct Split {
  DeviceBuffer hi, lo, inv;
  SplitActivations view;
  Split(const DeviceBuffer& x, int rows, int cols)
      : hi(std::size_t(rows) * cols * 2), lo(std::size_t(rows) * cols * 2), inv(rows * 4) {
    view = {hi.as<std::uint16_t>(), lo.as<std::uint16_t>(), inv.as<float>(), cols};
    split_activations(x.as<float>(), rows, cols, view);
    synchronize();
  }
};

// How an FP8 benchmark multiplies: the decode linear from float32 or split rows, or the prefill
// GEMM (prefill_linear) from split rows.
enum class Fp8Path { kFloat, kSplit, kGemm };

void fp8_linear(benchmark::State& state, Fp8Path path) {
  const int rows = int(state.range(0)), cols = int(state.range(1)), tokens = int(state.range(2));
  const std::size_t code_bytes = std::size_t(rows) * cols;
  const int scale_count = (rows / 128) * (cols / 128), copies = copies_for(code_bytes);
  std::vector<DeviceBuffer> codes, scales;
  for (int c = 0; c < copies; ++c) {
    codes.push_back(random_bytes(code_bytes, true));
    scales.push_back(random_floats(scale_count, 1e-3f, 2e-3f));
  }
  DeviceBuffer x = random_floats(std::size_t(tokens) * cols, -1, 1);
  const Split xs(x, tokens, cols);
  DeviceBuffer y(std::size_t(tokens) * rows * 4);
  run_timed(
      state,
      [&](cudaStream_t s, int i) {
        const Fp8Matrix m{codes[i % copies].as<std::uint8_t>(),
                          scales[i % copies].as<float>(),
                          rows,
                          cols,
                          cols / 128,
                          128,
                          128,
                          0};
        if (path == Fp8Path::kGemm) {
          prefill_linear(m, xs.view, tokens, y.as<float>(), s);
        } else if (path == Fp8Path::kSplit) {
          linear(m, xs.view, tokens, y.as<float>(), s);
        } else {
          linear(m, x.as<float>(), tokens, y.as<float>(), s);
        }
      },
      double(code_bytes) + 4.0 * scale_count, 2.0 * rows * cols * tokens);
}

// FP8 128 x 128 block-scaled linear. Args: rows, cols, tokens, split input (0 / 1).
void BM_Fp8Linear(benchmark::State& state) {
  fp8_linear(state, state.range(3) != 0 ? Fp8Path::kSplit : Fp8Path::kFloat);
}

// A prefill chunk's FP8 linear from split rows: the prefill GEMM (gemm 1) or the decode linear
// (gemm 0, for comparison). The "FLOP" rate is the achieved FLOP/s (2 rows x cols x tokens).
void BM_PrefillGemm(benchmark::State& state) {
  fp8_linear(state, state.range(3) != 0 ? Fp8Path::kGemm : Fp8Path::kSplit);
}

// MXFP4 experts, grouping + gate/up + down + weighted reduce, inputs split. Args: tokens, pool,
// prefill (1: prefill_expert_gate_up / prefill_expert_down, a prefill chunk's kernels).
// Each of the 20 captured calls has its own routing: every token picks kTopK distinct experts of
// a random pool of `pool` experts (64: uniform routing; 18: ~17.6 distinct experts for 8 tokens,
// the sharing mimo-bench's synthetic verify step shows). Bytes count the mean number of distinct
// experts.
void BM_Experts(benchmark::State& state) {
  const int tokens = int(state.range(0)), pool = int(state.range(1));
  const bool prefill = state.range(2) != 0;  // the experts' prefill GEMM
  if (pool < kTopK || pool > kExperts) return state.SkipWithError("pool outside [top-k, experts]");
  const std::size_t codes = std::size_t(kExperts) * kInter * kHidden / 2;
  DeviceBuffer g = random_bytes(codes, false), u = random_bytes(codes, false),
               d = random_bytes(codes, false);
  DeviceBuffer gs = e8m0_scales(codes / 16), us = e8m0_scales(codes / 16),
               ds = e8m0_scales(codes / 16);
  const Mxfp4Stack gate{g.as<std::uint8_t>(), gs.as<std::uint8_t>(), kExperts, kInter, kHidden};
  const Mxfp4Stack up{u.as<std::uint8_t>(), us.as<std::uint8_t>(), kExperts, kInter, kHidden};
  const Mxfp4Stack down{d.as<std::uint8_t>(), ds.as<std::uint8_t>(), kExperts, kHidden, kInter};
  std::vector<int> ids;
  double distinct = 0;
  for (int call = 0; call < kCalls; ++call) {
    std::vector<bool> seen(kExperts, false);
    std::vector<int> all(kExperts);
    for (int e = 0; e < kExperts; ++e) all[e] = e;
    std::shuffle(all.begin(), all.end(), rng);
    for (int t = 0; t < tokens; ++t) {
      std::shuffle(all.begin(), all.begin() + pool, rng);
      for (int k = 0; k < kTopK; ++k) {
        ids.push_back(all[k]);
        distinct += seen[all[k]] ? 0.0 : 1.0 / kCalls;
        seen[all[k]] = true;
      }
    }
  }
  const int slots = tokens * kTopK;
  DeviceBuffer dids = to_device(ids);
  DeviceBuffer w = random_floats(ids.size(), 0.05f, 0.2f);
  DeviceBuffer x = random_floats(std::size_t(tokens) * kHidden, -1, 1);
  const Split xs(x, tokens, kHidden);
  DeviceBuffer act(std::size_t(slots) * kInter * 4), y(std::size_t(tokens) * kHidden * 4);
  DeviceBuffer partial(std::size_t(slots) * kHidden * 4);
  DeviceBuffer groups(expert_group_table_ints(slots) * sizeof(int));
  DeviceBuffer act_hi(std::size_t(slots) * kInter * 2), act_lo(std::size_t(slots) * kInter * 2),
      act_inv(slots * 4);
  const SplitActivations act_split{act_hi.as<std::uint16_t>(), act_lo.as<std::uint16_t>(),
                                   act_inv.as<float>(), kInter};
  const double per_expert = 3.0 * (double(kInter) * kHidden / 2 + double(kInter) * kHidden / 32);
  state.counters["distinct"] = distinct;
  run_timed(
      state,
      [&](cudaStream_t s, int i) {
        const int* call_ids = dids.as<int>() + (i % kCalls) * slots;
        const float* call_w = w.as<float>() + (i % kCalls) * slots;
        group_experts(call_ids, tokens, kTopK, kExperts, groups.as<int>(), s);
        if (prefill) {
          prefill_expert_gate_up(gate, up, xs.view, groups.as<int>(), tokens, kTopK,
                                 act.as<float>(), s);
        } else {
          expert_gate_up(gate, up, xs.view, groups.as<int>(), tokens, kTopK, act.as<float>(), s);
        }
        split_activations(act.as<float>(), slots, kInter, act_split, s);
        if (prefill) {
          prefill_expert_down(down, act_split, groups.as<int>(), call_w, tokens, kTopK,
                              partial.as<float>(), y.as<float>(), s);
        } else {
          expert_down(down, act_split, groups.as<int>(), call_w, tokens, kTopK, partial.as<float>(),
                      y.as<float>(), s);
        }
      },
      per_expert * distinct, 2.0 * 3.0 * kInter * kHidden * slots);
}

// BF16 lm_head (1.25 GB: no rotation needed). Arg: tokens.
void BM_LmHead(benchmark::State& state) {
  const int tokens = int(state.range(0));
  DeviceBuffer head = random_bytes(std::size_t(kVocab) * kHidden * 2, false);
  DeviceBuffer x = random_floats(std::size_t(tokens) * kHidden, -1, 1);
  DeviceBuffer y(std::size_t(tokens) * kVocab * 4);
  const Bf16Matrix m{head.as<std::uint16_t>(), kVocab, kHidden};
  run_timed(
      state, [&](cudaStream_t s, int) { linear(m, x.as<float>(), tokens, y.as<float>(), s); },
      2.0 * kVocab * kHidden, 2.0 * kVocab * kHidden * tokens);
}

// RMSNorm with the residual add and the split output the tensor-core tiles read. Arg: tokens.
void BM_RmsNorm(benchmark::State& state) {
  const int tokens = int(state.range(0));
  DeviceBuffer x = random_floats(std::size_t(tokens) * kHidden, -1, 1);
  DeviceBuffer delta = random_floats(std::size_t(tokens) * kHidden, -0.1f, 0.1f);
  DeviceBuffer weight = random_floats(kHidden, 0.5f, 1.5f);
  DeviceBuffer out(std::size_t(tokens) * kHidden * 4);
  const Split split(out, tokens, kHidden);
  run_timed(
      state,
      [&](cudaStream_t s, int) {
        rmsnorm(x.as<float>(), delta.as<float>(), weight.as<float>(), tokens, kHidden, 1e-5f,
                out.as<float>(), split.view, s);
      },
      3.0 * tokens * kHidden * 4, 4.0 * tokens * kHidden);
}

// Random queries of `tokens` tokens at positions first, first + 1, ... over a full-attention
// cache of `capacity` random keys and values, and room for the output.
struct AttentionInputs {
  AttentionShape shape;
  DeviceBuffer k, v, q, positions, out;
  KvCacheView cache;
  AttentionInputs(int tokens, int first, int capacity) {
    shape.num_heads = kHeads;
    shape.num_kv_heads = kKvHeads;
    shape.head_dim = kHeadDim;
    shape.v_head_dim = kVHeadDim;
    shape.score_scale = 1.0f / std::sqrt(float(kHeadDim));
    k = random_floats(std::size_t(capacity) * kKvHeads * kHeadDim, -1, 1);
    v = random_floats(std::size_t(capacity) * kKvHeads * kVHeadDim, -1, 1);
    cache = KvCacheView{k.as<float>(), v.as<float>(), capacity};
    q = random_floats(std::size_t(tokens) * kHeads * kHeadDim, -1, 1);
    std::vector<int> pos(tokens);
    for (int t = 0; t < tokens; ++t) pos[t] = first + t;
    positions = to_device(pos);
    out = DeviceBuffer(std::size_t(tokens) * kHeads * kVHeadDim * 4);
  }
};

// Segmented attention over a full-attention cache at position kContext (+ t). Arg: tokens.
void BM_Attention(benchmark::State& state) {
  const int tokens = int(state.range(0)), capacity = kContext + 32;
  const int segments = (capacity + 31) / 32;
  AttentionInputs in(tokens, kContext, capacity);
  DeviceBuffer partial(attention_partial_floats(tokens, kHeads, kVHeadDim, segments) * 4);
  const double keys = kContext + tokens;
  run_timed(
      state,
      [&](cudaStream_t s, int) {
        attention(in.q.as<float>(), in.positions.as<int>(), tokens, in.shape, in.cache, nullptr,
                  in.out.as<float>(), s, partial.as<float>(), segments);
      },
      keys * kKvHeads * (kHeadDim + kVHeadDim) * 4.0,
      2.0 * tokens * kHeads * keys * (kHeadDim + kVHeadDim));
}

// Prefill attention of a chunk at positions context..context + tokens - 1 over a full-attention
// cache (keys read once per block of 64 query rows). Args: tokens, context.
void BM_PrefillAttention(benchmark::State& state) {
  const int tokens = int(state.range(0)), context = int(state.range(1));
  const int capacity = context + tokens;
  AttentionInputs in(tokens, context, capacity);
  const double keys_per_query = context + (tokens + 1) / 2.0;  // causal: on average
  run_timed(
      state,
      [&](cudaStream_t s, int) {
        prefill_attention(in.q.as<float>(), in.positions.as<int>(), tokens, in.shape, in.cache,
                          nullptr, in.out.as<float>(), s);
      },
      double(capacity) * kKvHeads * (kHeadDim + kVHeadDim) * 4.0,
      2.0 * tokens * kHeads * keys_per_query * (kHeadDim + kVHeadDim));
}

// Router: its F32 linear (experts x hidden) and the sigmoid / top-k. Arg: tokens.
void BM_Router(benchmark::State& state) {
  const int tokens = int(state.range(0));
  DeviceBuffer weights = random_floats(std::size_t(kExperts) * kHidden, -0.02f, 0.02f);
  DeviceBuffer bias = random_floats(kExperts, -0.1f, 0.1f);
  DeviceBuffer x = random_floats(std::size_t(tokens) * kHidden, -1, 1);
  DeviceBuffer logits(std::size_t(tokens) * kExperts * 4);
  DeviceBuffer experts(std::size_t(tokens) * kTopK * 4), gates(std::size_t(tokens) * kTopK * 4);
  const F32Matrix m{weights.as<float>(), kExperts, kHidden};
  RouterShape r;
  r.num_experts = kExperts;
  r.top_k = kTopK;
  run_timed(
      state,
      [&](cudaStream_t s, int) {
        linear(m, x.as<float>(), tokens, logits.as<float>(), s);
        route(logits.as<float>(), bias.as<float>(), tokens, r, experts.as<int>(), gates.as<float>(),
              s);
      },
      4.0 * kExperts * kHidden, 2.0 * kExperts * kHidden * tokens);
}

// Sampling one logits row on the device (DeviceSampler): greedy (arg-max + log-sum-exp), the
// ranked chain (temperature 0.8, top-p 0.95, a 64-token penalty window) and the unranked one
// (temperature 1 alone, same window). Arg: 0 greedy, 1 top-p, 2 temperature only.
// Bytes: the row read once (the ranked chain's passes over its sorted copies are not counted).
void BM_Sampling(benchmark::State& state) {
  const int kind = int(state.range(0));
  DeviceBuffer logits = random_floats(kVocab, -8.0f, 8.0f);
  DeviceSampler sampler(kVocab);
  mimo::exec::SampleRequest request;
  if (kind != 0) {
    request.config.temperature = kind == 1 ? 0.8f : 1.0f;
    request.config.top_p = kind == 1 ? 0.95f : 1.0f;
    request.config.repetition_penalty = 1.1f;
    for (int t = 0; t < 64; ++t) request.penalty_counts.emplace_back(t * 997 % kVocab, 1);
    request.u = 0.37;
  }
  sampler.stage(request);
  const DeviceSampler::Mode mode = DeviceSampler::mode_of(request);
  run_timed(
      state, [&](cudaStream_t s, int) { sampler.issue(logits.as<float>(), mode, s); }, 4.0 * kVocab,
      0);
}

// The probe every roofline fraction divides by: read-only 16-byte loads over 4 GiB.
void BM_ReadProbe(benchmark::State& state) {
  const std::size_t bytes = std::size_t(4) << 30;
  DeviceBuffer big(bytes);
  CHECK_CUDA(cudaMemset(big.get(), 0x5A, bytes));
  DeviceBuffer sink(64);
  run_timed(
      state, [&](cudaStream_t s, int) { stream_read(big.get(), bytes, sink.as<float>(), s); },
      double(bytes), 0.0);
}

double measure_probe() {
  const std::size_t bytes = std::size_t(4) << 30;
  DeviceBuffer big(bytes), sink(64);
  CHECK_CUDA(cudaMemset(big.get(), 0x5A, bytes));
  std::vector<double> rates;
  for (int rep = 0; rep < 5; ++rep) {
    cudaEvent_t start, stop;
    CHECK_CUDA(cudaEventCreate(&start));
    CHECK_CUDA(cudaEventCreate(&stop));
    CHECK_CUDA(cudaEventRecord(start));
    stream_read(big.get(), bytes, sink.as<float>());
    CHECK_CUDA(cudaEventRecord(stop));
    CHECK_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
    rates.push_back(bytes / (ms / 1000.0));
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

constexpr auto kUnit = benchmark::kMicrosecond;
BENCHMARK(BM_ReadProbe)->UseManualTime()->Unit(kUnit);
BENCHMARK(BM_Fp8Linear)
    ->ArgNames({"rows", "cols", "tokens", "split"})
    ->Args({12288, 4096, 1, 1})  // q_proj
    ->Args({12288, 4096, 8, 1})
    ->Args({12288, 4096, 8, 0})
    ->Args({4096, 8192, 1, 0})  // o_proj (float32 input: attention output)
    ->Args({4096, 8192, 8, 0})
    ->Args({768, 4096, 1, 1})  // k_proj of the full layers
    ->UseManualTime()
    ->Unit(kUnit);
BENCHMARK(BM_PrefillGemm)
    ->ArgNames({"rows", "cols", "tokens", "gemm"})
    ->Args({14848, 4096, 256, 1})  // q / k / v of a sliding layer, one batch
    ->Args({14848, 4096, 512, 1})
    ->Args({14848, 4096, 256, 0})
    ->Args({4096, 8192, 256, 1})  // o_proj
    ->Args({4096, 8192, 512, 1})
    ->UseManualTime()
    ->Unit(kUnit);
BENCHMARK(BM_Experts)
    ->ArgNames({"tokens", "pool", "prefill"})
    ->Args({1, kExperts, 0})
    ->Args({8, kExperts, 0})
    ->Args({8, 18, 0})
    ->Args({512, kExperts, 0})
    ->Args({512, kExperts, 1})
    ->UseManualTime()
    ->Unit(kUnit);
BENCHMARK(BM_LmHead)->ArgName("tokens")->Arg(1)->Arg(8)->UseManualTime()->Unit(kUnit);
BENCHMARK(BM_RmsNorm)->ArgName("tokens")->Arg(1)->Arg(8)->UseManualTime()->Unit(kUnit);
BENCHMARK(BM_Attention)->ArgName("tokens")->Arg(1)->Arg(8)->UseManualTime()->Unit(kUnit);
BENCHMARK(BM_PrefillAttention)
    ->ArgNames({"tokens", "context"})
    ->Args({256, 0})
    ->Args({256, 3840})
    ->UseManualTime()
    ->Unit(kUnit);
BENCHMARK(BM_Router)->ArgName("tokens")->Arg(1)->Arg(8)->UseManualTime()->Unit(kUnit);
BENCHMARK(BM_Sampling)->ArgName("kind")->Arg(0)->Arg(1)->Arg(2)->UseManualTime()->Unit(kUnit);

}  // namespace

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "mimo-tile-bench: no usable CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  probe_bytes_per_s = measure_probe();
  std::printf(
      "device: %s, %d SMs, L2 %d MB; read probe %.0f GB/s (roofline = bytes / (time x "
      "probe))\n",
      prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20, probe_bytes_per_s / 1e9);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
