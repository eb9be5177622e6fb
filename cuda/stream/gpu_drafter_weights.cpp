// The GPU drafter's weight upload (see gpu_drafter_weights.hpp).
#include "cuda/stream/gpu_drafter_weights.hpp"

#include <algorithm>

#include "model/rope_table.hpp"

namespace mimo::cuda {
namespace {

const float* upload_floats(const std::vector<float>& v, DeviceArena& arena) {
  if (v.empty()) return nullptr;
  return static_cast<const float*>(arena.upload(v.data(), v.size() * sizeof(float)));
}

// One layer: norms, o and down as stored, q / k / v and gate / up stacked where they stack
// (their separate uploads then dropped), else kept apart.
DrafterLayer upload_layer(const spec::DrafterLayerWeights& lw, DeviceArena& arena) {
  DrafterLayer d;
  d.input_norm = upload_floats(lw.input_norm, arena);
  d.post_attention_norm = upload_floats(lw.post_attention_norm, arena);
  d.q_norm = upload_floats(lw.q_norm, arena);
  d.k_norm = upload_floats(lw.k_norm, arena);
  d.sinks = upload_floats(lw.sink, arena);
  d.o = upload_device_linear(lw.o, arena);
  d.down = upload_device_linear(lw.mlp.down, arena);
  DeviceArena qkv_parts, gate_up_parts;
  d.q = upload_device_linear(lw.q, qkv_parts);
  d.k = upload_device_linear(lw.k, qkv_parts);
  d.v = upload_device_linear(lw.v, qkv_parts);
  d.qkv = stack_device_linears({&d.q, &d.k, &d.v}, arena);
  if (d.qkv.rows > 0) {
    d.kv = device_linear_rows(d.qkv, d.q.rows, d.k.rows + d.v.rows);
    d.q = d.k = d.v = {};
  } else {
    arena.absorb(std::move(qkv_parts));
  }
  d.gate = upload_device_linear(lw.mlp.gate, gate_up_parts);
  d.up = upload_device_linear(lw.mlp.up, gate_up_parts);
  d.gate_up = stack_device_linears({&d.gate, &d.up}, arena);
  if (d.gate_up.rows > 0) {
    d.gate = d.up = {};
  } else {
    arena.absorb(std::move(gate_up_parts));
  }
  return d;
}

}  // namespace

bool DrafterDeviceWeights::stacked() const {
  return std::all_of(layers.begin(), layers.end(),
                     [](const DrafterLayer& l) { return l.qkv.rows > 0 && l.gate_up.rows > 0; });
}

void upload_drafter_weights(const model::DrafterConfig& config, const spec::DrafterWeights& weights,
                            int block_size, DrafterDeviceWeights& out) {
  out.fc = upload_device_linear(weights.fc, out.arena);
  out.context_norm = upload_floats(weights.context_norm, out.arena);
  out.final_norm = upload_floats(weights.final_norm, out.arena);
  if (!weights.mask_embedding.empty()) {  // repeated once here: one copy a block forward
    std::vector<float> rows;
    for (int i = 1; i < block_size; ++i) {
      rows.insert(rows.end(), weights.mask_embedding.begin(), weights.mask_embedding.end());
    }
    out.mask_rows = upload_floats(rows, out.arena);
  }
  out.inv_freq =
      upload_floats(model::rope_inv_freq(config.frequency_dim(), config.rope_theta), out.arena);
  for (const spec::DrafterLayerWeights& lw : weights.layers) {
    out.layers.push_back(upload_layer(lw, out.arena));
  }
}

}  // namespace mimo::cuda
