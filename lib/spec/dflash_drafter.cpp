// The DFlash drafter as drafter programs on the CPU interpreter (see dflash_drafter.hpp).
#include "spec/dflash_drafter.hpp"

#include <algorithm>

#include "program/drafter_program.hpp"

namespace mimo::spec {

exec::CpuDrafterModel bind_cpu_drafter(const model::DrafterConfig& config,
                                       const DrafterWeights& weights,
                                       const model::ModelWeights& target_weights) {
  exec::CpuDrafterModel m;
  m.config = config;
  m.fc = &weights.fc;
  m.context_norm = weights.context_norm;
  m.final_norm = weights.final_norm;
  m.mask_embedding = weights.mask_embedding;
  for (const DrafterLayerWeights& lw : weights.layers) {
    exec::CpuDrafterLayer l;
    l.q = &lw.q;
    l.k = &lw.k;
    l.v = &lw.v;
    l.o = &lw.o;
    l.mlp = &lw.mlp;
    l.input_norm = lw.input_norm;
    l.post_attention_norm = lw.post_attention_norm;
    l.q_norm = lw.q_norm;
    l.k_norm = lw.k_norm;
    l.sink = lw.sink;
    m.layers.push_back(l);
  }
  m.embed = &target_weights.embed;
  m.lm_head = &target_weights.lm_head;
  return m;
}

DFlashDrafter::DFlashDrafter(const model::DrafterConfig& config, const DrafterWeights& weights,
                             const model::ModelConfig& target,
                             const model::ModelWeights& target_weights, int block_size,
                             cpu::ThreadPool& pool)
    : config_(config),
      vocab_size_(target.vocab_size),
      block_size_(block_size),
      model_(bind_cpu_drafter(config, weights, target_weights)),
      runner_(model_, pool),
      cache_(config.num_layers, config.num_kv_heads, config.head_dim, config.v_head_dim) {}

void DFlashDrafter::add_context(std::int64_t first_position, const float* features,
                                std::int64_t rows) {
  if (rows <= 0) return;
  program::DrafterShape shape;
  shape.context = static_cast<int>(rows);
  exec::DrafterIo io;
  io.features = features;
  io.first_position = first_position;
  runner_.run(program::build_drafter_program(config_, vocab_size_, shape), cache_, buffers_, io);
}

void DFlashDrafter::run_block(std::int32_t anchor, std::int64_t anchor_position, int draft_rows,
                              bool argmax) {
  program::DrafterShape shape;
  shape.block = block_size_;
  shape.draft_rows = draft_rows;
  shape.argmax = argmax;
  exec::DrafterIo io;
  io.anchor = anchor;
  io.anchor_position = anchor_position;
  runner_.run(program::build_drafter_program(config_, vocab_size_, shape), cache_, buffers_, io);
}

std::vector<float> DFlashDrafter::block_hidden(std::int32_t anchor, std::int64_t anchor_position) {
  run_block(anchor, anchor_position, 0, false);
  return buffers_.h;
}

std::vector<float> DFlashDrafter::logits(std::int32_t anchor, std::int64_t anchor_position,
                                         int count) {
  count = std::clamp(count, 0, block_size_ - 1);
  if (count == 0) return {};
  run_block(anchor, anchor_position, count, false);
  return buffers_.logits;
}

std::vector<std::int32_t> DFlashDrafter::propose(std::int32_t anchor, std::int64_t anchor_position,
                                                 int count) {
  count = std::clamp(count, 0, block_size_ - 1);
  if (count == 0) return {};
  run_block(anchor, anchor_position, count, true);
  return buffers_.drafts;
}

}  // namespace mimo::spec
