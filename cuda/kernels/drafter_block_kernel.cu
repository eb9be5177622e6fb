// The DFlash drafter's block pass as one cluster kernel (drafter_block.hpp). Every block of the
// cluster keeps the block's rows in shared memory and computes the cheap row-wise parts itself
// (residual adds, RMSNorms, head norms, SiLU); the products and the attention are split over the
// cluster's blocks; a phase's outputs go through global memory (L2) behind a cluster barrier.
// Each piece is the tile its op-by-op kernel runs, with that kernel's team size, so the bits agree.
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>

#include "cuda/kernels/drafter_block.hpp"
#include "cuda/kernels/drafter_block_pieces.cuh"
#include "cuda/kernels/launch_support.cuh"
#include "cuda/tiles/drafter_attention.cuh"
#include "cuda/tiles/head_norm_rope.cuh"
#include "cuda/tiles/moe.cuh"

namespace mimo::cuda {
namespace {

using namespace drafter_block;

// One (token, head) item of the attention tile (a function of its own: its registers are not
// the phase's).
template <int kDims>
__device__ __noinline__ void attention_tile_item(const DrafterAttentionShape& shape,
                                                 const DrafterStepInputs& in, const float* qh,
                                                 const DrafterBlockLayer& layer,
                                                 const int* positions, const float* kb,
                                                 const float* vb, float* out, int t, int h,
                                                 float* scratch, const Team& me) {
  drafter_attention_tile<kDims>(shape, in, qh, layer.keys, layer.values, positions, kb, vb,
                                layer.sinks, out, t, h, scratch, me);
}

__device__ void attention_item(const DrafterAttentionShape& shape, const DrafterStepInputs& in,
                               const float* qh, const DrafterBlockLayer& layer,
                               const int* positions, const float* kb, const float* vb, float* out,
                               int t, int h, float* scratch, const Team& me, int lane_dims) {
  if (lane_dims == 2) {
    attention_tile_item<2>(shape, in, qh, layer, positions, kb, vb, out, t, h, scratch, me);
  } else if (lane_dims == 4) {
    attention_tile_item<4>(shape, in, qh, layer, positions, kb, vb, out, t, h, scratch, me);
  } else {
    attention_tile_item<8>(shape, in, qh, layer, positions, kb, vb, out, t, h, scratch, me);
  }
}

// One head normed and rotated by a team (a function of its own, as above).
__device__ __noinline__ void head_item(const float* in, float* out, const float* weight,
                                       const DrafterBlockPass& p, int pos, float* sums,
                                       const Team& me) {
  head_norm_rope_tile(in, out, weight, p.head_dim, p.eps, p.rotary_half, p.inv_freq, pos, sums, me);
}

// The deferred context rows (the context program's ops) into the caches: fc, then the context
// norm and every layer's [k; v] product, then the key heads normed + rotated and appended with
// the values and positions - three phases, each piece the op-by-op kernel's tile and team.
__device__ __noinline__ void context_fold(const DrafterBlockPass& p) {
  float* smem = shared_floats();
  const Smem s = smem_layout(p);
  const int cta = cluster_rank(), ctas = cluster_size();
  const DrafterStepInputs in = *p.inputs;
  cg::cluster_group cluster = cg::this_cluster();
  const int c = min(in.context_rows, p.block), hidden = p.hidden;  // the host keeps it <= block
  float* red = smem + s.red;
  float* sums = smem + s.sums;
  load_l2(smem + s.fx, p.features, c * p.fc.cols);
  __syncthreads();
  product(p.fc, p.fc_warps, smem + s.fx, c, p.context, cta, ctas, red);
  cluster.sync();
  load_l2(smem + s.xs, p.context, c * hidden);
  __syncthreads();
  norm_rows(smem + s.xs, nullptr, p.context_norm, c, hidden, p.eps, smem + s.in, 0, 1, sums);
  __syncthreads();
  const int kv_rows = p.kv_heads * (p.head_dim + p.v_head_dim);
  for (int l = 0; l < p.num_layers; ++l) {
    product(p.layers[l].kv, p.layers[l].kv_warps, smem + s.in, c,
            p.context_kv + static_cast<std::size_t>(l) * p.block * kv_rows, cta, ctas, red);
  }
  cluster.sync();
  const int head_threads = drafter_head_threads(p.head_dim, p.v_head_dim);
  const int head_teams = kThreads / head_threads, head_index = threadIdx.x / head_threads;
  if (head_index < head_teams) {
    const Team hm = team(head_threads, head_index);
    float* staged = smem + s.hb + head_index * round4(p.head_dim);
    const int tasks = p.num_layers * c * p.kv_heads;
    for (int task = cta * head_teams + head_index; task < tasks; task += ctas * head_teams) {
      const int l = task / (c * p.kv_heads), t = (task / p.kv_heads) % c, h = task % p.kv_heads;
      const float* row =
          p.context_kv + (static_cast<std::size_t>(l) * p.block + t) * kv_rows;  // [k | v]
      for (int d = hm.thread; d < p.head_dim; d += hm.threads)
        staged[d] = __ldcg(row + h * p.head_dim + d);
      hm.sync();
      const DrafterBlockLayer& layer = p.layers[l];
      const std::size_t dst = static_cast<std::size_t>(in.append_at + t) * p.kv_heads + h;
      head_item(staged, layer.keys + dst * p.head_dim, layer.k_norm, p, in.context_first + t,
                sums + head_index * 32, hm);
      const float* v_in = row + p.kv_heads * p.head_dim + h * p.v_head_dim;
      for (int d = hm.thread; d < p.v_head_dim; d += hm.threads)
        layer.values[dst * p.v_head_dim + d] = __ldcg(v_in + d);
      if (l == 0 && h == 0 && hm.thread == 0)
        p.cache_positions[in.append_at + t] = in.context_first + t;
      hm.sync();  // `staged` is rewritten by the team's next task
    }
  }
  cluster.sync();
}

// Attention of the block's query rows: the stacked q / k / v rows come in through L2, every
// block norms and rotates the keys (and copies the values) itself, then each attention team of
// the cluster takes (token, head) items: its query head normed and rotated, then the tile.
__device__ __noinline__ void attention_phase(const DrafterBlockPass& p,
                                             const DrafterBlockLayer& layer) {
  float* smem = shared_floats();
  const Smem s = smem_layout(p);
  const int cta = cluster_rank(), ctas = cluster_size();
  const DrafterStepInputs in = *p.inputs;
  const int qkv_width = p.heads * p.head_dim + p.kv_heads * (p.head_dim + p.v_head_dim);
  const int k_at = p.heads * p.head_dim, v_at = k_at + p.kv_heads * p.head_dim;
  float* st = smem + s.st;
  float* kb = smem + s.kb;
  float* vb = smem + s.vb;
  float* qb = smem + s.qb;
  load_l2(st, p.stacked, p.block * qkv_width);
  __syncthreads();
  const int head_threads = drafter_head_threads(p.head_dim, p.v_head_dim);
  const int head_teams = kThreads / head_threads, head_index = threadIdx.x / head_threads;
  const Team hm = team(head_threads, head_index);
  float* head_sums = smem + s.sums + head_index * 32;
  if (head_index < head_teams) {
    for (int task = head_index; task < p.block * p.kv_heads; task += head_teams) {
      const int t = task / p.kv_heads, kh = task % p.kv_heads;
      const float* row = st + static_cast<std::size_t>(t) * qkv_width;
      head_item(row + k_at + kh * p.head_dim, kb + task * p.head_dim, layer.k_norm, p,
                in.anchor_position + t, head_sums, hm);
      for (int d = hm.thread; d < p.v_head_dim; d += hm.threads)
        vb[task * p.v_head_dim + d] = row[v_at + kh * p.v_head_dim + d];
    }
  }
  const DrafterAttentionShape& shape = layer.attention;
  const int items = p.block * p.heads, per_round = ctas * kAttentionTeams;
  const int attention_index = threadIdx.x / kDrafterAttentionThreads;
  for (int base = 0; base < items; base += per_round) {
    // This block's query heads of the round (head_index a < kAttentionTeams: item's team a).
    if (head_index < kAttentionTeams) {
      const int item = base + cta * kAttentionTeams + head_index;
      if (item < items) {
        const int t = item / p.heads, h = item % p.heads;
        head_item(st + static_cast<std::size_t>(t) * qkv_width + h * p.head_dim,
                  qb + head_index * round4(p.head_dim), layer.q_norm, p, in.anchor_position + t,
                  head_sums, hm);
      }
    }
    __syncthreads();
    const int item = base + cta * kAttentionTeams + attention_index;
    if (item < items) {
      const int t = item / p.heads, h = item % p.heads;
      float* scratch = smem + s.attention +
                       attention_index * round4(drafter_attention_scratch(
                                             kDrafterAttentionThreads / kWarpSize, p.v_head_dim));
      const float* qh = qb + attention_index * round4(p.head_dim);
      const Team am = team(kDrafterAttentionThreads, attention_index);
      attention_item(shape, in, qh, layer, p.cache_positions, kb, vb, p.heads_out, t, h, scratch,
                     am, drafter_attention_lane_dims(p.head_dim, p.v_head_dim));
    }
    __syncthreads();
  }
}

// Residual rows x_in (+ delta) - or, for x_in null, the embedded block - RMSNormed with weight,
// then y = W of them. Block 0 writes the residual to x_out (the other buffer: every block reads
// x_in in this phase).
__device__ __noinline__ void norm_product_phase(const DrafterBlockPass& p, const float* x_in,
                                                const float* delta, const float* weight,
                                                float* x_out, const Bf16Matrix& w, int warps,
                                                float* y) {
  float* smem = shared_floats();
  const Smem s = smem_layout(p);
  const int cta = cluster_rank(), rows = p.block, hidden = p.hidden;
  if (x_in == nullptr) {
    embed_rows(p, *p.inputs, smem + s.xs);
  } else {
    load_l2(smem + s.xs, x_in, rows * hidden);
    if (delta != nullptr) load_l2(smem + s.ds, delta, rows * hidden);
  }
  __syncthreads();
  norm_rows(smem + s.xs, delta != nullptr ? smem + s.ds : nullptr, weight, rows, hidden, p.eps,
            smem + s.in, 0, 1, smem + s.sums);
  __syncthreads();
  if (cta == 0) {
    for (int i = threadIdx.x; i < rows * hidden; i += kThreads) x_out[i] = smem[s.xs + i];
  }
  product(w, warps, smem + s.in, rows, y, cta, cluster_size(), smem + s.red);
}

// y = W of `width`-float rows written by other blocks (the heads' outputs).
__device__ __noinline__ void rows_product_phase(const DrafterBlockPass& p, const float* rows_in,
                                                int width, const Bf16Matrix& w, int warps,
                                                float* y) {
  float* smem = shared_floats();
  const Smem s = smem_layout(p);
  load_l2(smem + s.in, rows_in, p.block * width);
  __syncthreads();
  product(w, warps, smem + s.in, p.block, y, cluster_rank(), cluster_size(), smem + s.red);
}

// SiLU(gate) * up of the stacked [gate | up] rows, then down into delta.
__device__ __noinline__ void silu_down_phase(const DrafterBlockPass& p,
                                             const DrafterBlockLayer& l) {
  float* smem = shared_floats();
  const Smem s = smem_layout(p);
  const int inter = p.inter;
  for (int i = threadIdx.x; i < p.block * inter; i += kThreads) {
    const int t = i / inter, c = i % inter;
    const float* row = p.stacked + static_cast<std::size_t>(t) * 2 * inter;
    smem[s.in + i] = silu(__ldcg(row + c)) * __ldcg(row + inter + c);
  }
  __syncthreads();
  product(l.down, l.down_warps, smem + s.in, p.block, p.delta, cluster_rank(), cluster_size(),
          smem + s.red);
}

// Residual + the last MLP, final norm into p.out: block c takes rows c, c + blocks, ...
__device__ __noinline__ void final_norm_phase(const DrafterBlockPass& p) {
  float* smem = shared_floats();
  const Smem s = smem_layout(p);
  load_l2(smem + s.xs, p.x, p.block * p.hidden);
  load_l2(smem + s.ds, p.delta, p.block * p.hidden);
  __syncthreads();
  norm_rows(smem + s.xs, smem + s.ds, p.final_norm, p.block, p.hidden, p.eps, p.out, cluster_rank(),
            cluster_size(), smem + s.sums);
}

__global__ void __launch_bounds__(kThreads, 1)
    drafter_block_kernel(const __grid_constant__ DrafterBlockPass p) {
  cg::cluster_group cluster = cg::this_cluster();
  if (cluster.block_rank() == 0 && threadIdx.x < p.block) {
    const DrafterStepInputs& in = *p.inputs;
    p.ids[threadIdx.x] = threadIdx.x == 0 ? in.anchor : p.mask_token;
    p.positions[threadIdx.x] = in.anchor_position + threadIdx.x;
  }
  if (p.context_fold && p.inputs->context_rows > 0) context_fold(p);
  // The residual's rows alternate between x (a layer's input) and x_other (after attention).
  for (int l = 0; l < p.num_layers; ++l) {
    const DrafterBlockLayer& layer = p.layers[l];
    norm_product_phase(p, l == 0 ? nullptr : p.x, l == 0 ? nullptr : p.delta, layer.input_norm,
                       p.x_other, layer.qkv, layer.qkv_warps, p.stacked);
    cluster.sync();
    attention_phase(p, layer);
    cluster.sync();
    rows_product_phase(p, p.heads_out, p.heads * p.v_head_dim, layer.o, layer.o_warps, p.delta);
    cluster.sync();
    norm_product_phase(p, p.x_other, p.delta, layer.post_norm, p.x, layer.gate_up,
                       layer.gate_up_warps, p.stacked);
    cluster.sync();
    silu_down_phase(p, layer);
    cluster.sync();
  }
  final_norm_phase(p);
}

bool linear_fits(const Bf16Matrix& w, int warps, int rows, int cols) {
  return w.values != nullptr && w.rows == rows && w.cols == cols && cols % 64 == 0 &&
         (warps == 1 || warps == 2 || warps == 4 || warps == 8 || warps == 16);
}

std::size_t smem_bytes(const DrafterBlockPass& p) {
  return static_cast<std::size_t>(smem_layout(p).total) * sizeof(float);
}

cudaLaunchConfig_t launch_config(const DrafterBlockPass& p, int cluster, cudaStream_t stream,
                                 cudaLaunchAttribute& attribute) {
  attribute.id = cudaLaunchAttributeClusterDimension;
  attribute.val.clusterDim.x = cluster;
  attribute.val.clusterDim.y = 1;
  attribute.val.clusterDim.z = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(cluster);
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = smem_bytes(p);
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = 1;
  return config;
}

// The kernel's attributes on the current device. The shared-memory opt-in only ever grows: a
// graph of another drafter may hold a launch that needs more than this pass.
void set_attributes(const DrafterBlockPass& p) {
  static std::mutex mutex;
  static std::map<int, int> opted_in;  // device -> bytes
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    launch::fail("drafter_block_pass", "no current device");
  }
  {
    const std::lock_guard<std::mutex> lock(mutex);
    int& bytes = opted_in[device];
    bytes = std::max(bytes, static_cast<int>(smem_bytes(p)));
    launch::allow_smem(drafter_block_kernel, bytes, "drafter_block_pass");
  }
  const cudaError_t err =
      cudaFuncSetAttribute(drafter_block_kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
  if (err != cudaSuccess) {
    cudaGetLastError();
    launch::fail("drafter_block_pass", launch::cat("clusters of 16: ", cudaGetErrorString(err)));
  }
}

}  // namespace

std::size_t drafter_block_shared_bytes(const DrafterBlockPass& p) {
  return smem_bytes(p);
}

std::string drafter_block_shape_problem(const DrafterBlockPass& p) {
  using launch::cat;
  if (!(p.num_layers >= 1 && p.num_layers <= kDrafterBlockMaxLayers))
    return cat(p.num_layers, " layers (at most ", kDrafterBlockMaxLayers, ")");
  if (!(p.block >= 2 && p.block <= 16)) return cat("a block of ", p.block, " (2 to 16)");
  if (!(p.hidden % 4 == 0 && p.hidden <= 4 * kNormVec * kThreads))
    return cat("hidden size ", p.hidden);
  if (!(p.head_dim <= kDrafterMaxHeadDim && p.v_head_dim <= kDrafterMaxHeadDim &&
        kThreads % drafter_head_threads(p.head_dim, p.v_head_dim) == 0 && p.kv_heads > 0 &&
        p.heads % p.kv_heads == 0 && 2 * p.rotary_half <= p.head_dim))
    return cat("heads ", p.heads, " / ", p.kv_heads, " of dims ", p.head_dim, " / ", p.v_head_dim);
  if (!(p.embed_bf16 ? p.embed_table_bf16.values != nullptr : p.embed_table_f32.values != nullptr))
    return "no embedding table";
  const int qkv_rows = p.heads * p.head_dim + p.kv_heads * (p.head_dim + p.v_head_dim);
  for (int l = 0; l < p.num_layers; ++l) {
    const DrafterBlockLayer& w = p.layers[l];
    if (!(linear_fits(w.qkv, w.qkv_warps, qkv_rows, p.hidden) &&
          linear_fits(w.o, w.o_warps, p.hidden, p.heads * p.v_head_dim) &&
          linear_fits(w.gate_up, w.gate_up_warps, 2 * p.inter, p.hidden) &&
          linear_fits(w.down, w.down_warps, p.hidden, p.inter)))
      return cat("layer ", l, ": q/k/v, o, gate/up or down not a stacked BF16 product the fused ",
                 "tiles take");
  }
  return "";
}

std::string drafter_block_unsupported(const DrafterBlockPass& p) {
  using launch::cat;
  if (std::string problem = drafter_block_shape_problem(p); !problem.empty()) return problem;
  int device = 0, optin = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
          cudaSuccess) {
    cudaGetLastError();
    return "no device";
  }
  if (smem_bytes(p) > static_cast<std::size_t>(optin))
    return cat(smem_bytes(p), " bytes of shared memory (the device gives ", optin, ")");
  return "";
}

std::string drafter_block_context_unsupported(const DrafterBlockPass& p) {
  using launch::cat;
  if (!linear_fits(p.fc, p.fc_warps, p.hidden, p.fc.cols))
    return "fc is not a BF16 product the fused tiles take";
  if (p.context_norm == nullptr || p.features == nullptr || p.context == nullptr ||
      p.context_kv == nullptr)
    return "no context norm or fold buffers";
  const int kv_rows = p.kv_heads * (p.head_dim + p.v_head_dim);
  for (int l = 0; l < p.num_layers; ++l) {
    if (!linear_fits(p.layers[l].kv, p.layers[l].kv_warps, kv_rows, p.hidden))
      return cat("layer ", l, ": k / v do not stack into one BF16 product");
  }
  return "";
}

int drafter_block_cluster_size(const DrafterBlockPass& p) {
  set_attributes(p);
  for (int cluster : {16, 8, 4, 2, 1}) {
    cudaLaunchAttribute attribute{};
    const cudaLaunchConfig_t config = launch_config(p, cluster, nullptr, attribute);
    int clusters = 0;
    if (cudaOccupancyMaxActiveClusters(&clusters, drafter_block_kernel, &config) == cudaSuccess &&
        clusters >= 1)
      return cluster;
    cudaGetLastError();
  }
  launch::fail("drafter_block_pass", "no cluster of this kernel fits the device");
}

void drafter_block_pass(const DrafterBlockPass& p, int cluster_size, Stream stream) {
  if (!(cluster_size >= 1 && cluster_size <= 16))
    launch::fail("drafter_block_pass", launch::cat("cluster of ", cluster_size));
  cudaLaunchAttribute attribute{};
  const cudaLaunchConfig_t config =
      launch_config(p, cluster_size, launch::as_stream(stream), attribute);
  const cudaError_t err = cudaLaunchKernelEx(&config, drafter_block_kernel, p);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw Error(ErrorCode::kDevice,
                launch::cat("CUDA kernel drafter_block_pass: ", cudaGetErrorString(err)));
  }
}

}  // namespace mimo::cuda
