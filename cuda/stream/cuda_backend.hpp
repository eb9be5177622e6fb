// The CUDA backend behind spec::DeviceBackend: the single-GPU executor and the GPU DFlash
// drafter. The tensor-parallel build extends it (cuda/tp/tp_backend.cpp).
#pragma once

#include "spec/device_backend.hpp"

namespace mimo::cuda {

class CudaBackend : public spec::DeviceBackend {
 public:
  int device_count() const override;
  std::string describe_devices() const override;
  std::unique_ptr<exec::Executor> make_executor(const model::ModelConfig& config,
                                                const model::ModelWeights& weights,
                                                bool persistent_engine) const override;
  // kUnsupported: this build has no NCCL executor (configure with -DMIMO_WITH_NCCL=ON).
  std::unique_ptr<exec::Executor> make_parallel_executor(
      const model::ModelConfig& config, const model::ModelWeights& weights,
      const std::vector<int>& devices) const override;
  // A target on a CUDA device (DraftTarget: GpuExecutor, the tensor-parallel executor): the GPU
  // drafter reads the embedding and lm_head it offers there.
  bool drafts_for(const exec::Executor& target) const override;
  std::shared_ptr<Speculator> make_dflash_drafter(
      std::unique_ptr<spec::DFlashSpeculator> host, const exec::Executor& target,
      const model::ModelConfig& target_config) const override;
};

// The single-GPU backend (what lib/api's generated linked_backend.cpp returns without NCCL).
const spec::DeviceBackend& backend();

}  // namespace mimo::cuda
