// mimo::Sampler's whole chain (docs/sampling.md) on the GPU for one row of logits already in
// device memory: logit bias and penalties, then either the arg-max with its log-sum-exp (greedy),
// or a CUB radix sort of the candidates by (z descending, id ascending) - the chain's total
// order - with top-k as a prefix of it, top-p as the first prefix whose CUB-scanned mass reaches
// top_p, min-p as a z threshold, and the draw as a CUB scan of the survivors' probabilities in
// id order. Only the token, its log-prob and the top log-probs come back to the host.
//
// Use: stage(request) on the host, then issue(logits, mode, stream) (capturable into a graph:
// it reads the staged values when it runs), synchronise, result(). No CUDA types here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "cuda/kernels/ops.hpp"
#include "cuda/kernels/sampling_mode.hpp"
#include "exec/sample_request.hpp"
#include "mimo/sampler.hpp"

namespace mimo::cuda {

class DeviceSampler {
 public:
  using Mode = SamplingMode;  // cuda/kernels/sampling_mode.hpp
  static Mode mode_of(const exec::SampleRequest& request);
  static constexpr int kMaxEntries = kMaxSamplingEntries;

  explicit DeviceSampler(int vocab);
  ~DeviceSampler();
  DeviceSampler(const DeviceSampler&) = delete;
  DeviceSampler& operator=(const DeviceSampler&) = delete;

  // Whether the request fits the staging buffers (else sample on the host).
  bool fits(const exec::SampleRequest& request) const;
  // Writes the request into pinned staging memory. The previous issue must have completed.
  void stage(const exec::SampleRequest& request);
  // Uploads the staged request, runs the chain on logits[0, vocab) (device, left unchanged) and
  // downloads the result into pinned memory, all on `stream`. `mode` must be mode_of(request).
  void issue(const float* logits, Mode mode, Stream stream);
  // samplers[i] (each staged, all of one vocabulary) on row i of `logits` ([n, vocab], device)
  // in one launch on `stream`, when every row fits the one-launch kernel (small vocabulary,
  // argmax or unranked mode, at most 16 rows); false, with nothing issued, otherwise.
  static bool issue_rows(const std::vector<DeviceSampler*>& samplers, const float* logits,
                         Mode mode, Stream stream);
  // After `stream` has synchronised: the sample, or nullopt when the row has a NaN or +infinity
  // logit after bias and penalties or bans every token (the host sampler reports those).
  std::optional<SampleResult> result() const;
  // After a plain draw (no draft) in a sampling mode: the distribution drawn from, P by token id
  // (device, vocab doubles; 0 for filtered tokens), valid until the next issue. A speculative
  // draft drawn here is verified against it (exec::SampleRequest::proposal).
  const double* probabilities() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mimo::cuda
