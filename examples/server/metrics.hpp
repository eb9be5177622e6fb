// Server counters for GET /metrics in the Prometheus text format (version 0.0.4): requests by
// endpoint and status, tokens in and out, prefix cache reuse, decode throughput, time to first
// token (histogram), speculative decoding, and the scheduler's queue.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "server/generation.hpp"

namespace mimo::server {

class Metrics {
 public:
  void count_request(const std::string& endpoint, int status);
  void record_generation(const GenerationOutcome& outcome);
  // The exposition text; waiting / running come from the scheduler at scrape time.
  std::string render(int waiting, int running) const;

  static constexpr std::array<double, 10> kTtftBuckets = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                          0.25,  0.5,  1,     2.5,  10};

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::int64_t> requests_;
  std::int64_t prompt_tokens_ = 0;
  std::int64_t prefix_hits_ = 0;
  std::int64_t prefix_reused_tokens_ = 0;
  std::int64_t generated_tokens_ = 0;
  std::int64_t generations_ = 0;
  std::int64_t cancelled_ = 0;
  double decode_seconds_ = 0;
  std::array<std::int64_t, kTtftBuckets.size()> ttft_buckets_{};
  std::int64_t ttft_count_ = 0;
  double ttft_sum_ = 0;
  std::int64_t spec_steps_ = 0;
  std::int64_t spec_drafted_ = 0;
  std::int64_t spec_accepted_ = 0;
};

}  // namespace mimo::server
