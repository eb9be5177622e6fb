// What an executor needs to run mimo::Sampler's chain (docs/sampling.md) on its own device for
// the last row of a step's logits: the config's numbers, the penalty window as distinct tokens
// with counts, and the uniform draw the host generator would use next. Built by the Session
// from a Sampler (api/sampler_access.hpp); the executor never sees the Sampler itself.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "mimo/sampler.hpp"

namespace mimo::exec {

struct SampleRequest {
  // The chain's parameters (logit_bias ids < vocab; seed and penalty_last_n unused: the window
  // comes as penalty_counts, the randomness as u / u2).
  SamplerConfig config;
  // Each distinct token of the penalty window once, with its occurrences there; ids < vocab.
  std::vector<std::pair<std::int32_t, int>> penalty_counts;
  // Uniform in [0, 1): the value the Sampler's generator yields next (unused when greedy).
  double u = 0.0;
  // Speculative verification of a draft token (sampling only, docs/speculative.md): accept
  // `draft` when the coin {P(draft), 1 - P(draft)} drawn with u says so, else draw from P with
  // the draft removed using u2, the generator's value after u. -1: a plain draw with u.
  std::int32_t draft = -1;
  double u2 = 0.0;
  // A draft drawn from a distribution q that lives on the executor's device (vocab doubles by
  // token id, exec::DeviceDraftDrawer::device_proposal): the coin is min(1, P(draft) / q(draft))
  // and a rejection draws from max(0, P - q) (docs/speculative.md). Null: a one-hot proposal.
  const void* proposal = nullptr;
};

}  // namespace mimo::exec
