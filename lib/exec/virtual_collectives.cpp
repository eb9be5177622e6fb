// In-process collectives in a fixed rank order.
#include "exec/virtual_collectives.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "mimo/error.hpp"

namespace mimo::exec {

void all_reduce_sum(std::span<const std::vector<float>> partials, float* out,
                    std::int64_t out_size) {
  if (partials.empty()) throw Error(ErrorCode::kInternal, "all_reduce_sum: no ranks");
  for (const auto& p : partials) {
    if (static_cast<std::int64_t>(p.size()) != out_size) {
      throw Error(ErrorCode::kInternal, fmt::format("all_reduce_sum: a rank holds {} floats, "
                                                    "expected {}",
                                                    p.size(), out_size));
    }
  }
  std::copy_n(partials[0].data(), out_size, out);
  for (std::size_t r = 1; r < partials.size(); ++r) {
    const float* p = partials[r].data();
    for (std::int64_t i = 0; i < out_size; ++i) out[i] += p[i];
  }
}

void all_gather_columns(std::span<const std::vector<float>> pieces,
                        std::span<const std::int64_t> widths, std::int64_t rows, float* out) {
  if (pieces.size() != widths.size()) {
    throw Error(ErrorCode::kInternal, "all_gather_columns: one width per rank needed");
  }
  std::int64_t total = 0;
  for (std::size_t r = 0; r < pieces.size(); ++r) {
    if (static_cast<std::int64_t>(pieces[r].size()) != rows * widths[r]) {
      throw Error(ErrorCode::kInternal,
                  fmt::format("all_gather_columns: rank {} holds {} floats, expected {} x {}", r,
                              pieces[r].size(), rows, widths[r]));
    }
    total += widths[r];
  }
  for (std::int64_t row = 0; row < rows; ++row) {
    float* dst = out + row * total;
    for (std::size_t r = 0; r < pieces.size(); ++r) {
      dst = std::copy_n(pieces[r].data() + row * widths[r], widths[r], dst);
    }
  }
}

ArgmaxCandidate local_argmax(const float* logits, std::int64_t n, std::int64_t first_index) {
  ArgmaxCandidate best;
  for (std::int64_t i = 0; i < n; ++i) {
    if (best.index < 0 || logits[i] > best.value) best = {logits[i], first_index + i};
  }
  return best;
}

ArgmaxCandidate reduce_argmax(std::span<const ArgmaxCandidate> candidates) {
  ArgmaxCandidate best;
  for (const ArgmaxCandidate& c : candidates) {
    if (c.index < 0) continue;
    if (best.index < 0 || c.value > best.value || (c.value == best.value && c.index < best.index)) {
      best = c;
    }
  }
  return best;
}

}  // namespace mimo::exec
