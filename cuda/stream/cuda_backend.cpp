// CudaBackend: device queries, executors and the GPU drafter behind spec::DeviceBackend.
#include "cuda/stream/cuda_backend.hpp"

#include "cuda/runtime/device_query.hpp"
#include "cuda/stream/draft_target.hpp"
#include "cuda/stream/gpu_dflash_speculator.hpp"
#include "cuda/stream/gpu_executor.hpp"
#include "mimo/error.hpp"

namespace mimo::cuda {

int CudaBackend::device_count() const {
  return cuda::device_count();
}

std::string CudaBackend::describe_devices() const {
  return cuda::describe_devices();
}

std::unique_ptr<exec::Executor> CudaBackend::make_executor(const model::ModelConfig& config,
                                                           const model::ModelWeights& weights,
                                                           bool persistent_engine) const {
  std::unique_ptr<exec::Executor> executor = make_gpu_executor(config, weights);
  if (persistent_engine) static_cast<GpuExecutor&>(*executor).set_engine(true);
  return executor;
}

std::unique_ptr<exec::Executor> CudaBackend::make_parallel_executor(const model::ModelConfig&,
                                                                    const model::ModelWeights&,
                                                                    const std::vector<int>&) const {
  throw Error(ErrorCode::kUnsupported,
              "ModelOptions.num_devices > 1, but this libmimo was built without NCCL "
              "(configure with -DMIMO_WITH_NCCL=ON)");
}

bool CudaBackend::drafts_for(const exec::Executor& target) const {
  return dynamic_cast<const DraftTarget*>(&target) != nullptr;
}

std::shared_ptr<Speculator> CudaBackend::make_dflash_drafter(
    std::unique_ptr<spec::DFlashSpeculator> host, const exec::Executor& target,
    const model::ModelConfig& target_config) const {
  const auto* on_device = dynamic_cast<const DraftTarget*>(&target);
  if (on_device == nullptr) {
    throw Error(ErrorCode::kInternal,
                "CudaBackend: the DFlash drafter needs a target on a CUDA device");
  }
  return std::make_shared<GpuDFlashSpeculator>(std::move(host), target_config,
                                               on_device->draft_head(), on_device->draft_device());
}

const spec::DeviceBackend& backend() {
  static const CudaBackend instance;
  return instance;
}

}  // namespace mimo::cuda
