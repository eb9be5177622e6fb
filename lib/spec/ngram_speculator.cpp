// Prompt-lookup speculation (see ngram_speculator.hpp).
#include "spec/ngram_speculator.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "mimo/error.hpp"

namespace mimo::spec {

NgramSpeculator::NgramSpeculator(int n, int max_draft) : n_(n), max_draft_(max_draft) {
  if (n < 1 || max_draft < 1) {
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("n-gram speculator: n ({}) and max_draft ({}) must be >= 1", n, max_draft));
  }
}

std::vector<std::int32_t> NgramSpeculator::propose(const std::vector<std::int32_t>& context,
                                                   int max_draft) {
  return lookup(context, max_draft).tokens;
}

NgramSpeculator::Lookup NgramSpeculator::lookup(const std::vector<std::int32_t>& context,
                                                int max_draft) const {
  const std::int64_t size = static_cast<std::int64_t>(context.size());
  const int limit = std::min(max_draft, max_draft_);
  if (limit <= 0) return {};
  for (std::int64_t len = std::min<std::int64_t>(n_, size - 1); len >= 1; --len) {
    const auto suffix = context.end() - len;
    // Latest start first: recent text predicts the continuation best. A match must end before
    // the suffix itself so that at least one token follows it.
    for (std::int64_t start = size - len - 1; start >= 0; --start) {
      if (!std::equal(suffix, context.end(), context.begin() + start)) continue;
      // What followed the match, continued past the context's end as the loop the match
      // implies: the last `period` tokens repeating.
      const std::int64_t from = start + len, period = size - from;
      std::vector<std::int32_t> tokens;
      for (std::int64_t i = 0; i < limit; ++i) {
        tokens.push_back(i < period ? context[from + i] : tokens[i - period]);
      }
      return {std::move(tokens), static_cast<int>(len)};
    }
  }
  return {};
}

}  // namespace mimo::spec
