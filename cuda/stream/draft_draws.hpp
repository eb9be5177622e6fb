// Sampled drafts drawn on the device (exec::DeviceDraftDrawer for the GPU DFlash speculator):
// one DeviceSampler a draft row over logits rows already in device memory: small vocabularies in
// one launch (a block a row), larger ones a sampling chain a row, each on its own stream so the
// chains run side by side. Each sampler's P by id stays on the device as
// the draft's proposal q for the verify step. No CUDA types here.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "cuda/runtime/device_sampler.hpp"
#include "exec/sample_request.hpp"

namespace mimo::cuda {

class DraftDraws {
 public:
  explicit DraftDraws(int vocab);
  ~DraftDraws();
  DraftDraws(const DraftDraws&) = delete;
  DraftDraws& operator=(const DraftDraws&) = delete;

  // Draws row i of `logits` ([requests.size(), vocab], device) with requests[i] (plain draws,
  // all of one sampling mode); returns the tokens, or none when a request does not fit the
  // device samplers or a row is one the host must sample. Waits for the draws.
  std::vector<std::int32_t> draw(const float* logits,
                                 const std::vector<exec::SampleRequest>& requests);
  // Row i's distribution of the last draw (device, vocab doubles by token id).
  const double* proposal(int row) const;
  // The first `rows` distributions of the last draw as host floats, [rows, vocab].
  std::vector<float> proposals_to_host(int rows) const;
  // Draws that returned tokens so far (tests: the device path ran).
  std::int64_t draws() const { return draws_; }

 private:
  int vocab_;
  int drawn_ = 0;
  std::int64_t draws_ = 0;
  std::vector<std::unique_ptr<DeviceSampler>> samplers_;
  std::vector<void*> lanes_;  // cudaStream_t, one a sampler
};

}  // namespace mimo::cuda
