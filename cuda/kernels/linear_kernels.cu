// Linear launches (ops.hpp): FP8 / MXFP4 / BF16 / F32 products on CUDA cores and tensor cores.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "cuda/kernels/launch_support.cuh"
#include "cuda/kernels/ops.hpp"
#include "cuda/tiles/linear.cuh"
#include "cuda/tiles/linear_mma.cuh"
#include "cuda/tiles/lm_head.cuh"

namespace mimo::cuda {
namespace {

using namespace tiles;
using namespace launch;

constexpr int kRowWarps = 8;  // rows (one per warp) per block of the row-parallel kernels
constexpr int kRowThreads = kRowWarps * kWarpSize;

// Warp w of block b takes rows (b * kRowWarps + w) * kRows .. + kRows - 1 for the tokens
// blockIdx.y * kMaxTokens .. + kMaxTokens - 1.
template <int kMaxTokens, int kRows, class Matrix>
__global__ void __launch_bounds__(kRowThreads)
    linear_kernel(Matrix w, const float* x, int n_tokens, float* y) {
  follow_previous_kernel();
  const int row0 = (blockIdx.x * kRowWarps + threadIdx.x / kWarpSize) * kRows;
  if (row0 >= w.rows) return;  // warp-uniform
  const int t0 = blockIdx.y * kMaxTokens;
  linear_rows_tile<kRows, kMaxTokens>(w, row0, x + static_cast<std::size_t>(t0) * w.cols,
                                      min(n_tokens - t0, kMaxTokens),
                                      y + static_cast<std::size_t>(t0) * w.rows, w.rows);
}

constexpr int kBlockThreads = 256;  // the block-row linear kernel (rows split over threads)

template <int kRows, int kTok, class Matrix>
__global__ void __launch_bounds__(kBlockThreads)
    linear_block_kernel(Matrix w, const float* x, int n_tokens, float* y) {
  if constexpr (std::is_same_v<Matrix, F32Matrix>) {  // the router: its rows move towards L2
    const int row_end = min(w.rows, (static_cast<int>(blockIdx.x) + 1) * kRows);
    const char* begin = reinterpret_cast<const char*>(
        w.values + static_cast<std::size_t>(blockIdx.x) * kRows * w.cols);
    const char* end =
        reinterpret_cast<const char*>(w.values + static_cast<std::size_t>(row_end) * w.cols);
    for (const char* p = begin + 128 * threadIdx.x; p < end; p += 128 * blockDim.x) prefetch_l2(p);
  }
  follow_previous_kernel();
  __shared__ float s_partial[(kBlockThreads / kWarpSize) * kRows * kTok];
  const int row0 = blockIdx.x * kRows;
  const int t0 = blockIdx.y * kTok;
  linear_rows_block_tile<kRows, kTok>(w, row0, x + static_cast<std::size_t>(t0) * w.cols,
                                      min(n_tokens - t0, kTok),
                                      y + static_cast<std::size_t>(t0) * w.rows, w.rows, s_partial);
}

template <int kRows>
__global__ void __launch_bounds__(kBlockThreads)
    fp8_linear_1tok_kernel(Fp8Matrix w, const float* x, float* y) {
  follow_previous_kernel();
  __shared__ float s_partial[(kBlockThreads / kWarpSize) * kRows];
  fp8_rows_block_tile_1tok<kRows>(w, blockIdx.x * kRows, x, y, s_partial);
}

// FP8 on tensor cores (block_cols % 64 == 0): a block computes 16 kM rows of one matrix of the
// batch for up to 8 tokens (grid.y: tiles of 8 tokens), its warps splitting the 64-column steps.
// Input: const float* or SplitActivations.
constexpr int kMaxLinearWarps = 16;
template <int kM, class Input>
__global__ void __launch_bounds__(kMaxLinearWarps* kWarpSize)
    fp8_mma_linear_kernel(Fp8Batch batch, Input x, int n_tokens) {
  // The first step's weights move towards L2 while the previous kernel finishes.
  const int warp = threadIdx.x / kWarpSize, warps = blockDim.x / kWarpSize;
  const int g = (threadIdx.x % kWarpSize) / 4, q = threadIdx.x % 4;
  Fp8Matrix w = batch.w[0];
  float* y = batch.y[0];
  int first_block = 0;
#pragma unroll
  for (int i = 1; i < kMaxFp8Batch; ++i) {
    if (i < batch.count && static_cast<int>(blockIdx.x) >= batch.first_block[i]) {
      w = batch.w[i];
      y = batch.y[i];
      first_block = batch.first_block[i];
    }
  }
  const int row0 = (blockIdx.x - first_block) * 16 * kM, t0 = blockIdx.y * 8;
  prefetch_fp8_mma_step<kM>(w, row0, warp, g, q);
  follow_previous_kernel();
  __shared__ float red[kMaxLinearWarps * kM * 4 * kWarpSize];
  const int n = min(8, n_tokens - t0);
  // Lane 4 g + q's B token in each set of four (cuda/tiles/mma.cuh's packed sets).
  const auto source = [&](int set) {
    const int j = 4 * set + g % 4;
    return row_source(x, j < n ? t0 + j : -1, w.cols);
  };
  float acc[1][kM][4];
  with_packed_sets(n, source,
                   [&](const auto& src) { fp8_mma_rows<kM>(w, row0, src, warp, warps, acc[0]); });
  reduce_warp_tiles<1, kM>(acc, red, [&](int row, int t, const float(&v)[1]) {
    if (t < n && row0 + row < w.rows)
      y[static_cast<std::size_t>(t0 + t) * w.rows + row0 + row] = v[0];
  });
}

// BF16 on tensor cores (cols % 64 == 0; the lm_head; cuda/tiles/lm_head.cuh): block b takes the
// 16-row tiles b, b + gridDim.x, ... for the tokens blockIdx.y * 8 .. + 7. kWarps: the most warps
// a block (launch bounds, shared space).
template <int kWarps>
__global__ void __launch_bounds__(kWarps* kWarpSize)
    bf16_mma_linear_kernel(Bf16Matrix w, const float* x, int n_tokens, float* y) {
  const Bf16MmaThread th = bf16_mma_thread(w, BlockThread{threadIdx.x, blockDim.x});
  const int t0 = blockIdx.y * 8;
  const std::uint16_t* rows[2];
  bf16_mma_begin(w, blockIdx.x, th, rows);
  follow_previous_kernel();
  __shared__ float red[2][kWarps * 4 * kWarpSize];
  bf16_mma_tiles<kWarps>(w, x, n_tokens, t0, blockIdx.x, gridDim.x, th, rows, red, y);
}

// Warps from the shape alone (a token's result is the same in decode and verify steps): 8 warps
// and two blocks an SM streaming the tiles where there are at least that many tiles, else a block
// a tile with 16 warps (or fewer: never more than the column steps). Measured on the H100 at the
// lm_head (docs/cuda.md, change 9): 425 us for 1 token (0.95 of the read roofline), 442 for 8.
bool bf16_mma_streaming(const Bf16Matrix& w) {
  return static_cast<int>(blocks_for(w.rows, 16)) >= 2 * sm_count() && w.cols / 64 >= 8;
}

void launch_bf16_mma_linear(const Bf16Matrix& w, const float* x, int n_tokens, cudaStream_t s,
                            float* y, const char* op) {
  const int tiles = static_cast<int>(blocks_for(w.rows, 16)), warps = bf16_linear_warps(w);
  const unsigned token_tiles = blocks_for(n_tokens, 8);
  if (bf16_mma_streaming(w)) {
    launch_kernel(op, bf16_mma_linear_kernel<8>, dim3(2 * sm_count(), token_tiles), 8 * kWarpSize,
                  0, s, w, x, n_tokens, y);
  } else if (warps == 16) {
    launch_kernel(op, bf16_mma_linear_kernel<16>, dim3(tiles, token_tiles), 16 * kWarpSize, 0, s, w,
                  x, n_tokens, y);
  } else {
    launch_kernel(op, bf16_mma_linear_kernel<8>, dim3(tiles, token_tiles), warps * kWarpSize, 0, s,
                  w, x, n_tokens, y);
  }
}

// Warps a block from the batch's shape alone (never the token count, so a token's result is the
// same in decode and verify steps): 16 warps where fewer than two blocks an SM would run, else 8.
// A block covers 16 rows (kM = 1): 32-row blocks for the large projections measured slower once
// q / k / v shared a launch (docs/performance.md), and so did 8 or 16 warps everywhere.
template <class Input>
void launch_fp8_mma_linear(Fp8Batch batch, Input x, int n_tokens, cudaStream_t s, const char* op) {
  unsigned blocks = 0;
  for (int i = 0; i < batch.count; ++i) {
    batch.first_block[i] = static_cast<int>(blocks);
    blocks += blocks_for(batch.w[i].rows, 16);
  }
  const int steps = (batch.w[0].cols + 63) / 64;
  const int warps = std::min(blocks >= 264 ? 8 : kMaxLinearWarps, steps);
  launch_kernel(op, fp8_mma_linear_kernel<1, Input>, dim3(blocks, blocks_for(n_tokens, 8)),
                warps * kWarpSize, 0, s, batch, x, n_tokens);
}

template <class Input>
void launch_fp8_mma_linear(const Fp8Matrix& w, Input x, int n_tokens, float* y, cudaStream_t s,
                           const char* op) {
  Fp8Batch batch;
  batch.w[0] = w;
  batch.y[0] = y;
  batch.count = 1;
  launch_fp8_mma_linear(batch, x, n_tokens, s, op);
}

constexpr unsigned kFewRowBlocks = 132;  // below one block an SM of the H100
template <int kRows, class Matrix>
void launch_block_linear(const Matrix& w, const float* x, int n_tokens, float* y, cudaStream_t s,
                         const char* op) {
  const unsigned blocks = blocks_for(w.rows, kRows);
  if (n_tokens == 1 || blocks < kFewRowBlocks) {
    // A token a block row where the rows alone leave most SMs idle (the router's 64 rows: an
    // 8-token step took 10 us a layer with the tokens in one block, 4 us for one token).
    launch_kernel(op, linear_block_kernel<kRows, 1, Matrix>, dim3(blocks, n_tokens), kBlockThreads,
                  0, s, w, x, n_tokens, y);
  } else if (n_tokens <= 4) {
    launch_kernel(op, linear_block_kernel<kRows, 4, Matrix>, dim3(blocks, 1), kBlockThreads, 0, s,
                  w, x, n_tokens, y);
  } else if (n_tokens <= 8) {
    launch_kernel(op, linear_block_kernel<kRows, 8, Matrix>, dim3(blocks, 1), kBlockThreads, 0, s,
                  w, x, n_tokens, y);
  } else {
    launch_kernel(op, linear_block_kernel<kRows, 16, Matrix>,
                  dim3(blocks, blocks_for(n_tokens, 16)), kBlockThreads, 0, s, w, x, n_tokens, y);
  }
}

// Several tokens through a one-row-a-warp format: a warp takes two rows (each activation chunk
// loaded serves both) where the decoded chunks are small (BF16: the lm_head of a verify step,
// 1.37 -> 1.08 ms on the H100; 4 and 8 rows measured slower), else one.
template <class Matrix>
constexpr int kMultiTokenRows = ChunkValues<Matrix>::value <= 8 ? 2 : 1;
template <int kTok, class Matrix>
void launch_row_linear(const Matrix& w, const float* x, int n_tokens, float* y, cudaStream_t s,
                       const char* op) {
  constexpr int kRows = kMultiTokenRows<Matrix>;
  launch_kernel(op, linear_kernel<kTok, kRows, Matrix>,
                dim3(blocks_for(w.rows, kRowWarps * kRows), blocks_for(n_tokens, kTok)),
                kRowThreads, 0, s, w, x, n_tokens, y);
}

// FP8 and F32 take the block-row kernel: 4 rows a block where that still gives >= 512 blocks,
// else 1; a 1-token FP8 product the decode kernel above (16 / 4 / 1 rows a block). BF16 (the
// lm_head, at the read roofline for one token) and MXFP4 take a warp a row (launch_row_linear
// for several tokens).
template <class Matrix>
constexpr bool kBlockRows = std::is_same_v<Matrix, Fp8Matrix> || std::is_same_v<Matrix, F32Matrix>;

template <class Matrix>
void launch_linear(const Matrix& w, const float* x, int n_tokens, float* y, Stream stream,
                   const char* op) {
  if (!(n_tokens > 0 && w.rows > 0 && w.cols > 0))
    fail(op, cat(n_tokens, " tokens, weight [", w.rows, ", ", w.cols, "]"));
  if (!(w.cols % ChunkValues<Matrix>::value == 0))
    fail(op, cat("cols ", w.cols, " not a multiple of ", ChunkValues<Matrix>::value));
  const unsigned row_blocks = blocks_for(w.rows, kRowWarps);
  cudaStream_t s = as_stream(stream);
  if constexpr (std::is_same_v<Matrix, Fp8Matrix>) {
    if (fp8_on_tensor_cores(w)) {
      launch_fp8_mma_linear(w, x, n_tokens, y, s, op);
      return;
    }
    if (n_tokens == 1) {
      if (w.rows >= 4096) {
        launch_kernel(op, fp8_linear_1tok_kernel<16>, blocks_for(w.rows, 16), kBlockThreads, 0, s,
                      w, x, y);
      } else if (w.rows >= 512) {
        launch_kernel(op, fp8_linear_1tok_kernel<4>, blocks_for(w.rows, 4), kBlockThreads, 0, s, w,
                      x, y);
      } else {
        launch_kernel(op, fp8_linear_1tok_kernel<1>, blocks_for(w.rows, 1), kBlockThreads, 0, s, w,
                      x, y);
      }
      return;
    }
  }
  if constexpr (std::is_same_v<Matrix, Bf16Matrix>) {
    if (w.cols % 64 == 0) {
      launch_bf16_mma_linear(w, x, n_tokens, s, y, op);
      return;
    }
  }
  if constexpr (kBlockRows<Matrix>) {
    if (w.rows >= 2048) {
      launch_block_linear<4>(w, x, n_tokens, y, s, op);
    } else {
      launch_block_linear<1>(w, x, n_tokens, y, s, op);
    }
  } else if (n_tokens == 1) {
    launch_kernel(op, linear_kernel<1, 1, Matrix>, dim3(row_blocks, 1), kRowThreads, 0, s, w, x,
                  n_tokens, y);
  } else if (n_tokens <= 4) {
    launch_row_linear<4>(w, x, n_tokens, y, s, op);
  } else if (n_tokens <= 8) {
    launch_row_linear<8>(w, x, n_tokens, y, s, op);
  } else {
    launch_row_linear<16>(w, x, n_tokens, y, s, op);
  }
}

}  // namespace

void linear(const Fp8Matrix& w, const float* x, int n_tokens, float* y, Stream stream) {
  launch_linear(w, x, n_tokens, y, stream, "linear(fp8)");
}
void linear(const Mxfp4Matrix& w, const float* x, int n_tokens, float* y, Stream stream) {
  launch_linear(w, x, n_tokens, y, stream, "linear(mxfp4)");
}
void linear(const Bf16Matrix& w, const float* x, int n_tokens, float* y, Stream stream) {
  launch_linear(w, x, n_tokens, y, stream, "linear(bf16)");
}
void linear(const F32Matrix& w, const float* x, int n_tokens, float* y, Stream stream) {
  launch_linear(w, x, n_tokens, y, stream, "linear(f32)");
}

int bf16_linear_warps(const Bf16Matrix& w) {
  const int steps = w.cols / 64;
  if (bf16_mma_streaming(w)) return 8;
  return steps >= 16 ? 16 : std::min(8, steps);
}

bool fp8_on_tensor_cores(const Fp8Matrix& w) {
  return w.block_cols % 64 == 0 && w.cols % 16 == 0;
}

void linear(const Fp8Matrix& w, const SplitActivations& x, int n_tokens, float* y, Stream stream) {
  if (!(n_tokens > 0 && w.rows > 0 && fp8_on_tensor_cores(w)))
    fail("linear(fp8, split)", cat(n_tokens, " tokens, weight [", w.rows, ", ", w.cols,
                                   "], blocks of ", w.block_cols, " columns"));
  check_split(x, w.cols, "linear(fp8, split)");
  launch_fp8_mma_linear(w, x, n_tokens, y, as_stream(stream), "linear(fp8, split)");
}

void linear(const Fp8Batch& batch, const SplitActivations& x, int n_tokens, Stream stream) {
  if (!(batch.count >= 1 && batch.count <= kMaxFp8Batch && n_tokens > 0))
    fail("linear(fp8 batch)", cat(batch.count, " matrices, ", n_tokens, " tokens"));
  for (int i = 0; i < batch.count; ++i) {
    const Fp8Matrix& w = batch.w[i];
    if (!(w.rows > 0 && w.cols == batch.w[0].cols && fp8_on_tensor_cores(w) && batch.y[i]))
      fail("linear(fp8 batch)",
           cat("matrix ", i, " [", w.rows, ", ", w.cols, "], blocks of ", w.block_cols,
               " columns, output ", batch.y[i] ? "set" : "null"));
  }
  check_split(x, batch.w[0].cols, "linear(fp8 batch)");
  launch_fp8_mma_linear(batch, x, n_tokens, as_stream(stream), "linear(fp8 batch)");
}

}  // namespace mimo::cuda
