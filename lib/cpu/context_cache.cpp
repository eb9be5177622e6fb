// The drafter's context cache (see context_cache.hpp).
#include "cpu/context_cache.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "mimo/error.hpp"

namespace mimo::cpu {

ContextCache::ContextCache(int layers, int kv_heads, int head_dim, int v_head_dim)
    : key_width_(std::int64_t{kv_heads} * head_dim),
      value_width_(std::int64_t{kv_heads} * v_head_dim),
      keys_(layers),
      values_(layers) {}

std::int64_t ContextCache::append(std::int64_t first_position, std::int64_t rows) {
  if (!positions_.empty() && first_position <= positions_.back()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("DFlash drafter: context position {} is not after the cached {}",
                            first_position, positions_.back()));
  }
  const std::int64_t first_row = this->rows();
  for (std::int64_t i = 0; i < rows; ++i) positions_.push_back(first_position + i);
  for (std::size_t l = 0; l < keys_.size(); ++l) {
    keys_[l].resize(positions_.size() * key_width_);
    values_[l].resize(positions_.size() * value_width_);
  }
  return first_row;
}

void ContextCache::truncate(std::int64_t length) {
  const auto keep = std::lower_bound(positions_.begin(), positions_.end(), length);
  positions_.erase(keep, positions_.end());
  for (std::size_t l = 0; l < keys_.size(); ++l) {
    keys_[l].resize(positions_.size() * key_width_);
    values_[l].resize(positions_.size() * value_width_);
  }
}

float* ContextCache::key(int layer, std::int64_t row) {
  return keys_[layer].data() + row * key_width_;
}

float* ContextCache::value(int layer, std::int64_t row) {
  return values_[layer].data() + row * value_width_;
}

ContextView ContextCache::view(int layer) const {
  return {positions_.data(), keys_[layer].data(), values_[layer].data(), rows()};
}

}  // namespace mimo::cpu
