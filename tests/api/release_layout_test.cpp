// The MiMo-V2.5-Pro FP4-DFlash release's checkpoint layout (docs/formats.md, issue 23 item 4):
// an fp8 quantization_config with store_dtype mxfp4 and mxfp4_block_size 32 and ignored_layers;
// experts as U8 [n, k/2] E2M1 pairs with U8 [n, k/32] E8M0 weight_scale, the other linears
// FP8 with F32 weight_scale_inv per 128x128 block, o_proj BF16, the router BF16 with its F32
// e_score_correction_bias, and model.mtp.* tensors in their own shard, present but unused.
// A tiny checkpoint written exactly so loads, is described as such, and computes the logits of
// the same weights decoded once to F32.
#include "support/release_layout.hpp"

#include <cstring>
#include <filesystem>

#include "io/safetensors.hpp"
#include "mimo/checkpoint.hpp"
#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "support/catch.hpp"

namespace mimo {
namespace {

namespace fs = std::filesystem;

TEST_CASE("the MiMo-V2.5-Pro release layout loads and equals its F32 decode") {
  const fs::path root = fs::temp_directory_path() / "mimo-release-layout-test";
  fs::remove_all(root);
  const fs::path release = testing::write_release_checkpoint(root / "release", MIMO_TEST_DATA_DIR);
  testing::write_f32_twin(release, root / "f32");

  // The stored layout is the release's: dtypes and shapes of each kind of tensor.
  const auto file = io::SafetensorsFile::open((release / "model.safetensors").string());
  const io::TensorView* expert = file->find("model.layers.1.mlp.experts.0.gate_proj.weight");
  const io::TensorView* expert_scale =
      file->find("model.layers.1.mlp.experts.0.gate_proj.weight_scale");
  const io::TensorView* q = file->find("model.layers.1.self_attn.q_proj.weight");
  const io::TensorView* q_scale = file->find("model.layers.1.self_attn.q_proj.weight_scale_inv");
  const io::TensorView* o = file->find("model.layers.1.self_attn.o_proj.weight");
  const io::TensorView* router = file->find("model.layers.1.mlp.gate.weight");
  const io::TensorView* bias = file->find("model.layers.1.mlp.gate.e_score_correction_bias");
  REQUIRE((expert && expert_scale && q && q_scale && o && router && bias));
  CHECK(expert->dtype == io::DType::kU8);
  CHECK(expert_scale->dtype == io::DType::kU8);
  CHECK(expert_scale->shape[1] * 16 == expert->shape[1]);  // [n, k/32] against [n, k/2]
  CHECK(q->dtype == io::DType::kF8_E4M3);
  CHECK(q_scale->dtype == io::DType::kF32);
  CHECK(o->dtype == io::DType::kBF16);
  CHECK(router->dtype == io::DType::kBF16);
  CHECK(bias->dtype == io::DType::kF32);

  const CheckpointInfo info = inspect_checkpoint(release.string());
  CHECK(info.quantization == "fp8 (store_dtype mxfp4, blocks of 32)");
  CHECK(info.skipped_tensors.size() == 2u);
  CHECK(info.shards.size() == 2u);

  ModelOptions cpu;
  cpu.device = Device::kCpu;
  const auto a = Model::load(release.string(), cpu)->new_session();
  const auto b = Model::load((root / "f32").string(), cpu)->new_session();
  const std::vector<std::int32_t> tokens = {3, 17, 99, 5, 201, 42, 7, 250, 11};
  const std::vector<float> la = a->score(tokens);
  const std::vector<float> lb = b->score(tokens);
  REQUIRE(la.size() == lb.size());
  REQUIRE(!la.empty());
  double max_diff = 0;
  for (std::size_t i = 0; i < la.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::abs(la[i] - lb[i])));
  }
  INFO("largest logit difference " << max_diff);
  CHECK(std::memcmp(la.data(), lb.data(), la.size() * sizeof(float)) == 0);
  fs::remove_all(root);
}

}  // namespace
}  // namespace mimo
