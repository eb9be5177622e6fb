// The MoE kernels of the launch executor: router, expert grouping, and the grouped expert
// products on tensor cores (cuda/tiles/moe_grouped.cuh) with their ordered weighted reduction.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "cuda/kernels/launch_support.cuh"
#include "cuda/kernels/ops.hpp"
#include "cuda/tiles/moe.cuh"
#include "cuda/tiles/moe_grouped.cuh"
#include "cuda/tiles/router.cuh"

namespace mimo::cuda {
namespace {

using namespace tiles;
using namespace launch;

// Routers: warp w of a block routes tokens blockIdx.x * warps + w (route_kernel) or w, w + warps,
// ... (route_group_kernel, one block, which then groups the step's slots by expert). smem: per
// warp num_experts + 2 * n_group floats where groups limit the choice (router_warp_floats), then,
// in route_group_kernel, the slots' experts and weights and group_experts_tile's space.
__host__ __device__ inline int router_warp_floats(const RouterShape& r) {
  return r.n_group > 1 && r.topk_group < r.n_group ? r.num_experts + 2 * r.n_group : 0;
}

template <int kPer>
__global__ void route_kernel(const float* logits, const float* bias, int n_tokens, RouterShape r,
                             int* experts, float* weights) {
  follow_previous_kernel();
  extern __shared__ float smem[];
  const int warp = threadIdx.x / kWarpSize, warps = blockDim.x / kWarpSize;
  const int t = blockIdx.x * warps + warp;
  if (t >= n_tokens) return;  // warp-uniform; no block barriers follow
  float* mine = smem + warp * router_warp_floats(r);
  route_token_warp<kPer>(logits + static_cast<std::size_t>(t) * r.num_experts, bias, r,
                         experts + t * r.top_k, weights + t * r.top_k, mine + 2 * r.n_group, mine);
}

template <int kPer>
__global__ void __launch_bounds__(1024)
    route_group_kernel(const float* logits, const float* bias, int n_tokens, int route_warps,
                       RouterShape r, int* experts, float* weights, int* table) {
  follow_previous_kernel();
  extern __shared__ float smem[];
  const int warp = threadIdx.x / kWarpSize;
  const int route_floats = router_warp_floats(r), n_slots = n_tokens * r.top_k;
  int* slot_expert = reinterpret_cast<int*>(smem + route_warps * route_floats);
  float* slot_weight = smem + route_warps * route_floats + n_slots;
  float* mine = smem + warp * route_floats;
  for (int t = warp; t < n_tokens && warp < route_warps; t += route_warps) {
    route_token_warp<kPer>(logits + static_cast<std::size_t>(t) * r.num_experts, bias, r,
                           slot_expert + t * r.top_k, slot_weight + t * r.top_k,
                           mine + 2 * r.n_group, mine);
  }
  __syncthreads();
  for (int s = threadIdx.x; s < n_slots; s += blockDim.x) {
    experts[s] = slot_expert[s];
    weights[s] = slot_weight[s];
  }
  group_experts_tile(slot_expert, n_slots, r.num_experts, table,
                     reinterpret_cast<int*>(slot_weight + n_slots));
}

// The instance of `kernel` whose kPer lanes' slots hold num_experts (<= 1024).
template <template <int> class Pick>
auto router_instance(int num_experts) {
  if (num_experts <= 32) return Pick<1>::kernel;
  if (num_experts <= 64) return Pick<2>::kernel;
  if (num_experts <= 128) return Pick<4>::kernel;
  if (num_experts <= 256) return Pick<8>::kernel;
  if (num_experts <= 512) return Pick<16>::kernel;
  return Pick<32>::kernel;
}
template <int kPer>
struct RouteKernel {
  static constexpr auto kernel = route_kernel<kPer>;
};
template <int kPer>
struct RouteGroupKernel {
  static constexpr auto kernel = route_group_kernel<kPer>;
};

__global__ void __launch_bounds__(1024)
    group_experts_kernel(const int* experts, int n_slots, int count, int* table) {
  follow_previous_kernel();
  extern __shared__ int smem_ints[];
  group_experts_tile(experts, n_slots, count, table, smem_ints);
}

// Reads group g of the table: its expert and members [begin, end) (end = begin when g >= G). Three
// independent loads (no wait on table[0] first: the table marks groups past G empty).
struct ExpertGroup {
  int expert = 0, begin = 0, end = 0;
};
__device__ __forceinline__ ExpertGroup read_group(const int* table, int n_slots, int g) {
  return ExpertGroup{table[1 + g], table[1 + n_slots + g], table[2 + n_slots + g]};
}

// Expert kernels on tensor cores: a block covers kM m-tiles (16 rows each) of one expert for all
// its members, 8 members a pass; its warps split the 128-column groups and add their partial
// sums in warp order (reduce_warp_tiles). The warp count depends on the shape only, so a member's
// result is the same in every step. Measured on the H100 (docs/performance.md): gate/up runs
// best with 16-row blocks and two blocks an SM (128 registers), down with 32-row blocks, both
// with the columns split over 4 warps (8 and 2 were slower, 1 much slower).
constexpr int kGateUpTileM = 1;
constexpr int kDownTileM = 2;
constexpr int kMaxExpertWarps = 8;  // launch bounds and reduction space
constexpr int kExpertWarps = 4;
int expert_warps(int cols) {
  return std::min(kExpertWarps, mxfp4_mma_groups(cols));
}

// Block (row tile, group): act[slot, row] = silu(gate_e x_t) * (up_e x_t) for every member
// slot = t * top_k + k of the group's expert e.
template <bool kExactScales, class Input>
__global__ void __launch_bounds__(kMaxExpertWarps* kWarpSize, 2)
    expert_gate_up_kernel(Mxfp4Stack gate, Mxfp4Stack up, Input x, const int* table, int n_slots,
                          int top_k, float* act) {
  follow_previous_kernel();
  constexpr int kM = kGateUpTileM;
  __shared__ float red[kMaxExpertWarps * 2 * kM * 4 * kWarpSize];
  const ExpertGroup g = read_group(table, n_slots, blockIdx.y);
  if (g.begin == g.end) return;  // block-uniform
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  const int* members = table + 2 + 2 * n_slots;
  const Mxfp4MmaMatrix mats[2] = {stack_member(gate, g.expert), stack_member(up, g.expert)};
  const int row0 = blockIdx.x * 16 * kM;
  for (int b = g.begin; b < g.end; b += 8) {
    const int n = min(8, g.end - b);
    // Lane 4 g + q's B token in each set of four members (cuda/tiles/mma.cuh's packed sets).
    const auto source = [&](int set) {
      const int j = 4 * set + (lane / 4) % 4;
      return row_source(x, j < n ? members[b + j] / top_k : -1, gate.cols);
    };
    float acc[2][kM][4];
    with_packed_sets(n, source, [&](const auto& src) {
      mxfp4_mma_rows<kExactScales, 2, kM>(mats, row0, src, warp, warps, g.end - g.begin > 1, acc);
    });
    reduce_warp_tiles<2, kM>(acc, red, [&](int row, int t, const float(&v)[2]) {
      if (t < n && row0 + row < gate.rows)
        act[static_cast<std::size_t>(members[b + t]) * gate.rows + row0 + row] = silu(v[0]) * v[1];
    });
  }
}

// Block (row tile, group): partial[slot, row] = down_e act[slot] for every member slot.
template <bool kExactScales, class Input>
__global__ void __launch_bounds__(kMaxExpertWarps* kWarpSize)
    expert_down_kernel(Mxfp4Stack down, Input act, const int* table, int n_slots, float* partial) {
  follow_previous_kernel();
  constexpr int kM = kDownTileM;
  __shared__ float red[kMaxExpertWarps * kM * 4 * kWarpSize];
  const ExpertGroup g = read_group(table, n_slots, blockIdx.y);
  if (g.begin == g.end) return;  // block-uniform
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  const int* members = table + 2 + 2 * n_slots;
  const Mxfp4MmaMatrix mats[1] = {stack_member(down, g.expert)};
  const int row0 = blockIdx.x * 16 * kM;
  for (int b = g.begin; b < g.end; b += 8) {
    const int n = min(8, g.end - b);
    const auto source = [&](int set) {
      const int j = 4 * set + (lane / 4) % 4;
      return row_source(act, j < n ? members[b + j] : -1, down.cols);
    };
    float acc[1][kM][4];
    with_packed_sets(n, source, [&](const auto& src) {
      mxfp4_mma_rows<kExactScales, 1, kM>(mats, row0, src, warp, warps, g.end - g.begin > 1, acc);
    });
    reduce_warp_tiles<1, kM>(acc, red, [&](int row, int t, const float(&v)[1]) {
      if (t < n && row0 + row < down.rows)
        partial[static_cast<std::size_t>(members[b + t]) * down.rows + row0 + row] = v[0];
    });
  }
}

// y[t, row] = sum_k weights[t, k] * partial[t * top_k + k, row], k in order (deterministic).
__global__ void expert_reduce_kernel(const float* partial, const float* weights, int rows,
                                     int n_tokens, int top_k, float* y) {
  follow_previous_kernel();
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<std::size_t>(n_tokens) * rows) return;
  const int t = static_cast<int>(i / rows), row = static_cast<int>(i % rows);
  float total = 0.0f;
  for (int k = 0; k < top_k; ++k) {
    const int slot = t * top_k + k;
    total = fmaf(weights[slot], partial[static_cast<std::size_t>(slot) * rows + row], total);
  }
  y[i] = total;
}

}  // namespace

namespace {
void check_router(const RouterShape& shape, int n_tokens, const char* op) {
  if (!(n_tokens > 0 && shape.num_experts > 0 && shape.num_experts <= 1024 && shape.top_k > 0 &&
        shape.top_k <= std::min(shape.num_experts, kMaxRouterTopK) && shape.n_group > 0 &&
        shape.num_experts % shape.n_group == 0 && shape.topk_group > 0 &&
        shape.topk_group <= shape.n_group))
    fail(op, cat(shape.num_experts, " experts (at most 1024), top ", shape.top_k, " (at most ",
                 kMaxRouterTopK, "), ", shape.n_group, " groups keep ", shape.topk_group));
}
constexpr int kRouteWarps = 4;            // route_kernel: tokens a block
constexpr int kMaxRouteGroupTokens = 64;  // route_and_group in one block up to this step size
constexpr int kRouteSmemFloats = 8192;    // route_and_group: group-limited routing's space
}  // namespace

void route(const float* logits, const float* bias, int n_tokens, const RouterShape& shape,
           int* experts, float* weights, Stream stream) {
  check_router(shape, n_tokens, "route");
  const int warps = std::min(n_tokens, kRouteWarps);
  const int smem = warps * router_warp_floats(shape) * sizeof(float);
  launch_kernel("route", router_instance<RouteKernel>(shape.num_experts),
                blocks_for(n_tokens, warps), warps * kWarpSize, smem, as_stream(stream), logits,
                bias, n_tokens, shape, experts, weights);
}

void group_experts(const int* experts, int n_tokens, int top_k, int num_experts, int* table,
                   Stream stream) {
  if (!(n_tokens > 0 && top_k > 0 && num_experts > 0 && num_experts <= 1024))
    fail("group_experts", cat(n_tokens, " tokens, top ", top_k, " of ", num_experts, " experts"));
  const int n_slots = n_tokens * top_k;
  const int threads = std::max(32, (num_experts + 31) / 32 * 32);
  const int smem = (num_experts + 64) * sizeof(int);  // whatever the slot count
  launch_kernel("group_experts", group_experts_kernel, 1, threads, smem, as_stream(stream), experts,
                n_slots, num_experts, table);
}

void route_and_group(const float* logits, const float* bias, int n_tokens, const RouterShape& shape,
                     int* experts, float* weights, int* table, Stream stream) {
  check_router(shape, n_tokens, "route_and_group");
  if (n_tokens > kMaxRouteGroupTokens) {  // long prefill chunks: many blocks route
    route(logits, bias, n_tokens, shape, experts, weights, stream);
    group_experts(experts, n_tokens, shape.top_k, shape.num_experts, table, stream);
    return;
  }
  // A warp a token routes (up to 16 warps, fewer where group limits need 4 KB a warp);
  // group_experts_tile then wants a thread per expert.
  const int warp_floats = router_warp_floats(shape);
  const int route_warps =
      std::max(1, std::min({n_tokens, 16, warp_floats > 0 ? kRouteSmemFloats / warp_floats : 16}));
  const int warps = std::max(route_warps, (shape.num_experts + 31) / 32);
  const int n_slots = n_tokens * shape.top_k;
  const int smem =
      (route_warps * warp_floats + 2 * n_slots + shape.num_experts + 64) * sizeof(float);
  launch_kernel("route_and_group", router_instance<RouteGroupKernel>(shape.num_experts), 1,
                warps * kWarpSize, smem, as_stream(stream), logits, bias, n_tokens, route_warps,
                shape, experts, weights, table);
}

namespace {
unsigned group_blocks(int n_slots, int count) {
  return static_cast<unsigned>(std::max(1, std::min(n_slots, count)));
}
}  // namespace

namespace {
template <class Input>
void launch_expert_gate_up(const Mxfp4Stack& gate, const Mxfp4Stack& up, Input x, const int* groups,
                           int n_tokens, int top_k, float* act, Stream stream) {
  if (!(n_tokens > 0 && top_k > 0 && gate.rows == up.rows && gate.cols == up.cols &&
        gate.count == up.count && gate.cols % 32 == 0))
    fail("expert_gate_up",
         cat("gate [", gate.rows, ", ", gate.cols, "], up [", up.rows, ", ", up.cols, "]"));
  const int n_slots = n_tokens * top_k;
  const dim3 grid(blocks_for(gate.rows, 16 * kGateUpTileM), group_blocks(n_slots, gate.count));
  const auto kernel = gate.special_scales || up.special_scales
                          ? expert_gate_up_kernel<true, Input>
                          : expert_gate_up_kernel<false, Input>;
  launch_kernel("expert_gate_up", kernel, grid, expert_warps(gate.cols) * kWarpSize, 0,
                as_stream(stream), gate, up, x, groups, n_slots, top_k, act);
}

template <class Input>
void launch_expert_down(const Mxfp4Stack& down, Input act, const int* groups, const float* weights,
                        int n_tokens, int top_k, float* partial, float* y, Stream stream) {
  if (!(n_tokens > 0 && top_k > 0 && down.cols % 32 == 0))
    fail("expert_down", cat("down [", down.rows, ", ", down.cols, "], top ", top_k));
  const int n_slots = n_tokens * top_k;
  cudaStream_t s = as_stream(stream);
  const dim3 grid(blocks_for(down.rows, 16 * kDownTileM), group_blocks(n_slots, down.count));
  const auto kernel =
      down.special_scales ? expert_down_kernel<true, Input> : expert_down_kernel<false, Input>;
  launch_kernel("expert_down", kernel, grid, expert_warps(down.cols) * kWarpSize, 0, s, down, act,
                groups, n_slots, partial);
  expert_reduce(partial, weights, down.rows, n_tokens, top_k, y, stream);
}

}  // namespace

void expert_reduce(const float* partial, const float* weights, int rows, int n_tokens, int top_k,
                   float* y, Stream stream) {
  const long long outputs = static_cast<long long>(n_tokens) * rows;
  launch_kernel("expert_down(reduce)", expert_reduce_kernel, blocks_for(outputs, 256), 256, 0,
                as_stream(stream), partial, weights, rows, n_tokens, top_k, y);
}

void expert_gate_up(const Mxfp4Stack& gate, const Mxfp4Stack& up, const float* x, const int* groups,
                    int n_tokens, int top_k, float* act, Stream stream) {
  launch_expert_gate_up(gate, up, x, groups, n_tokens, top_k, act, stream);
}
void expert_gate_up(const Mxfp4Stack& gate, const Mxfp4Stack& up, const SplitActivations& x,
                    const int* groups, int n_tokens, int top_k, float* act, Stream stream) {
  check_split(x, gate.cols, "expert_gate_up");
  launch_expert_gate_up(gate, up, x, groups, n_tokens, top_k, act, stream);
}

void expert_down(const Mxfp4Stack& down, const float* act, const int* groups, const float* weights,
                 int n_tokens, int top_k, float* partial, float* y, Stream stream) {
  launch_expert_down(down, act, groups, weights, n_tokens, top_k, partial, y, stream);
}
void expert_down(const Mxfp4Stack& down, const SplitActivations& act, const int* groups,
                 const float* weights, int n_tokens, int top_k, float* partial, float* y,
                 Stream stream) {
  check_split(act, down.cols, "expert_down");
  launch_expert_down(down, act, groups, weights, n_tokens, top_k, partial, y, stream);
}

}  // namespace mimo::cuda
