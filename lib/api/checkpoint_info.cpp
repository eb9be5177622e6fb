// mimo::inspect_checkpoint: config + shard headers + a full weight binding, summarised for
// `mimo-cli info`. Counts cover the tensors the model binds (skipped MTP tensors excluded).
#include <filesystem>

#include "errors/foreign_errors.hpp"
#include "io/checkpoint.hpp"
#include "mimo/checkpoint.hpp"
#include "model/config_parse.hpp"
#include "model/weight_binder.hpp"

namespace mimo {

namespace {

const char* precision_name(model::WeightFormat format) {
  switch (format) {
    case model::WeightFormat::kF32:
      return "F32";
    case model::WeightFormat::kBF16:
      return "BF16";
    case model::WeightFormat::kF16:
      return "F16";
    case model::WeightFormat::kFp8Block:
      return "FP8 block";
    case model::WeightFormat::kMxfp4:
      return "MXFP4";
  }
  return "?";
}

class Tally {
 public:
  explicit Tally(CheckpointInfo& info) : info_(info) {}

  void add(const model::LinearWeight& w) {
    count(precision_name(w.format), static_cast<std::uint64_t>(w.rows * w.cols),
          static_cast<std::uint64_t>(w.stored_bytes()));
  }
  void add(const model::VectorWeight& v) {
    count(std::string(io::dtype_name(v.dtype)), static_cast<std::uint64_t>(v.size),
          static_cast<std::uint64_t>(v.size) * io::dtype_size(v.dtype));
  }
  void add(const std::optional<model::VectorWeight>& v) {
    if (v) add(*v);
  }

 private:
  void count(const std::string& precision, std::uint64_t parameters, std::uint64_t bytes) {
    info_.parameters_by_precision[precision] += parameters;
    info_.bytes_by_precision[precision] += bytes;
    info_.total_parameters += parameters;
    info_.total_bytes += bytes;
  }
  CheckpointInfo& info_;
};

void tally_weights(const model::ModelConfig& config, const model::ModelWeights& weights,
                   CheckpointInfo& info) {
  Tally tally(info);
  tally.add(weights.embed);
  if (!config.tie_word_embeddings) tally.add(weights.lm_head);
  tally.add(weights.final_norm);
  for (const model::LayerWeights& layer : weights.layers) {
    tally.add(layer.input_norm);
    tally.add(layer.post_attention_norm);
    for (const model::LinearWeight* w : {&layer.q, &layer.k, &layer.v, &layer.o}) tally.add(*w);
    tally.add(layer.sink);
    if (layer.dense) {
      for (const model::LinearWeight* w :
           {&layer.dense->gate, &layer.dense->up, &layer.dense->down}) {
        tally.add(*w);
      }
    }
    if (layer.router) tally.add(*layer.router);
    tally.add(layer.router_bias);
    for (const model::ExpertWeights& e : layer.experts) {
      for (const model::LinearWeight* w : {&e.gate, &e.up, &e.down}) tally.add(*w);
    }
  }
}

}  // namespace

CheckpointInfo inspect_checkpoint(const std::string& path) try {
  model::ModelConfig config = model::load_model_config(path);
  io::Checkpoint checkpoint = io::Checkpoint::open(path);
  model::ModelWeights weights = model::bind_weights(config, checkpoint);

  CheckpointInfo info;
  info.path = path;
  info.schema = config.schema;
  info.architecture = config.architecture;
  info.vocab_size = config.vocab_size;
  info.hidden_size = config.hidden_size;
  info.num_layers = config.num_layers;
  info.num_heads = config.full.num_heads;
  info.num_kv_heads = config.full.num_kv_heads;
  info.sliding_num_heads = config.sliding.num_heads;
  info.sliding_num_kv_heads = config.sliding.num_kv_heads;
  info.head_dim = config.full.head_dim;
  info.v_head_dim = config.full.v_head_dim;
  info.sliding_window = config.sliding_window;
  info.n_routed_experts = config.n_routed_experts;
  info.num_experts_per_tok = config.num_experts_per_tok;
  for (const model::LayerSpec& layer : config.layers) {
    info.attention_pattern += layer.attention == model::AttentionKind::kFull ? 'F' : 'S';
    info.mlp_pattern += layer.mlp == model::MlpKind::kDense ? 'D' : 'M';
  }
  info.quantization = config.quantization ? config.quantization->method : "none";
  if (config.quantization && !config.quantization->store_dtype.empty()) {
    // The release's form: an fp8 config whose experts are stored as MXFP4.
    info.quantization += " (store_dtype " + config.quantization->store_dtype + ", blocks of " +
                         std::to_string(config.quantization->mxfp4_block_size) + ")";
  }
  tally_weights(config, weights, info);
  for (const auto& shard : checkpoint.shards()) {
    info.shards.push_back(std::filesystem::path(shard->path()).filename().string());
  }
  info.skipped_tensors = weights.skipped;
  return info;
} catch (...) {
  rethrow_as_mimo_error(path);
}

}  // namespace mimo
