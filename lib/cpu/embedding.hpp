// Token embedding: a row gather from the embedding table in its stored precision.
#pragma once

#include <cstdint>
#include <span>

#include "model/weights.hpp"

namespace mimo::cpu {

// out: [tokens.size(), table.cols]. Token ids must already be validated (0 <= id < rows).
void embed(const model::LinearWeight& table, std::span<const std::int32_t> tokens, float* out);

}  // namespace mimo::cpu
