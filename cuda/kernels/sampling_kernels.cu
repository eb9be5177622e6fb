// DeviceSampler: mimo::Sampler's chain on one device row (see cuda/runtime/device_sampler.hpp).
// Kernels in issue order:
//   copy_row, apply_entries            adj = logits with bias and penalties applied
//   row_stats                          max, arg-max, candidates, invalid rows; k = top-k prefix
//   argmax mode: greedy_log_sum        token = arg-max, logprob = -log sum exp(l - max)
//   unranked mode (no top-k / top-p / top log-probs): unranked_weights (exp(z) by id, min-p,
//     the total), unranked_probs (P by id), draw_chunks, draw_token
//   ranked mode: candidate_keys, CUB radix sort (z descending, ties by id: stable), cut_weights
//     (exp(z) of the top-k prefix, min-p cut, the chunk where top-p's mass crosses), top_p_cut,
//     survivor_total, scatter_probs (P by token id), draw_chunks, draw_token
//   A speculative verify row (draft >= 0) keeps the draft's P aside: its coin decides with u,
//   and a rejection draws from the other tokens' P with u2 (Sampler::sample_from's walk). With a
//   proposal q (a draft drawn from a distribution) probs_by_id holds the residual max(0, P - q)
//   instead, the coin is {min(P, q), max(0, q - P)} at the draft, and a rejection draws from the
//   residual (verify_against_proposal's rule).
// Every sum is per chunk in a fixed order and then over the chunks by a block-wide reduction or
// scan (a fixed tree, in the last block to arrive), and every search for
// a crossing scans the chunk found with a CUB BlockScan: the same row gives the same token on
// every run (CUB's device-wide float scan does not promise that). The per-chunk math is in
// cuda/tiles/sampling.cuh; the CUB block collectives, the grid finish (the last block to arrive)
// and the RowState bookkeeping stay here.
#include <climits>
#include <cstdlib>
#include <cub/device/device_radix_sort.cuh>
#include <string>

#include "cuda/kernels/cuda_check.hpp"
#include "cuda/kernels/sampling_collectives.cuh"
#include "cuda/kernels/sampling_layout.cuh"
#include "cuda/tiles/argmax.cuh"

namespace mimo::cuda::sampling {

namespace {

__device__ __forceinline__ int chunk_begin(int chunk) {
  return blockIdx.x * chunk;
}
__device__ __forceinline__ int chunk_end(int chunk, int n) {
  return min(n, static_cast<int>(blockIdx.x + 1) * chunk);
}
// Elementwise kernels: one element a thread over the whole grid.
__device__ __forceinline__ int element_index() {
  return blockIdx.x * kThreads + threadIdx.x;
}

// True in the block that arrives last (which then reads every block's partials); resets the
// counter for the next kernel. Each block's thread 0 wrote its partials before calling.
__device__ bool arrived_last(unsigned* arrivals) {
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    last = atomicAdd(arrivals, 1u) == gridDim.x - 1;
    if (last) atomicExch(arrivals, 0u);
  }
  __syncthreads();
  return last;
}

// In the last block: block t's partial in thread t, `identity` past the grid (a chunked grid
// never has more blocks than a block has threads), so the finish is one block-wide reduction.
// Loads bypass L1 (other blocks wrote the partials during this kernel).
template <class T>
__device__ __forceinline__ T partial_of(const T* partials, T identity) {
  return threadIdx.x < gridDim.x ? __ldcg(partials + threadIdx.x) : identity;
}
__device__ __forceinline__ StatsPartial partial_of(const StatsPartial* partials,
                                                   StatsPartial identity) {
  if (threadIdx.x >= gridDim.x) return identity;
  const StatsPartial* p = partials + threadIdx.x;
  return {__ldcg(&p->max), __ldcg(&p->argmax), __ldcg(&p->n_candidates), __ldcg(&p->invalid)};
}

// Publishes this block's chunk sum (`sum`: this thread's share). The last block to arrive gets
// true and *total = the sum over every chunk (valid in thread 0); the others get false.
__device__ bool grid_sum(double sum, double* partials, unsigned* arrivals, double* total) {
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  const double block = Reduce(storage).Sum(sum);
  if (threadIdx.x == 0) partials[blockIdx.x] = block;
  if (!arrived_last(arrivals)) return false;
  *total = Reduce(storage).Sum(partial_of(partials, 0.0));
  return true;
}

// As grid_sum, with a chunk index as well (`index`: this thread's, combined by `op`, `identity`
// past the grid). The last block gets *all_index over every chunk (thread 0); it reads the sums
// itself (crossing_chunk scans them).
template <class Op>
__device__ bool grid_sum_and_index(double sum, int index, int identity, Op op, double* sum_partials,
                                   int* index_partials, unsigned* arrivals, int* all_index) {
  using SumReduce = cub::BlockReduce<double, kThreads>;
  using IndexReduce = cub::BlockReduce<int, kThreads>;
  __shared__ typename SumReduce::TempStorage sum_storage;
  __shared__ typename IndexReduce::TempStorage index_storage;
  const double block_sum = SumReduce(sum_storage).Sum(sum);
  const int block_index = IndexReduce(index_storage).Reduce(index, op);
  if (threadIdx.x == 0) {
    sum_partials[blockIdx.x] = block_sum;
    index_partials[blockIdx.x] = block_index;
  }
  if (!arrived_last(arrivals)) return false;
  *all_index = IndexReduce(index_storage).Reduce(partial_of(index_partials, identity), op);
  return true;
}

// In the last block, over the chunks' sums (`mine`: this thread's chunk, 0 past the grid): the
// first chunk where the running sum passes scale * total (>=, or > with kStrict) goes to
// *chunk (-1: none) with the sum before it in *prefix and the target in *target. Returns the
// total. A BlockScan in a fixed order: the same row gives the same chunk on every run.
template <bool kStrict>
__device__ double crossing_chunk(double mine, double scale, int* chunk, double* prefix,
                                 double* target) {
  using Scan = cub::BlockScan<double, kThreads>;
  using MinReduce = cub::BlockReduce<int, kThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ typename MinReduce::TempStorage min_storage;
  __shared__ int first;
  double before = 0.0, total = 0.0;
  Scan(scan_storage).ExclusiveSum(mine, before, total);
  const double goal = scale * total;
  const double running = before + mine;
  const bool passes = threadIdx.x < gridDim.x && (kStrict ? running > goal : running >= goal);
  const int hit =
      MinReduce(min_storage).Reduce(passes ? static_cast<int>(threadIdx.x) : INT_MAX, MinOf{});
  if (threadIdx.x == 0) {
    first = hit;
    *chunk = hit == INT_MAX ? -1 : hit;
    *target = goal;
  }
  __syncthreads();
  if (first != INT_MAX && static_cast<int>(threadIdx.x) == first) *prefix = before;
  return total;
}

__global__ void copy_row_kernel(const float* __restrict__ logits, float* __restrict__ adj,
                                int vocab) {
  const int i = element_index();
  if (i < vocab) adj[i] = logits[i];
}

// One block: copies the staged params to the device and applies bias and penalties to the
// touched tokens (distinct, so the threads never collide).
__global__ void apply_entries_kernel(const Staging* staged, SamplingParams* params,
                                     const float* __restrict__ logits, float* __restrict__ adj,
                                     int vocab) {
  __shared__ SamplingParams p;
  if (threadIdx.x == 0) {
    p = staged->params;
    *params = p;
  }
  __syncthreads();
  for (int e = threadIdx.x; e < p.n_entries; e += kThreads) {
    const SamplingEntry entry = staged->entries[e];
    tiles::apply_entry(entry, staged->biases, p, logits, adj, vocab);
  }
}

__global__ void row_stats_kernel(const float* __restrict__ adj, int vocab, int chunk,
                                 const SamplingParams* params, StatsPartial* partials,
                                 RowState* st) {
  const StatsPartial none{__int_as_float(0x7FC00000), -1, 0, 0};
  StatsPartial mine = none;
  tiles::row_stats_chunk(adj, chunk_begin(chunk) + threadIdx.x, chunk_end(chunk, vocab), kThreads,
                         mine);
  using Reduce = cub::BlockReduce<StatsPartial, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  const StatsPartial block = Reduce(storage).Reduce(mine, CombineStats{});
  if (threadIdx.x == 0) partials[blockIdx.x] = block;
  if (!arrived_last(&st->arrivals)) return;
  const StatsPartial all = Reduce(storage).Reduce(partial_of(partials, none), CombineStats{});
  if (threadIdx.x != 0) return;
  const SamplingParams p = *params;
  st->max = all.max;
  st->argmax = all.argmax;
  st->invalid = all.invalid || all.n_candidates == 0;
  const int k = tiles::top_k_keep(p.top_k, all.n_candidates);
  st->keep = st->invalid ? 0 : k;
  st->cut_min = st->keep;
  st->cross_chunk = -1;
  st->survivors = 0;
  st->last_nonzero = -1;
  st->p_draft = 0.0f;
}

// Greedy: the arg-max and log of sum exp(l - max) (the logprob at temperature 1).
__global__ void greedy_log_sum_kernel(const float* __restrict__ adj, int vocab, int chunk,
                                      RowState* st, double* partials, SampledRow* out) {
  const float max = st->max;
  const double sum = tiles::exp_sum_chunk(adj, max, chunk_begin(chunk) + threadIdx.x,
                                          chunk_end(chunk, vocab), kThreads);
  double total = 0.0;
  if (!grid_sum(sum, partials, &st->arrivals, &total) || threadIdx.x != 0) return;
  out->status = st->invalid ? 1 : 0;
  out->token = st->argmax;
  out->logprob = static_cast<float>(-log(total));
  out->n_top = 0;
}

__global__ void candidate_keys_kernel(const float* __restrict__ adj, int vocab,
                                      const SamplingParams* params, const RowState* st,
                                      float* __restrict__ keys, int* __restrict__ ids,
                                      double* __restrict__ probs_by_id) {
  const int i = element_index();
  if (i >= vocab) return;
  keys[i] = tiles::candidate_key(adj[i], st->max, params->temperature);
  ids[i] = i;
  probs_by_id[i] = 0.0;
}

// Over the ranking z[0..vocab): weights exp(z) of the top-k prefix (0 after it), the first index
// below min-p, and (top-p on) the chunk where the running weight first reaches top_p * total.
__global__ void cut_weights_kernel(const float* __restrict__ z, int vocab, int chunk,
                                   const SamplingParams* params, RowState* st,
                                   double* __restrict__ weights, double* sum_partials,
                                   int* index_partials) {
  if (st->invalid) return;
  const int k = st->keep;
  const double threshold = tiles::min_p_threshold(params->min_p);
  double sum = 0.0;
  int first_below = INT_MAX;
  tiles::cut_weights_chunk(z, k, threshold, chunk_begin(chunk) + threadIdx.x,
                           chunk_end(chunk, vocab), kThreads, weights, sum, first_below);
  int cut_min = INT_MAX;
  if (!grid_sum_and_index(sum, first_below, INT_MAX, MinOf{}, sum_partials, index_partials,
                          &st->arrivals, &cut_min)) {
    return;
  }
  if (threadIdx.x == 0) {
    st->cut_min = min(k, cut_min);
    st->cross_chunk = -1;
  }
  const float top_p = params->top_p;
  if (top_p < 1.0f && k > 1) {
    crossing_chunk<false>(partial_of(sum_partials, 0.0), static_cast<double>(top_p),
                          &st->cross_chunk, &st->cross_prefix, &st->target);
  }
}

// One block: top-p's last kept index from the crossing chunk, then the survivors = the top-p
// prefix cut by min-p.
__global__ void top_p_cut_kernel(const double* __restrict__ weights, int chunk, RowState* st) {
  if (st->invalid) return;
  const int k = st->keep;
  int keep_p = k;
  if (st->cross_chunk >= 0) {
    const int hit =
        first_crossing<false>(weights, st->cross_chunk * chunk, k, st->cross_prefix, st->target);
    keep_p = hit < k ? hit + 1 : k;
  }
  if (threadIdx.x == 0) st->survivors = max(1, min(keep_p, st->cut_min));
}

__global__ void survivor_total_kernel(const double* __restrict__ weights, int vocab, int chunk,
                                      RowState* st, double* partials) {
  if (st->invalid) return;
  const int m = st->survivors;
  const double sum = tiles::sum_chunk(weights, chunk_begin(chunk) + threadIdx.x,
                                      chunk_end(chunk, min(vocab, m)), kThreads);
  double total = 0.0;
  if (!grid_sum(sum, partials, &st->arrivals, &total) || threadIdx.x != 0) return;
  st->total = total;
  st->log_sum = log(total);
}

// P[token] = float(exp(z) / total) for the survivors, by token id (zero elsewhere); a verify
// row's draft goes to st->p_draft instead.
__global__ void scatter_probs_kernel(const double* __restrict__ weights,
                                     const int* __restrict__ ranked_ids,
                                     const SamplingParams* params, RowState* st,
                                     double* __restrict__ probs_by_id) {
  if (st->invalid) return;
  const int i = element_index();
  if (i >= st->survivors) return;
  const float p = tiles::survivor_prob(weights[i], st->total);
  const int id = ranked_ids[i];
  if (id == params->draft) {
    st->p_draft = p;
  } else if (params->proposal != nullptr) {
    probs_by_id[id] = tiles::proposal_residual(p, params->proposal[id]);
  } else {
    probs_by_id[id] = static_cast<double>(p);
  }
}

// Unranked: every candidate at or above min-p survives, so weights stay in id order:
// w[id] = exp(z) (0 for banned and cut tokens), the total and its log.
__global__ void unranked_weights_kernel(const float* __restrict__ adj, int vocab, int chunk,
                                        const SamplingParams* params, RowState* st,
                                        double* __restrict__ weights, double* partials) {
  if (st->invalid) return;
  const float max = st->max, temperature = params->temperature;
  const double threshold = tiles::min_p_threshold(params->min_p);
  const double sum = tiles::unranked_weights_chunk(adj, max, temperature, threshold,
                                                   chunk_begin(chunk) + threadIdx.x,
                                                   chunk_end(chunk, vocab), kThreads, weights);
  double total = 0.0;
  if (!grid_sum(sum, partials, &st->arrivals, &total) || threadIdx.x != 0) return;
  st->total = total;
  st->log_sum = log(total);
}

// Unranked: P[id] = float(w[id] / total); a verify row's draft goes to st->p_draft instead.
__global__ void unranked_probs_kernel(const double* __restrict__ weights, int vocab,
                                      const SamplingParams* params, RowState* st,
                                      double* __restrict__ probs_by_id) {
  if (st->invalid) return;
  const int i = element_index();
  if (i >= vocab) return;
  const float p = tiles::survivor_prob(weights[i], st->total);
  if (i == params->draft) {
    st->p_draft = p;
    probs_by_id[i] = 0.0;
  } else if (params->proposal != nullptr) {
    probs_by_id[i] = tiles::proposal_residual(p, params->proposal[i]);
  } else {
    probs_by_id[i] = static_cast<double>(p);
  }
}

// Sums of P by id per chunk, the last token with P > 0, and the chunk where the running sum
// first exceeds u * sum(P) (a verify row: u2 * the sum without the draft).
__global__ void draw_chunks_kernel(const double* __restrict__ probs_by_id, int vocab, int chunk,
                                   const SamplingParams* params, RowState* st, double* sum_partials,
                                   int* index_partials) {
  if (st->invalid) return;
  double sum = 0.0;
  int last = -1;
  tiles::probs_chunk(probs_by_id, chunk_begin(chunk) + threadIdx.x, chunk_end(chunk, vocab),
                     kThreads, sum, last);
  int last_nonzero = -1;
  if (!grid_sum_and_index(sum, last, -1, MaxOf{}, sum_partials, index_partials, &st->arrivals,
                          &last_nonzero)) {
    return;
  }
  const bool verify = params->draft >= 0;
  const double total =
      crossing_chunk<true>(partial_of(sum_partials, 0.0), verify ? params->u2 : params->u,
                           &st->cross_chunk, &st->cross_prefix, &st->target);
  if (threadIdx.x != 0) return;
  st->last_nonzero = last_nonzero;
  // A verify row: the total excludes the draft, which the coin in draw_token decides first.
  // Against a proposal the sums are the residual's, and P (already normalised) sums to 1.
  st->total_p = params->proposal != nullptr ? 1.0
                : verify                    ? total + static_cast<double>(st->p_draft)
                                            : total;
}

// One block: the drawn token (or the arg-max for greedy), its log-prob and the top log-probs.
__global__ void draw_token_kernel(const double* __restrict__ probs_by_id,
                                  const float* __restrict__ adj, const float* __restrict__ z,
                                  const int* __restrict__ ranked_ids, int vocab, int chunk,
                                  const SamplingParams* params, const RowState* st,
                                  SampledRow* out) {
  if (st->invalid) {
    if (threadIdx.x == 0) out->status = 1;
    return;
  }
  const SamplingParams p = *params;
  int token = st->argmax;
  bool accepted = false;
  if (p.draw && p.draft >= 0) accepted = tiles::accept_verify_draft(p, st->p_draft, st->total_p);
  if (p.draw && accepted) {
    token = p.draft;
  } else if (p.draw) {
    int hit = vocab;
    if (st->cross_chunk >= 0) {
      hit = first_crossing<true>(probs_by_id, st->cross_chunk * chunk, vocab, st->cross_prefix,
                                 st->target);
    }
    // Rounding left u * sum at or past the final running sum: the last possible token.
    token = hit < vocab ? hit : st->last_nonzero;
  }
  if (threadIdx.x != 0) return;
  const double log_sum = st->log_sum;
  out->token = token;
  out->status = token >= 0 && token < vocab ? 0 : 1;
  if (p.draft >= 0) {
    // A verify row reports log(P / sum P), as the host's verification does.
    out->logprob = out->status == 0 ? tiles::verify_token_logprob(p, token, st->p_draft,
                                                                  probs_by_id, st->total_p)
                                    : -INFINITY;
    out->n_top = 0;
    return;
  }
  // The token's z is its ranking key; greedy's is 0 (l - max of the arg-max).
  const float z_token =
      p.draw && out->status == 0 ? tiles::candidate_key(adj[token], st->max, p.temperature) : 0.0f;
  out->logprob = static_cast<float>(static_cast<double>(z_token) - log_sum);
  const int n = min(min(p.top_logprobs, kMaxTopLogprobs), st->survivors);
  out->n_top = tiles::list_top_logprobs(z, ranked_ids, n, log_sum, out->top_ids, out->top_logprobs);
}

}  // namespace

int chunk_for(int vocab) {
  const int tiles = (vocab + kTile - 1) / kTile;
  return (tiles + kThreads - 1) / kThreads * kTile;
}

std::size_t sort_temp_bytes(int vocab) {
  std::size_t bytes = 0;
  check(cub::DeviceRadixSort::SortPairsDescending(
            nullptr, bytes, static_cast<const float*>(nullptr), static_cast<float*>(nullptr),
            static_cast<const int*>(nullptr), static_cast<int*>(nullptr), vocab),
        "cub radix sort size query");
  return bytes;
}

void launch(const Buffers& b, const float* logits, SamplingMode mode, cudaStream_t st) {
  SamplingParams* params = b.params;
  RowState* state = b.state;
  const int blocks = b.blocks, chunk = b.chunk, vocab = b.vocab;
  const Buffers* row = &b;
  if (launch_fused_rows(&row, 1, logits, mode, st)) return;  // a small vocabulary: one launch
  const int elements = (vocab + kThreads - 1) / kThreads;
  float* adj = b.adj;
  copy_row_kernel<<<elements, kThreads, 0, st>>>(logits, adj, vocab);
  apply_entries_kernel<<<1, kThreads, 0, st>>>(b.staging, params, logits, adj, vocab);
  row_stats_kernel<<<blocks, kThreads, 0, st>>>(adj, vocab, chunk, params, b.stats_partials, state);
  if (mode == SamplingMode::kArgmax) {
    greedy_log_sum_kernel<<<blocks, kThreads, 0, st>>>(adj, vocab, chunk, state, b.sum_partials,
                                                       b.row);
    check(cudaGetLastError(), "greedy sampling kernels");
    return;
  }
  if (mode == SamplingMode::kUnranked) {
    unranked_weights_kernel<<<blocks, kThreads, 0, st>>>(adj, vocab, chunk, params, state,
                                                         b.weights, b.sum_partials);
    unranked_probs_kernel<<<elements, kThreads, 0, st>>>(b.weights, vocab, params, state,
                                                         b.probs_by_id);
  } else {
    candidate_keys_kernel<<<elements, kThreads, 0, st>>>(adj, vocab, params, state, b.keys, b.ids,
                                                         b.probs_by_id);
    std::size_t temp_bytes = b.sort_temp_bytes;
    check(cub::DeviceRadixSort::SortPairsDescending(b.sort_temp, temp_bytes, b.keys, b.ranked_z,
                                                    b.ids, b.ranked_ids, vocab, 0, 32, st),
          "cub radix sort of the candidates");
    cut_weights_kernel<<<blocks, kThreads, 0, st>>>(b.ranked_z, vocab, chunk, params, state,
                                                    b.weights, b.sum_partials, b.index_partials);
    top_p_cut_kernel<<<1, kThreads, 0, st>>>(b.weights, chunk, state);
    survivor_total_kernel<<<blocks, kThreads, 0, st>>>(b.weights, vocab, chunk, state,
                                                       b.sum_partials);
    scatter_probs_kernel<<<elements, kThreads, 0, st>>>(b.weights, b.ranked_ids, params, state,
                                                        b.probs_by_id);
  }
  draw_chunks_kernel<<<blocks, kThreads, 0, st>>>(b.probs_by_id, vocab, chunk, params, state,
                                                  b.sum_partials, b.index_partials);
  draw_token_kernel<<<1, kThreads, 0, st>>>(b.probs_by_id, adj, b.ranked_z, b.ranked_ids, vocab,
                                            chunk, params, state, b.row);
  check(cudaGetLastError(), "sampling kernels");
}

}  // namespace mimo::cuda::sampling
