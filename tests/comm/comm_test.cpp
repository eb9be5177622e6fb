// NCCL communicators on 2+ GPUs, both bootstraps (single-process ncclCommInitAll, and a unique
// id joined by one thread per GPU as separate processes would): all-reduce, all-gather and
// reduce-scatter against float64 / exact host results on random data; NVLink multicast off.
// main() exits 77 (ctest SKIP) with the reason without a GPU; on one GPU it runs only the
// [one-gpu] cases (the 1-rank tensor-parallel program in tp_test.cpp).
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include "cuda/comm/communicator.hpp"
#include "mimo/error.hpp"
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

using namespace mimo::cuda::comm;

namespace {

int gpu_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

// Throws rather than REQUIREs: it also runs on the rank threads, where Catch may not be used.
void ok(cudaError_t e) {
  if (e != cudaSuccess) throw std::runtime_error(cudaGetErrorString(e));
}

// Per-rank device buffers: send (in_count floats, random) and recv (out_count floats).
struct RankBuffers {
  int device = 0;
  float* send = nullptr;
  float* recv = nullptr;
  cudaStream_t stream = nullptr;
  std::vector<float> host;
  RankBuffers(int dev, std::size_t in_count, std::size_t out_count, std::uint64_t seed)
      : device(dev), host(in_count) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> d(0.1f, 1.0f);
    for (float& x : host) x = (rng() & 1 ? d(rng) : -d(rng));
    ok(cudaSetDevice(device));
    ok(cudaStreamCreate(&stream));
    ok(cudaMalloc(reinterpret_cast<void**>(&send), in_count * sizeof(float)));
    ok(cudaMalloc(reinterpret_cast<void**>(&recv), out_count * sizeof(float)));
    ok(cudaMemcpy(send, host.data(), in_count * sizeof(float), cudaMemcpyHostToDevice));
  }
  ~RankBuffers() {
    cudaSetDevice(device);
    cudaFree(send);
    cudaFree(recv);
    cudaStreamDestroy(stream);
  }
  std::vector<float> result(std::size_t count) {
    std::vector<float> out(count);
    ok(cudaSetDevice(device));
    ok(cudaStreamSynchronize(stream));
    ok(cudaMemcpy(out.data(), recv, count * sizeof(float), cudaMemcpyDeviceToHost));
    return out;
  }
};

std::vector<int> all_devices() {
  std::vector<int> d(gpu_count());
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<int>(i);
  return d;
}

}  // namespace

TEST_CASE("single-process communicators: all-reduce, all-gather, reduce-scatter", "[comm]") {
  const std::vector<int> devices = all_devices();
  const int n = static_cast<int>(devices.size());
  std::vector<Communicator> comms = Communicator::create_local(devices);
  REQUIRE(comms.size() == devices.size());
  CHECK(std::string(std::getenv("NCCL_NVLS_ENABLE")) == "0");
  const std::size_t count = 4096 * 3;  // 3 tokens of a 4096 hidden state
  std::vector<std::unique_ptr<RankBuffers>> ranks;
  for (int r = 0; r < n; ++r) {
    CHECK(comms[r].rank() == r);
    CHECK(comms[r].size() == n);
    ranks.push_back(std::make_unique<RankBuffers>(devices[r], count, count * n, 100 + r));
  }
  {
    GroupScope group;
    for (int r = 0; r < n; ++r) {
      comms[r].all_reduce_sum(ranks[r]->send, ranks[r]->recv, count, DType::kF32, ranks[r]->stream);
    }
    group.end();
  }
  for (int r = 0; r < n; ++r) {
    const std::vector<float> got = ranks[r]->result(count);
    for (std::size_t i = 0; i < count; ++i) {
      double want = 0;
      for (int q = 0; q < n; ++q) want += ranks[q]->host[i];
      REQUIRE(std::abs(got[i] - want) <= 1e-6 * n);
    }
  }
  {
    GroupScope group;
    for (int r = 0; r < n; ++r) {
      comms[r].all_gather(ranks[r]->send, ranks[r]->recv, count, DType::kF32, ranks[r]->stream);
    }
    group.end();
  }
  for (int r = 0; r < n; ++r) {
    const std::vector<float> got = ranks[r]->result(count * n);
    for (int q = 0; q < n; ++q) {
      for (std::size_t i = 0; i < count; ++i) REQUIRE(got[q * count + i] == ranks[q]->host[i]);
    }
  }
  const std::size_t block = count / n;
  {
    GroupScope group;
    for (int r = 0; r < n; ++r) {
      comms[r].reduce_scatter_sum(ranks[r]->send, ranks[r]->recv, block, DType::kF32,
                                  ranks[r]->stream);
    }
    group.end();
  }
  for (int r = 0; r < n; ++r) {
    const std::vector<float> got = ranks[r]->result(block);
    for (std::size_t i = 0; i < block; ++i) {
      double want = 0;
      for (int q = 0; q < n; ++q) want += ranks[q]->host[r * block + i];
      REQUIRE(std::abs(got[i] - want) <= 1e-6 * n);
    }
  }
  for (const Communicator& c : comms) c.check_async_error();
}

TEST_CASE("unique-id bootstrap: one thread per GPU joins and all-reduces", "[comm]") {
  const std::vector<int> devices = all_devices();
  const int n = static_cast<int>(devices.size());
  const UniqueId id = new_unique_id();
  const std::size_t count = 6144;
  std::vector<std::vector<float>> results(n), inputs(n);
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      try {
        Communicator comm = Communicator::join(id, n, r, devices[r]);
        RankBuffers b(devices[r], count, count, 200 + r);
        inputs[r] = b.host;
        comm.all_reduce_sum(b.send, b.recv, count, DType::kF32, b.stream);
        results[r] = b.result(count);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < n; ++r) {
    INFO("rank " << r << ": " << errors[r]);
    REQUIRE(errors[r].empty());
    for (std::size_t i = 0; i < count; ++i) {
      double want = 0;
      for (int q = 0; q < n; ++q) want += inputs[q][i];
      REQUIRE(std::abs(results[r][i] - want) <= 1e-6 * n);
    }
  }
}

TEST_CASE("invalid ranks are refused before NCCL is called", "[comm]") {
  const UniqueId id{};
  CHECK_THROWS_AS(Communicator::join(id, 2, 2, 0), mimo::Error);
  CHECK_THROWS_AS(Communicator::join(id, 0, 0, 0), mimo::Error);
  CHECK_THROWS_AS(Communicator::create_local({}), mimo::Error);
}

int main(int argc, char** argv) {
  const int gpus = gpu_count();
  if (gpus < 1) {
    std::printf("SKIP: the tensor-parallel tests need a CUDA device, found none\n");
    return 77;
  }
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  if (gpus == 1) {
    // Only the 1-rank cases can run; the NCCL ones need 2 or more devices.
    std::printf("1 CUDA device: running the [one-gpu] cases only (NCCL tests need 2 or more)\n");
    session.configData().testsOrTags = {"[one-gpu]"};
  } else {
    std::printf("NCCL tests on %d GPUs\n", gpus);
  }
  return session.run();
}
