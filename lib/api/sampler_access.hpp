// The Session's hook into a Sampler for sampling on the executor's device: the chain's inputs
// as an exec::SampleRequest (with the generator's next uniform, peeked, not consumed), and the
// generator advance that accepting a device-drawn token owes, so the Sampler ends in exactly
// the state sample() would have left.
#pragma once

#include <cstdint>
#include <optional>

#include "exec/sample_request.hpp"
#include "mimo/sampler.hpp"

namespace mimo {

struct SamplerAccess {
  // The request for the sampler's next sample() over `vocab` tokens, or nullopt where the host
  // must sample (a bias or history token outside the vocabulary: the host throws the error).
  // `ahead` generator values are skipped first (a verify row after `ahead` accepted drafts);
  // u2 is the value after u.
  static std::optional<exec::SampleRequest> device_request(const Sampler& sampler,
                                                           std::int32_t vocab, int ahead = 0);
  // Advances the generator as sample() would have for a device-drawn token (one value, none
  // when greedy), or by `values` for a speculative verify row (1 accepted / bonus, 2 rejected).
  static void consume_device_draw(Sampler& sampler, int values = 1);
};

}  // namespace mimo
