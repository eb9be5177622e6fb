// Prompt-lookup speculation: no weights, drafts copied from an earlier occurrence of the
// conversation's last n tokens.
#pragma once

#include "mimo/speculator.hpp"

namespace mimo::spec {

class NgramSpeculator final : public Speculator {
 public:
  // n >= 1: longest suffix searched; max_draft >= 1. Throws kInvalidArgument otherwise.
  NgramSpeculator(int n, int max_draft);

  std::string name() const override { return "ngram"; }
  int max_draft() const override { return max_draft_; }
  // The most recent earlier match of the longest suffix (n, n-1, ... 1 tokens) that has a
  // continuation; proposes max_draft tokens: those that followed it, and where they reach the
  // context's end, the loop the match implies (the tokens since the match repeat).
  std::vector<std::int32_t> propose(const std::vector<std::int32_t>& context,
                                    int max_draft) override;

  // propose()'s tokens and the length of the suffix they were found for (0: no match).
  struct Lookup {
    std::vector<std::int32_t> tokens;
    int match = 0;
  };
  Lookup lookup(const std::vector<std::int32_t>& context, int max_draft) const;

 private:
  int n_;
  int max_draft_;
};

}  // namespace mimo::spec
