// mimo-bench --engine-probe: the persistent engine's scheduling cost on a step plan against the
// launch boundaries it replaces (cuda/engine/engine_probe.hpp).
#pragma once

#include <cstdio>

#include "model/config.hpp"

namespace mimo::bench {

// Prints, for the decode-1 and verify-`verify` programs of `config`: the engine with empty task
// bodies (one block a multiprocessor, and two), and a chain of as many empty kernels as the
// program has ops, each replayed from a CUDA graph (median of 50).
void engine_probe(const model::ModelConfig& config, int verify, std::FILE* out);

}  // namespace mimo::bench
