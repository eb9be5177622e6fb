// mimo::Sampler: config validation, the penalty history, and the chain in the order
// docs/sampling.md documents (logit bias -> penalties -> greedy | temperature -> top-k -> top-p
// -> min-p -> softmax -> draw).
#include "mimo/sampler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <unordered_map>

#include "api/sampler_access.hpp"
#include "api/sampler_chain.hpp"
#include "mimo/error.hpp"

namespace mimo {

namespace {

using sampling::Candidate;

[[noreturn]] void invalid(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message);
}

void validate(const SamplerConfig& c) {
  if (!std::isfinite(c.temperature) || c.temperature < 0.0f) {
    invalid(
        fmt::format("SamplerConfig.temperature must be finite and >= 0, got {}", c.temperature));
  }
  if (c.top_k < 0) invalid(fmt::format("SamplerConfig.top_k must be >= 0, got {}", c.top_k));
  if (!(c.top_p > 0.0f && c.top_p <= 1.0f)) {
    invalid(fmt::format("SamplerConfig.top_p must be in (0, 1], got {}", c.top_p));
  }
  if (!(c.min_p >= 0.0f && c.min_p <= 1.0f)) {
    invalid(fmt::format("SamplerConfig.min_p must be in [0, 1], got {}", c.min_p));
  }
  if (!std::isfinite(c.repetition_penalty) || c.repetition_penalty <= 0.0f) {
    invalid(fmt::format("SamplerConfig.repetition_penalty must be finite and > 0, got {}",
                        c.repetition_penalty));
  }
  if (!std::isfinite(c.presence_penalty)) {
    invalid(
        fmt::format("SamplerConfig.presence_penalty must be finite, got {}", c.presence_penalty));
  }
  if (!std::isfinite(c.frequency_penalty)) {
    invalid(
        fmt::format("SamplerConfig.frequency_penalty must be finite, got {}", c.frequency_penalty));
  }
  if (c.penalty_last_n < -1) {
    invalid(fmt::format("SamplerConfig.penalty_last_n must be -1, 0 or positive, got {}",
                        c.penalty_last_n));
  }
  for (const auto& [token, bias] : c.logit_bias) {
    if (token < 0) invalid(fmt::format("SamplerConfig.logit_bias: token id {} is negative", token));
    if (std::isnan(bias) || bias == std::numeric_limits<float>::infinity()) {
      invalid(fmt::format(
          "SamplerConfig.logit_bias: bias for token {} must be finite or -infinity, got {}", token,
          bias));
    }
  }
  if (c.top_logprobs < 0) {
    invalid(fmt::format("SamplerConfig.top_logprobs must be >= 0, got {}", c.top_logprobs));
  }
}

// The n most likely candidates as (id, z - log_sum), skipping zero-probability ones.
std::vector<std::pair<std::int32_t, float>> top_logprobs_of(const std::vector<Candidate>& cands,
                                                            int n, double log_sum) {
  std::vector<Candidate> best(std::min(cands.size(), static_cast<std::size_t>(n)));
  std::partial_sort_copy(cands.begin(), cands.end(), best.begin(), best.end(),
                         sampling::more_likely);
  std::vector<std::pair<std::int32_t, float>> out;
  out.reserve(best.size());
  for (const Candidate& c : best) {
    if (std::exp(c.z) == 0.0f) break;
    out.emplace_back(c.id, static_cast<float>(c.z - log_sum));
  }
  return out;
}

}  // namespace

struct Sampler::Impl {
  SamplerConfig config;
  sampling::Rng rng;
  // The penalty window (only kept when penalty_last_n > 0) and its token counts.
  std::deque<std::int32_t> window;
  std::unordered_map<std::int32_t, int> counts;
  // Scratch reused across calls to avoid reallocating vocabulary-sized buffers.
  std::vector<float> logits;
  std::vector<Candidate> cands;
  std::vector<float> probs;

  explicit Impl(SamplerConfig c) : config(std::move(c)), rng(config.seed) {}

  bool greedy() const { return config.temperature == 0.0f; }

  // Copies the logits, applies logit bias and penalties, checks the result and returns its max.
  float prepare(const float* in, std::int32_t vocab) {
    if (vocab <= 0) invalid(fmt::format("Sampler: vocab_size must be > 0, got {}", vocab));
    if (in == nullptr) invalid("Sampler: logits pointer is null");
    logits.assign(in, in + vocab);
    for (const auto& [token, bias] : config.logit_bias) {
      if (token >= vocab) {
        invalid(
            fmt::format("SamplerConfig.logit_bias: token id {} is outside the vocabulary "
                        "(size {})",
                        token, vocab));
      }
      logits[token] += bias;
    }
    for (const auto& [token, count] : counts) {
      if (token >= vocab) {
        invalid(fmt::format("Sampler: accepted token id {} is outside the vocabulary (size {})",
                            token, vocab));
      }
      float& l = logits[token];
      const float rep = config.repetition_penalty;
      l = l > 0.0f ? l / rep : l * rep;
      l -= config.presence_penalty + config.frequency_penalty * static_cast<float>(count);
    }
    float max = -std::numeric_limits<float>::infinity();
    for (std::int32_t i = 0; i < vocab; ++i) {
      const float l = logits[i];
      if (std::isnan(l) || l == std::numeric_limits<float>::infinity()) {
        invalid(fmt::format("Sampler: logit of token {} is {} after bias and penalties", i, l));
      }
      max = std::max(max, l);
    }
    if (max == -std::numeric_limits<float>::infinity()) {
      invalid("Sampler: every token has logit -infinity (all banned)");
    }
    return max;
  }

  std::int32_t argmax(float max) const {
    return static_cast<std::int32_t>(std::find(logits.begin(), logits.end(), max) - logits.begin());
  }

  // The sampling chain after prepare(): leaves the survivors in id order in `cands` and their
  // probabilities in `probs`; returns log of the softmax normaliser.
  double distribution(float max) {
    const int k = config.top_k;
    const bool top_k = k > 0 && static_cast<std::size_t>(k) < logits.size();
    if (top_k) {
      sampling::collect_top_k(logits, max, config.temperature, k, cands);
    } else {
      sampling::collect_candidates(logits, max, config.temperature, cands);
    }
    sampling::keep_top_p(cands, config.top_p, probs);
    sampling::keep_min_p(cands, config.min_p);
    if (top_k) {
      std::sort(cands.begin(), cands.end(),
                [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
    }
    return sampling::softmax(cands, probs);
  }

  SampleResult sample_greedy(float max) {
    SampleResult result;
    result.token = argmax(max);
    double total = 0.0;
    for (const float l : logits) total += std::exp(l - max);
    const double log_sum = std::log(total);
    result.logprob = static_cast<float>(-log_sum);  // the argmax has logit - max == 0
    if (config.top_logprobs > 0) {
      sampling::collect_top_k(logits, max, 1.0f, config.top_logprobs, cands);
      result.top_logprobs = top_logprobs_of(cands, config.top_logprobs, log_sum);
    }
    return result;
  }

  SampleResult sample_distribution(float max) {
    const double log_sum = distribution(max);
    const std::int64_t index = sampling::draw_index(
        probs.data(), static_cast<std::int64_t>(probs.size()), rng.next_double());
    SampleResult result;
    result.token = cands[index].id;
    result.logprob = static_cast<float>(cands[index].z - log_sum);
    if (config.top_logprobs > 0) {
      result.top_logprobs = top_logprobs_of(cands, config.top_logprobs, log_sum);
    }
    return result;
  }
};

Sampler::Sampler(SamplerConfig config) {
  validate(config);
  impl_ = std::make_unique<Impl>(std::move(config));
}

Sampler::~Sampler() = default;
Sampler::Sampler(const Sampler& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
Sampler& Sampler::operator=(const Sampler& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
Sampler::Sampler(Sampler&& other) noexcept = default;
Sampler& Sampler::operator=(Sampler&& other) noexcept = default;

Sampler Sampler::fork() const {
  return Sampler(*this);
}

SampleResult Sampler::sample(const float* logits, std::int32_t vocab_size) {
  const float max = impl_->prepare(logits, vocab_size);
  return impl_->greedy() ? impl_->sample_greedy(max) : impl_->sample_distribution(max);
}

void Sampler::accept(std::int32_t token) {
  if (token < 0) invalid(fmt::format("Sampler::accept: token id {} is negative", token));
  const int last_n = impl_->config.penalty_last_n;
  if (last_n == 0) return;
  ++impl_->counts[token];
  if (last_n < 0) return;
  impl_->window.push_back(token);
  if (impl_->window.size() > static_cast<std::size_t>(last_n)) {
    const std::int32_t oldest = impl_->window.front();
    impl_->window.pop_front();
    if (--impl_->counts[oldest] == 0) impl_->counts.erase(oldest);
  }
}

void Sampler::reset() {
  impl_->window.clear();
  impl_->counts.clear();
  impl_->rng = sampling::Rng(impl_->config.seed);
}

const SamplerConfig& Sampler::config() const {
  return impl_->config;
}

void Sampler::probabilities(const float* logits, std::int32_t vocab_size,
                            std::vector<float>& out) const {
  const float max = impl_->prepare(logits, vocab_size);
  out.assign(static_cast<std::size_t>(vocab_size), 0.0f);
  if (impl_->greedy()) {
    out[impl_->argmax(max)] = 1.0f;
    return;
  }
  impl_->distribution(max);
  for (std::size_t i = 0; i < impl_->cands.size(); ++i) {
    out[impl_->cands[i].id] = impl_->probs[i];
  }
}

std::int32_t Sampler::sample_from(const float* probs, std::int32_t size) {
  if (size <= 0) invalid(fmt::format("Sampler::sample_from: size must be > 0, got {}", size));
  if (probs == nullptr) invalid("Sampler::sample_from: probs pointer is null");
  bool any_positive = false;
  for (std::int32_t i = 0; i < size; ++i) {
    if (!std::isfinite(probs[i]) || probs[i] < 0.0f) {
      invalid(
          fmt::format("Sampler::sample_from: probs[{}] = {} is not finite and >= 0", i, probs[i]));
    }
    any_positive = any_positive || probs[i] > 0.0f;
  }
  if (!any_positive) invalid("Sampler::sample_from: every probability is zero");
  return static_cast<std::int32_t>(sampling::draw_index(probs, size, impl_->rng.next_double()));
}

std::int32_t Sampler::sample_from(const std::vector<float>& probs) {
  if (probs.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    invalid("Sampler::sample_from: more than 2^31 - 1 probabilities");
  }
  return sample_from(probs.data(), static_cast<std::int32_t>(probs.size()));
}

std::optional<exec::SampleRequest> SamplerAccess::device_request(const Sampler& sampler,
                                                                 std::int32_t vocab, int ahead) {
  const Sampler::Impl& impl = *sampler.impl_;
  const SamplerConfig& c = impl.config;
  for (const auto& [token, bias] : c.logit_bias) {
    if (token >= vocab) return std::nullopt;
  }
  exec::SampleRequest r;
  r.config = c;
  for (const auto& [token, count] : impl.counts) {
    if (token >= vocab) return std::nullopt;
    r.penalty_counts.emplace_back(token, count);
  }
  if (!impl.greedy()) {
    sampling::Rng peek = impl.rng;
    for (int i = 0; i < ahead; ++i) peek.next_u64();
    r.u = peek.next_double();
    r.u2 = peek.next_double();
  }
  return r;
}

void SamplerAccess::consume_device_draw(Sampler& sampler, int values) {
  if (sampler.impl_->greedy()) return;
  for (int i = 0; i < values; ++i) sampler.impl_->rng.next_u64();
}

}  // namespace mimo
