// y = W x for a batch of tokens, W in any stored format (model::LinearWeight).
#pragma once

#include <cstdint>
#include <span>

#include "cpu/thread_pool.hpp"
#include "model/weights.hpp"

namespace mimo::cpu {

// x: [n_tokens, w.cols], y: [n_tokens, w.rows] (row-major). Each weight row is decoded once
// into a small buffer and dotted with every token, so a B-token step reads W once. Rows are
// split across the pool; each y element is one fixed-order dot product.
void linear(ThreadPool& pool, const model::LinearWeight& w, const float* x, int n_tokens, float* y);

// One product of linear_batch: y = w x, x [n_tokens, w->cols], y [n_tokens, w->rows].
struct LinearJob {
  const model::LinearWeight* w;
  const float* x;
  int n_tokens;
  float* y;
};

// Every job's product, as linear() computes it element by element, in one pool dispatch over
// the concatenation of the jobs' rows: the demo model's projections and experts are so small
// that handing each to the pool costs more than its arithmetic. Below a few ten thousand
// multiply-adds in all the batch runs on the calling thread.
void linear_batch(ThreadPool& pool, std::span<const LinearJob> jobs);

}  // namespace mimo::cpu
