// The linear kernel: parallel over output rows, one decoded row buffer per range.
#include "cpu/linear.hpp"

#include <vector>

#include "cpu/dot.hpp"
#include "cpu/weight_rows.hpp"

namespace mimo::cpu {

void linear(ThreadPool& pool, const model::LinearWeight& w, const float* x, int n_tokens,
            float* y) {
  const std::int64_t rows = w.rows, cols = w.cols;
  pool.parallel_for(rows, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> row(cols);
    for (std::int64_t r = begin; r < end; ++r) {
      decode_row(w, r, row.data());
      for (int t = 0; t < n_tokens; ++t) y[t * rows + r] = dot(row.data(), x + t * cols, cols);
    }
  });
}

}  // namespace mimo::cpu
