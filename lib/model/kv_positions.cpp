// KvPositions: the rewind rules of ring-buffered sliding-window caches.
#include "model/kv_positions.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "mimo/error.hpp"

namespace mimo::model {

bool KvPositions::can_truncate(std::int64_t new_length) const {
  if (new_length < 0 || new_length > length_) return false;
  if (ring_capacity_ == 0 || new_length == 0) return true;  // empty needs no old keys
  return std::max<std::int64_t>(0, new_length - window_ + 1) >= ring_floor_;
}

void KvPositions::truncate(std::int64_t new_length) {
  if (!can_truncate(new_length)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("KV cache: cannot rewind from {} to {} tokens (sliding-window rings "
                            "keep positions >= {}; rewinds of up to {} tokens are always exact)",
                            length_, new_length, ring_floor_, max_chunk_tokens_));
  }
  length_ = new_length;
  if (length_ == 0) ring_floor_ = 0;
}

void KvPositions::commit(int n) {
  length_ += n;
  if (ring_capacity_ > 0) ring_floor_ = std::max(ring_floor_, length_ - ring_capacity_);
}

}  // namespace mimo::model
