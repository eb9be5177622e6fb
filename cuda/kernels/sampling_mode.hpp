// What the sampling kernels need to know of a request's shape, below the DeviceSampler that
// stages requests: the three kernel paths and how many touched tokens one request may carry.
#pragma once

namespace mimo::cuda {

// Greedy without top log-probs needs no ranking: one arg-max pass and one exp pass. Sampling
// with no top-k, no top-p and no top log-probs needs none either: min-p is a threshold and the
// draw walks the ids in order (kUnranked skips the sort). The rest is kRanked.
enum class SamplingMode { kArgmax, kRanked, kUnranked };

// Touched tokens (bias or penalty window) and bias entries one request may carry.
inline constexpr int kMaxSamplingEntries = 8192;

}  // namespace mimo::cuda
