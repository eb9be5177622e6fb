// The step kernels of the persistent engine (engine_step.hpp): run_queue with a body that
// dispatches on the op's kind and runs the task's virtual blocks - the blocks the stream runner
// would launch for this tile - on teams of the stream kernel's block size, side by side. The
// paged kernel adds a loader warp and a page ring for the projections' weights (page_ring.cuh,
// paged_projection.cuh).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "cuda/engine/engine_step.hpp"
#include "cuda/engine/paged_projection.cuh"
#include "cuda/engine/queue_loop.cuh"
#include "cuda/kernels/cuda_check.hpp"
#include "cuda/kernels/launch_support.cuh"
#include "cuda/tiles/attention.cuh"
#include "cuda/tiles/embedding.cuh"
#include "cuda/tiles/linear_mma.cuh"
#include "cuda/tiles/mma.cuh"
#include "cuda/tiles/norm.cuh"
#include "cuda/tiles/rope.cuh"

namespace mimo::cuda::engine {
namespace {

using tiles::kWarpSize;
using tiles::Team;

// This thread's team among teams of `size` threads (a warp multiple dividing the consumer
// threads), on named barrier 1 + its index (teams of one warp use none: at most 8 barriers).
__device__ __forceinline__ Team team_of(int size, int& index) {
  index = static_cast<int>(threadIdx.x) / size;
  return Team{threadIdx.x % size, static_cast<unsigned>(size),
              size == kWarpSize ? 0u : 1u + static_cast<unsigned>(index)};
}

// Runs f(task, v, team, team_index) for every virtual block of the run's tasks (tiles of one op,
// `count` virtual blocks a tile), dealt over the block's teams of `size` threads.
template <class F>
__device__ __forceinline__ void for_virtual_blocks(const EngineTask* run, int n, int count,
                                                   int size, F&& f) {
  int index;
  const Team me = team_of(size, index);
  const int teams = kEngineThreads / size;
  int r = 0, before = 0, items = blocks_of(run[0], count);
  for (int item = index;; item += teams) {
    while (r < n && item >= before + items) {
      before += items;
      if (++r < n) items = blocks_of(run[r], count);
    }
    if (r >= n) return;
    const EngineTask& t = run[r];
    f(t, t.chunk + t.chunks * (item - before), me, index);
  }
}

// The last of `blocks` arrivals (a team each) returns true, as launch::arrive_last does for
// whole blocks: the counter is back at zero afterwards.
__device__ __forceinline__ bool team_arrive_last(unsigned* counter, unsigned blocks, int* flag,
                                                 const Team& me) {
  me.sync();  // the team's writes are done before its thread 0 publishes them
  if (me.thread == 0) {
    __threadfence();
    const bool last = atomicAdd(counter, 1u) == blocks - 1;
    if (last) {
      atomicExch(counter, 0u);
      __threadfence();
    }
    *flag = last ? 1 : 0;
  }
  me.sync();
  return *flag != 0;
}

__device__ void embed(const EmbedArgs& e, int tokens, const EngineTask* run, int n) {
  const int cols = e.bf16.values != nullptr ? e.bf16.cols : e.f32.cols;
  const int rows = e.bf16.values != nullptr ? e.bf16.rows : e.f32.rows;
  for_virtual_blocks(run, n, tokens, kEngineThreads,
                     [&](const EngineTask&, int token_index, const Team& me, int) {
                       const int token = e.tokens[token_index];
                       float* row = e.out + static_cast<std::size_t>(token_index) * cols;
                       if (token < 0 || token >= rows) {
                         for (int c = me.thread; c < cols; c += me.threads) row[c] = NAN;
                       } else if (e.bf16.values != nullptr) {
                         tiles::embed_token_tile(e.bf16, token, row, me);
                       } else {
                         tiles::embed_token_tile(e.f32, token, row, me);
                       }
                     });
}

// rmsnorm_vec_kernel's block for each token (512 threads, 4 float4s a thread).
__device__ void add_norm(const AddNormArgs& n, int tokens, const EngineTask* run, int count,
                         float* smem) {
  for_virtual_blocks(
      run, count, tokens, kEngineThreads, [&](const EngineTask&, int token, const Team& me, int) {
        const std::size_t base = static_cast<std::size_t>(token) * n.dim;
        const bool with_split = n.split.hi != nullptr;
        tiles::rmsnorm_token_tile_vec<4>(n.x + base, n.delta ? n.delta + base : nullptr, n.weight,
                                         n.dim, n.eps, n.out + base, smem,
                                         with_split ? n.split.hi + base : nullptr,
                                         with_split ? n.split.lo + base : nullptr,
                                         with_split ? n.split.inv_scale + token : nullptr, me);
      });
}

// The o projection's prologue: split_rows_kernel's block for each token.
__device__ void split_rows(const ProjectionArgs& p, int tokens, const EngineTask* run, int n,
                           float* smem) {
  const int cols = p.input.cols;
  for_virtual_blocks(
      run, n, tokens, kEngineThreads, [&](const EngineTask&, int token, const Team& me, int) {
        const std::size_t base = static_cast<std::size_t>(token) * cols;
        tiles::split_row_tile(p.split_source + base, cols, p.input.hi + base, p.input.lo + base,
                              p.input.inv_scale + token, smem, me);
      });
}

__device__ __forceinline__ tiles::FreshSplitRow fresh_row(const SplitActivations& x, int row) {
  tiles::FreshSplitRow r;
  static_cast<tiles::SplitRow&>(r) = launch::row_source(x, row, x.cols);
  return r;
}

// Tokens t0 .. t0 + nt - 1 of a projection's row tile on team `me`: their split rows as B,
// mainloop(src, acc) the weights' part (fp8_mma_rows over global memory, or fp8_mma_paged over
// the ring: the same arithmetic), the team's partial sums reduced and stored.
template <class Mainloop>
__device__ void run_projection_tile(const ProjectionArgs& p, const ProjectionTile& tile, int t0,
                                    int nt, const Team& me, float* red, Mainloop&& mainloop) {
  const int g = me.lane() / 4;
  const auto source = [&](int set) {
    const int j = 4 * set + g % 4;
    return fresh_row(p.input, j < nt ? t0 + j : -1);
  };
  float acc[1][1][4];
  tiles::with_packed_sets(nt, source, [&](const auto& src) { mainloop(src, acc[0]); });
  tiles::reduce_warp_tiles<1, 1>(
      acc, red,
      [&](int row, int token, const float(&v)[1]) {
        if (token < nt && tile.row0 + row < tile.w.rows)
          tile.out[static_cast<std::size_t>(t0 + token) * tile.w.rows + tile.row0 + row] = v[0];
      },
      me);
}

// fp8_mma_linear_kernel<1>'s block (tile, y) for y = every token tile of 8, the weights read
// from global memory; skip_paged: not for the tasks projection_paged runs.
__device__ void projection(const ProjectionArgs& p, int tokens, const EngineTask* run, int n,
                           float* smem, bool skip_paged) {
  const int token_tiles = (tokens + 7) / 8, size = p.warps * kWarpSize;
  for_virtual_blocks(
      run, n, token_tiles, size, [&](const EngineTask& t, int y, const Team& me, int team) {
        if (skip_paged && blocks_of(t, token_tiles) == 1) return;
        const ProjectionTile tile = projection_tile(p.batch, t.tile);
        run_projection_tile(
            p, tile, y * 8, min(8, tokens - y * 8), me, smem + team * p.warps * 4 * kWarpSize,
            [&](const auto& src, float(&acc)[1][4]) {
              tiles::fp8_mma_rows<1>(tile.w, tile.row0, src, me.warp(), me.warps(), acc);
            });
      });
}

// The projection's tasks on the page ring: each task's one token tile (y = its chunk) on a team
// of the stream launch's warps, its weights from the ring's pages seq, seq + pages, ... in task
// order (tasks without a block have none).
__device__ void projection_paged(const ProjectionArgs& p, int tokens, const EngineTask* run, int n,
                                 float* smem, const PageRing& ring, unsigned seq, int pages,
                                 unsigned long long watchdog_ns) {
  const int size = p.warps * kWarpSize, teams = kEngineThreads / size,
            token_tiles = (tokens + 7) / 8;
  int index;
  const Team me = team_of(size, index);
  float* red = smem + index * p.warps * 4 * kWarpSize;
  int item = 0;
  for (int r = 0; r < n; ++r) {
    const EngineTask& t = run[r];
    if (blocks_of(t, token_tiles) != 1) continue;
    const unsigned first_page = seq;
    seq += pages;
    if (item++ % teams != index) continue;
    const ProjectionTile tile = projection_tile(p.batch, t.tile);
    const int rows = min(kPageRows, tile.w.rows - tile.row0);
    run_projection_tile(p, tile, t.chunk * 8, min(8, tokens - t.chunk * 8), me, red,
                        [&](const auto& src, float(&acc)[1][4]) {
                          fp8_mma_paged(ring, first_page, pages, tile.w, tile.row0, rows, src,
                                        me.warp(), me.warps(), watchdog_ns, t.task, acc);
                        });
  }
}

// rope_store_kv_kernel's block (token, head) for every token and q / k head (128 threads).
__device__ void rope_store_kv(const RopeStoreKvArgs& r, int tokens, const EngineTask* run, int n) {
  const int heads = r.a.num_heads + r.a.num_kv_heads;
  for_virtual_blocks(
      run, n, tokens * heads, 128, [&](const EngineTask&, int v, const Team& me, int) {
        const int token = v / heads, h = v % heads;
        const int pos = r.positions[token];
        if (h < r.a.num_heads) {
          float* head = r.q + (static_cast<std::size_t>(token) * r.a.num_heads + h) * r.a.head_dim;
          tiles::rope_head_tile(head, r.half, r.inv_freq, pos, me);
        } else {
          tiles::rope_store_kv_tile(r.k, r.v, token, h - r.a.num_heads, pos, r.a, r.half,
                                    r.inv_freq, r.value_scale, r.cache, me);
        }
      });
}

__device__ __forceinline__ void segment_keys(int pos, int window, int segments, int segment,
                                             int& begin, int& last) {
  const int first = window > 0 ? max(0, pos - window + 1) : 0;
  const int per_segment = (pos - first + segments) / segments;
  begin = first + segment * per_segment;
  last = min(pos, begin + per_segment - 1);
}

// Attention for the query heads of kv head t.tile: attention_segment_kernel's blocks (head,
// token block, segment) with the fused merge, or attention_kernel's (head, token).
__device__ void attention(const AttentionArgs& at, int tokens, int heads_per_kv,
                          const EngineTask* run, int n, float* smem) {
  const AttentionShape& a = at.a;
  const int team_floats = attention_team_floats(a.head_dim, a.v_head_dim);
  if (at.segments <= 1) {
    for_virtual_blocks(run, n, heads_per_kv * tokens, 128,
                       [&](const EngineTask& t, int v, const Team& me, int team) {
                         const int head0 = t.tile * heads_per_kv;
                         const int h = head0 + v % heads_per_kv, token = v / heads_per_kv;
                         const std::size_t head = static_cast<std::size_t>(token) * a.num_heads + h;
                         tiles::attention_head_tile(
                             at.q + head * a.head_dim, at.cache, a, t.tile, at.positions[token],
                             at.sinks ? at.sinks[h] : -INFINITY, at.out + head * a.v_head_dim,
                             smem + team * team_floats, me);
                       });
    return;
  }
  const int per_block = at.tokens_per_block, token_blocks = (tokens + per_block - 1) / per_block;
  const int segments = at.segments;
  for_virtual_blocks(
      run, n, heads_per_kv * token_blocks * segments, 128,
      [&](const EngineTask& t, int v, const Team& me, int team) {
        const int h = t.tile * heads_per_kv + v % heads_per_kv;
        const int yb = (v / heads_per_kv) % token_blocks;
        const int segment = v / (heads_per_kv * token_blocks);
        float* team_smem = smem + team * team_floats;
        const int t_begin = yb * per_block, t_end = min(tokens, t_begin + per_block);
        for (int token = t_begin; token < t_end; ++token) {
          const std::size_t head = static_cast<std::size_t>(token) * a.num_heads + h;
          int begin, last;
          segment_keys(at.positions[token], a.window, segments, segment, begin, last);
          tiles::attention_partial_tile(
              at.q + head * a.head_dim, at.cache, a, t.tile, begin, last,
              at.partial + (head * segments + segment) * (2 + a.v_head_dim), team_smem, me);
          me.sync();  // the next token rewrites the shared query and partials
        }
        int* flag = reinterpret_cast<int*>(team_smem + team_floats - 1);
        if (!team_arrive_last(at.arrivals + yb * a.num_heads + h, segments, flag, me)) return;
        for (int token = t_begin; token < t_end; ++token) {
          const std::size_t head = static_cast<std::size_t>(token) * a.num_heads + h;
          tiles::attention_combine_tile(at.partial + head * segments * (2 + a.v_head_dim), segments,
                                        a.v_head_dim, at.sinks ? at.sinks[h] : -INFINITY,
                                        at.out + head * a.v_head_dim, me);
        }
        me.sync();  // the team's smem flag may be rewritten by its next block
      });
}

__device__ void tap(const TapArgs& p, int tokens, const EngineTask* run, int n) {
  for_virtual_blocks(run, n, tokens, kEngineThreads,
                     [&](const EngineTask&, int token, const Team& me, int) {
                       const float* from = p.from + static_cast<std::size_t>(token) * p.hidden;
                       float* to = p.to + static_cast<std::size_t>(token) * p.n_taps * p.hidden;
                       for (int i = me.thread; i < p.hidden; i += me.threads) to[i] = from[i];
                     });
}

// The first tile of a run of projection tiles moves towards L2 (one 128-byte line a thread) while
// the run waits for its input: the engine's form of the stream kernels' weight prefetch before
// their PDL wait.
__device__ void prefetch_projection(const ProjectionArgs& p, const EngineTask& first) {
  const ProjectionTile tile = projection_tile(p.batch, first.tile);
  const Fp8Matrix& w = tile.w;
  const int lines = w.cols / 128;
  for (int i = threadIdx.x; i < 16 * lines; i += blockDim.x) {
    const int row = min(tile.row0 + i / lines, w.rows - 1);
    tiles::prefetch_l2(w.codes + static_cast<std::size_t>(row) * w.cols + 128 * (i % lines));
  }
}

// The step kernel's body; kPaged: the kernel has a page ring and may run paged projections.
template <bool kPaged>
struct StepBody {
  const EngineOp* ops;
  float* smem;
  PageRing ring;  // kPaged
  unsigned long long watchdog_ns;
  unsigned next_page = 0;  // the ring's sequence number of the queue's next paged task

  __device__ void prefetch(const EngineTask* run, int) const {
    const EngineOp& op = ops[run[0].op];
    if (op.kind == EngineOpKind::kProjection && !run[0].prologue &&
        !(kPaged && op.projection.paged)) {
      prefetch_projection(op.projection, run[0]);
    }
  }
  // A run of tasks of one op (queue_loop.cuh).
  __device__ void operator()(const EngineTask* run, int n, unsigned) {
    const EngineOp& op = ops[run[0].op];
    switch (op.kind) {
      case EngineOpKind::kEmbed:
        embed(op.embed, op.tokens, run, n);
        break;
      case EngineOpKind::kAddNorm:
        add_norm(op.norm, op.tokens, run, n, smem);
        break;
      case EngineOpKind::kProjection:
        if (run[0].prologue) {
          split_rows(op.projection, op.tokens, run, n, smem);
        } else if (kPaged && op.projection.paged) {
          if constexpr (kPaged) paged_projection_run(op, run, n);
        } else {
          projection(op.projection, op.tokens, run, n, smem, false);
        }
        break;
      case EngineOpKind::kRopeStoreKv:
        rope_store_kv(op.rope, op.tokens, run, n);
        break;
      case EngineOpKind::kAttention:
        attention(op.attention, op.tokens, op.heads_per_kv, run, n, smem);
        break;
      case EngineOpKind::kTap:
        tap(op.tap, op.tokens, run, n);
        break;
    }
  }

  // A paged projection's run: the tasks of one token tile from the ring, the others (several
  // token tiles: prefill) from global memory.
  __device__ void paged_projection_run(const EngineOp& op, const EngineTask* run, int n) {
    int paged_tasks = 0;
    for (int r = 0; r < n; ++r) paged_tasks += ring_pages_of(op, run[r]) > 0;
    const int pages = tile_pages(op.projection);
    if (paged_tasks > 0) {
      projection_paged(op.projection, op.tokens, run, n, smem, ring, next_page, pages, watchdog_ns);
    }
    if (paged_tasks < n) projection(op.projection, op.tokens, run, n, smem, true);
    next_page += static_cast<unsigned>(paged_tasks * pages);
  }
};

// Phase 1's kernel: 512 threads, 128 registers, weights read straight from global memory.
__global__ void __launch_bounds__(kEngineThreads, 1)
    engine_step_kernel(EngineQueues queues, const EngineOp* ops) {
  __shared__ __align__(16) float smem[kEngineSmemFloats];
  StepBody<false> body{ops, smem, PageRing{}, queues.watchdog_ns};
  run_queue(queues, body, kEngineThreads);
}

// The paged kernel: 640 threads, 16 consumer warps run the queue, warp 16 fills the page ring.
__global__ void __launch_bounds__(kEngineBlockThreads, 1)
    engine_paged_step_kernel(EngineQueues queues, const EngineOp* ops) {
  __shared__ __align__(16) float smem[kEngineSmemFloats];
  __shared__ __align__(8) std::uint64_t full[kRingPages], empty[kRingPages];
  __shared__ int s_stop;
  extern __shared__ __align__(128) std::uint8_t pages[];
  const PageRing ring{full, empty, pages};
  if (threadIdx.x < kRingPages) {
    mbarrier_init(&full[threadIdx.x], 1);
    mbarrier_init(&empty[threadIdx.x], kReleaseCount);
  }
  if (threadIdx.x == 0) s_stop = 0;
  fence_mbarrier_init();
  __syncthreads();
  if (threadIdx.x >= kEngineThreads) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(kLoaderRegisters));
    if (threadIdx.x < kEngineThreads + 32) load_pages(queues, ops, ring, &s_stop);
    return;
  }
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(kConsumerRegisters));
  StepBody<true> body{ops, smem, ring, queues.watchdog_ns};
  run_queue(queues, body, kEngineThreads);
  // The loader may wait for pages a step left early will never release.
  if (threadIdx.x == 0) *static_cast<volatile int*>(&s_stop) = 1;
}

}  // namespace

// The paged kernel's ring is dynamic shared memory beyond the default 48 KB: raised once.
void allow_ring_memory() {
  static const bool done = [] {
    check(cudaFuncSetAttribute(engine_paged_step_kernel,
                               cudaFuncAttributeMaxDynamicSharedMemorySize, kRingBytes),
          "engine step kernel: shared memory for the page ring");
    return true;
  }();
  (void)done;
}

void launch_engine_step(const DevicePlan& plan, const EngineOp* ops, bool paged, Stream stream) {
  if (paged) {
    allow_ring_memory();
    engine_paged_step_kernel<<<plan.queue_count(), kEngineBlockThreads, kRingBytes,
                               launch::as_stream(stream)>>>(plan.queues(), ops);
  } else {
    engine_step_kernel<<<plan.queue_count(), kEngineThreads, 0, launch::as_stream(stream)>>>(
        plan.queues(), ops);
  }
  launch::check_launch("engine step");
}

int resident_engine_blocks() {
  int plain = 0, paged = 0, device = 0, sms = 0;
  allow_ring_memory();
  check(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&plain, engine_step_kernel, kEngineThreads, 0),
      "occupancy of the engine step kernel");
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&paged, engine_paged_step_kernel,
                                                      kEngineBlockThreads, kRingBytes),
        "occupancy of the paged engine step kernel");
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
        "multiprocessor count");
  return std::min(plain, paged) * sms;
}

}  // namespace mimo::cuda::engine
