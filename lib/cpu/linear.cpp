// The linear kernel: parallel over output rows, one decoded row buffer per range.
#include "cpu/linear.hpp"

#include <algorithm>
#include <vector>

#include "cpu/dot.hpp"
#include "cpu/dot_avx2.hpp"
#include "cpu/weight_rows.hpp"
#include "cpu/weight_rows_avx2.hpp"

namespace mimo::cpu {
namespace {

// Below this many multiply-adds a batch runs on the calling thread: a pool dispatch (a futex
// wake-up and lock round trips, several microseconds) costs about what a few ten thousand
// multiply-adds do. A chosen value, not a tuned one; where the rows run never changes an
// element's arithmetic.
constexpr std::int64_t kInlineMacs = 32 * 1024;

void dots4_any(bool use_avx2, const float* const* a, const float* const* b, std::int64_t n,
               float* out) {
  if (use_avx2) {
    avx2::dots4(a, b, n, out);
  } else {
    dots4(a, b, n, out);
  }
}

// One or two tokens: a decoded row makes one or two dots, a dependent chain of adds each, so
// four rows are decoded and dotted side by side instead (the same bits per element).
void run_row_groups(const LinearJob& job, std::int64_t begin, std::int64_t end, bool use_avx2,
                    std::vector<float>& scratch) {
  const model::LinearWeight& w = *job.w;
  const std::int64_t rows = w.rows, cols = w.cols;
  scratch.resize(4 * cols);
  const float* a[4] = {scratch.data(), scratch.data() + cols, scratch.data() + 2 * cols,
                       scratch.data() + 3 * cols};
  std::int64_t r = begin;
  for (; r + 4 <= end; r += 4) {
    for (int j = 0; j < 4; ++j) decode_row(w, r + j, scratch.data() + j * cols);
    for (int t = 0; t < job.n_tokens; ++t) {
      const float* x = job.x + t * cols;
      const float* xs[4] = {x, x, x, x};
      dots4_any(use_avx2, a, xs, cols, job.y + t * rows + r);
    }
  }
  for (; r < end; ++r) {
    decode_row(w, r, scratch.data());
    for (int t = 0; t < job.n_tokens; ++t) {
      job.y[t * rows + r] = dot(scratch.data(), job.x + t * cols, cols);
    }
  }
}

// Two decoded rows and four tokens at a time (the same bits as eight dot() calls): with AVX2
// one load of each operand feeds two multiply-adds (dots2x4), otherwise dots4 a row at a time.
void dots2x4_any(bool use_avx2, const float* const* a, const float* const* x, std::int64_t n,
                 float* y) {
  if (use_avx2) {
    avx2::dots2x4(a, x, n, y);
    return;
  }
  for (int r = 0; r < 2; ++r) {
    const float* rows[4] = {a[r], a[r], a[r], a[r]};
    dots4(rows, x, n, y + 4 * r);
  }
}

// Rows [begin, end) of one job, two rows at a time (the last one alone); `row` is scratch. Each
// decoded pair is dotted with four tokens at a time (three tokens take a four-wide pass too, the
// last token repeated, as three dots cost more), the rest one by one.
void run_rows(const LinearJob& job, std::int64_t begin, std::int64_t end, std::vector<float>& row) {
  const bool use_avx2 = avx2::enabled();
  if (job.n_tokens <= 2) return run_row_groups(job, begin, end, use_avx2, row);
  const model::LinearWeight& w = *job.w;
  const std::int64_t rows = w.rows, cols = w.cols;
  row.resize(2 * cols);
  for (std::int64_t r = begin; r < end; r += 2) {
    const int pair = r + 1 < end ? 2 : 1;
    for (int k = 0; k < pair; ++k) decode_row(w, r + k, row.data() + k * cols);
    const float* a[2] = {row.data(), row.data() + (pair - 1) * cols};
    int t = 0;
    for (; job.n_tokens - t >= 3; t += 4) {
      const int count = std::min(4, job.n_tokens - t);
      const float* x[4];
      for (int j = 0; j < 4; ++j) x[j] = job.x + (t + std::min(j, count - 1)) * cols;
      float y[8];
      dots2x4_any(use_avx2, a, x, cols, y);
      for (int k = 0; k < pair; ++k) {
        for (int j = 0; j < count; ++j) job.y[(t + j) * rows + r + k] = y[4 * k + j];
      }
    }
    for (; t < job.n_tokens; ++t) {
      for (int k = 0; k < pair; ++k) {
        job.y[t * rows + r + k] = dot(a[k], job.x + t * cols, cols);
      }
    }
  }
}

}  // namespace

void linear(ThreadPool& pool, const model::LinearWeight& w, const float* x, int n_tokens,
            float* y) {
  const LinearJob job{&w, x, n_tokens, y};
  linear_batch(pool, {&job, 1});
}

void linear_batch(ThreadPool& pool, std::span<const LinearJob> jobs) {
  // first[j]: job j's first row in the concatenation of all jobs' rows.
  std::vector<std::int64_t> first(jobs.size() + 1, 0);
  std::int64_t macs = 0;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    first[j + 1] = first[j] + (jobs[j].n_tokens > 0 ? jobs[j].w->rows : 0);
    macs += jobs[j].w->rows * jobs[j].w->cols * std::max(jobs[j].n_tokens, 0);
  }
  auto run = [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> row;
    std::size_t j = std::upper_bound(first.begin(), first.end(), begin) - first.begin() - 1;
    for (; begin < end; ++j) {
      const std::int64_t stop = std::min(end, first[j + 1]);
      if (stop > begin) run_rows(jobs[j], begin - first[j], stop - first[j], row);
      begin = std::max(begin, stop);
    }
  };
  if (macs < kInlineMacs) {
    run(0, first.back());
    return;
  }
  pool.parallel_for(first.back(), run);
}

}  // namespace mimo::cpu
