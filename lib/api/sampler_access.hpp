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
  static std::optional<exec::SampleRequest> device_request(const Sampler& sampler,
                                                           std::int32_t vocab);
  // What sample() would have consumed for the token a device drew with device_request's u.
  static void consume_device_draw(Sampler& sampler);
};

}  // namespace mimo
