// The per-token pieces of mimo::Sampler's chain (docs/sampling.md) on the device, with the host's
// exact arithmetic: a logit after its bias and penalties, a candidate's key z, and its weight
// exp(z). Rounding matches lib/api/sampler.cpp step by step (no contracted multiply-adds; the
// float exp is the correctly rounded value, as glibc's expf gives), so the device ranks, cuts and
// draws like the host up to the summation order of double sums.
#pragma once

#include <cmath>

namespace mimo::cuda::tiles {

// One token the logit bias or the penalty window touches: its bias values are
// biases[bias_begin, bias_end) in config order; count = occurrences in the window (0: none).
struct SamplingEntry {
  int token;
  int bias_begin;
  int bias_end;
  int count;
};

// The chain's parameters for one row, read from device memory (a captured step reads the values
// staged before each replay).
struct SamplingParams {
  double u;           // the draw's uniform in [0, 1) (a verify row: its coin's)
  double u2;          // a verify row: the uniform of the draw without the draft
  float temperature;  // of the ranking: the config's, or 1 for greedy's top log-probs
  float top_p;        // 1 = off
  float min_p;        // 0 = off
  float repetition_penalty;
  float presence_penalty;
  float frequency_penalty;
  int top_k;  // 0 = off
  int n_entries;
  int top_logprobs;
  int draw;   // 1: draw from the distribution; 0: greedy (the arg-max, logprob at temperature 1)
  int draft;  // >= 0: verify this draft (speculative sampling); -1: a plain draw
};

// Step 1 and 2 of the chain for one touched token: bias entries in order, then the repetition
// penalty and the OpenAI penalties.
__device__ __forceinline__ float adjusted_logit(float l, const SamplingEntry& e,
                                                const float* biases, const SamplingParams& p) {
  for (int b = e.bias_begin; b < e.bias_end; ++b) l = __fadd_rn(l, biases[b]);
  if (e.count > 0) {
    const float rep = p.repetition_penalty;
    l = l > 0.0f ? __fdiv_rn(l, rep) : __fmul_rn(l, rep);
    const float penalty =
        __fadd_rn(p.presence_penalty, __fmul_rn(p.frequency_penalty, static_cast<float>(e.count)));
    l = __fsub_rn(l, penalty);
  }
  return l;
}

// z = (l - max) / temperature for a candidate (l > -inf); -inf for a banned token. + 0.0f turns a
// -0 into +0, so the radix sort's key order is the host's float comparison.
__device__ __forceinline__ float candidate_key(float l, float max, float temperature) {
  if (l == -INFINITY) return -INFINITY;
  return __fadd_rn(__fdiv_rn(__fsub_rn(l, max), temperature), 0.0f);
}

// exp(z) rounded once to float (the correctly rounded expf), as the host's std::exp(float).
__device__ __forceinline__ float candidate_weight(float z) {
  return static_cast<float>(exp(static_cast<double>(z)));
}

}  // namespace mimo::cuda::tiles
