// check_finite_logits: one pass over the rows, stopping at the first NaN or infinity.
#include "api/non_finite.hpp"

#include <fmt/format.h>

#include <cmath>

#include "mimo/error.hpp"

namespace mimo {

void check_finite_logits(const float* logits, std::size_t rows, std::size_t vocab,
                         std::int64_t first_position, const char* operation) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = logits + r * vocab;
    for (std::size_t v = 0; v < vocab; ++v) {
      if (std::isfinite(row[v])) continue;
      throw Error(ErrorCode::kNonFinite,
                  fmt::format("{}: the logits after the token at context position {} contain {} "
                              "(vocabulary index {}); the model's weights or activations are not "
                              "finite there",
                              operation, first_position + static_cast<std::int64_t>(r),
                              std::isnan(row[v]) ? "NaN" : (row[v] > 0 ? "+inf" : "-inf"), v));
    }
  }
}

}  // namespace mimo
