// Rank models: the rank's weights as a model of its local geometry, uploaded by upload_model
// (which checks every shape), then the embedding replaced by the whole table (the embedding is
// replicated: gathering rows needs no collective).
#include "cuda/tp/rank_models.hpp"

#include <cmath>
#include <vector>

#include "cpu/weight_rows.hpp"
#include "cuda/kernels/step_ops.hpp"
#include "exec/rank_weights.hpp"
#include "exec/weight_slices.hpp"

namespace mimo::cuda::tp {
namespace {

// The whole embedding table on the device: BF16 as stored, anything else widened to F32 with
// the CPU's row decoder (as upload_model does).
void upload_full_embedding(const model::LinearWeight& embed, DeviceModel& m) {
  const int rows = static_cast<int>(embed.rows), cols = static_cast<int>(embed.cols);
  if (embed.format == model::WeightFormat::kBF16 && cols % 8 == 0 && embed.row_offset == 0 &&
      embed.row_stride_bytes == embed.cols * 2) {
    const void* values = m.arena.upload(embed.data, std::size_t(rows) * cols * 2);
    m.embed_format = MatrixFormat::kBf16;
    m.embed_bf16 = Bf16Matrix{static_cast<const std::uint16_t*>(values), rows, cols};
    return;
  }
  std::vector<float> host(std::size_t(rows) * cols);
  for (int r = 0; r < rows; ++r) cpu::decode_row(embed, r, host.data() + std::size_t(r) * cols);
  const void* values = m.arena.upload(host.data(), host.size() * sizeof(float));
  m.embed_format = MatrixFormat::kF32;
  m.embed_f32 = F32Matrix{static_cast<const float*>(values), rows, cols};
}

}  // namespace

model::ModelConfig rank_config(const model::ModelConfig& config, const exec::RankShard& shard) {
  model::ModelConfig c = config;
  c.full.num_heads = static_cast<int>(shard.full.heads.size());
  c.full.num_kv_heads = static_cast<int>(shard.full.kv_heads.size());
  c.sliding.num_heads = static_cast<int>(shard.sliding.heads.size());
  c.sliding.num_kv_heads = static_cast<int>(shard.sliding.kv_heads.size());
  c.intermediate_size = static_cast<int>(shard.dense_columns.size());
  c.moe_intermediate_size = static_cast<int>(shard.expert_columns.size());
  c.vocab_size = static_cast<int>(shard.vocab.size());
  return c;
}

std::unique_ptr<DeviceModel> upload_rank_model(const model::ModelConfig& config,
                                               const model::ModelWeights& weights,
                                               const exec::RankShard& shard) {
  const exec::RankWeights rank =
      exec::make_rank_weights(config, weights, shard, exec::MoeSplit::kExpertColumns);
  const model::ModelConfig local = rank_config(config, shard);
  model::ModelWeights w;
  // A placeholder of the local vocab size (the shape check wants one); replaced below.
  w.embed = exec::slice_rows(weights.embed, shard.vocab.begin, shard.vocab.end);
  w.lm_head = rank.lm_head;
  w.final_norm = weights.final_norm;
  for (int l = 0; l < config.num_layers; ++l) {
    const model::LayerWeights& full = weights.layers[l];
    const exec::RankLayerWeights& r = rank.layers[l];
    model::LayerWeights lw;
    lw.input_norm = full.input_norm;
    lw.post_attention_norm = full.post_attention_norm;
    lw.q = r.q;
    lw.k = r.k;
    lw.v = r.v;
    lw.o = r.o->weight();
    if (!r.sink.empty()) {
      lw.sink = model::VectorWeight{full.sink->name, io::DType::kF32,
                                    reinterpret_cast<const std::uint8_t*>(r.sink.data()),
                                    static_cast<std::int64_t>(r.sink.size())};
    }
    if (r.dense) lw.dense = *r.dense;
    lw.router = full.router;
    lw.router_bias = full.router_bias;
    lw.experts = r.expert_slices;
    w.layers.push_back(std::move(lw));
  }
  std::unique_ptr<DeviceModel> m = upload_model(local, w);
  upload_full_embedding(weights.embed, *m);
  synchronize();
  return m;
}

std::unique_ptr<DeviceModel> synthetic_rank_model(const model::ModelConfig& config,
                                                  const exec::RankShard& shard,
                                                  std::uint64_t seed) {
  std::unique_ptr<DeviceModel> m = synthetic_model(rank_config(config, shard), seed);
  const std::size_t count = std::size_t(config.vocab_size) * config.hidden_size;
  auto* values = static_cast<std::uint16_t*>(m->arena.allocate(count * 2));
  fill_random_bf16(values, count, seed ^ 0x5eedull, std::sqrt(3.0f / config.hidden_size));
  m->embed_format = MatrixFormat::kBf16;
  m->embed_bf16 = Bf16Matrix{values, config.vocab_size, config.hidden_size};
  synchronize();
  return m;
}

}  // namespace mimo::cuda::tp
