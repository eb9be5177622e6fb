// Which drafters the one-kernel block pass takes (cuda/kernels/drafter_block.hpp), and the shared
// memory it asks for: the demo drafter's shapes fit, each shape or format the fused tiles do not
// take is refused with a reason that names it, and the context fold's regions are counted.
// Host code only: runs without a GPU (the matrices' values are never read here).
#include <cstdint>
#include <string>

#include "cuda/kernels/drafter_block.hpp"
#include "cuda/kernels/ops.hpp"
#include "support/catch.hpp"

namespace {

using mimo::cuda::Bf16Matrix;
using mimo::cuda::DrafterBlockPass;

// A stand-in for device memory: the checks look at shapes and whether pointers are set.
const std::uint16_t kWeights[1] = {0};
float kFloats[1] = {0};

Bf16Matrix matrix(int rows, int cols) {
  return Bf16Matrix{kWeights, rows, cols};
}

// The demo drafter's geometry (models/demo/drafter/config.json): hidden 256, intermediate 512,
// 4 layers of 4 heads (2 kv heads) of 64, block 8, features of 3 target layers.
DrafterBlockPass demo_pass() {
  DrafterBlockPass p;
  p.block = 8;
  p.hidden = 256;
  p.inter = 512;
  p.num_layers = 4;
  p.heads = 4;
  p.kv_heads = 2;
  p.head_dim = 64;
  p.v_head_dim = 64;
  p.rotary_half = 32;
  p.embed_bf16 = true;
  p.embed_table_bf16 = matrix(8192, 256);
  p.fc = matrix(256, 3 * 256);
  p.fc_warps = mimo::cuda::bf16_linear_warps(p.fc);
  p.context_norm = p.features = kFloats;
  p.context = p.context_kv = kFloats;
  for (int l = 0; l < p.num_layers; ++l) {
    auto& w = p.layers[l];
    w.qkv = matrix(4 * 64 + 2 * (64 + 64), 256);
    w.o = matrix(256, 4 * 64);
    w.gate_up = matrix(2 * 512, 256);
    w.down = matrix(256, 512);
    w.kv = matrix(2 * (64 + 64), 256);
    w.qkv_warps = mimo::cuda::bf16_linear_warps(w.qkv);
    w.o_warps = mimo::cuda::bf16_linear_warps(w.o);
    w.gate_up_warps = mimo::cuda::bf16_linear_warps(w.gate_up);
    w.down_warps = mimo::cuda::bf16_linear_warps(w.down);
    w.kv_warps = mimo::cuda::bf16_linear_warps(w.kv);
  }
  return p;
}

}  // namespace

TEST_CASE("the one-kernel drafter pass takes the demo drafter's shapes") {
  const DrafterBlockPass p = demo_pass();
  // The BF16 tensor-core linear's warps from the shape alone: one 64-column step a warp up to 8.
  CHECK(p.layers[0].qkv_warps == 4);
  CHECK(p.layers[0].down_warps == 8);
  CHECK(p.fc_warps == 8);
  CHECK(mimo::cuda::drafter_block_shape_problem(p).empty());
  CHECK(mimo::cuda::drafter_block_context_unsupported(p).empty());
}

TEST_CASE("the one-kernel drafter pass refuses what its tiles do not take, naming it") {
  const auto problem = [](void (*change)(DrafterBlockPass&)) {
    DrafterBlockPass p = demo_pass();
    change(p);
    return mimo::cuda::drafter_block_shape_problem(p);
  };
  CHECK(problem([](DrafterBlockPass& p) { p.num_layers = 9; }).find("9 layers") !=
        std::string::npos);
  CHECK(problem([](DrafterBlockPass& p) { p.block = 17; }).find("block of 17") !=
        std::string::npos);
  CHECK(problem([](DrafterBlockPass& p) { p.hidden = 8196; }).find("hidden size") !=
        std::string::npos);
  // Heads of 96: a head team of 96 threads does not divide the block's 512.
  CHECK(problem([](DrafterBlockPass& p) { p.head_dim = p.v_head_dim = 96; }).find("heads") !=
        std::string::npos);
  CHECK(problem([](DrafterBlockPass& p) { p.embed_table_bf16 = Bf16Matrix{}; }) ==
        "no embedding table");
  // An o_proj of 96 columns (the tiny test drafter's 4 heads of 24): not whole 64-column steps.
  CHECK(problem([](DrafterBlockPass& p) { p.layers[2].o = matrix(256, 96); }).find("layer 2") !=
        std::string::npos);
  CHECK(problem([](DrafterBlockPass& p) { p.layers[3].down = Bf16Matrix{}; }).find("layer 3") !=
        std::string::npos);
  CHECK(problem([](DrafterBlockPass& p) { p.layers[1].gate_up_warps = 3; }).find("layer 1") !=
        std::string::npos);
}

TEST_CASE("the one-kernel drafter pass's context fold needs fc and stacked k / v") {
  DrafterBlockPass p = demo_pass();
  p.fc = Bf16Matrix{};
  CHECK(mimo::cuda::drafter_block_context_unsupported(p).find("fc") != std::string::npos);
  p = demo_pass();
  p.layers[2].kv = matrix(128, 256);  // k alone: [k; v] did not stack
  CHECK(mimo::cuda::drafter_block_context_unsupported(p).find("layer 2") != std::string::npos);
  p = demo_pass();
  p.context_kv = nullptr;
  CHECK(!mimo::cuda::drafter_block_context_unsupported(p).empty());
}

TEST_CASE("the one-kernel drafter pass counts the context fold's shared memory") {
  DrafterBlockPass p = demo_pass();
  const std::size_t block_only = mimo::cuda::drafter_block_shared_bytes(p);
  p.context_fold = true;
  const std::size_t with_fold = mimo::cuda::drafter_block_shared_bytes(p);
  // The fold's features (block x fc.cols floats) and a key head for each of 16 teams.
  CHECK(with_fold - block_only == (8 * 768 + 16 * 64) * sizeof(float));
  // Rows, norms, products and the attention teams' scratch of the demo's shapes fit an H100
  // block with room to spare.
  CHECK(block_only > 64 * 1024);
  CHECK(with_fold < 160 * 1024);
}
