// The prefix cache: the finished sessions of the last few requests, so that a request whose
// prompt starts with one of their contexts (a conversation's next turn, a shared system prompt)
// prefills only the rest. A small LRU; each entry is a whole Session, its KV cache included.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

#include "mimo/session.hpp"

namespace mimo::server {

// Tokens a and b share from their start.
std::int64_t common_prefix(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b);

class PrefixCache {
 public:
  // capacity 0: nothing is kept. min_tokens: the shortest shared prefix worth reusing.
  explicit PrefixCache(int capacity, std::int64_t min_tokens = 16);

  struct Hit {
    std::unique_ptr<Session> session;  // null: no entry shares min_tokens with the prompt
    std::int64_t reused = 0;           // prompt tokens already in its context
  };
  // The entry with the longest common prefix with `prompt` (at least min_tokens; the most
  // recently used one among equals), rewound to that prefix, at most prompt.size() - 1 tokens so
  // that one is left to prefill. take_over: the entry leaves the cache (no copy; nobody else can
  // reach it); otherwise it stays and the hit is a fork() of it.
  Hit find(const std::vector<std::int32_t>& prompt, bool take_over);

  // Keeps `session` as the most recently used entry. Returns the least recently used one when
  // that makes more than capacity (with capacity 0: `session` itself), else null.
  std::unique_ptr<Session> put(std::unique_ptr<Session> session);

  int capacity() const { return capacity_; }
  int size() const;

 private:
  const int capacity_;
  const std::int64_t min_tokens_;
  mutable std::mutex mutex_;
  std::list<std::unique_ptr<Session>> entries_;  // most recently used first
};

}  // namespace mimo::server
