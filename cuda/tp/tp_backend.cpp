// The CUDA backend of an NCCL build: CudaBackend plus the tensor-parallel executor (which drafts
// on the GPU through CudaBackend too: it is a DraftTarget on rank 0's device).
#include "cuda/stream/cuda_backend.hpp"
#include "cuda/tp/tp_executor.hpp"

namespace mimo::cuda::tp {
namespace {

class TpBackend final : public CudaBackend {
 public:
  std::unique_ptr<exec::Executor> make_parallel_executor(
      const model::ModelConfig& config, const model::ModelWeights& weights,
      const std::vector<int>& devices) const override {
    return make_tensor_parallel_executor(config, weights, devices);
  }
};

}  // namespace

const spec::DeviceBackend& backend() {
  static const TpBackend instance;
  return instance;
}

}  // namespace mimo::cuda::tp
