// The chain's filters, softmax and draw (see sampler_chain.hpp and docs/sampling.md).
#include "api/sampler_chain.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

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

// top-p buckets: fine enough that the crossing bucket holds few tokens for real logit rows.
constexpr int kTopPBuckets = 4096;
// exp(z) of a float z below this is 0 (the smallest denormal is 2^-149).
constexpr double kZeroWeightZ = -104.0;

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

void collect_candidates(const std::vector<float>& logits, float max, float temperature,
                        std::vector<Candidate>& out) {
  out.clear();
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] == -std::numeric_limits<float>::infinity()) continue;
    out.push_back({static_cast<std::int32_t>(i), (logits[i] - max) / temperature});
  }
}

void collect_top_k(const std::vector<float>& logits, float max, float temperature, int k,
                   std::vector<Candidate>& out) {
  out.clear();
  const std::size_t limit = static_cast<std::size_t>(k);
  // With more_likely as the heap's "less", front() is the least likely kept candidate.
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] == -std::numeric_limits<float>::infinity()) continue;
    const Candidate c{static_cast<std::int32_t>(i), (logits[i] - max) / temperature};
    if (out.size() < limit) {
      out.push_back(c);
      std::push_heap(out.begin(), out.end(), more_likely);
    } else if (more_likely(c, out.front())) {
      std::pop_heap(out.begin(), out.end(), more_likely);
      out.back() = c;
      std::push_heap(out.begin(), out.end(), more_likely);
    }
  }
}

void keep_top_p(std::vector<Candidate>& cands, float top_p, std::vector<float>& scratch) {
  if (top_p >= 1.0f || cands.size() <= 1) return;
  std::vector<float>& weight = scratch;
  weight.resize(cands.size());
  double total = 0.0;
  float lowest = 0.0f;
  for (std::size_t i = 0; i < cands.size(); ++i) {
    weight[i] = std::exp(cands[i].z);
    total += weight[i];
    lowest = std::min(lowest, cands[i].z);
  }
  const double target = static_cast<double>(top_p) * total;
  // Equal-width buckets over z in [span, 0]: a lower bucket index never holds a less likely
  // token than a higher one. z below kZeroWeightZ has exp(z) == 0 in float: all go last.
  const double span = std::max(static_cast<double>(lowest), kZeroWeightZ);
  const double scale = span < 0.0 ? (kTopPBuckets - 1) / -span : 0.0;
  auto bucket_of = [&](float z) {
    const double b = -static_cast<double>(z) * scale;
    return b < kTopPBuckets - 1 ? static_cast<int>(b) : kTopPBuckets - 1;
  };
  std::vector<double> mass(kTopPBuckets, 0.0);
  for (std::size_t i = 0; i < cands.size(); ++i) mass[bucket_of(cands[i].z)] += weight[i];
  double below = 0.0;  // mass of the buckets before the crossing one
  int crossing = 0;
  while (crossing < kTopPBuckets - 1 && below + mass[crossing] < target) {
    below += mass[crossing++];
  }
  // Sort only the crossing bucket and find its last kept candidate.
  std::vector<std::pair<Candidate, float>> edge;
  for (std::size_t i = 0; i < cands.size(); ++i) {
    if (bucket_of(cands[i].z) == crossing) edge.emplace_back(cands[i], weight[i]);
  }
  if (edge.empty()) return;  // rounding never reached target: keep everything
  std::sort(edge.begin(), edge.end(),
            [](const auto& a, const auto& b) { return more_likely(a.first, b.first); });
  Candidate last = edge.back().first;
  for (const auto& [c, w] : edge) {
    below += w;
    if (below >= target) {
      last = c;
      break;
    }
  }
  cands.erase(std::remove_if(cands.begin(), cands.end(),
                             [&](const Candidate& c) {
                               const int b = bucket_of(c.z);
                               return b > crossing || (b == crossing && more_likely(last, c));
                             }),
              cands.end());
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
