// The GPU backend as the public API sees it. lib/api reaches the backend linked into this
// build only through linked_device_backend(), so it names no backend header or type; the CUDA
// backend implements this interface in cuda/ (cuda_backend.cpp, and tp_backend.cpp when NCCL
// is built in).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "exec/executor.hpp"
#include "mimo/speculator.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"
#include "spec/dflash_speculator.hpp"

namespace mimo::spec {

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual int device_count() const = 0;  // usable devices; 0 on a machine without one
  virtual std::string describe_devices() const = 0;
  // The single-device executor on device 0; persistent_engine: its steps issued by the
  // persistent engine instead of the stream runner (ModelOptions::engine). config and weights
  // must outlive it. Throws kDevice without a usable device or memory, kUnsupported for shapes
  // it cannot run.
  virtual std::unique_ptr<exec::Executor> make_executor(const model::ModelConfig& config,
                                                        const model::ModelWeights& weights,
                                                        bool persistent_engine = false) const = 0;
  // Tensor parallel over `devices` (at least 2). Throws kUnsupported when this build has no
  // multi-device executor.
  virtual std::unique_ptr<exec::Executor> make_parallel_executor(
      const model::ModelConfig& config, const model::ModelWeights& weights,
      const std::vector<int>& devices) const = 0;
  // Whether a DFlash drafter can run on the device of `target` (else it drafts on the CPU).
  virtual bool drafts_for(const exec::Executor& target) const = 0;
  // The DFlash drafter loaded in `host`, run on the device of `target` (drafts_for(target)).
  virtual std::shared_ptr<Speculator> make_dflash_drafter(
      std::unique_ptr<DFlashSpeculator> host, const exec::Executor& target,
      const model::ModelConfig& target_config) const = 0;
};

// The backend linked into this libmimo, or null in a CPU-only build. Defined by a source the
// build generates for lib/api (lib/CMakeLists.txt), which is the one place naming the backend.
const DeviceBackend* linked_device_backend();

}  // namespace mimo::spec
