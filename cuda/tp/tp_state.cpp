// TpState and the rank helpers (see tp_state.hpp).
#include "cuda/tp/tp_state.hpp"

#include <cuda_runtime.h>

#include "cuda/kernels/cuda_check.hpp"

namespace mimo::cuda::tp {

TpState::~TpState() {
  const DeviceGuard guard;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    cudaSetDevice(devices[r]);
    ranks[r].reset();
  }
}

void TpState::truncate(std::int64_t n) {
  const DeviceGuard guard;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    check(cudaSetDevice(devices[r]), "cudaSetDevice");
    ranks[r]->truncate(n);
  }
}

std::unique_ptr<exec::ExecutorState> TpState::clone() const {
  const DeviceGuard guard;
  auto out = std::make_unique<TpState>();
  out->devices = devices;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    check(cudaSetDevice(devices[r]), "cudaSetDevice");
    std::unique_ptr<exec::ExecutorState> copy = ranks[r]->clone();
    out->ranks.emplace_back(static_cast<GpuState*>(copy.release()));
  }
  return out;
}

}  // namespace mimo::cuda::tp
