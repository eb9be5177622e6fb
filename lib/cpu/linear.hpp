// y = W x for a batch of tokens, W in any stored format (model::LinearWeight).
#pragma once

#include <cstdint>

#include "cpu/thread_pool.hpp"
#include "model/weights.hpp"

namespace mimo::cpu {

// x: [n_tokens, w.cols], y: [n_tokens, w.rows] (row-major). Each weight row is decoded once
// into a small buffer and dotted with every token, so a B-token step reads W once. Rows are
// split across the pool; each y element is one fixed-order dot product.
void linear(ThreadPool& pool, const model::LinearWeight& w, const float* x, int n_tokens, float* y);

}  // namespace mimo::cpu
