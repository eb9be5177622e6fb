// The steps of mimo::Sampler's chain as plain functions on a candidate list, plus the portable
// random generator the draw uses. Kept apart from the class so each step reads like its
// definition in docs/sampling.md.
#pragma once

#include <cstdint>
#include <vector>

namespace mimo::sampling {

// A token still in the running. z = (logit - max_logit) / temperature, so z <= 0 and the most
// likely token has z == 0; probabilities are proportional to exp(z).
struct Candidate {
  std::int32_t id;
  float z;
};

// The chain's total order: more likely first, ties -> lower id. Filters keep prefixes of it, so
// the kept set is the same on every platform.
inline bool more_likely(const Candidate& a, const Candidate& b) {
  return a.z > b.z || (a.z == b.z && a.id < b.id);
}

// xoshiro256** seeded through splitmix64: a fixed, documented stream on every platform
// (std:: distributions are implementation-defined).
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next_u64();
  // Uniform in [0, 1) from the top 53 bits of one next_u64().
  double next_double();

 private:
  std::uint64_t s_[4];
};

// Every token whose logit is not -infinity, in id order, with z = (logit - max) / temperature.
void collect_candidates(const std::vector<float>& logits, float max, float temperature,
                        std::vector<Candidate>& out);

// The k most likely tokens of the same candidate set (same z), unordered, selected in one pass
// with a size-k heap instead of materialising every candidate.
void collect_top_k(const std::vector<float>& logits, float max, float temperature, int k,
                   std::vector<Candidate>& out);

// Keeps the shortest prefix (in more_likely order) whose probability mass reaches top_p.
// Preserves order; linear time: candidates are bucketed by z and only the bucket where the mass
// crosses top_p is sorted. `scratch` is reused storage. No-op when top_p >= 1.
void keep_top_p(std::vector<Candidate>& cands, float top_p, std::vector<float>& scratch);

// Keeps candidates with exp(z) >= min_p, i.e. p >= min_p * p_max. Preserves order.
void keep_min_p(std::vector<Candidate>& cands, float min_p);

// Final softmax over the candidates: probs[i] = exp(z_i) / sum. Returns log(sum) in double, so
// a candidate's log-prob is z_i - log_sum.
double softmax(const std::vector<Candidate>& cands, std::vector<float>& probs);

// Index i of the draw: the first i whose running sum of probs (in double, in order) exceeds
// u * total. Never returns an entry of zero probability. -1 when all entries are zero.
std::int64_t draw_index(const float* probs, std::int64_t n, double u);

}  // namespace mimo::sampling
