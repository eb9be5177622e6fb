// The tensor-parallel executor's per-session state - one GpuState per rank, each on its rank's
// device.
#pragma once

#include <memory>
#include <vector>

#include "cuda/runtime/device_query.hpp"
#include "cuda/runtime/gpu_state.hpp"
#include "exec/executor.hpp"

namespace mimo::cuda::tp {

class TpState final : public exec::ExecutorState {
 public:
  ~TpState() override;
  std::int64_t length() const override { return ranks.front()->length(); }
  std::int64_t max_context() const override { return ranks.front()->max_context(); }
  int max_step_tokens() const override { return ranks.front()->max_step_tokens(); }
  int max_chunk_tokens() const override { return ranks.front()->max_chunk_tokens(); }
  bool can_truncate(std::int64_t n) const override { return ranks.front()->can_truncate(n); }
  void truncate(std::int64_t n) override;
  std::unique_ptr<exec::ExecutorState> clone() const override;

  std::vector<int> devices;
  std::vector<std::unique_ptr<GpuState>> ranks;
};

}  // namespace mimo::cuda::tp
