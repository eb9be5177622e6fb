// Prometheus exposition of the server's counters (metrics.hpp).
#include "server/metrics.hpp"

#include <fmt/format.h>

namespace mimo::server {

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
}

void Metrics::record_generation(const GenerationOutcome& outcome) {
  std::lock_guard lock(mutex_);
  ++generations_;
  if (outcome.finish_reason == "cancelled") ++cancelled_;
  prompt_tokens_ += outcome.prompt_tokens;
  if (outcome.cached_tokens > 0) ++prefix_hits_;
  prefix_reused_tokens_ += outcome.cached_tokens;
  generated_tokens_ += outcome.completion_tokens;
  if (outcome.completion_tokens > 1) decode_seconds_ += outcome.decode_seconds;
  if (outcome.completion_tokens > 0) {
    ++ttft_count_;
    ttft_sum_ += outcome.time_to_first_token_seconds;
    for (std::size_t i = 0; i < kTtftBuckets.size(); ++i) {
      if (outcome.time_to_first_token_seconds <= kTtftBuckets[i]) ++ttft_buckets_[i];
    }
  }
  spec_steps_ += outcome.speculation.steps;
  spec_drafted_ += outcome.speculation.drafted_tokens;
  spec_accepted_ += outcome.speculation.accepted_tokens;
}

std::string Metrics::render(int waiting, int running) const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("mimo_requests_total", "counter", "HTTP requests by endpoint and status code.");
  for (const auto& [key, count] : requests_) {
    out += fmt::format("mimo_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first,
                       key.second, count);
  }
  metric("mimo_generations_total", "counter", "Generations run (cancelled ones included).");
  out += fmt::format("mimo_generations_total {}\n", generations_);
  metric("mimo_generations_cancelled_total", "counter",
         "Generations stopped because the client disconnected or the server shut down.");
  out += fmt::format("mimo_generations_cancelled_total {}\n", cancelled_);
  metric("mimo_prompt_tokens_total", "counter", "Prompt tokens processed.");
  out += fmt::format("mimo_prompt_tokens_total {}\n", prompt_tokens_);
  metric("mimo_prefix_cache_hits_total", "counter",
         "Generations that started from a cached session's context (prefix reuse).");
  out += fmt::format("mimo_prefix_cache_hits_total {}\n", prefix_hits_);
  metric("mimo_prefix_reused_tokens_total", "counter",
         "Prompt tokens taken from the prefix cache instead of prefilled.");
  out += fmt::format("mimo_prefix_reused_tokens_total {}\n", prefix_reused_tokens_);
  metric("mimo_generation_tokens_total", "counter", "Tokens generated.");
  out += fmt::format("mimo_generation_tokens_total {}\n", generated_tokens_);
  metric("mimo_decode_seconds_total", "counter",
         "Wall time from first to last token, summed over generations.");
  out += fmt::format("mimo_decode_seconds_total {:.6f}\n", decode_seconds_);
  metric("mimo_decode_tokens_per_second", "gauge",
         "Mean tokens/s of one generation after its first token (interleaving included).");
  out += fmt::format("mimo_decode_tokens_per_second {:.3f}\n",
                     decode_seconds_ > 0
                         ? static_cast<double>(generated_tokens_ - ttft_count_) / decode_seconds_
                         : 0.0);
  metric("mimo_time_to_first_token_seconds", "histogram",
         "Request admission to first generated token (queueing for a turn and prefill).");
  for (std::size_t i = 0; i < kTtftBuckets.size(); ++i) {
    out += fmt::format("mimo_time_to_first_token_seconds_bucket{{le=\"{}\"}} {}\n", kTtftBuckets[i],
                       ttft_buckets_[i]);
  }
  out += fmt::format("mimo_time_to_first_token_seconds_bucket{{le=\"+Inf\"}} {}\n", ttft_count_);
  out += fmt::format("mimo_time_to_first_token_seconds_sum {:.6f}\n", ttft_sum_);
  out += fmt::format("mimo_time_to_first_token_seconds_count {}\n", ttft_count_);
  metric("mimo_speculative_steps_total", "counter", "Speculative verify steps of the target.");
  out += fmt::format("mimo_speculative_steps_total {}\n", spec_steps_);
  metric("mimo_speculative_draft_tokens_total", "counter", "Tokens the drafter proposed.");
  out += fmt::format("mimo_speculative_draft_tokens_total {}\n", spec_drafted_);
  metric("mimo_speculative_accepted_tokens_total", "counter", "Drafted tokens the target kept.");
  out += fmt::format("mimo_speculative_accepted_tokens_total {}\n", spec_accepted_);
  metric("mimo_speculative_acceptance_rate", "gauge", "Accepted / drafted tokens so far.");
  out += fmt::format("mimo_speculative_acceptance_rate {:.6f}\n",
                     spec_drafted_ > 0 ? static_cast<double>(spec_accepted_) / spec_drafted_ : 0.0);
  metric("mimo_requests_waiting", "gauge", "Requests admitted and waiting for a slot.");
  out += fmt::format("mimo_requests_waiting {}\n", waiting);
  metric("mimo_requests_running", "gauge", "Requests generating.");
  out += fmt::format("mimo_requests_running {}\n", running);
  return out;
}

}  // namespace mimo::server
