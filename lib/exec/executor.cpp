// Defaults of the Executor seam for executors that sample only on the host.
#include "exec/executor.hpp"

#include "mimo/error.hpp"

namespace mimo::exec {

std::vector<float> Executor::fetch_logits(const ExecutorState&, int) const {
  throw Error(ErrorCode::kInternal,
              "Executor::fetch_logits: this executor never keeps logits on its device");
}

}  // namespace mimo::exec
