// mimo::Sampler: turns one row of logits into the next token through a fixed chain of filters
// (logit bias -> penalties -> greedy | temperature -> top-k -> top-p -> min-p -> softmax -> draw),
// deterministic for a seed. docs/sampling.md defines every parameter exactly.
//
// Thread safety: a Sampler is used by one thread at a time (every method, const ones included,
// except config()). Distinct Samplers share nothing and may run on different threads.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "mimo/export.hpp"

namespace mimo {

struct SamplerAccess;  // libmimo-internal: lends the chain's state to device sampling

struct SamplerConfig {
  // Divides the logits; 0 selects greedy decoding (argmax, ties -> lowest token id).
  float temperature = 0.0f;
  // Keep the top_k most likely tokens; 0 = off.
  int top_k = 0;
  // Keep the smallest most-likely set whose probability reaches top_p; in (0, 1], 1 = off.
  float top_p = 1.0f;
  // Keep tokens with p >= min_p * p_max; in [0, 1], 0 = off.
  float min_p = 0.0f;
  // CTRL / HF style, for tokens in the penalty window: positive logits are divided by it,
  // negative ones multiplied. Must be > 0; 1 = off.
  float repetition_penalty = 1.0f;
  // OpenAI style: logit -= presence_penalty * [count > 0] + frequency_penalty * count, where
  // count is the token's occurrences in the penalty window.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // How many of the most recently accepted tokens the penalties look at; -1 = the whole history,
  // 0 = penalties off.
  int penalty_last_n = 64;
  // (token id, additive bias); -infinity bans the token. Applied before everything else.
  std::vector<std::pair<std::int32_t, float>> logit_bias;
  // Seeds the sampler's own random generator (identical streams on every platform).
  std::uint64_t seed = 0;
  // How many most-likely tokens (with log-probs) SampleResult::top_logprobs carries; 0 = none.
  int top_logprobs = 0;
};

struct SampleResult {
  std::int32_t token = -1;
  // Natural log-probability of `token` under the final distribution the token was drawn from.
  // Greedy has no distribution to draw from: there it is log softmax of the biased and
  // penalised logits at temperature 1.
  float logprob = 0.0f;
  // Up to SamplerConfig::top_logprobs (token, logprob) pairs under the same distribution as
  // `logprob`, most likely first (ties -> lower id); tokens of probability zero are omitted.
  std::vector<std::pair<std::int32_t, float>> top_logprobs;
};

class MIMO_API Sampler {
 public:
  // Validates the config; throws mimo::Error(kInvalidArgument) naming the bad field.
  explicit Sampler(SamplerConfig config);
  ~Sampler();
  // Copies carry the penalty history and the random generator's state, so a copy continues
  // exactly as the original would have.
  Sampler(const Sampler& other);
  Sampler& operator=(const Sampler& other);
  Sampler(Sampler&& other) noexcept;
  Sampler& operator=(Sampler&& other) noexcept;

  // An independent copy (same as the copy constructor), for forking a session.
  Sampler fork() const;

  // Runs the chain on logits[0, vocab_size) and draws a token. Greedy uses no randomness;
  // otherwise exactly one 64-bit value of the generator is consumed. Does not call accept().
  // Throws kInvalidArgument for vocab_size <= 0, a NaN or +infinity logit, a logit_bias or
  // history token outside the vocabulary, or when every token is banned.
  SampleResult sample(const float* logits, std::int32_t vocab_size);

  // Records a generated (or prompt) token in the penalty history.
  void accept(std::int32_t token);

  // Forgets the history and restarts the generator from config().seed.
  void reset();

  const SamplerConfig& config() const;

  // The final distribution sample() draws from, as out[vocab_size] (resized): zero for
  // filtered tokens, one-hot at the argmax for greedy. Does not consume randomness, so
  //   sample(logits) == sample_from(probabilities(logits))  for the same generator state.
  void probabilities(const float* logits, std::int32_t vocab_size, std::vector<float>& out) const;

  // Draws a token proportionally to probs (need not sum to 1; entries >= 0, finite, not all
  // zero) with this sampler's generator: one 64-bit value consumed, whatever the temperature.
  std::int32_t sample_from(const float* probs, std::int32_t size);
  std::int32_t sample_from(const std::vector<float>& probs);

 private:
  friend struct SamplerAccess;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mimo
