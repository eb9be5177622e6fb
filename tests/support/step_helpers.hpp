// Helpers shared by the step-level tests on the CPU and the GPU: seeded token ids, bit-exact
// comparison of outputs, step shapes.
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "cpu/random_weights.hpp"
#include "program/step_program.hpp"

namespace mimo::testing {

// n token ids below `vocab`, the same for the same seed.
inline std::vector<std::int32_t> tokens_for(int n, int vocab, std::uint64_t seed) {
  cpu::testing::Rng rng(seed);
  std::vector<std::int32_t> t(n);
  for (auto& id : t) id = static_cast<std::int32_t>(rng() % vocab);
  return t;
}

// Same size and the same bits (empty vectors included: no memcmp of a null pointer).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

inline program::StepShape shape_of(int tokens, bool all_logits, std::vector<int> taps) {
  program::StepShape s;
  s.tokens = tokens;
  s.all_logits = all_logits;
  s.taps = std::move(taps);
  return s;
}

}  // namespace mimo::testing
