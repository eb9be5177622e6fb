// Position bookkeeping of a KV cache with sliding-window rings, shared by cpu::KvCache and the
// GPU state: how many positions are stored, the lowest position every ring still holds, and
// which rewinds are exact (the ring-size argument is in kv_cache.hpp).
#pragma once

#include <cstdint>

namespace mimo::model {

class KvPositions {
 public:
  KvPositions() = default;
  // window: the sliding window; ring_capacity: slots of each ring (0: no sliding layer);
  // max_chunk_tokens: most positions one chunk appends (named in the rewind error).
  KvPositions(std::int64_t window, std::int64_t ring_capacity, int max_chunk_tokens)
      : window_(window), ring_capacity_(ring_capacity), max_chunk_tokens_(max_chunk_tokens) {}

  std::int64_t length() const { return length_; }  // positions stored = the next position
  std::int64_t ring_floor() const { return ring_floor_; }

  // Whether truncate(new_length) can be honoured exactly: every key a query at new_length
  // would need is still in the rings.
  bool can_truncate(std::int64_t new_length) const;
  // Drops positions >= new_length; throws kInvalidArgument when can_truncate says no.
  void truncate(std::int64_t new_length);
  // Marks n more positions stored (rings drop what they overwrote).
  void commit(int n);
  // Back to a state saved before an interrupted step.
  void restore(std::int64_t length, std::int64_t ring_floor) {
    length_ = length;
    ring_floor_ = ring_floor;
  }

 private:
  std::int64_t window_ = 0;
  std::int64_t ring_capacity_ = 0;
  int max_chunk_tokens_ = 1;
  std::int64_t length_ = 0;
  std::int64_t ring_floor_ = 0;  // lowest position whose keys are still in every ring
};

}  // namespace mimo::model
