// The collectives of tensor/expert parallelism, emulated in one process over per-rank buffers
// for the virtual-ranks executor. Every reduction runs in rank order (((r0 + r1) + r2) + ...),
// so results are deterministic and independent of threads; a real NCCL ring sums in another
// fixed order, which is why N-GPU results match 1 GPU within a tolerance, not bit for bit.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace mimo::exec {

// out[i] = sum over ranks, in rank order, of partials[r][i]; every partial has out_size floats.
void all_reduce_sum(std::span<const std::vector<float>> partials, float* out,
                    std::int64_t out_size);

// pieces[r] is [rows, widths[r]] row-major; out is [rows, sum(widths)] with rank r's columns
// after those of ranks < r (the vocab-parallel lm_head's logits gather).
void all_gather_columns(std::span<const std::vector<float>> pieces,
                        std::span<const std::int64_t> widths, std::int64_t rows, float* out);

// Distributed greedy argmax without gathering the logits: each rank reduces its vocab slice
// to one candidate, then the candidates (8 bytes a rank) are reduced. Ties go to the lowest id,
// as an argmax over the gathered row does.
struct ArgmaxCandidate {
  float value = 0;
  std::int64_t index = -1;
};
ArgmaxCandidate local_argmax(const float* logits, std::int64_t n, std::int64_t first_index);
ArgmaxCandidate reduce_argmax(std::span<const ArgmaxCandidate> candidates);

}  // namespace mimo::exec
