// DeviceSampler: mimo::Sampler's chain on one device row (see device_sampler.hpp). Kernels in
// issue order:
//   copy_row, apply_entries            adj = logits with bias and penalties applied
//   row_stats                          max, arg-max, candidates, invalid rows; k = top-k prefix
//   argmax mode: greedy_log_sum        token = arg-max, logprob = -log sum exp(l - max)
//   unranked mode (no top-k / top-p / top log-probs): unranked_weights (exp(z) by id, min-p,
//     the total), unranked_probs (P by id), draw_chunks, draw_token
//   ranked mode: candidate_keys, CUB radix sort (z descending, ties by id: stable), cut_weights
//     (exp(z) of the top-k prefix, min-p cut, the chunk where top-p's mass crosses), top_p_cut,
//     survivor_total, scatter_probs (P by token id), draw_chunks, draw_token
//   A speculative verify row (draft >= 0) keeps the draft's P aside: its coin decides with u,
//   and a rejection draws from the other tokens' P with u2 (Sampler::sample_from's walk).
// Every sum is per chunk in a fixed order and then over the chunks by a block-wide reduction or
// scan (a fixed tree, in the last block to arrive), and every search for
// a crossing scans the chunk found with a CUB BlockScan: the same row gives the same token on
// every run (CUB's device-wide float scan does not promise that).
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <unordered_map>
#include <vector>

#include "cuda/launch/cuda_check.hpp"
#include "cuda/launch/device_memory.hpp"
#include "cuda/launch/device_sampler.hpp"
#include "cuda/tiles/argmax.cuh"
#include "cuda/tiles/sampling.cuh"
#include "mimo/error.hpp"

namespace mimo::cuda {

namespace {

using tiles::SamplingEntry;
using tiles::SamplingParams;

constexpr int kThreads = 256;
constexpr int kItems = 4;  // per thread in a crossing search's tile
constexpr int kTile = kThreads * kItems;
constexpr int kMaxTopLogprobs = 64;

// Device-side bookkeeping of one row between kernels.
struct RowState {
  float max;
  int argmax;
  int n_candidates;
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

struct StatsPartial {
  float max;
  int argmax;
  int n_candidates;
  int invalid;
};

struct MinOf {
  __device__ int operator()(int a, int b) const { return a < b ? a : b; }
};
struct MaxOf {
  __device__ int operator()(int a, int b) const { return a > b ? a : b; }
};

struct CombineStats {
  __device__ StatsPartial operator()(const StatsPartial& a, const StatsPartial& b) const {
    StatsPartial r = tiles::arg_better(b.max, b.argmax, a.max, a.argmax) ? b : a;
    r.n_candidates = a.n_candidates + b.n_candidates;
    r.invalid = a.invalid | b.invalid;
    return r;
  }
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
  SamplingEntry entries[DeviceSampler::kMaxEntries];
  float biases[DeviceSampler::kMaxEntries];
};

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
    if (entry.token < 0 || entry.token >= vocab) continue;  // the host stages ids in range
    adj[entry.token] = tiles::adjusted_logit(logits[entry.token], entry, staged->biases, p);
  }
}

__global__ void row_stats_kernel(const float* __restrict__ adj, int vocab, int chunk,
                                 const SamplingParams* params, StatsPartial* partials,
                                 RowState* st) {
  const StatsPartial none{__int_as_float(0x7FC00000), -1, 0, 0};
  StatsPartial mine = none;
  for (int i = chunk_begin(chunk) + threadIdx.x; i < chunk_end(chunk, vocab); i += kThreads) {
    const float l = adj[i];
    if (isnan(l) || l == INFINITY) mine.invalid = 1;
    if (l > -INFINITY) ++mine.n_candidates;
    if (tiles::arg_better(l, i, mine.max, mine.argmax)) {
      mine.max = l;
      mine.argmax = i;
    }
  }
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
  st->n_candidates = all.n_candidates;
  st->invalid = all.invalid || all.n_candidates == 0;
  const int k = p.top_k > 0 ? min(p.top_k, all.n_candidates) : all.n_candidates;
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
  double sum = 0.0;
  for (int i = chunk_begin(chunk) + threadIdx.x; i < chunk_end(chunk, vocab); i += kThreads) {
    sum += tiles::candidate_weight(__fsub_rn(adj[i], max));
  }
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  const double block = Reduce(storage).Sum(sum);
  if (threadIdx.x == 0) partials[blockIdx.x] = block;
  if (!arrived_last(&st->arrivals)) return;
  const double total = Reduce(storage).Sum(partial_of(partials, 0.0));
  if (threadIdx.x != 0) return;
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
  const float min_p = params->min_p;
  const double threshold = min_p > 0.0f ? log(static_cast<double>(min_p)) : -INFINITY;
  double sum = 0.0;
  int first_below = INT_MAX;
  for (int i = chunk_begin(chunk) + threadIdx.x; i < chunk_end(chunk, vocab); i += kThreads) {
    const double w = i < k ? static_cast<double>(tiles::candidate_weight(z[i])) : 0.0;
    weights[i] = w;
    sum += w;
    if (i < k && static_cast<double>(z[i]) < threshold) first_below = min(first_below, i);
  }
  using SumReduce = cub::BlockReduce<double, kThreads>;
  using MinReduce = cub::BlockReduce<int, kThreads>;
  __shared__ typename SumReduce::TempStorage sum_storage;
  __shared__ typename MinReduce::TempStorage min_storage;
  const double block_sum = SumReduce(sum_storage).Sum(sum);
  const int block_min = MinReduce(min_storage).Reduce(first_below, MinOf{});
  if (threadIdx.x == 0) {
    sum_partials[blockIdx.x] = block_sum;
    index_partials[blockIdx.x] = block_min;
  }
  if (!arrived_last(&st->arrivals)) return;
  const int cut_min = MinReduce(min_storage).Reduce(partial_of(index_partials, INT_MAX), MinOf{});
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

// One block: the first index at or after `begin` where prefix + running sum of values passes
// the target (>= target; with kStrict, > target and at a positive value); n when none. Scans
// tile by tile with a BlockScan.
template <bool kStrict>
__device__ int first_crossing(const double* __restrict__ values, int begin, int n, double prefix,
                              double target) {
  using Scan = cub::BlockScan<double, kThreads>;
  using MinReduce = cub::BlockReduce<int, kThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ typename MinReduce::TempStorage min_storage;
  __shared__ int found;
  for (int tile = begin; tile < n; tile += kTile) {
    double v[kItems];
    double mine = 0.0;
    for (int j = 0; j < kItems; ++j) {
      const int i = tile + threadIdx.x * kItems + j;
      v[j] = i < n ? values[i] : 0.0;
      mine += v[j];
    }
    double before = 0.0, aggregate = 0.0;
    Scan(scan_storage).ExclusiveSum(mine, before, aggregate);
    double running = prefix + before;
    int hit = INT_MAX;
    for (int j = 0; j < kItems; ++j) {
      const int i = tile + threadIdx.x * kItems + j;
      running += v[j];
      const bool passes = kStrict ? (v[j] > 0.0 && running > target) : running >= target;
      if (i < n && passes) {
        hit = i;
        break;
      }
    }
    const int tile_hit = MinReduce(min_storage).Reduce(hit, MinOf{});
    if (threadIdx.x == 0) found = tile_hit;
    __syncthreads();
    if (found != INT_MAX) return found;
    prefix += aggregate;
    __syncthreads();  // the temp storage is reused by the next tile
  }
  return n;
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
  double sum = 0.0;
  for (int i = chunk_begin(chunk) + threadIdx.x; i < chunk_end(chunk, min(vocab, m));
       i += kThreads) {
    sum += weights[i];
  }
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  const double block = Reduce(storage).Sum(sum);
  if (threadIdx.x == 0) partials[blockIdx.x] = block;
  if (!arrived_last(&st->arrivals)) return;
  const double total = Reduce(storage).Sum(partial_of(partials, 0.0));
  if (threadIdx.x != 0) return;
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
  const float p = static_cast<float>(weights[i] / st->total);
  if (ranked_ids[i] == params->draft) {
    st->p_draft = p;
  } else {
    probs_by_id[ranked_ids[i]] = static_cast<double>(p);
  }
}

// Unranked: every candidate at or above min-p survives, so weights stay in id order:
// w[id] = exp(z) (0 for banned and cut tokens), the total and its log.
__global__ void unranked_weights_kernel(const float* __restrict__ adj, int vocab, int chunk,
                                        const SamplingParams* params, RowState* st,
                                        double* __restrict__ weights, double* partials) {
  if (st->invalid) return;
  const float max = st->max, temperature = params->temperature, min_p = params->min_p;
  const double threshold = min_p > 0.0f ? log(static_cast<double>(min_p)) : -INFINITY;
  double sum = 0.0;
  for (int i = chunk_begin(chunk) + threadIdx.x; i < chunk_end(chunk, vocab); i += kThreads) {
    const float z = tiles::candidate_key(adj[i], max, temperature);
    const double w =
        static_cast<double>(z) >= threshold ? static_cast<double>(tiles::candidate_weight(z)) : 0.0;
    weights[i] = w;
    sum += w;
  }
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  const double block = Reduce(storage).Sum(sum);
  if (threadIdx.x == 0) partials[blockIdx.x] = block;
  if (!arrived_last(&st->arrivals)) return;
  const double total = Reduce(storage).Sum(partial_of(partials, 0.0));
  if (threadIdx.x != 0) return;
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
  const float p = static_cast<float>(weights[i] / st->total);
  if (i == params->draft) {
    st->p_draft = p;
    probs_by_id[i] = 0.0;
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
  for (int i = chunk_begin(chunk) + threadIdx.x; i < chunk_end(chunk, vocab); i += kThreads) {
    const double p = probs_by_id[i];
    sum += p;
    if (p > 0.0) last = i;
  }
  using SumReduce = cub::BlockReduce<double, kThreads>;
  using MaxReduce = cub::BlockReduce<int, kThreads>;
  __shared__ typename SumReduce::TempStorage sum_storage;
  __shared__ typename MaxReduce::TempStorage max_storage;
  const double block_sum = SumReduce(sum_storage).Sum(sum);
  const int block_last = MaxReduce(max_storage).Reduce(last, MaxOf{});
  if (threadIdx.x == 0) {
    sum_partials[blockIdx.x] = block_sum;
    index_partials[blockIdx.x] = block_last;
  }
  if (!arrived_last(&st->arrivals)) return;
  const int last_nonzero = MaxReduce(max_storage).Reduce(partial_of(index_partials, -1), MaxOf{});
  const bool verify = params->draft >= 0;
  const double total =
      crossing_chunk<true>(partial_of(sum_partials, 0.0), verify ? params->u2 : params->u,
                           &st->cross_chunk, &st->cross_prefix, &st->target);
  if (threadIdx.x != 0) return;
  st->last_nonzero = last_nonzero;
  // A verify row: the total excludes the draft, which the coin in draw_token decides first.
  st->total_p = verify ? total + static_cast<double>(st->p_draft) : total;
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
  if (p.draw && p.draft >= 0) {
    // Sampler::sample_from({P(draft), max(0, total - P(draft))}) with u: index 0 accepts.
    const float coin_draft = st->p_draft;
    const float coin_rest = static_cast<float>(fmax(0.0, st->total_p - coin_draft));
    const double coin_target = p.u * (static_cast<double>(coin_draft) + coin_rest);
    accepted =
        coin_draft > 0.0f && (coin_target < static_cast<double>(coin_draft) || !(coin_rest > 0.0f));
  }
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
    float p_token = 0.0f;
    if (out->status == 0) {
      p_token = token == p.draft ? st->p_draft : static_cast<float>(probs_by_id[token]);
    }
    out->logprob = static_cast<float>(log(static_cast<double>(p_token) / st->total_p));
    out->n_top = 0;
    return;
  }
  // The token's z is its ranking key; greedy's is 0 (l - max of the arg-max).
  const float z_token =
      p.draw && out->status == 0 ? tiles::candidate_key(adj[token], st->max, p.temperature) : 0.0f;
  out->logprob = static_cast<float>(static_cast<double>(z_token) - log_sum);
  const int n = min(min(p.top_logprobs, kMaxTopLogprobs), st->survivors);
  int listed = 0;
  for (int i = 0; i < n; ++i) {
    if (tiles::candidate_weight(z[i]) == 0.0f) break;
    out->top_ids[listed] = ranked_ids[i];
    out->top_logprobs[listed] = static_cast<float>(static_cast<double>(z[i]) - log_sum);
    ++listed;
  }
  out->n_top = listed;
}

void* mapped_host(std::size_t bytes, void** device) {
  void* host = nullptr;
  check(cudaHostAlloc(&host, bytes, cudaHostAllocMapped), "cudaHostAlloc of sampler staging");
  const cudaError_t err = cudaHostGetDevicePointer(device, host, 0);
  if (err != cudaSuccess) {
    cudaFreeHost(host);
    check(err, "cudaHostGetDevicePointer of sampler staging");
  }
  return host;
}

}  // namespace

struct DeviceSampler::Impl {
  int vocab = 0, chunk = 0, blocks = 0;
  DeviceBuffer adj, keys, ids, ranked_z, ranked_ids, weights, probs_by_id, params, state;
  DeviceBuffer stats_partials, sum_partials, index_partials, sort_temp;
  std::size_t sort_temp_bytes = 0;
  Staging* staging = nullptr;
  Staging* staging_device = nullptr;
  SampledRow* row = nullptr;
  SampledRow* row_device = nullptr;

  ~Impl() {
    if (staging != nullptr) cudaFreeHost(staging);
    if (row != nullptr) cudaFreeHost(row);
  }
};

DeviceSampler::Mode DeviceSampler::mode_of(const exec::SampleRequest& request) {
  const SamplerConfig& c = request.config;
  if (c.temperature == 0.0f) return c.top_logprobs == 0 ? Mode::kArgmax : Mode::kRanked;
  return c.top_k == 0 && c.top_p >= 1.0f && c.top_logprobs == 0 ? Mode::kUnranked : Mode::kRanked;
}

DeviceSampler::DeviceSampler(int vocab) : impl_(std::make_unique<Impl>()) {
  if (vocab <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "DeviceSampler: vocab must be > 0");
  }
  Impl& m = *impl_;
  m.vocab = vocab;
  // Chunks of whole tiles, at most one a thread of a block (the last block finishes with one
  // block-wide reduction or scan over the chunks).
  const int tiles = (vocab + kTile - 1) / kTile;
  const int per_chunk = (tiles + kThreads - 1) / kThreads;
  m.chunk = per_chunk * kTile;
  m.blocks = (vocab + m.chunk - 1) / m.chunk;
  const std::size_t n = vocab;
  m.adj = DeviceBuffer(n * sizeof(float));
  m.keys = DeviceBuffer(n * sizeof(float));
  m.ids = DeviceBuffer(n * sizeof(int));
  m.ranked_z = DeviceBuffer(n * sizeof(float));
  m.ranked_ids = DeviceBuffer(n * sizeof(int));
  m.weights = DeviceBuffer(n * sizeof(double));
  m.probs_by_id = DeviceBuffer(n * sizeof(double));
  m.params = DeviceBuffer(sizeof(SamplingParams));
  m.state = DeviceBuffer(sizeof(RowState));
  check(cudaMemset(m.state.get(), 0, sizeof(RowState)), "sampler state reset");
  m.stats_partials = DeviceBuffer(m.blocks * sizeof(StatsPartial));
  m.sum_partials = DeviceBuffer(m.blocks * sizeof(double));
  m.index_partials = DeviceBuffer(m.blocks * sizeof(int));
  check(cub::DeviceRadixSort::SortPairsDescending(nullptr, m.sort_temp_bytes, m.keys.as<float>(),
                                                  m.ranked_z.as<float>(), m.ids.as<int>(),
                                                  m.ranked_ids.as<int>(), vocab),
        "cub radix sort size query");
  m.sort_temp = DeviceBuffer(std::max<std::size_t>(m.sort_temp_bytes, 16));
  void* device = nullptr;
  m.staging = static_cast<Staging*>(mapped_host(sizeof(Staging), &device));
  m.staging_device = static_cast<Staging*>(device);
  m.row = static_cast<SampledRow*>(mapped_host(sizeof(SampledRow), &device));
  m.row_device = static_cast<SampledRow*>(device);
  m.row->status = 1;
}

DeviceSampler::~DeviceSampler() = default;

int DeviceSampler::vocab() const {
  return impl_->vocab;
}

bool DeviceSampler::fits(const exec::SampleRequest& r) const {
  const SamplerConfig& c = r.config;
  if (c.top_logprobs > kMaxTopLogprobs) return false;
  // Verify rows: sampling only, and their top log-probs (ordered by P) stay on the host.
  if (r.draft >= impl_->vocab) return false;
  if (r.draft >= 0 && (c.temperature == 0.0f || c.top_logprobs > 0)) return false;
  if (c.logit_bias.size() + r.penalty_counts.size() > std::size_t(kMaxEntries)) return false;
  for (const auto& [token, bias] : c.logit_bias) {
    if (token < 0 || token >= impl_->vocab) return false;
  }
  for (const auto& [token, count] : r.penalty_counts) {
    if (token < 0 || token >= impl_->vocab || count <= 0) return false;
  }
  return true;
}

void DeviceSampler::stage(const exec::SampleRequest& r) {
  if (!fits(r)) {
    throw Error(ErrorCode::kInternal, "DeviceSampler::stage: the request does not fit");
  }
  Staging& s = *impl_->staging;
  SamplingParams& p = s.params;
  const SamplerConfig& c = r.config;
  const bool greedy = c.temperature == 0.0f;
  // Greedy ranks at temperature 1 with no filters (its top log-probs); it draws nothing.
  p.u = r.u;
  p.u2 = r.u2;
  p.draft = greedy ? -1 : r.draft;
  p.temperature = greedy ? 1.0f : c.temperature;
  p.top_k = greedy ? 0 : c.top_k;
  p.top_p = greedy ? 1.0f : c.top_p;
  p.min_p = greedy ? 0.0f : c.min_p;
  p.repetition_penalty = c.repetition_penalty;
  p.presence_penalty = c.presence_penalty;
  p.frequency_penalty = c.frequency_penalty;
  p.vocab = impl_->vocab;
  p.top_logprobs = c.top_logprobs;
  p.draw = greedy ? 0 : 1;
  // One entry per touched token; its bias values stay in config order.
  std::unordered_map<std::int32_t, int> slot;
  std::vector<SamplingEntry> entries;
  std::vector<std::vector<float>> biases;
  const auto entry_of = [&](std::int32_t token) {
    auto [it, added] = slot.emplace(token, static_cast<int>(entries.size()));
    if (added) {
      entries.push_back({token, 0, 0, 0});
      biases.emplace_back();
    }
    return it->second;
  };
  for (const auto& [token, bias] : c.logit_bias) biases[entry_of(token)].push_back(bias);
  for (const auto& [token, count] : r.penalty_counts) entries[entry_of(token)].count = count;
  int used = 0;
  for (std::size_t e = 0; e < entries.size(); ++e) {
    entries[e].bias_begin = used;
    for (float b : biases[e]) s.biases[used++] = b;
    entries[e].bias_end = used;
    s.entries[e] = entries[e];
  }
  p.n_entries = static_cast<int>(entries.size());
  impl_->row->status = 1;
}

void DeviceSampler::issue(const float* logits, Mode mode, Stream stream) {
  Impl& m = *impl_;
  auto st = static_cast<cudaStream_t>(stream);
  auto* params = m.params.as<SamplingParams>();
  auto* state = m.state.as<RowState>();
  const int blocks = m.blocks, chunk = m.chunk, vocab = m.vocab;
  const int elements = (vocab + kThreads - 1) / kThreads;
  float* adj = m.adj.as<float>();
  copy_row_kernel<<<elements, kThreads, 0, st>>>(logits, adj, vocab);
  apply_entries_kernel<<<1, kThreads, 0, st>>>(m.staging_device, params, logits, adj, vocab);
  row_stats_kernel<<<blocks, kThreads, 0, st>>>(adj, vocab, chunk, params,
                                                m.stats_partials.as<StatsPartial>(), state);
  if (mode == Mode::kArgmax) {
    greedy_log_sum_kernel<<<blocks, kThreads, 0, st>>>(adj, vocab, chunk, state,
                                                       m.sum_partials.as<double>(), m.row_device);
    check(cudaGetLastError(), "greedy sampling kernels");
    return;
  }
  if (mode == Mode::kUnranked) {
    unranked_weights_kernel<<<blocks, kThreads, 0, st>>>(
        adj, vocab, chunk, params, state, m.weights.as<double>(), m.sum_partials.as<double>());
    unranked_probs_kernel<<<elements, kThreads, 0, st>>>(m.weights.as<double>(), vocab, params,
                                                         state, m.probs_by_id.as<double>());
  } else {
    candidate_keys_kernel<<<elements, kThreads, 0, st>>>(
        adj, vocab, params, state, m.keys.as<float>(), m.ids.as<int>(), m.probs_by_id.as<double>());
    std::size_t temp_bytes = m.sort_temp_bytes;
    check(cub::DeviceRadixSort::SortPairsDescending(
              m.sort_temp.get(), temp_bytes, m.keys.as<float>(), m.ranked_z.as<float>(),
              m.ids.as<int>(), m.ranked_ids.as<int>(), vocab, 0, 32, st),
          "cub radix sort of the candidates");
    cut_weights_kernel<<<blocks, kThreads, 0, st>>>(
        m.ranked_z.as<float>(), vocab, chunk, params, state, m.weights.as<double>(),
        m.sum_partials.as<double>(), m.index_partials.as<int>());
    top_p_cut_kernel<<<1, kThreads, 0, st>>>(m.weights.as<double>(), chunk, state);
    survivor_total_kernel<<<blocks, kThreads, 0, st>>>(m.weights.as<double>(), vocab, chunk, state,
                                                       m.sum_partials.as<double>());
    scatter_probs_kernel<<<elements, kThreads, 0, st>>>(
        m.weights.as<double>(), m.ranked_ids.as<int>(), params, state, m.probs_by_id.as<double>());
  }
  draw_chunks_kernel<<<blocks, kThreads, 0, st>>>(m.probs_by_id.as<double>(), vocab, chunk, params,
                                                  state, m.sum_partials.as<double>(),
                                                  m.index_partials.as<int>());
  draw_token_kernel<<<1, kThreads, 0, st>>>(m.probs_by_id.as<double>(), adj, m.ranked_z.as<float>(),
                                            m.ranked_ids.as<int>(), vocab, chunk, params, state,
                                            m.row_device);
  check(cudaGetLastError(), "sampling kernels");
}

std::optional<SampleResult> DeviceSampler::result() const {
  const SampledRow& row = *impl_->row;
  if (row.status != 0) return std::nullopt;
  SampleResult r;
  r.token = row.token;
  r.logprob = row.logprob;
  for (int i = 0; i < row.n_top; ++i)
    r.top_logprobs.emplace_back(row.top_ids[i], row.top_logprobs[i]);
  return r;
}

}  // namespace mimo::cuda
