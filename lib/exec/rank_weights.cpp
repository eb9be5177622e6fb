// make_rank_weights: slices of the full weights following a RankShard.
#include "exec/rank_weights.hpp"

#include "cpu/weight_rows.hpp"

namespace mimo::exec {
namespace {

void localize(model::AttentionSpec& spec, const AttentionShard& shard) {
  spec.num_heads = static_cast<int>(shard.heads.size());
  spec.num_kv_heads = static_cast<int>(shard.kv_heads.size());
}

}  // namespace

RankWeights make_rank_weights(const model::ModelConfig& config, const model::ModelWeights& weights,
                              const RankShard& shard, MoeSplit moe_split) {
  RankWeights out;
  out.shard = shard;
  out.config = config;
  localize(out.config.full, shard.full);
  localize(out.config.sliding, shard.sliding);
  out.layers.resize(config.num_layers);
  for (int l = 0; l < config.num_layers; ++l) {
    const model::LayerWeights& w = weights.layers[l];
    const model::AttentionSpec& a = config.attention(l);
    const AttentionShard& s = shard.attention(config.layers[l].attention);
    RankLayerWeights& r = out.layers[l];
    r.q = slice_rows(w.q, s.heads.begin * a.head_dim, s.heads.end * a.head_dim);
    r.k = slice_rows(w.k, s.kv_heads.begin * a.head_dim, s.kv_heads.end * a.head_dim);
    r.v = slice_rows(w.v, s.kv_heads.begin * a.v_head_dim, s.kv_heads.end * a.v_head_dim);
    r.o = std::make_unique<ColumnWindow>(w.o, s.heads.begin * a.v_head_dim,
                                         s.heads.end * a.v_head_dim);
    if (a.has_sink && w.sink) {
      const std::vector<float> all = cpu::to_floats(*w.sink, a.num_heads);
      r.sink.assign(all.begin() + s.heads.begin, all.begin() + s.heads.end);
    }
    if (config.layers[l].mlp == model::MlpKind::kDense && w.dense) {
      const Range& c = shard.dense_columns;
      r.dense_down = std::make_unique<ColumnWindow>(w.dense->down, c.begin, c.end);
      r.dense =
          model::ExpertWeights{slice_rows(w.dense->gate, c.begin, c.end),
                               slice_rows(w.dense->up, c.begin, c.end), r.dense_down->weight()};
    }
    if (moe_split == MoeSplit::kExpertColumns) {
      const Range& c = shard.expert_columns;
      for (const model::ExpertWeights& e : w.experts) {
        r.expert_downs.push_back(std::make_unique<ColumnWindow>(e.down, c.begin, c.end));
        r.expert_slices.push_back({slice_rows(e.gate, c.begin, c.end),
                                   slice_rows(e.up, c.begin, c.end),
                                   r.expert_downs.back()->weight()});
      }
    }
  }
  out.lm_head = slice_rows(weights.lm_head, shard.vocab.begin, shard.vocab.end);
  return out;
}

}  // namespace mimo::exec
