// fill_drafter_pass (see drafter_pass_setup.hpp).
#include "cuda/stream/drafter_pass_setup.hpp"

#include <cmath>

#include "cuda/kernels/drafter_ops.hpp"

namespace mimo::cuda {

namespace {

// The passes' view of a linear, or false when they cannot read it.
bool pass_matrix(const DeviceLinear& w, tiles::DrafterPassMatrix& out) {
  out.rows = w.rows;
  out.cols = w.cols;
  if (w.format == MatrixFormat::kBf16) {
    out.values = w.bf16.values;
    out.bf16 = true;
    return w.cols % 8 == 0;
  }
  if (w.format == MatrixFormat::kF32) {
    out.values = w.f32.values;
    out.bf16 = false;
    return w.cols % 4 == 0;
  }
  return false;
}

}  // namespace

bool fill_drafter_pass(const model::DrafterConfig& c, int block, const DeviceModel& target,
                       const std::vector<DrafterLayer>& layers, const DrafterGlobals& globals,
                       tiles::DrafterPassArgs& a) {
  if (c.num_layers > tiles::kMaxDrafterPassLayers || block > tiles::kMaxDrafterPassRows ||
      c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0 || c.rotary_dim > c.head_dim ||
      static_cast<int>(layers.size()) != c.num_layers || globals.fc == nullptr) {
    return false;
  }
  a.hidden = c.hidden_size;
  a.heads = c.num_heads;
  a.kv_heads = c.num_kv_heads;
  a.head_dim = c.head_dim;
  a.v_head_dim = c.v_head_dim;
  a.inter = c.intermediate_size;
  a.rotary_half = c.rotary_dim / 2;
  a.block = block;
  a.num_layers = c.num_layers;
  a.mask_token = c.mask_token_id;
  a.eps = static_cast<float>(c.rms_norm_eps);
  a.score_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)));
  a.value_scale = static_cast<float>(c.attention_value_scale);
  a.inv_freq = globals.inv_freq;
  a.final_norm = globals.final_norm;
  a.context_norm = globals.context_norm;
  a.mask_embedding = globals.mask_embedding;
  if (target.embed_format == MatrixFormat::kBf16) {
    a.embed = {target.embed_bf16.values, target.embed_bf16.rows, target.embed_bf16.cols, true};
  } else {
    a.embed = {target.embed_f32.values, target.embed_f32.rows, target.embed_f32.cols, false};
  }
  bool ok = a.embed.values != nullptr && a.embed.cols == c.hidden_size &&
            pass_matrix(*globals.fc, a.fc) && a.fc.rows == c.hidden_size;
  for (int l = 0; ok && l < c.num_layers; ++l) {
    const DrafterLayer& w = layers[l];
    tiles::DrafterPassLayer& p = a.layers[l];
    ok = pass_matrix(w.q, p.q) && pass_matrix(w.k, p.k) && pass_matrix(w.v, p.v) &&
         pass_matrix(w.o, p.o) && pass_matrix(w.gate, p.gate) && pass_matrix(w.up, p.up) &&
         pass_matrix(w.down, p.down) && p.gate.rows == a.inter && p.up.rows == a.inter &&
         p.down.cols == a.inter && p.o.cols == a.heads * a.v_head_dim && w.q_norm != nullptr &&
         w.k_norm != nullptr && w.input_norm != nullptr && w.post_attention_norm != nullptr;
    p.input_norm = w.input_norm;
    p.post_attention_norm = w.post_attention_norm;
    p.q_norm = w.q_norm;
    p.k_norm = w.k_norm;
    p.sinks = w.sinks;
  }
  // Shared memory within what every Hopper block may opt into (227 KB), with room to spare.
  constexpr std::size_t kSmemLimit = 200 * 1024;
  return ok && a.final_norm != nullptr && a.context_norm != nullptr &&
         drafter_block_pass_smem(a) <= kSmemLimit &&
         drafter_context_pass_smem(a, tiles::kMaxDrafterPassRows) <= kSmemLimit;
}

}  // namespace mimo::cuda
