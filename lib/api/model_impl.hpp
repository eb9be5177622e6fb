// What a loaded mimo::Model holds: the mapped checkpoint, its typed description, the bound
// weights and the CPU executor that runs them.
#pragma once

#include <memory>
#include <mutex>

#include "cpu/forward.hpp"
#include "cpu/thread_pool.hpp"
#include "io/checkpoint.hpp"
#include "mimo/model.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"

namespace mimo {

struct Model::Impl {
  ModelOptions options;
  ModelSummary summary;
  model::ModelConfig config;
  io::Checkpoint checkpoint;
  model::ModelWeights weights;
  std::unique_ptr<cpu::ThreadPool> pool;
  std::unique_ptr<cpu::Forward> forward;
  // Sessions of one model share its worker pool, so their forward passes take turns.
  mutable std::mutex compute_mutex;
};

}  // namespace mimo
