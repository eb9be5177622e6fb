// Prefill GEMM launches (ops.hpp: prefill_linear): FP8 block-scaled products of many tokens on
// tensor cores, a block a tile of weight rows x 64 tokens (cuda/tiles/prefill_gemm.cuh).
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/kernels/launch_support.cuh"
#include "cuda/kernels/ops.hpp"
#include "cuda/tiles/prefill_gemm.cuh"

namespace mimo::cuda {
namespace {

using namespace tiles;
using namespace launch;

// Block (x, y): tokens 64 x .. + 63 of row tile y of the batch (matrix i's tiles start at
// batch.first_block[i]). Token tiles vary fastest, so the blocks resident together share a few
// weight tiles (read from DRAM about once) and the step's split rows (a few MB, kept in L2).
template <int kWarpRows>
__global__ void __launch_bounds__(GemmBlock<kWarpRows>::kThreads, kWarpRows >= 4 ? 1 : 2)
    prefill_gemm_kernel(Fp8Batch batch, SplitActivations x, int n_tokens) {
  Fp8Matrix w = batch.w[0];
  float* y = batch.y[0];
  int first_block = 0;
#pragma unroll
  for (int i = 1; i < kMaxFp8Batch; ++i) {
    if (i < batch.count && static_cast<int>(blockIdx.y) >= batch.first_block[i]) {
      w = batch.w[i];
      y = batch.y[i];
      first_block = batch.first_block[i];
    }
  }
  const int row0 = (blockIdx.y - first_block) * GemmBlock<kWarpRows>::kRows;
  extern __shared__ uint4 smem4[];  // uint4: 16-byte aligned for cp.async and ldmatrix
  auto* smem = reinterpret_cast<std::uint8_t*>(smem4);
  const Team me = Team::block();
  prefetch_gemm_codes<kWarpRows>(w, row0, smem, me);  // weights: before the wait
  follow_previous_kernel();
  prefill_gemm_tile<kWarpRows>(w, x, n_tokens, row0, blockIdx.x * kGemmTokens, y, smem, me);
}

template <int kWarpRows>
void launch_gemm(Fp8Batch batch, const SplitActivations& x, int n_tokens, cudaStream_t s,
                 const char* op) {
  using Block = GemmBlock<kWarpRows>;
  unsigned tiles = 0;
  for (int i = 0; i < batch.count; ++i) {
    batch.first_block[i] = static_cast<int>(tiles);
    tiles += blocks_for(batch.w[i].rows, Block::kRows);
  }
  allow_smem(prefill_gemm_kernel<kWarpRows>, Block::kSmemBytes, op);
  launch_kernel(op, prefill_gemm_kernel<kWarpRows>, dim3(blocks_for(n_tokens, kGemmTokens), tiles),
                Block::kThreads, Block::kSmemBytes, s, batch, x, n_tokens);
}

// The tile's 32-bit element offsets (cuda/tiles/prefill_gemm.cuh, copy_gemm_codes).
constexpr long long kMaxOffset = 0xFFFFFFFFLL;

// Blocks of 256 rows (8 warps, one block an SM: half the activation traffic of 128-row blocks)
// where they give every SM a block, else of 128 rows (4 warps, two blocks an SM): the o
// projection of a 256-token chunk has 64 tiles of 256 rows. The bits are the same either way.
void launch_prefill_gemm(const Fp8Batch& batch, const SplitActivations& x, int n_tokens,
                         cudaStream_t s, const char* op) {
  long long big_tiles = 0;
  for (int i = 0; i < batch.count; ++i) big_tiles += blocks_for(batch.w[i].rows, 256);
  if (big_tiles * blocks_for(n_tokens, kGemmTokens) >= sm_count()) {
    launch_gemm<4>(batch, x, n_tokens, s, op);
  } else {
    launch_gemm<2>(batch, x, n_tokens, s, op);
  }
}

}  // namespace

void prefill_linear(const Fp8Batch& batch, const SplitActivations& x, int n_tokens, Stream stream) {
  const char* op = "prefill_linear(fp8)";
  if (!(batch.count >= 1 && batch.count <= kMaxFp8Batch && n_tokens > 0))
    fail(op, cat(batch.count, " matrices, ", n_tokens, " tokens"));
  for (int i = 0; i < batch.count; ++i) {
    const Fp8Matrix& w = batch.w[i];
    if (!(w.rows > 0 && w.cols == batch.w[0].cols && fp8_on_tensor_cores(w) && batch.y[i] &&
          aligned16(w.codes) && static_cast<long long>(w.rows) * w.cols <= kMaxOffset))
      fail(op, cat("matrix ", i, " [", w.rows, ", ", w.cols, "], blocks of ", w.block_cols,
                   " columns, output ", batch.y[i] ? "set" : "null"));
  }
  check_split(x, batch.w[0].cols, op);
  if (!(aligned16(x.hi) && aligned16(x.lo) &&
        static_cast<long long>(n_tokens) * x.cols <= kMaxOffset))
    fail(op, cat(n_tokens, " split rows of ", x.cols, " columns at ", x.hi, " / ", x.lo,
                 " (16-byte aligned, fewer than 2^32 values)"));
  launch_prefill_gemm(batch, x, n_tokens, as_stream(stream), op);
}

void prefill_linear(const Fp8Matrix& w, const SplitActivations& x, int n_tokens, float* y,
                    Stream stream) {
  Fp8Batch batch;
  batch.w[0] = w;
  batch.y[0] = y;
  batch.count = 1;
  prefill_linear(batch, x, n_tokens, stream);
}

}  // namespace mimo::cuda
