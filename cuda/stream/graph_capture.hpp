// Stream capture into an instantiated CUDA graph, for the drafter's block forward and its
// context updates (one graph per row count) and the tensor-parallel ranks' step graphs.
#pragma once

#include <cuda_runtime.h>

#include <functional>

namespace mimo::cuda {

// What `issue` enqueues on `stream` (nothing may synchronise or allocate), recorded into a graph
// and instantiated; nothing runs. Throws kDevice naming `what`.
cudaGraphExec_t capture_graph(cudaStream_t stream, const std::function<void()>& issue,
                              const char* what);

}  // namespace mimo::cuda
