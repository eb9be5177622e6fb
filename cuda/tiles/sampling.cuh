// The per-token pieces of mimo::Sampler's chain (docs/sampling.md) on the device, with the host's
// exact arithmetic: a logit after its bias and penalties, a candidate's key z, and its weight
// exp(z). Rounding matches lib/api/sampler.cpp step by step (no contracted multiply-adds; the
// float exp is the correctly rounded value, as glibc's expf gives), so the device ranks, cuts and
// draws like the host up to the summation order of double sums.
//
// The per-chunk tiles below take this thread's first index (chunk start + its place in the
// block), the chunk's end and the block's stride, and read no thread or block index themselves;
// the block-wide reductions and scans over their results stay in the kernels (CUB collectives,
// sampling_kernels.cu).
#pragma once

#include <climits>
#include <cmath>

#include "cuda/tiles/argmax.cuh"

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
  // A verify row whose draft was drawn from a distribution: q by token id (device, doubles);
  // null: a one-hot proposal (docs/speculative.md, "Acceptance rule").
  const double* proposal;
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

// ---- the penalties and the row's statistics ----

// Bias and penalties on one touched token: adj[token] from logits[token] (ids out of the vocabulary
// are skipped; the host stages ids in range).
__device__ __forceinline__ void apply_entry(SamplingEntry entry, const float* biases,
                                            const SamplingParams& p, const float* logits,
                                            float* adj, int vocab) {
  if (entry.token < 0 || entry.token >= vocab) return;
  adj[entry.token] = adjusted_logit(logits[entry.token], entry, biases, p);
}

// A chunk's (or the row's) statistics: the arg-max, the candidates (l > -inf), and whether a
// logit is NaN or +inf.
struct StatsPartial {
  float max;
  int argmax;
  int n_candidates;
  int invalid;
};

// Two partials' statistics together (the better arg-max, a's on ties of value and index).
__device__ __forceinline__ StatsPartial combine_stats(const StatsPartial& a,
                                                      const StatsPartial& b) {
  StatsPartial r = arg_better(b.max, b.argmax, a.max, a.argmax) ? b : a;
  r.n_candidates = a.n_candidates + b.n_candidates;
  r.invalid = a.invalid | b.invalid;
  return r;
}

// Adds adj[i], i = first, first + stride, ... below end, to this thread's statistics.
__device__ __forceinline__ void row_stats_chunk(const float* adj, int first, int end, int stride,
                                                StatsPartial& mine) {
  for (int i = first; i < end; i += stride) {
    const float l = adj[i];
    if (isnan(l) || l == INFINITY) mine.invalid = 1;
    if (l > -INFINITY) ++mine.n_candidates;
    if (arg_better(l, i, mine.max, mine.argmax)) {
      mine.max = l;
      mine.argmax = i;
    }
  }
}

// Top-k's prefix of the ranking (k): top_k of the candidates, all of them when top_k is 0.
__device__ __forceinline__ int top_k_keep(int top_k, int n_candidates) {
  return top_k > 0 ? min(top_k, n_candidates) : n_candidates;
}

// ---- the chunked sums ----

// This thread's share of sum exp(l - max) over adj[first, end) (stride apart): greedy's
// log-sum-exp at temperature 1.
__device__ __forceinline__ double exp_sum_chunk(const float* adj, float max, int first, int end,
                                                int stride) {
  double sum = 0.0;
  for (int i = first; i < end; i += stride) sum += candidate_weight(__fsub_rn(adj[i], max));
  return sum;
}

// This thread's share of the sum of values[first, end) (stride apart).
__device__ __forceinline__ double sum_chunk(const double* values, int first, int end, int stride) {
  double sum = 0.0;
  for (int i = first; i < end; i += stride) sum += values[i];
  return sum;
}

// min-p's cut on a candidate's z: log(min_p) (a z below it is cut), -inf when min-p is off.
__device__ __forceinline__ double min_p_threshold(float min_p) {
  return min_p > 0.0f ? log(static_cast<double>(min_p)) : -INFINITY;
}

// Over the ranking z (stride apart from first, below end): weights[i] = exp(z) inside the top-k
// prefix (i < k), 0 after it; adds them to `sum` and lowers `first_below` to the first index of
// the prefix whose z is below min-p's threshold.
__device__ __forceinline__ void cut_weights_chunk(const float* z, int k, double threshold,
                                                  int first, int end, int stride, double* weights,
                                                  double& sum, int& first_below) {
  for (int i = first; i < end; i += stride) {
    const double w = i < k ? static_cast<double>(candidate_weight(z[i])) : 0.0;
    weights[i] = w;
    sum += w;
    if (i < k && static_cast<double>(z[i]) < threshold) first_below = min(first_below, i);
  }
}

// Unranked (every candidate at or above min-p survives, weights by id): weights[i] = exp(z) of
// adj[i] at `temperature`, 0 for banned and cut tokens; returns this thread's share of the sum.
__device__ __forceinline__ double unranked_weights_chunk(const float* adj, float max,
                                                         float temperature, double threshold,
                                                         int first, int end, int stride,
                                                         double* weights) {
  double sum = 0.0;
  for (int i = first; i < end; i += stride) {
    const float z = candidate_key(adj[i], max, temperature);
    const double w =
        static_cast<double>(z) >= threshold ? static_cast<double>(candidate_weight(z)) : 0.0;
    weights[i] = w;
    sum += w;
  }
  return sum;
}

// A survivor's probability: its weight over the survivors' total, rounded to float.
__device__ __forceinline__ float survivor_prob(double weight, double total) {
  return static_cast<float>(weight / total);
}

// Over P by id (stride apart from first, below end): adds P to `sum`, and `last` = the last
// index with P > 0 (unchanged when none).
__device__ __forceinline__ void probs_chunk(const double* probs_by_id, int first, int end,
                                            int stride, double& sum, int& last) {
  for (int i = first; i < end; i += stride) {
    const double p = probs_by_id[i];
    sum += p;
    if (p > 0.0) last = i;
  }
}

// ---- the draw ----

// A crossing search's tile (kItems consecutive values a thread; the first thread's at
// tile_begin): this thread's values (0 past n) into v, their sum returned.
template <int kItems>
__device__ __forceinline__ double crossing_items(const double* values, int tile_begin, int n,
                                                 unsigned thread, double (&v)[kItems]) {
  double mine = 0.0;
  for (int j = 0; j < kItems; ++j) {
    const int i = tile_begin + thread * kItems + j;
    v[j] = i < n ? values[i] : 0.0;
    mine += v[j];
  }
  return mine;
}

// The first of this thread's items (running: the sum before them) where the running sum passes
// the target (>= target; with kStrict, > target and at a positive value); INT_MAX when none.
template <bool kStrict, int kItems>
__device__ __forceinline__ int crossing_in_items(const double (&v)[kItems], int tile_begin, int n,
                                                 unsigned thread, double running, double target) {
  int hit = INT_MAX;
  for (int j = 0; j < kItems; ++j) {
    const int i = tile_begin + thread * kItems + j;
    running += v[j];
    const bool passes = kStrict ? (v[j] > 0.0 && running > target) : running >= target;
    if (i < n && passes) {
      hit = i;
      break;
    }
  }
  return hit;
}

// A verify row's coin: Sampler::sample_from({P(draft), max(0, total_p - P(draft))}) with u;
// index 0 (true) accepts the draft.
__device__ __forceinline__ bool accept_draft(float p_draft, double total_p, double u) {
  const float coin_rest = static_cast<float>(fmax(0.0, total_p - p_draft));
  const double coin_target = u * (static_cast<double>(p_draft) + coin_rest);
  return p_draft > 0.0f && (coin_target < static_cast<double>(p_draft) || !(coin_rest > 0.0f));
}

// A verify row against a proposal q: its coin is Sampler::sample_from({min(P, q), max(0, q - P)})
// at the draft with u, as verify_against_proposal builds it (P and q are normalised already).
__device__ __forceinline__ bool accept_proposed_draft(float p_draft, double q_draft, double u) {
  const double p = static_cast<double>(p_draft);
  const float keep = static_cast<float>(fmin(p, q_draft));
  const float reject = static_cast<float>(fmax(0.0, q_draft - p));
  return accept_draft(keep, static_cast<double>(keep) + reject, u);
}

// A verify row's coin (p.draft >= 0): against p.proposal when the draft was drawn from one, else
// the one-hot rule over total_p.
__device__ __forceinline__ bool accept_verify_draft(const SamplingParams& p, float p_draft,
                                                    double total_p) {
  return p.proposal != nullptr ? accept_proposed_draft(p_draft, p.proposal[p.draft], p.u)
                               : accept_draft(p_draft, total_p, p.u);
}

// A verify row's log-prob of its valid token, log(P / total_p) as the host's verification
// reports it: the draft's P was kept aside; any other token's P is in probs_by_id, or, against a
// proposal, P - q is (the token was drawn where P > q).
__device__ __forceinline__ float verify_token_logprob(const SamplingParams& p, int token,
                                                      float p_draft, const double* probs_by_id,
                                                      double total_p) {
  float p_token = p_draft;
  if (token != p.draft) {
    const double held = probs_by_id[token];
    p_token = static_cast<float>(p.proposal != nullptr ? held + p.proposal[token] : held);
  }
  return static_cast<float>(log(static_cast<double>(p_token) / total_p));
}

// The residual a rejected proposed draft is redrawn from: max(0, P - q) (0 where q >= P).
__device__ __forceinline__ double proposal_residual(float p, double q) {
  return fmax(0.0, static_cast<double>(p) - q);
}

// The top log-probs: ranked candidates 0 .. n - 1 (z descending) as (id, z - log_sum) into
// ids / logprobs, stopping at the first whose weight is 0; returns how many were listed.
__device__ __forceinline__ int list_top_logprobs(const float* z, const int* ranked_ids, int n,
                                                 double log_sum, int* ids, float* logprobs) {
  int listed = 0;
  for (int i = 0; i < n; ++i) {
    if (candidate_weight(z[i]) == 0.0f) break;
    ids[listed] = ranked_ids[i];
    logprobs[listed] = static_cast<float>(static_cast<double>(z[i]) - log_sum);
    ++listed;
  }
  return listed;
}

}  // namespace mimo::cuda::tiles
