// Sampled drafts drawn on the executor's device (docs/speculative.md, "On the GPU"): a speculator
// whose rows are already in device memory (the GPU DFlash drafter's lm_head) draws each draft
// there from its distribution q, with the generator values the session hands it, and keeps q on
// the device, where the verify step's rows take it (SampleRequest::proposal). No logits row
// crosses to the host and no host sampler runs over the vocabulary.
#pragma once

#include <cstdint>
#include <vector>

#include "exec/sample_request.hpp"

namespace mimo::exec {

// Implemented by a speculator next to mimo::Speculator. The session uses it instead of
// draft_logits when sampling on the device and the sampler has no penalties (a draft's penalty
// window would hold the drafts before it, which only the device knows).
class DeviceDraftDrawer {
 public:
  virtual ~DeviceDraftDrawer() = default;
  virtual bool draws_on_device() const = 0;
  // One draft per request after `context` (request i: the sampler's chain with the generator's
  // i-th value from now as u, no draft). Returns the tokens, or none when the device declined a
  // request or a row (the session then falls back to draft_logits). After a non-empty return,
  // device_proposal(i) is row i's distribution until the next draw.
  virtual std::vector<std::int32_t> draw_on_device(const std::vector<std::int32_t>& context,
                                                   const std::vector<SampleRequest>& requests) = 0;
  // Row i's q by token id on the device (vocab doubles).
  virtual const void* device_proposal(int row) const = 0;
  // The last draw's first `rows` distributions as host floats, [rows, vocab]: for a verify step
  // the device did not decide.
  virtual std::vector<float> proposals_to_host(int rows) const = 0;
};

}  // namespace mimo::exec
