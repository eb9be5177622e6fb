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
  if (64 * warp + 16 * q < w.cols) {
#pragma unroll
    for (int r = 0; r < 2 * kM; ++r) {
      const int row = min(row0 + 8 * r + g, w.rows - 1);
      prefetch_l2(w.codes + static_cast<std::size_t>(row) * w.cols + 64 * warp + 16 * q);
    }
  }
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

// BF16 on tensor cores (cols % 64 == 0; the lm_head). A 16-row tile for up to 8 tokens
// (grid.y: tiles of 8 tokens): the block's 8 or 16 warps split the 64-column steps and add their
// partial sums in warp order. Per step lane 4 g + q reads 16 columns (16 q .. 16 q + 15) of rows
// g and g + 8 and of token g's activations, split into hi / mid / lo BF16 pieces (one n-tile
// each, so a token's column depends only on its own activations: a token gives the same bits
// alone as in a step). The k order inside an mma is free as long as A and B agree: mma k takes
// words 2k, 2k + 1 of the lane's columns. A warp issues its next step's loads before this step's
// mmas (two steps in flight: the HBM stream needs them; one was 0.60 of the roofline).
struct Bf16MmaStep {
  uint4 a[2][2];  // [row g / g + 8][columns 16 q .. + 7 / + 8 .. + 15]
  float4 x[4];
};

__device__ __forceinline__ void load_bf16_mma_step(const std::uint16_t* const (&rows)[2],
                                                   const float* xt, int col, Bf16MmaStep& s) {
#pragma unroll
  for (int r = 0; r < 2; ++r)
#pragma unroll
    for (int h = 0; h < 2; ++h) s.a[r][h] = load_stream_u4(rows[r] + col + 8 * h);
#pragma unroll
  for (int i = 0; i < 4; ++i)
    s.x[i] = xt != nullptr ? __ldg(reinterpret_cast<const float4*>(xt + col) + i)
                           : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
}

__device__ __forceinline__ void mma_bf16_mma_step(const Bf16MmaStep& s, float (&acc)[3][4]) {
  std::uint32_t b[8][3];  // word k (columns 2k, 2k + 1 of the lane's 16) of each piece
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    split3_bf16_pair(s.x[i].x, s.x[i].y, b[2 * i]);
    split3_bf16_pair(s.x[i].z, s.x[i].w, b[2 * i + 1]);
  }
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const std::uint32_t frag[4] = {
        word_of(s.a[0][k / 2], 2 * (k % 2)), word_of(s.a[1][k / 2], 2 * (k % 2)),
        word_of(s.a[0][k / 2], 2 * (k % 2) + 1), word_of(s.a[1][k / 2], 2 * (k % 2) + 1)};
#pragma unroll
    for (int p = 0; p < 3; ++p) mma_bf16(acc[p], frag, b[2 * k][p], b[2 * k + 1][p]);
  }
}

// Rows g and g + 8 of a 16-row tile (the last row stands in for rows past the end).
__device__ __forceinline__ void bf16_tile_rows(const Bf16Matrix& w, int tile, int g,
                                               const std::uint16_t* (&rows)[2]) {
#pragma unroll
  for (int r = 0; r < 2; ++r)
    rows[r] = w.values + static_cast<std::size_t>(min(16 * tile + 8 * r + g, w.rows - 1)) * w.cols;
}

// Adds the warps' partial sums (red: [warp][c][lane]) in warp order and stores tile `tile`.
__device__ __forceinline__ void store_bf16_mma_tile(const Bf16Matrix& w, const float* red,
                                                    int warps, int tile, int t0, int n, float* y) {
  for (int o = threadIdx.x; o < 4 * kWarpSize; o += blockDim.x) {
    const int c = o / kWarpSize, l = o % kWarpSize;
    const int row = 16 * tile + l / 4 + 8 * (c / 2), t = 2 * (l % 4) + c % 2;
    float total = 0.0f;
    for (int v = 0; v < warps; ++v) total += red[(v * 4 + c) * kWarpSize + l];
    if (t < n && row < w.rows) y[static_cast<std::size_t>(t0 + t) * w.rows + row] = total;
  }
}

// kWarps: the most warps a block (launch bounds, shared space). Long-lived blocks: block b takes
// tiles b, b + gridDim.x, ...; a warp's next load crosses into the next tile, so the stream does
// not stop between tiles. Partial sums alternate between two shared buffers: one barrier a tile (a
// buffer is rewritten only after the next barrier, which every thread reaches after storing from
// it).
template <int kWarps>
__global__ void __launch_bounds__(kWarps* kWarpSize)
    bf16_mma_linear_kernel(Bf16Matrix w, const float* x, int n_tokens, float* y) {
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int warps = blockDim.x / kWarpSize, g = lane / 4, q = lane % 4;
  const int tiles = (w.rows + 15) / 16, steps = w.cols / 64, t0 = blockIdx.y * 8;
  const std::uint16_t* rows[2];
  bf16_tile_rows(w, blockIdx.x, g, rows);
  if (warp < steps) {  // the first step's weights move towards L2 while the previous kernel ends
    prefetch_l2(rows[0] + 64 * warp + 16 * q);
    prefetch_l2(rows[1] + 64 * warp + 16 * q);
  }
  follow_previous_kernel();
  __shared__ float red[2][kWarps * 4 * kWarpSize];
  const int n = min(8, n_tokens - t0);
  const float* xt = g < n ? x + static_cast<std::size_t>(t0 + g) * w.cols : nullptr;
  Bf16MmaStep cur;
  if (warp < steps) load_bf16_mma_step(rows, xt, 64 * warp + 16 * q, cur);
  int buffer = 0;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x, buffer ^= 1) {
    float acc[3][4] = {};
    for (int step = warp; step < steps; step += warps) {
      int next_step = step + warps, next_tile = tile;  // this tile's next step, else the next's
      if (next_step >= steps) {
        next_step = warp;
        next_tile = tile + gridDim.x;
        bf16_tile_rows(w, min(next_tile, tiles - 1), g, rows);
      }
      Bf16MmaStep next;
      if (next_tile < tiles) load_bf16_mma_step(rows, xt, 64 * next_step + 16 * q, next);
      mma_bf16_mma_step(cur, acc);
      cur = next;
    }
#pragma unroll
    for (int c = 0; c < 4; ++c)
      red[buffer][(warp * 4 + c) * kWarpSize + lane] = (acc[0][c] + acc[1][c]) + acc[2][c];
    __syncthreads();
    store_bf16_mma_tile(w, red[buffer], warps, tile, t0, n, y);
  }
}

int sm_count() {
  static const int count = [] {
    int device = 0, sms = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
      return 132;
    return sms;
  }();
  return count;
}

// Warps from the shape alone (a token's result is the same in decode and verify steps): 8 warps
// and two blocks an SM streaming the tiles where there are at least that many tiles, else a block
// a tile with 16 warps (or fewer: never more than the column steps). Measured on the H100 at the
// lm_head (docs/cuda.md, change 9): 425 us for 1 token (0.95 of the read roofline), 442 for 8.
void launch_bf16_mma_linear(const Bf16Matrix& w, const float* x, int n_tokens, cudaStream_t s,
                            float* y, const char* op) {
  const int tiles = static_cast<int>(blocks_for(w.rows, 16)), steps = w.cols / 64;
  const int streaming_blocks = 2 * sm_count();
  const unsigned token_tiles = blocks_for(n_tokens, 8);
  if (tiles >= streaming_blocks && steps >= 8) {
    launch_kernel(op, bf16_mma_linear_kernel<8>, dim3(streaming_blocks, token_tiles), 8 * kWarpSize,
                  0, s, w, x, n_tokens, y);
  } else if (steps >= 16) {
    launch_kernel(op, bf16_mma_linear_kernel<16>, dim3(tiles, token_tiles), 16 * kWarpSize, 0, s, w,
                  x, n_tokens, y);
  } else {
    launch_kernel(op, bf16_mma_linear_kernel<8>, dim3(tiles, token_tiles),
                  std::min(8, steps) * kWarpSize, 0, s, w, x, n_tokens, y);
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
