// The chain's filters, softmax and draw (see sampler_chain.hpp and docs/sampling.md).
#include "api/sampler_chain.hpp"

#include <algorithm>
#include <cmath>

namespace mimo::sampling {

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

// Enough to cover top_p in typical use without sorting the whole vocabulary; grows x2.
constexpr std::size_t kFirstTopPChunk = 256;

}  // namespace

Rng::Rng(std::uint64_t seed) {
  std::uint64_t state = seed;
  for (auto& word : s_) word = splitmix64(state);
}

std::uint64_t Rng::next_u64() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::next_double() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

bool keep_top_k(std::vector<Candidate>& cands, int k) {
  if (k <= 0 || static_cast<std::size_t>(k) >= cands.size()) return false;
  std::nth_element(cands.begin(), cands.begin() + k, cands.end(), more_likely);
  cands.resize(static_cast<std::size_t>(k));
  return true;
}

bool keep_top_p(std::vector<Candidate>& cands, float top_p) {
  if (top_p >= 1.0f || cands.size() <= 1) return false;
  double total = 0.0;
  for (const Candidate& c : cands) total += std::exp(c.z);
  const double target = static_cast<double>(top_p) * total;
  // Sort progressively larger prefixes: each round sorts the next most likely chunk of what
  // is left, which all rank below the already sorted prefix.
  double mass = 0.0;
  std::size_t sorted = 0;
  while (sorted < cands.size()) {
    const std::size_t end = std::min(cands.size(), std::max(2 * sorted, kFirstTopPChunk));
    std::partial_sort(cands.begin() + sorted, cands.begin() + end, cands.end(), more_likely);
    for (; sorted < end; ++sorted) {
      mass += std::exp(cands[sorted].z);
      if (mass >= target) {
        cands.resize(sorted + 1);
        return true;
      }
    }
  }
  return true;
}

void keep_min_p(std::vector<Candidate>& cands, float min_p) {
  if (min_p <= 0.0f) return;
  const double threshold = std::log(static_cast<double>(min_p));
  cands.erase(std::remove_if(cands.begin(), cands.end(),
                             [&](const Candidate& c) { return c.z < threshold; }),
              cands.end());
}

double softmax(const std::vector<Candidate>& cands, std::vector<float>& probs) {
  probs.resize(cands.size());
  double total = 0.0;
  for (std::size_t i = 0; i < cands.size(); ++i) {
    probs[i] = std::exp(cands[i].z);
    total += probs[i];
  }
  for (float& p : probs) p = static_cast<float>(p / total);
  return std::log(total);
}

std::int64_t draw_index(const float* probs, std::int64_t n, double u) {
  double total = 0.0;
  for (std::int64_t i = 0; i < n; ++i) total += probs[i];
  if (!(total > 0.0)) return -1;
  const double target = u * total;
  double running = 0.0;
  std::int64_t last_nonzero = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    if (probs[i] <= 0.0f) continue;
    running += probs[i];
    last_nonzero = i;
    if (target < running) return i;
  }
  // Rounding left target at or above the final running sum: the last possible token.
  return last_nonzero;
}

}  // namespace mimo::sampling
