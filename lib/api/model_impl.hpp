// What a loaded mimo::Model holds: the mapped checkpoint, its typed description, the bound
// weights and the executor (CPU or GPU) that runs them.
#pragma once

#include <memory>

#include "api/draft_length.hpp"
#include "exec/executor.hpp"
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
  std::unique_ptr<exec::Executor> executor;
  mutable DraftLengthBook draft_lengths;  // speculative sessions' draft-length choosers
};

}  // namespace mimo
