// Every weight of a model checked against its config once at load, with the tensor's name in
// the error: shapes, formats, sinks and MoE routers present where the config asks for them.
#pragma once

#include "model/config.hpp"
#include "model/weights.hpp"

namespace mimo::exec {

// Throws mimo::Error(kInvalidArgument) naming the weight or layer that does not fit.
void check_weights(const model::ModelConfig& config, const model::ModelWeights& weights);

}  // namespace mimo::exec
