// The DFlash drafter's context cache: the target positions whose features the drafter has seen
// (ascending) and, for every drafter layer, their keys and values (already normed and rotated).
// Rows are appended by a drafter program's context pass and dropped by truncate when the target
// rolls back.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/block_attention.hpp"

namespace mimo::cpu {

class ContextCache {
 public:
  ContextCache(int layers, int kv_heads, int head_dim, int v_head_dim);

  std::int64_t rows() const { return static_cast<std::int64_t>(positions_.size()); }
  const std::vector<std::int64_t>& positions() const { return positions_; }

  // Appends `rows` rows at positions first_position ... (their keys and values to be written
  // by the caller) and returns the index of the first. Throws mimo::Error(kInvalidArgument)
  // when first_position is not after every cached position.
  std::int64_t append(std::int64_t first_position, std::int64_t rows);
  // Forgets the rows at positions >= length.
  void truncate(std::int64_t length);

  float* key(int layer, std::int64_t row);    // [kv_heads, head_dim]
  float* value(int layer, std::int64_t row);  // [kv_heads, v_head_dim]
  ContextView view(int layer) const;

 private:
  std::int64_t key_width_, value_width_;
  std::vector<std::int64_t> positions_;
  std::vector<std::vector<float>> keys_, values_;  // per layer, [rows, width]
};

}  // namespace mimo::cpu
