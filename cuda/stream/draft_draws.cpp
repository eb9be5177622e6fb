// DraftDraws (see draft_draws.hpp).
#include "cuda/stream/draft_draws.hpp"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "cuda/kernels/cuda_check.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "mimo/error.hpp"

namespace mimo::cuda {
DraftDraws::DraftDraws(int vocab) : vocab_(vocab) {}

DraftDraws::~DraftDraws() {
  for (void* lane : lanes_) {
    cudaStreamSynchronize(static_cast<cudaStream_t>(lane));
    cudaStreamDestroy(static_cast<cudaStream_t>(lane));
  }
}

std::vector<std::int32_t> DraftDraws::draw(const float* logits,
                                           const std::vector<exec::SampleRequest>& requests) {
  drawn_ = 0;
  if (requests.empty()) return {};
  const DeviceSampler::Mode mode = DeviceSampler::mode_of(requests.front());
  while (samplers_.size() < requests.size()) {
    samplers_.push_back(std::make_unique<DeviceSampler>(vocab_));
    cudaStream_t lane = nullptr;
    check(cudaStreamCreateWithFlags(&lane, cudaStreamNonBlocking), "draft draws: cudaStreamCreate");
    lanes_.push_back(lane);
  }
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const exec::SampleRequest& r = requests[i];
    if (r.draft >= 0 || r.config.temperature == 0.0f || DeviceSampler::mode_of(r) != mode ||
        !samplers_[i]->fits(r)) {
      return {};
    }
  }
  std::vector<DeviceSampler*> staged;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    samplers_[i]->stage(requests[i]);
    staged.push_back(samplers_[i].get());
  }
  // Small vocabularies: every row in one launch on the first lane; else a chain a lane.
  const bool one_launch = DeviceSampler::issue_rows(staged, logits, mode, lanes_[0]);
  if (!one_launch) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      samplers_[i]->issue(logits + i * static_cast<std::size_t>(vocab_), mode, lanes_[i]);
    }
  }
  std::vector<std::int32_t> tokens;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (i == 0 || !one_launch) {
      check(cudaStreamSynchronize(static_cast<cudaStream_t>(lanes_[i])), "draft draws: draw");
    }
    const std::optional<SampleResult> r = samplers_[i]->result();
    if (!r) return {};
    tokens.push_back(r->token);
  }
  drawn_ = static_cast<int>(tokens.size());
  ++draws_;
  return tokens;
}

const double* DraftDraws::proposal(int row) const {
  if (row < 0 || row >= drawn_) {
    throw Error(ErrorCode::kInternal,
                fmt::format("draft draws: proposal {} of a draw of {} rows", row, drawn_));
  }
  return samplers_[row]->probabilities();
}

std::vector<float> DraftDraws::proposals_to_host(int rows) const {
  std::vector<float> out(static_cast<std::size_t>(rows) * vocab_);
  std::vector<double> row(vocab_);
  for (int i = 0; i < rows; ++i) {
    copy_to_host(row.data(), proposal(i), row.size() * sizeof(double));
    for (int t = 0; t < vocab_; ++t) out[static_cast<std::size_t>(i) * vocab_ + t] = float(row[t]);
  }
  return out;
}

}  // namespace mimo::cuda
