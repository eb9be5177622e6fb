// Per-session key/value cache of every decoder layer, in float32.
//
// Full-attention layers keep every position (a linear array grown on demand up to
// max_context). Sliding layers keep a RING of
//     capacity = min(max_context, window + max_chunk_tokens - 1)
// slots, position p at slot p % capacity (max_chunk_tokens: the largest chunk of any step, a
// verify block or a prompt's chunk). Why that size: a step writes the keys of its T
// (<= max_chunk_tokens) tokens before its queries read; the first query, at position L, needs
// keys L-window+1 .. L, and the last key written, L+T-1, lands on the slot of position
// L+T-1-capacity, which must be older than L-window+1: capacity >= window + T - 1.
//
// Rewinding (truncate) keeps the keys below the new length; the next query at position n then
// needs n-window+1 .. n-1. A ring drops position p once p + capacity has been written, so a
// rewind of up to max_chunk_tokens tokens below the highest position ever written is always
// exact (that covers rejecting a whole speculative verify step). Going further back throws
// kInvalidArgument when a needed key is gone; when max_context <= window + max_chunk_tokens - 1
// the ring never wraps and every rewind is exact.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/attention.hpp"
#include "model/config.hpp"
#include "model/kv_positions.hpp"

namespace mimo::cpu {

class KvCache {
 public:
  // max_context: positions the cache can hold; max_chunk_tokens: most tokens one forward chunk
  // may append (the larger of the verify block and the prefill chunk). Both >= 1.
  KvCache(const model::ModelConfig& config, std::int64_t max_context, int max_chunk_tokens);

  std::int64_t length() const { return positions_.length(); }  // tokens stored = next position
  std::int64_t max_context() const { return max_context_; }
  int max_chunk_tokens() const { return max_chunk_tokens_; }
  int num_layers() const { return static_cast<int>(layers_.size()); }

  // Whether truncate(new_length) can be honoured exactly.
  bool can_truncate(std::int64_t new_length) const { return positions_.can_truncate(new_length); }
  // Drops positions >= new_length. Throws kInvalidArgument when new_length > length() or a key
  // a later query would need has already been overwritten in a sliding ring.
  void truncate(std::int64_t new_length) { positions_.truncate(new_length); }

  // --- used by the forward ---
  // Makes room for positions [length, length + n) (n <= max_chunk_tokens, within max_context).
  void reserve_step(int n);
  // Storage of position `pos` in `layer`: [kv_heads, head_dim] keys, [kv_heads, v_head_dim]
  // values. Writing a sliding layer overwrites position pos - capacity.
  float* key(int layer, std::int64_t pos);
  float* value(int layer, std::int64_t pos);
  KvLayerView view(int layer) const;
  // Marks positions [length, length + n) as stored (after every layer wrote them).
  void commit(int n) { positions_.commit(n); }

  // What a step appending `n` tokens will overwrite in the sliding rings, so that an
  // interrupted step can be undone exactly (the forward's cancellation guarantee).
  struct Undo {
    std::int64_t length = 0;
    std::int64_t ring_floor = 0;
    std::int64_t first_pos = 0;  // saved slots are those of positions first_pos .. +count-1
    std::int64_t count = 0;
    std::vector<std::vector<float>> keys, values;  // per layer (empty for full layers)
  };
  Undo save_for_append(std::int64_t n) const;
  void restore(const Undo& undo);

 private:
  struct Layer {
    bool ring = false;
    std::int64_t capacity = 0;  // slots allocated (full layers grow this on demand)
    int kv_heads = 0, head_dim = 0, v_head_dim = 0;
    std::vector<float> keys, values;
  };

  std::int64_t max_context_;
  int max_chunk_tokens_;
  std::int64_t window_ = 0;
  std::int64_t ring_capacity_ = 0;  // 0 when there is no sliding layer
  model::KvPositions positions_;
  std::vector<Layer> layers_;
};

}  // namespace mimo::cpu
