// BPE merging with a priority queue of candidate pairs over a doubly linked list of symbols.
#include "tokenizer/bpe_model.hpp"

#include <algorithm>
#include <queue>

namespace mimo::tokenizer {

BpeModel::BpeModel(std::array<Id, 256> byte_ids, bool ignore_merges)
    : byte_ids_(byte_ids), ignore_merges_(ignore_merges) {}

void BpeModel::add_merge(Id left, Id right, Id merged, std::int32_t rank) {
  merges_.emplace(pair_key(left, right), Merge{rank, merged});
}

const BpeModel::Merge* BpeModel::find_merge(Id left, Id right) const {
  const auto it = merges_.find(pair_key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::encode_word(std::string_view word, std::vector<Id>& out) const {
  if (word.empty()) return;
  if (word.size() == 1) {
    const Id id = byte_ids_[static_cast<unsigned char>(word[0])];
    if (id >= 0) out.push_back(id);
    return;
  }
  if (ignore_merges_ && raw_vocab_) {
    const auto it = raw_vocab_->find(std::string(word));
    if (it != raw_vocab_->end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (word.size() > kMaxCachedWordBytes) {
    merge_word(word, out);
    return;
  }
  CacheShard& shard = cache_[StringHash{}(word) % kCacheShards];
  {
    std::lock_guard<std::mutex> lock(shard.mutex);
    const auto it = shard.words.find(word);
    if (it != shard.words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const std::size_t first = out.size();
  merge_word(word, out);
  std::lock_guard<std::mutex> lock(shard.mutex);
  if (shard.words.size() >= kCacheEntriesPerShard) shard.words.clear();
  shard.words.emplace(std::string(word), std::vector<Id>(out.begin() + first, out.end()));
}

void BpeModel::merge_word(std::string_view word, std::vector<Id>& out) const {
  // Symbols in a linked list; a merged-away symbol gets id -1.
  const int n = static_cast<int>(word.size());
  std::vector<Id> ids;
  ids.reserve(n);
  for (char c : word) {
    const Id id = byte_ids_[static_cast<unsigned char>(c)];
    if (id >= 0) ids.push_back(id);  // bytes missing from the vocabulary are dropped
  }
  const int count = static_cast<int>(ids.size());
  std::vector<int> prev(count), next(count);
  for (int i = 0; i < count; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < count ? i + 1 : -1;
  }
  struct Candidate {
    std::int32_t rank;
    int pos;  // left symbol
    Id left, right, merged;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](int pos) {
    const int right = next[pos];
    if (right < 0) return;
    if (const Merge* merge = find_merge(ids[pos], ids[right])) {
      queue.push(Candidate{merge->rank, pos, ids[pos], ids[right], merge->merged});
    }
  };
  for (int i = 0; i + 1 < count; ++i) consider(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    // Stale when either side has changed since the candidate was queued: a symbol's id only
    // ever grows into a longer token, so equal ids mean the same pair.
    if (ids[top.pos] != top.left) continue;
    const int right = next[top.pos];
    if (right < 0 || ids[right] != top.right) continue;
    ids[top.pos] = top.merged;
    ids[right] = -1;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = top.pos;
    if (prev[top.pos] >= 0) consider(prev[top.pos]);
    consider(top.pos);
  }
  for (int i = count > 0 ? 0 : -1; i >= 0; i = next[i]) out.push_back(ids[i]);
}

}  // namespace mimo::tokenizer
