// mimo-gpu-roofline: the read bandwidth of this GPU (a read-only 16-byte-load kernel and a
// device-to-device copy) and the launch executor's weight-streaming kernels at the benchmark
// geometry of ../shared/docs/PERFORMANCE.md, each as bytes needed / time / measured bandwidth.
// Weights are random (never zeros, no NaN codes); kernels are timed as CUDA-graph replays of 20
// launches that rotate over more weight copies than the 50 MB L2 holds. Prints a table.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "cuda/launch/device_memory.hpp"
#include "cuda/launch/ops.hpp"

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

std::mt19937_64 rng(12345);

// Random bytes with every FP8 E4M3 NaN code (0x7F / 0xFF) replaced.
DeviceBuffer random_bytes(std::size_t n, bool fp8_safe) {
  std::vector<std::uint64_t> host((n + 7) / 8);
  for (auto& v : host) v = rng();
  auto* bytes = reinterpret_cast<std::uint8_t*>(host.data());
  if (fp8_safe) {
    for (std::size_t i = 0; i < n; ++i) {
      if ((bytes[i] & 0x7F) == 0x7F) bytes[i] ^= 0x01;
    }
  }
  DeviceBuffer d(n);
  copy_to_device(d.get(), host.data(), n);
  return d;
}

DeviceBuffer constant_floats(std::size_t n, float lo, float hi) {
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

// Median microseconds per call of `body`, captured 20 times into one graph.
double time_us(const std::function<void(cudaStream_t, int)>& body) {
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  constexpr int kCalls = 20;
  for (int i = 0; i < 3; ++i) body(stream, i);  // warm-up (module load)
  CHECK_CUDA(cudaStreamSynchronize(stream));
  cudaGraph_t graph;
  CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < kCalls; ++i) body(stream, i);
  CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec;
  CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  CHECK_CUDA(cudaGraphLaunch(exec, stream));
  std::vector<double> samples;
  for (int rep = 0; rep < 7; ++rep) {
    CHECK_CUDA(cudaEventRecord(start, stream));
    CHECK_CUDA(cudaGraphLaunch(exec, stream));
    CHECK_CUDA(cudaEventRecord(stop, stream));
    CHECK_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
    samples.push_back(1000.0 * ms / kCalls);
  }
  std::sort(samples.begin(), samples.end());
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(stream);
  return samples[samples.size() / 2];
}

double read_bandwidth = 0;  // GB/s, set first

void row(const char* name, double bytes, double us) {
  const double gbs = bytes / (us * 1e3);
  std::printf("| %-44s | %10.1f | %9.2f | %8.0f | %5.2f |\n", name, bytes / 1e6, us, gbs,
              read_bandwidth > 0 ? gbs / read_bandwidth : 1.0);
}

}  // namespace

int main() {
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize >> 20);
  std::printf("| %-44s | %10s | %9s | %8s | %5s |\n", "kernel", "MB needed", "us/call", "GB/s",
              "frac");
  std::printf("|%s|\n", std::string(94, '-').c_str());

  DeviceBuffer sink(64);
  {
    const std::size_t bytes = std::size_t(8) << 30;
    DeviceBuffer big(bytes);
    CHECK_CUDA(cudaMemset(big.get(), 0x5A, bytes));  // any non-zero pattern: it is only read
    const double us =
        time_us([&](cudaStream_t s, int) { stream_read(big.get(), bytes, sink.as<float>(), s); });
    read_bandwidth = bytes / (us * 1e3);
    row("read-only 16B loads, 8 GiB (the roofline)", bytes, us);
    DeviceBuffer dst(std::size_t(2) << 30);
    const double copy_us = time_us([&](cudaStream_t s, int) {
      CHECK_CUDA(cudaMemcpyAsync(dst.get(), big.get(), dst.bytes(), cudaMemcpyDeviceToDevice, s));
    });
    row("cudaMemcpy D2D 2 GiB (read + write counted)", 2.0 * dst.bytes(), copy_us);
  }

  // FP8 128x128 linears: rotate over copies totalling >= 256 MB.
  struct Fp8Shape {
    const char* name;
    int rows, cols, tokens;
  };
  for (const Fp8Shape s : {Fp8Shape{"fp8 4096x4096, 1 token", 4096, 4096, 1},
                           Fp8Shape{"fp8 12288x4096 (q_proj), 1 token", 12288, 4096, 1},
                           Fp8Shape{"fp8 4096x8192 (o_proj), 1 token", 4096, 8192, 1},
                           Fp8Shape{"fp8 4096x4096, 8 tokens", 4096, 4096, 8},
                           Fp8Shape{"fp8 4096x4096, 16 tokens", 4096, 4096, 16}}) {
    const std::size_t code_bytes = std::size_t(s.rows) * s.cols;
    const int scale_count = (s.rows / 128) * (s.cols / 128);
    const int copies = int(std::max<std::size_t>(2, (std::size_t(256) << 20) / code_bytes));
    std::vector<DeviceBuffer> codes, scales;
    for (int c = 0; c < copies; ++c) {
      codes.push_back(random_bytes(code_bytes, true));
      scales.push_back(constant_floats(scale_count, 1e-3f, 2e-3f));
    }
    DeviceBuffer x = constant_floats(std::size_t(s.tokens) * s.cols, -1, 1);
    DeviceBuffer y(std::size_t(s.tokens) * s.rows * 4);
    const double us = time_us([&](cudaStream_t st, int i) {
      Fp8Matrix m{codes[i % copies].as<std::uint8_t>(),
                  scales[i % copies].as<float>(),
                  s.rows,
                  s.cols,
                  s.cols / 128,
                  128,
                  128,
                  0};
      linear(m, x.as<float>(), s.tokens, y.as<float>(), st);
    });
    row(s.name, double(code_bytes) + 4.0 * scale_count, us);
  }

  // MXFP4 experts at the benchmark geometry: 64 experts of 2048 x 4096, top-8 per token.
  {
    const int experts = 64, hidden = 4096, inter = 2048, top_k = 8;
    const std::size_t gate_codes = std::size_t(experts) * inter * hidden / 2;
    DeviceBuffer g = random_bytes(gate_codes, false), u = random_bytes(gate_codes, false),
                 d = random_bytes(gate_codes, false);
    DeviceBuffer gs = e8m0_scales(gate_codes / 16), us_ = e8m0_scales(gate_codes / 16),
                 ds = e8m0_scales(gate_codes / 16);
    const Mxfp4Stack gate{g.as<std::uint8_t>(), gs.as<std::uint8_t>(), experts, inter, hidden};
    const Mxfp4Stack up{u.as<std::uint8_t>(), us_.as<std::uint8_t>(), experts, inter, hidden};
    const Mxfp4Stack down{d.as<std::uint8_t>(), ds.as<std::uint8_t>(), experts, hidden, inter};
    const double expert_bytes = 3.0 * (double(inter) * hidden / 2 + double(inter) * hidden / 32);
    for (int tokens : {1, 8}) {
      // 20 routings (one per captured call): distinct experts per token, random across calls.
      std::vector<int> ids;
      std::vector<int> distinct(20);
      for (int call = 0; call < 20; ++call) {
        std::vector<bool> seen(experts, false);
        for (int t = 0; t < tokens; ++t) {
          std::vector<int> all(experts);
          for (int e = 0; e < experts; ++e) all[e] = e;
          std::shuffle(all.begin(), all.end(), rng);
          for (int k = 0; k < top_k; ++k) {
            ids.push_back(all[k]);
            if (!seen[all[k]]) ++distinct[call];
            seen[all[k]] = true;
          }
        }
      }
      DeviceBuffer dids = to_device(ids);
      DeviceBuffer w = constant_floats(ids.size(), 0.05f, 0.2f);
      DeviceBuffer x = constant_floats(std::size_t(tokens) * hidden, -1, 1);
      DeviceBuffer act(std::size_t(tokens) * top_k * inter * 4);
      DeviceBuffer y(std::size_t(tokens) * hidden * 4);
      DeviceBuffer partial(std::size_t(tokens) * top_k * hidden * 4);
      DeviceBuffer groups(expert_group_table_ints(tokens * top_k) * sizeof(int));
      const double us = time_us([&](cudaStream_t st, int i) {
        const int* call_ids = dids.as<int>() + (i % 20) * tokens * top_k;
        const float* call_w = w.as<float>() + (i % 20) * tokens * top_k;
        group_experts(call_ids, tokens, top_k, experts, groups.as<int>(), st);
        expert_gate_up(gate, up, x.as<float>(), groups.as<int>(), tokens, top_k, act.as<float>(),
                       st);
        expert_down(down, act.as<float>(), groups.as<int>(), call_w, tokens, top_k,
                    partial.as<float>(), y.as<float>(), st);
      });
      double mean_distinct = 0;
      for (int v : distinct) mean_distinct += v / 20.0;
      char name[96];
      std::snprintf(name, sizeof name, "mxfp4 experts top-8, %d token(s), %.1f distinct", tokens,
                    mean_distinct);
      row(name, expert_bytes * mean_distinct, us);
    }
  }

  // BF16 lm_head 152576 x 4096 (1.25 GB: no rotation needed).
  {
    const int vocab = 152576, hidden = 4096;
    DeviceBuffer head = random_bytes(std::size_t(vocab) * hidden * 2, false);
    // Random bf16 bits include NaN/inf patterns; harmless for timing.
    DeviceBuffer x = constant_floats(hidden, -1, 1);
    DeviceBuffer y(std::size_t(vocab) * 4);
    const Bf16Matrix m{head.as<std::uint16_t>(), vocab, hidden};
    const double us =
        time_us([&](cudaStream_t st, int) { linear(m, x.as<float>(), 1, y.as<float>(), st); });
    row("bf16 lm_head 152576x4096, 1 token", double(vocab) * hidden * 2, us);
  }
  synchronize();
  return 0;
}
