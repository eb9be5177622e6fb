// Embedding gather via the shared row decoder.
#include "cpu/embedding.hpp"

#include "cpu/weight_rows.hpp"

namespace mimo::cpu {

void embed(const model::LinearWeight& table, std::span<const std::int32_t> tokens, float* out) {
  for (std::size_t t = 0; t < tokens.size(); ++t)
    decode_row(table, tokens[t], out + t * table.cols);
}

}  // namespace mimo::cpu
