// Prefill GEMM launches of the MXFP4 experts (ops.hpp: prefill_expert_gate_up,
// prefill_expert_down): a block a work tile of (group, up to 64 members, a row tile) on tensor
// cores (cuda/tiles/prefill_moe_gemm.cuh).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "cuda/kernels/launch_support.cuh"
#include "cuda/kernels/ops.hpp"
#include "cuda/tiles/moe.cuh"
#include "cuda/tiles/prefill_moe_gemm.cuh"

namespace mimo::cuda {
namespace {

using namespace tiles;
using namespace launch;

// gate/up: 128 rows of each of the two matrices a block (2 x 2 x 4 mma tiles a warp); down: 256
// rows of one. Either way 16 KB of codes and 32 KB of halves a stage, 196 KB of ring.
constexpr int kGateUpM = 2;
constexpr int kDownM = 4;
using GateUpBlock = MoeGemmBlock<2, kGateUpM>;
using DownBlock = MoeGemmBlock<1, kDownM>;

// The block's work tile (blockIdx.y; none past the step's tiles) and this thread's member rows:
// member thread / 4 of the tile (its slot's row / row_divisor; the slot itself for the epilogue in
// slots[]). Returns false where the block has no work (block-uniform).
struct MemberRows {
  MoeWorkTile work;
  const std::uint16_t* hi = nullptr;
  const std::uint16_t* lo = nullptr;
};
__device__ __forceinline__ bool find_members(const SplitActivations& x, const int* table,
                                             int n_slots, int row_divisor, int* slots,
                                             MemberRows& out) {
  out.work = find_moe_work_tile(table, n_slots, blockIdx.y);
  if (out.work.count == 0) return false;
  const int* members = table + 2 + 2 * n_slots;
  const int t = threadIdx.x / 4;
  if (t < out.work.count) {
    const std::size_t row = members[out.work.first + t] / row_divisor;
    out.hi = x.hi + row * x.cols;
    out.lo = x.lo + row * x.cols;
  }
  if (threadIdx.x < kMoeGemmTokens)
    slots[threadIdx.x] = threadIdx.x < out.work.count ? members[out.work.first + threadIdx.x] : -1;
  return true;
}

// Block (row tile x, work tile y): act[slot, row] = silu(gate_e x_t) * (up_e x_t) for the work
// tile's member slots = t * top_k + k of expert e. Row tiles vary fastest, so the blocks resident
// together share a few work tiles' member rows (kept in L2) and read each weight tile once.
template <bool kExactScales>
__global__ void __launch_bounds__(kMoeGemmThreads, 1)
    prefill_gate_up_kernel(Mxfp4Stack gate, Mxfp4Stack up, SplitActivations x, const int* table,
                           int n_slots, int top_k, float* act) {
  follow_previous_kernel();  // the table is the previous kernels' (no weight before it)
  __shared__ int slots[kMoeGemmTokens];
  MemberRows rows;
  if (!find_members(x, table, n_slots, top_k, slots, rows)) return;
  extern __shared__ uint4 smem4[];  // uint4: 16-byte aligned for cp.async
  const Mxfp4MmaMatrix mats[2] = {stack_member(gate, rows.work.expert),
                                  stack_member(up, rows.work.expert)};
  const int row0 = blockIdx.x * GateUpBlock::kRows;
  float acc[2][kGateUpM][kMoeGemmN][4];
  prefill_moe_tile<kExactScales, 2, kGateUpM>(mats, x, rows.hi, rows.lo, row0,
                                              reinterpret_cast<std::uint8_t*>(smem4), acc);
  __syncthreads();  // slots[] is visible (the ring's barriers already order it; kept explicit)
  for_moe_outputs<2, kGateUpM>(acc, rows.work.count, [&](int t, int r, const float(&v)[2]) {
    const int slot = slots[t], row = row0 + r;
    if (row >= gate.rows) return;
    const float f = x.inv_scale[slot / top_k] * kFp4ScaledUnit;
    act[static_cast<std::size_t>(slot) * gate.rows + row] = silu(v[0] * f) * (v[1] * f);
  });
}

// Block (row tile x, work tile y): partial[slot, row] = down_e act[slot] for the tile's members.
template <bool kExactScales>
__global__ void __launch_bounds__(kMoeGemmThreads, 1)
    prefill_down_kernel(Mxfp4Stack down, SplitActivations act, const int* table, int n_slots,
                        float* partial) {
  follow_previous_kernel();
  __shared__ int slots[kMoeGemmTokens];
  MemberRows rows;
  if (!find_members(act, table, n_slots, 1, slots, rows)) return;
  extern __shared__ uint4 smem4[];
  const Mxfp4MmaMatrix mats[1] = {stack_member(down, rows.work.expert)};
  const int row0 = blockIdx.x * DownBlock::kRows;
  float acc[1][kDownM][kMoeGemmN][4];
  prefill_moe_tile<kExactScales, 1, kDownM>(mats, act, rows.hi, rows.lo, row0,
                                            reinterpret_cast<std::uint8_t*>(smem4), acc);
  __syncthreads();
  for_moe_outputs<1, kDownM>(acc, rows.work.count, [&](int t, int r, const float(&v)[1]) {
    const int slot = slots[t], row = row0 + r;
    if (row >= down.rows) return;
    partial[static_cast<std::size_t>(slot) * down.rows + row] =
        v[0] * (act.inv_scale[slot] * kFp4ScaledUnit);
  });
}

// Work tiles a step can have: sum over groups of ceil(members / 64) <= (n_slots + 63 G) / 64,
// G <= min(count, n_slots) groups. Blocks past the step's real tiles exit at once.
unsigned work_tiles_bound(int n_slots, int count) {
  const long long groups = std::min(n_slots, count);
  return static_cast<unsigned>((n_slots + (kMoeGemmTokens - 1) * groups) / kMoeGemmTokens);
}

void check_stack(const Mxfp4Stack& s, const char* op, const char* name) {
  if (!(s.count > 0 && s.rows > 0 && s.cols > 0 && s.cols % 32 == 0 && aligned16(s.codes) &&
        aligned16(s.scales)))
    fail(op, cat(name, " stack of ", s.count, " [", s.rows, ", ", s.cols,
                 "] (columns a multiple of 32, 16-byte aligned)"));
}

void check_input(const SplitActivations& x, int cols, int n_tokens, int top_k, const char* op) {
  check_split(x, cols, op);
  if (!(n_tokens > 0 && top_k > 0 && aligned16(x.hi) && aligned16(x.lo)))
    fail(op, cat(n_tokens, " tokens, top ", top_k, ", split rows at ", x.hi, " / ", x.lo,
                 " (16-byte aligned)"));
}

dim3 work_grid(int rows, int block_rows, int n_slots, int count, const char* op) {
  const unsigned tiles = work_tiles_bound(n_slots, count);
  if (tiles > 65535u) fail(op, cat(n_slots, " slots on ", count, " experts: too many work tiles"));
  return dim3(blocks_for(rows, block_rows), std::max(1u, tiles));
}

}  // namespace

void prefill_expert_gate_up(const Mxfp4Stack& gate, const Mxfp4Stack& up, const SplitActivations& x,
                            const int* groups, int n_tokens, int top_k, float* act, Stream stream) {
  const char* op = "prefill_expert_gate_up";
  check_stack(gate, op, "gate");
  check_stack(up, op, "up");
  if (!(gate.rows == up.rows && gate.cols == up.cols && gate.count == up.count && groups && act))
    fail(op, cat("gate [", gate.rows, ", ", gate.cols, "], up [", up.rows, ", ", up.cols, "]"));
  check_input(x, gate.cols, n_tokens, top_k, op);
  const int n_slots = n_tokens * top_k;
  const auto kernel = gate.special_scales || up.special_scales ? prefill_gate_up_kernel<true>
                                                               : prefill_gate_up_kernel<false>;
  allow_smem(kernel, GateUpBlock::kSmemBytes, op);
  launch_kernel(op, kernel, work_grid(gate.rows, GateUpBlock::kRows, n_slots, gate.count, op),
                kMoeGemmThreads, GateUpBlock::kSmemBytes, as_stream(stream), gate, up, x, groups,
                n_slots, top_k, act);
}

void prefill_expert_down(const Mxfp4Stack& down, const SplitActivations& act, const int* groups,
                         const float* weights, int n_tokens, int top_k, float* partial, float* y,
                         Stream stream) {
  const char* op = "prefill_expert_down";
  check_stack(down, op, "down");
  check_input(act, down.cols, n_tokens, top_k, op);
  if (!(groups && weights && partial && y)) fail(op, "null table, weights or outputs");
  const int n_slots = n_tokens * top_k;
  const auto kernel = down.special_scales ? prefill_down_kernel<true> : prefill_down_kernel<false>;
  allow_smem(kernel, DownBlock::kSmemBytes, op);
  launch_kernel(op, kernel, work_grid(down.rows, DownBlock::kRows, n_slots, down.count, op),
                kMoeGemmThreads, DownBlock::kSmemBytes, as_stream(stream), down, act, groups,
                n_slots, partial);
  expert_reduce(partial, weights, down.rows, n_tokens, top_k, y, stream);
}

}  // namespace mimo::cuda
