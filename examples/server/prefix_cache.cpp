// The LRU of finished sessions and the longest-prefix choice (prefix_cache.hpp).
#include "server/prefix_cache.hpp"

#include <algorithm>

namespace mimo::server {

std::int64_t common_prefix(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
  const std::size_t n = std::min(a.size(), b.size());
  return std::mismatch(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n), b.begin()).first -
         a.begin();
}

PrefixCache::PrefixCache(int capacity, std::int64_t min_tokens)
    : capacity_(std::max(0, capacity)), min_tokens_(std::max<std::int64_t>(1, min_tokens)) {}

PrefixCache::Hit PrefixCache::find(const std::vector<std::int32_t>& prompt, bool take_over) {
  Hit hit;
  const auto limit = static_cast<std::int64_t>(prompt.size()) - 1;
  std::lock_guard lock(mutex_);
  auto best = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const std::int64_t shared = std::min(limit, common_prefix((*it)->tokens(), prompt));
    if (shared >= min_tokens_ && shared > hit.reused) {
      hit.reused = shared;
      best = it;
    }
  }
  if (best == entries_.end()) return {};
  if (take_over) {
    hit.session = std::move(*best);
    entries_.erase(best);
  } else {
    hit.session = (*best)->fork();
    entries_.splice(entries_.begin(), entries_, best);
  }
  hit.session->rewind(hit.session->position() - hit.reused);
  return hit;
}

std::unique_ptr<Session> PrefixCache::put(std::unique_ptr<Session> session) {
  if (capacity_ == 0) return session;
  std::lock_guard lock(mutex_);
  entries_.push_front(std::move(session));
  if (static_cast<int>(entries_.size()) <= capacity_) return nullptr;
  std::unique_ptr<Session> evicted = std::move(entries_.back());
  entries_.pop_back();
  return evicted;
}

int PrefixCache::size() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(entries_.size());
}

}  // namespace mimo::server
