// Byte-level BPE: a word's bytes start as single-byte tokens and the merge with the lowest rank
// is applied until none applies. Merging uses a heap over a linked list of symbols
// (O(n log n) per word, so a 1 MB "word" is fine); results for short words are cached.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mimo::tokenizer {

using Id = std::int32_t;

class BpeModel {
 public:
  // `byte_ids[b]` is the id of the token for byte b (-1 when the vocabulary lacks it).
  explicit BpeModel(std::array<Id, 256> byte_ids, bool ignore_merges);
  // Merge `left`+`right` -> `merged` with priority `rank` (lower merges first). A repeated pair
  // keeps its first rank, as HF does.
  void add_merge(Id left, Id right, Id merged, std::int32_t rank);
  // For ignore_merges: whole words found in the vocabulary map straight to their id.
  void set_word_lookup(const std::unordered_map<std::string, Id>* raw_vocab) {
    raw_vocab_ = raw_vocab;
  }

  // Appends the ids of one pre-tokenized word (raw bytes). Thread-safe.
  void encode_word(std::string_view word, std::vector<Id>& out) const;

 private:
  struct Merge {
    std::int32_t rank;
    Id merged;
  };
  static std::uint64_t pair_key(Id left, Id right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
           static_cast<std::uint32_t>(right);
  }
  const Merge* find_merge(Id left, Id right) const;
  void merge_word(std::string_view word, std::vector<Id>& out) const;

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using WordCache = std::unordered_map<std::string, std::vector<Id>, StringHash, std::equal_to<>>;
  struct CacheShard {
    std::mutex mutex;
    WordCache words;
  };
  static constexpr std::size_t kCacheShards = 16;
  static constexpr std::size_t kCacheEntriesPerShard = 4096;
  static constexpr std::size_t kMaxCachedWordBytes = 128;

  std::array<Id, 256> byte_ids_;
  bool ignore_merges_;
  const std::unordered_map<std::string, Id>* raw_vocab_ = nullptr;
  std::unordered_map<std::uint64_t, Merge> merges_;
  mutable std::array<CacheShard, kCacheShards> cache_;
};

}  // namespace mimo::tokenizer
