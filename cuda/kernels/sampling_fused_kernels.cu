// The device sampler's one-launch path for small vocabularies (sampling_layout.cuh,
// kFusedMaxVocab): argmax and unranked rows run the chain's steps (sampling_kernels.cu) in one
// block, a block a row when several samplers' rows go together (DraftDraws).
#include <cstdlib>
#include <string>

#include "cuda/kernels/cuda_check.hpp"
#include "cuda/kernels/sampling_collectives.cuh"
#include "cuda/kernels/sampling_layout.cuh"

namespace mimo::cuda::sampling {

namespace {

// The whole chain of a small vocabulary in one block (argmax and unranked modes): the same
// steps and per-token arithmetic as the kernels above over one chunk, with barriers instead of
// launches, so a row costs one launch instead of 4-7 (docs/sampling.md, "On the GPU"). Sums run
// in this block's order (one chunk), as the chain's do per chunk: the same row gives the same
// token on every run.
__device__ void fused_small_row(const Staging* staged, SamplingParams* params,
                                const float* __restrict__ logits, int vocab, bool greedy,
                                float* __restrict__ adj, double* __restrict__ weights,
                                double* __restrict__ probs_by_id, SampledRow* out) {
  using StatsReduce = cub::BlockReduce<StatsPartial, kThreads>;
  using SumReduce = cub::BlockReduce<double, kThreads>;
  using IndexReduce = cub::BlockReduce<int, kThreads>;
  __shared__ typename StatsReduce::TempStorage stats_storage;
  __shared__ typename SumReduce::TempStorage sum_storage;
  __shared__ typename IndexReduce::TempStorage index_storage;
  __shared__ SamplingParams p;
  __shared__ StatsPartial row;
  __shared__ double shared_total;
  __shared__ int shared_last;
  __shared__ float p_draft;
  const int t = threadIdx.x;
  if (t == 0) {
    p = staged->params;
    *params = p;
    p_draft = 0.0f;
  }
  for (int i = t; i < vocab; i += kThreads) adj[i] = logits[i];
  __syncthreads();
  for (int e = t; e < p.n_entries; e += kThreads) {
    tiles::apply_entry(staged->entries[e], staged->biases, p, logits, adj, vocab);
  }
  __syncthreads();
  // The row's statistics (row_stats_kernel).
  StatsPartial mine{__int_as_float(0x7FC00000), -1, 0, 0};
  tiles::row_stats_chunk(adj, t, vocab, kThreads, mine);
  const StatsPartial all = StatsReduce(stats_storage).Reduce(mine, CombineStats{});
  if (t == 0) row = all;
  __syncthreads();
  const bool invalid = row.invalid || row.n_candidates == 0;
  const float max = row.max;
  if (greedy) {  // greedy_log_sum_kernel
    const double sum = tiles::exp_sum_chunk(adj, max, t, vocab, kThreads);
    const double total = SumReduce(sum_storage).Sum(sum);
    if (t != 0) return;
    out->status = invalid ? 1 : 0;
    out->token = row.argmax;
    out->logprob = static_cast<float>(-log(total));
    out->n_top = 0;
    return;
  }
  if (invalid) {
    if (t == 0) out->status = 1;
    return;
  }
  // Weights by id and their total (unranked_weights_kernel).
  const double threshold = tiles::min_p_threshold(p.min_p);
  const double sum = tiles::unranked_weights_chunk(adj, max, p.temperature, threshold, t, vocab,
                                                   kThreads, weights);
  const double block_total = SumReduce(sum_storage).Sum(sum);
  if (t == 0) shared_total = block_total;
  __syncthreads();
  const double total = shared_total;
  // P by id, the draft's aside, a proposal's residual (unranked_probs_kernel).
  for (int i = t; i < vocab; i += kThreads) {
    const float prob = tiles::survivor_prob(weights[i], total);
    if (i == p.draft) {
      p_draft = prob;
      probs_by_id[i] = 0.0;
    } else if (p.proposal != nullptr) {
      probs_by_id[i] = tiles::proposal_residual(prob, p.proposal[i]);
    } else {
      probs_by_id[i] = static_cast<double>(prob);
    }
  }
  __syncthreads();
  // The draw's total and last possible token (draw_chunks_kernel), then the token (draw_token).
  double draw_sum = 0.0;
  int last = -1;
  tiles::probs_chunk(probs_by_id, t, vocab, kThreads, draw_sum, last);
  const double draw_total = SumReduce(sum_storage).Sum(draw_sum);
  const int last_nonzero = IndexReduce(index_storage).Reduce(last, MaxOf{});
  if (t == 0) {
    shared_total = draw_total;
    shared_last = last_nonzero;
  }
  __syncthreads();
  const bool verify = p.draft >= 0;
  const double total_p = p.proposal != nullptr ? 1.0
                         : verify              ? shared_total + static_cast<double>(p_draft)
                                               : shared_total;
  bool accepted = false;
  if (verify) accepted = tiles::accept_verify_draft(p, p_draft, total_p);
  int token = p.draft;
  if (!accepted) {
    const double target = (verify ? p.u2 : p.u) * shared_total;
    const int hit = first_crossing<true>(probs_by_id, 0, vocab, 0.0, target);
    token = hit < vocab ? hit : shared_last;
  }
  if (t != 0) return;
  out->token = token;
  out->status = token >= 0 && token < vocab ? 0 : 1;
  out->n_top = 0;
  if (verify) {
    out->logprob = out->status == 0
                       ? tiles::verify_token_logprob(p, token, p_draft, probs_by_id, total_p)
                       : -INFINITY;
    return;
  }
  const float z_token =
      out->status == 0 ? tiles::candidate_key(adj[token], max, p.temperature) : 0.0f;
  out->logprob = static_cast<float>(static_cast<double>(z_token) - log(total));
}

// Rows of several samplers (or one), a block a row (DraftDraws: one launch for a block's drafts).
__global__ void fused_small_rows_kernel(FusedRows rows, int vocab, bool greedy) {
  const FusedRow& r = rows.row[blockIdx.x];
  fused_small_row(r.staged, r.params, r.logits, vocab, greedy, r.adj, r.weights, r.probs_by_id,
                  r.out);
}

}  // namespace

bool fused_small_rows() {
  static const bool on = [] {
    const char* env = std::getenv("MIMO_FUSED_SAMPLER");
    return env == nullptr || std::string(env) != "0";
  }();
  return on;
}

bool launch_fused_rows(const Buffers* const* rows, int n, const float* logits, SamplingMode mode,
                       cudaStream_t st) {
  if (n < 1 || n > kMaxFusedRows || mode == SamplingMode::kRanked || !fused_small_rows()) {
    return false;
  }
  const int vocab = rows[0]->vocab;
  if (vocab > kFusedMaxVocab) return false;
  FusedRows args{};
  for (int i = 0; i < n; ++i) {
    const Buffers& b = *rows[i];
    if (b.vocab != vocab) return false;
    args.row[i] =
        FusedRow{b.staging,     b.params, logits + std::size_t(i) * vocab, b.adj, b.weights,
                 b.probs_by_id, b.row};
  }
  fused_small_rows_kernel<<<n, kThreads, 0, st>>>(args, vocab, mode == SamplingMode::kArgmax);
  check(cudaGetLastError(), "fused sampling kernel (rows)");
  return true;
}

}  // namespace mimo::cuda::sampling
