// A target executor the GPU DFlash drafter can run beside: the device it drafts on and the
// target's embedding and whole lm_head there (the drafter embeds its block with the first and
// scores its drafts with the second). GpuExecutor offers its own model; a tensor-parallel
// target offers rank 0's device, where the whole lm_head is uploaded on first use (each rank
// holds only its vocabulary rows). No CUDA types here.
#pragma once

namespace mimo::cuda {

struct DeviceModel;

class DraftTarget {
 public:
  // The CUDA device the drafter runs on.
  virtual int draft_device() const = 0;
  // The embedding and the whole lm_head on draft_device() (layers may be empty); valid while
  // the executor lives. Throws kUnsupported where the target cannot offer them.
  virtual const DeviceModel& draft_head() const = 0;

 protected:
  ~DraftTarget() = default;
};

}  // namespace mimo::cuda
