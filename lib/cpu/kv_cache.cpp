// KvCache: linear full-attention layers, ring-buffered sliding layers, exact undo of a step.
#include "cpu/kv_cache.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "mimo/error.hpp"

namespace mimo::cpu {

KvCache::KvCache(const model::ModelConfig& config, std::int64_t max_context, int max_chunk_tokens)
    : max_context_(max_context), max_chunk_tokens_(max_chunk_tokens) {
  if (max_context < 1 || max_chunk_tokens < 1) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("KV cache: max_context {} and max_chunk_tokens {} must be >= 1",
                            max_context, max_chunk_tokens));
  }
  window_ = config.sliding_window;
  layers_.resize(config.num_layers);
  for (int l = 0; l < config.num_layers; ++l) {
    const model::AttentionSpec& spec = config.attention(l);
    Layer& layer = layers_[l];
    layer.ring = config.layers[l].attention == model::AttentionKind::kSliding;
    layer.kv_heads = spec.num_kv_heads;
    layer.head_dim = spec.head_dim;
    layer.v_head_dim = spec.v_head_dim;
    if (layer.ring) {
      if (window_ < 1) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("KV cache: sliding layer {} with sliding_window {}", l, window_));
      }
      ring_capacity_ = std::min<std::int64_t>(max_context, window_ + max_chunk_tokens - 1);
      layer.capacity = ring_capacity_;
      layer.keys.resize(layer.capacity * layer.kv_heads * layer.head_dim);
      layer.values.resize(layer.capacity * layer.kv_heads * layer.v_head_dim);
    }
  }
  positions_ = model::KvPositions(window_, ring_capacity_, max_chunk_tokens);
}

void KvCache::reserve_step(int n) {
  const std::int64_t needed = length() + n;
  if (n > max_chunk_tokens_ || needed > max_context_) {
    throw Error(ErrorCode::kInternal,
                fmt::format("KV cache: step of {} tokens at {} exceeds limits ({} per chunk, {} "
                            "total)",
                            n, length(), max_chunk_tokens_, max_context_));
  }
  for (Layer& layer : layers_) {
    if (layer.ring || layer.capacity >= needed) continue;
    layer.capacity = std::min(max_context_, std::max(needed, 2 * layer.capacity));
    layer.keys.resize(layer.capacity * layer.kv_heads * layer.head_dim);
    layer.values.resize(layer.capacity * layer.kv_heads * layer.v_head_dim);
  }
}

float* KvCache::key(int layer, std::int64_t pos) {
  Layer& l = layers_[layer];
  return l.keys.data() + (pos % l.capacity) * l.kv_heads * l.head_dim;
}

float* KvCache::value(int layer, std::int64_t pos) {
  Layer& l = layers_[layer];
  return l.values.data() + (pos % l.capacity) * l.kv_heads * l.v_head_dim;
}

KvLayerView KvCache::view(int layer) const {
  const Layer& l = layers_[layer];
  return {l.keys.data(), l.values.data(), l.capacity, l.kv_heads, l.head_dim, l.v_head_dim};
}

KvCache::Undo KvCache::save_for_append(std::int64_t n) const {
  Undo undo;
  undo.length = positions_.length();
  undo.ring_floor = positions_.ring_floor();
  undo.first_pos = positions_.length();
  undo.count = std::min(n, ring_capacity_);
  undo.keys.resize(layers_.size());
  undo.values.resize(layers_.size());
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    if (!l.ring) continue;
    const std::int64_t k_size = l.kv_heads * l.head_dim, v_size = l.kv_heads * l.v_head_dim;
    undo.keys[i].resize(undo.count * k_size);
    undo.values[i].resize(undo.count * v_size);
    for (std::int64_t j = 0; j < undo.count; ++j) {
      const std::int64_t slot = (undo.first_pos + j) % l.capacity;
      std::copy_n(l.keys.data() + slot * k_size, k_size, undo.keys[i].data() + j * k_size);
      std::copy_n(l.values.data() + slot * v_size, v_size, undo.values[i].data() + j * v_size);
    }
  }
  return undo;
}

void KvCache::restore(const Undo& undo) {
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = layers_[i];
    if (!l.ring) continue;
    const std::int64_t k_size = l.kv_heads * l.head_dim, v_size = l.kv_heads * l.v_head_dim;
    for (std::int64_t j = 0; j < undo.count; ++j) {
      const std::int64_t slot = (undo.first_pos + j) % l.capacity;
      std::copy_n(undo.keys[i].data() + j * k_size, k_size, l.keys.data() + slot * k_size);
      std::copy_n(undo.values[i].data() + j * v_size, v_size, l.values.data() + slot * v_size);
    }
  }
  positions_.restore(undo.length, undo.ring_floor);
}

}  // namespace mimo::cpu
