// capture_graph (see graph_capture.hpp).
#include "cuda/stream/graph_capture.hpp"

#include <fmt/format.h>

#include "mimo/error.hpp"

namespace mimo::cuda {
namespace {

void check(cudaError_t err, const char* step, const char* what) {
  if (err != cudaSuccess) {
    throw Error(ErrorCode::kDevice,
                fmt::format("{} of the {} graph: {}", step, what, cudaGetErrorString(err)));
  }
}

}  // namespace

cudaGraphExec_t capture_graph(cudaStream_t stream, const std::function<void()>& issue,
                              const char* what) {
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture", what);
  cudaGraph_t graph = nullptr;
  try {
    issue();
  } catch (...) {
    cudaStreamEndCapture(stream, &graph);
    if (graph != nullptr) cudaGraphDestroy(graph);
    throw;
  }
  check(cudaStreamEndCapture(stream, &graph), "capture", what);
  cudaGraphExec_t exec = nullptr;
  const cudaError_t err = cudaGraphInstantiateWithFlags(&exec, graph, 0);
  cudaGraphDestroy(graph);
  check(err, "instantiation", what);
  return exec;
}

}  // namespace mimo::cuda
