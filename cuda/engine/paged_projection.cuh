// FP8 projection tiles on the page ring (device code): which tasks read their weights from the
// ring, the loader warp that fills it in queue order, and the consumer mainloop - the same
// arithmetic as tiles::fp8_mma_rows (the same steps per warp, in the same order, through
// tiles::fp8_mma_step), so a paged tile gives the stream kernel's bits.
#pragma once

#include <cstdint>
#include <cstdio>

#include "cuda/engine/engine_ops.hpp"
#include "cuda/engine/engine_queues.hpp"
#include "cuda/engine/page_ring.cuh"
#include "cuda/engine/queue_loop.cuh"
#include "cuda/tiles/linear_mma.cuh"

namespace mimo::cuda::engine {

// A task's virtual blocks: v = chunk, chunk + chunks, ... below its tile's `count`.
__device__ __forceinline__ int blocks_of(const EngineTask& t, int count) {
  return t.chunk < count ? (count - t.chunk + t.chunks - 1) / t.chunks : 0;
}

// Row tile `tile` of a projection batch: its matrix, output and first row.
struct ProjectionTile {
  Fp8Matrix w;
  float* out;
  int row0;
};
__device__ __forceinline__ ProjectionTile projection_tile(const Fp8Batch& batch, int tile) {
  ProjectionTile t{batch.w[0], batch.y[0], 0};
  int first_block = 0;
  for (int i = 1; i < batch.count; ++i) {
    if (tile >= batch.first_block[i]) {
      t.w = batch.w[i];
      t.out = batch.y[i];
      first_block = batch.first_block[i];
    }
  }
  t.row0 = (tile - first_block) * 16;
  return t;
}

// Pages of one row tile of a projection: its columns, kPageBytes a page.
__device__ __forceinline__ int tile_pages(const ProjectionArgs& p) {
  return (p.input.cols + kPageBytes - 1) / kPageBytes;
}

// Pages of the ring task t reads: its tile's columns in pages, for a paged projection's task of
// exactly one token tile; 0 for every other task. The loader and the consumers both decide by
// this, so they agree on every page's sequence number.
__device__ __forceinline__ int ring_pages_of(const EngineOp& op, const EngineTask& t) {
  if (op.kind != EngineOpKind::kProjection || t.prologue || !op.projection.paged) return 0;
  if (blocks_of(t, (op.tokens + 7) / 8) != 1) return 0;
  return tile_pages(op.projection);
}

// Waits for phase `parity` of `bar`; false if `stop` was set meanwhile.
__device__ __forceinline__ bool wait_phase_or_stop(std::uint64_t* bar, unsigned parity,
                                                   const volatile int* stop) {
  while (!mbarrier_done(bar, parity)) {
    if (*stop) return false;
  }
  return true;
}

// The loader warp: walks the block's queue and fills the ring with the pages of every paged task
// in order, each slot once its previous pages are released. Returns once every page is issued
// (or `stop` is set: the consumers left the step) and every copy it issued has landed.
__device__ inline void load_pages(const EngineQueues& e, const EngineOp* ops, const PageRing& ring,
                                  const volatile int* stop) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int end = e.queue_begin[blockIdx.x + 1];
  unsigned seq = 0;
  for (int i = e.queue_begin[blockIdx.x]; i < end; ++i) {
    const EngineTask t = e.tasks[i];
    const EngineOp& op = ops[t.op];
    const int pages = ring_pages_of(op, t);
    if (pages == 0) continue;
    const ProjectionTile tile = projection_tile(op.projection.batch, t.tile);
    const int rows = min(kPageRows, tile.w.rows - tile.row0), cols = tile.w.cols;
    bool stopped = false;
    for (int k = 0; k < pages && !stopped; ++k, ++seq) {
      const unsigned slot = ring_slot(seq), fill = ring_fill(seq);
      if (fill > 0 && !wait_phase_or_stop(&ring.empty[slot], (fill - 1) & 1u, stop)) {
        stopped = true;
        break;
      }
      const int bytes = min(kPageBytes, cols - k * kPageBytes);
      if (lane == 0)
        mbarrier_arrive_expect_tx(&ring.full[slot], static_cast<unsigned>(rows * bytes));
      __syncwarp();
      if (lane < rows) {
        bulk_copy_to_shared(ring.page(slot) + lane * kRowStride,
                            tile.w.codes + static_cast<std::size_t>(tile.row0 + lane) * cols +
                                static_cast<std::size_t>(k) * kPageBytes,
                            static_cast<unsigned>(bytes), &ring.full[slot]);
      }
    }
    if (stopped) break;
  }
  // No copy may still be writing when the block exits: wait for the last fill of every slot.
  const unsigned issued = seq;
  for (unsigned s = issued > kRingPages ? issued - kRingPages : 0; s < issued; ++s) {
    while (!mbarrier_done(&ring.full[ring_slot(s)], ring_fill(s) & 1u)) {
    }
  }
}

// Consumer side: one warp of a team of `warps` (dividing 16) accumulates its steps of the tile
// at row0 (`rows` valid rows) from the ring's pages seq, seq + 1, ... (`pages` of them) and
// releases each page; out as fp8_mma_rows<1>. `task` names the task if a page never comes.
template <int kSets, class Source>
__device__ __forceinline__ void fp8_mma_paged(const PageRing& ring, unsigned seq, int pages,
                                              const Fp8Matrix& w, int row0, int rows,
                                              const Source (&src)[kSets], int warp, int warps,
                                              unsigned long long watchdog_ns, int task,
                                              float (&out)[1][4]) {
  const int lane = static_cast<int>(threadIdx.x % 32), g = lane / 4, q = lane % 4;
  float acc[kSets][1][4];
#pragma unroll
  for (int s = 0; s < kSets; ++s)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[s][0][i] = 0.0f;
  float inv[kSets];
#pragma unroll
  for (int s = 0; s < kSets; ++s) inv[s] = 1.0f;  // a warp without steps adds zeros
  const int steps = (w.cols + 63) / 64;
  const int r0 = min(g, rows - 1), r1 = min(g + 8, rows - 1);
  const std::size_t scale_row0 =
      static_cast<std::size_t>((row0 + r0 + w.scale_row_offset) / w.block_rows) * w.scale_cols;
  const std::size_t scale_row1 =
      static_cast<std::size_t>((row0 + r1 + w.scale_row_offset) / w.block_rows) * w.scale_cols;
  constexpr int kStepsPerPage = kPageBytes / 64;
  for (int k = 0; k < pages; ++k) {
    const unsigned slot = ring_slot(seq + k), parity = ring_fill(seq + k) & 1u;
    if (!mbarrier_done(&ring.full[slot], parity)) {
      const unsigned long long start = global_ns();
      while (!mbarrier_done(&ring.full[slot], parity)) {
        // A page that never comes is a bug in the loader's and the consumers' agreement: fail
        // loudly rather than hang.
        if (global_ns() - start > watchdog_ns) {
          if (lane == 0) printf("engine: task %d waits for ring page %u forever\n", task, seq + k);
          __trap();
        }
      }
    }
    const std::uint32_t page = shared_address(ring.page(slot));
    const std::uint32_t row_a = page + r0 * kRowStride, row_b = page + r1 * kRowStride;
    const int last = min(steps, (k + 1) * kStepsPerPage);
    for (int step = k * kStepsPerPage + warp; step < last; step += warps) {
      const int col = step * 64 + 16 * q;
      const bool in = col < w.cols;
      const int scale_col = min(col, w.cols - 16) / w.block_cols;
      const int at = col - k * kPageBytes;
      uint4 raw[1][2];
      float scale[1][2];
      raw[0][0] = in ? load_shared_u4(row_a + at) : make_uint4(0, 0, 0, 0);
      raw[0][1] = in ? load_shared_u4(row_b + at) : make_uint4(0, 0, 0, 0);
      scale[0][0] = __ldg(w.scales + scale_row0 + scale_col);
      scale[0][1] = __ldg(w.scales + scale_row1 + scale_col);
      tiles::fp8_mma_step<1, kSets, Source>(raw, scale, src, col, acc, inv);
    }
    __syncwarp();  // every lane's reads of the page are done before the warp releases it
    if (lane == 0) mbarrier_arrive(&ring.empty[slot], kReleaseCount / static_cast<unsigned>(warps));
  }
  if (!tiles::kRowScaled<Source>) {
#pragma unroll
    for (int s = 0; s < kSets; ++s) inv[s] = 1.0f;
  }
  tiles::finish_packed<kSets, 1>(acc, inv, 1.0f, out);
}

}  // namespace mimo::cuda::engine
