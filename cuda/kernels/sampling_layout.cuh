// The device sampler's memory layout, shared by its kernels (sampling_kernels.cu) and its host
// side (cuda/runtime/device_sampler.cu): launch constants, the per-row state the kernels pass
// along, the staged request and the result row (both in mapped pinned memory), and the buffers of
// one sampler as plain pointers.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "cuda/kernels/sampling_mode.hpp"
#include "cuda/tiles/sampling.cuh"

namespace mimo::cuda::sampling {

using tiles::SamplingEntry;
using tiles::SamplingParams;
using tiles::StatsPartial;

constexpr int kThreads = 256;
constexpr int kItems = 4;  // per thread in a crossing search's tile
constexpr int kTile = kThreads * kItems;
constexpr int kMaxTopLogprobs = 64;
// Vocabularies up to this size sample argmax and unranked rows in one block, one launch
// (sampling_fused_kernels.cu); MIMO_FUSED_SAMPLER=0 keeps the chain (A/B runs).
constexpr int kFusedMaxVocab = 16384;

// Device-side bookkeeping of one row between kernels.
struct RowState {
  float max;
  int argmax;
  int invalid;      // NaN / +inf logit, or every token banned: the host samples instead
  int keep;         // top-k prefix of the ranking (k)
  int cut_min;      // first ranked index below min-p, or k
  int cross_chunk;  // chunk where a running sum first reaches its target; -1: none
  double cross_prefix;
  double target;
  int survivors;
  double total;  // sum of exp(z) over the survivors
  double log_sum;
  int last_nonzero;
  float p_draft;   // a verify row: P(draft), left out of probs_by_id
  double total_p;  // sum of P over every token (the draft included)
  unsigned arrivals;
};

// What comes back to the host (pinned, mapped: the last kernel writes it directly).
struct SampledRow {
  int status;  // 0 = sampled; 1 = the host must sample this row
  int token;
  float logprob;
  int n_top;
  int top_ids[kMaxTopLogprobs];
  float top_logprobs[kMaxTopLogprobs];
};

// The staged request (pinned, mapped): params, then entries, then bias values.
struct Staging {
  SamplingParams params;
  SamplingEntry entries[kMaxSamplingEntries];
  float biases[kMaxSamplingEntries];
};

// One sampler's device buffers (vocab-sized unless noted) and its mapped staging / result.
struct Buffers {
  int vocab = 0;
  int chunk = 0;         // elements a block of the chunked kernels sums (whole tiles)
  int blocks = 0;        // chunks (at most kThreads: the last block reduces one a thread)
  float* adj = nullptr;  // the row after bias and penalties
  float* keys = nullptr;
  int* ids = nullptr;
  float* ranked_z = nullptr;  // keys sorted: z descending, ties by id
  int* ranked_ids = nullptr;
  double* weights = nullptr;      // exp(z): in ranked order, or by id (unranked)
  double* probs_by_id = nullptr;  // P by token id
  SamplingParams* params = nullptr;
  RowState* state = nullptr;
  StatsPartial* stats_partials = nullptr;  // [blocks]
  double* sum_partials = nullptr;          // [blocks]
  int* index_partials = nullptr;           // [blocks]
  void* sort_temp = nullptr;
  std::size_t sort_temp_bytes = 0;
  const Staging* staging = nullptr;  // device view of the mapped staging
  SampledRow* row = nullptr;         // device view of the mapped result
};

// Elements a chunk of the chunked kernels covers for `vocab` (whole tiles, at most kThreads
// chunks), and the CUB radix sort's temporary storage for `vocab` candidates.
int chunk_for(int vocab);
std::size_t sort_temp_bytes(int vocab);

// Whether small rows take the one-launch kernel (MIMO_FUSED_SAMPLER, read once; on by default).
bool fused_small_rows();

// One row of a several-row fused launch: a sampler's buffers and its logits row.
struct FusedRow {
  const Staging* staged;
  SamplingParams* params;
  const float* logits;
  float* adj;
  double* weights;
  double* probs_by_id;
  SampledRow* out;
};
constexpr int kMaxFusedRows = 16;
struct FusedRows {  // a kernel parameter (16 x 56 bytes)
  FusedRow row[kMaxFusedRows];
};
// Rows i = 0 .. n-1 of `logits` (vocab apart) drawn by samplers rows[i] in one launch, when the
// fused kernel applies (every row small, argmax or unranked); false (nothing issued) otherwise.
bool launch_fused_rows(const Buffers* const* rows, int n, const float* logits, SamplingMode mode,
                       cudaStream_t stream);
// Issues the chain on logits[0, vocab) (see sampling_kernels.cu) on `stream`.
void launch(const Buffers& b, const float* logits, SamplingMode mode, cudaStream_t stream);

}  // namespace mimo::cuda::sampling
