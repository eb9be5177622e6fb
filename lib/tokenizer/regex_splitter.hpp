// The Split pre-tokenizer: cuts text into pieces with a tokenizer.json regex compiled by PCRE2
// (UTF + UCP so \s \p{L} \w are Unicode-aware, JIT where available).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mimo::tokenizer {

enum class SplitBehavior { kIsolated, kRemoved };

class RegexSplitter {
 public:
  // Throws Error(kInvalidFile) naming `origin` when PCRE2 rejects the pattern.
  RegexSplitter(const std::string& pattern, SplitBehavior behavior, const std::string& origin);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Appends the pieces of valid UTF-8 `text` (views into it) to `pieces`. Thread-safe. Throws
  // Error(kInvalidFile) naming `origin` when the pattern exceeds PCRE2's match limits (a
  // catastrophically backtracking pattern) on this text.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  SplitBehavior behavior_;
  std::string origin_;  // file and JSON path of the pattern, for messages
};

}  // namespace mimo::tokenizer
