// DeviceSampler's host side (device_sampler.hpp): buffers, the mapped staging of a request and
// the result row; the kernels are in cuda/kernels/sampling_kernels.cu.
#include <cuda_runtime.h>

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "cuda/kernels/cuda_check.hpp"
#include "cuda/kernels/sampling_layout.cuh"
#include "cuda/runtime/device_memory.hpp"
#include "cuda/runtime/device_sampler.hpp"
#include "mimo/error.hpp"

namespace mimo::cuda {

using sampling::RowState;
using sampling::SampledRow;
using sampling::SamplingEntry;
using sampling::SamplingParams;
using sampling::Staging;
using sampling::StatsPartial;

namespace {

void* mapped_host(std::size_t bytes, void** device) {
  void* host = nullptr;
  check(cudaHostAlloc(&host, bytes, cudaHostAllocMapped), "cudaHostAlloc of sampler staging");
  const cudaError_t err = cudaHostGetDevicePointer(device, host, 0);
  if (err != cudaSuccess) {
    cudaFreeHost(host);
    check(err, "cudaHostGetDevicePointer of sampler staging");
  }
  return host;
}

}  // namespace

struct DeviceSampler::Impl {
  // Owners of the device memory behind `buffers`, and the mapped host pages of its staging and
  // result (host views below).
  std::vector<DeviceBuffer> owned;
  sampling::Buffers buffers;
  Staging* staging = nullptr;
  SampledRow* row = nullptr;

  template <class T>
  T* allocate(std::size_t count) {
    owned.emplace_back(std::max<std::size_t>(count * sizeof(T), 16));
    return owned.back().as<T>();
  }
  ~Impl() {
    if (staging != nullptr) cudaFreeHost(staging);
    if (row != nullptr) cudaFreeHost(row);
  }
};

DeviceSampler::Mode DeviceSampler::mode_of(const exec::SampleRequest& request) {
  const SamplerConfig& c = request.config;
  if (c.temperature == 0.0f) return c.top_logprobs == 0 ? Mode::kArgmax : Mode::kRanked;
  return c.top_k == 0 && c.top_p >= 1.0f && c.top_logprobs == 0 ? Mode::kUnranked : Mode::kRanked;
}

DeviceSampler::DeviceSampler(int vocab) : impl_(std::make_unique<Impl>()) {
  if (vocab <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "DeviceSampler: vocab must be > 0");
  }
  Impl& m = *impl_;
  sampling::Buffers& b = m.buffers;
  b.vocab = vocab;
  b.chunk = sampling::chunk_for(vocab);
  b.blocks = (vocab + b.chunk - 1) / b.chunk;
  const std::size_t n = vocab;
  b.adj = m.allocate<float>(n);
  b.keys = m.allocate<float>(n);
  b.ids = m.allocate<int>(n);
  b.ranked_z = m.allocate<float>(n);
  b.ranked_ids = m.allocate<int>(n);
  b.weights = m.allocate<double>(n);
  b.probs_by_id = m.allocate<double>(n);
  b.params = m.allocate<SamplingParams>(1);
  b.state = m.allocate<RowState>(1);
  check(cudaMemset(b.state, 0, sizeof(RowState)), "sampler state reset");
  b.stats_partials = m.allocate<StatsPartial>(b.blocks);
  b.sum_partials = m.allocate<double>(b.blocks);
  b.index_partials = m.allocate<int>(b.blocks);
  b.sort_temp_bytes = sampling::sort_temp_bytes(vocab);
  b.sort_temp = m.allocate<unsigned char>(b.sort_temp_bytes);
  void* device = nullptr;
  m.staging = static_cast<Staging*>(mapped_host(sizeof(Staging), &device));
  b.staging = static_cast<const Staging*>(device);
  m.row = static_cast<SampledRow*>(mapped_host(sizeof(SampledRow), &device));
  b.row = static_cast<SampledRow*>(device);
  m.row->status = 1;
}

DeviceSampler::~DeviceSampler() = default;

bool DeviceSampler::fits(const exec::SampleRequest& r) const {
  const SamplerConfig& c = r.config;
  if (c.top_logprobs > sampling::kMaxTopLogprobs) return false;
  // Verify rows: sampling only, and their top log-probs (ordered by P) stay on the host.
  if (r.draft >= impl_->buffers.vocab) return false;
  if (r.draft >= 0 && (c.temperature == 0.0f || c.top_logprobs > 0)) return false;
  if (r.proposal != nullptr && r.draft < 0) return false;
  if (c.logit_bias.size() + r.penalty_counts.size() > std::size_t(kMaxEntries)) return false;
  for (const auto& [token, bias] : c.logit_bias) {
    if (token < 0 || token >= impl_->buffers.vocab) return false;
  }
  for (const auto& [token, count] : r.penalty_counts) {
    if (token < 0 || token >= impl_->buffers.vocab || count <= 0) return false;
  }
  return true;
}

void DeviceSampler::stage(const exec::SampleRequest& r) {
  if (!fits(r)) {
    throw Error(ErrorCode::kInternal, "DeviceSampler::stage: the request does not fit");
  }
  Staging& s = *impl_->staging;
  SamplingParams& p = s.params;
  const SamplerConfig& c = r.config;
  const bool greedy = c.temperature == 0.0f;
  // Greedy ranks at temperature 1 with no filters (its top log-probs); it draws nothing.
  p.u = r.u;
  p.u2 = r.u2;
  p.draft = greedy ? -1 : r.draft;
  p.proposal = greedy ? nullptr : static_cast<const double*>(r.proposal);
  p.temperature = greedy ? 1.0f : c.temperature;
  p.top_k = greedy ? 0 : c.top_k;
  p.top_p = greedy ? 1.0f : c.top_p;
  p.min_p = greedy ? 0.0f : c.min_p;
  p.repetition_penalty = c.repetition_penalty;
  p.presence_penalty = c.presence_penalty;
  p.frequency_penalty = c.frequency_penalty;
  p.top_logprobs = c.top_logprobs;
  p.draw = greedy ? 0 : 1;
  // One entry per touched token; its bias values stay in config order.
  std::unordered_map<std::int32_t, int> slot;
  std::vector<SamplingEntry> entries;
  std::vector<std::vector<float>> biases;
  const auto entry_of = [&](std::int32_t token) {
    auto [it, added] = slot.emplace(token, static_cast<int>(entries.size()));
    if (added) {
      entries.push_back({token, 0, 0, 0});
      biases.emplace_back();
    }
    return it->second;
  };
  for (const auto& [token, bias] : c.logit_bias) biases[entry_of(token)].push_back(bias);
  for (const auto& [token, count] : r.penalty_counts) entries[entry_of(token)].count = count;
  int used = 0;
  for (std::size_t e = 0; e < entries.size(); ++e) {
    entries[e].bias_begin = used;
    for (float b : biases[e]) s.biases[used++] = b;
    entries[e].bias_end = used;
    s.entries[e] = entries[e];
  }
  p.n_entries = static_cast<int>(entries.size());
  impl_->row->status = 1;
}

void DeviceSampler::issue(const float* logits, Mode mode, Stream stream) {
  sampling::launch(impl_->buffers, logits, mode, static_cast<cudaStream_t>(stream));
}

bool DeviceSampler::issue_rows(const std::vector<DeviceSampler*>& samplers, const float* logits,
                               Mode mode, Stream stream) {
  std::vector<const sampling::Buffers*> rows;
  for (const DeviceSampler* s : samplers) rows.push_back(&s->impl_->buffers);
  return sampling::launch_fused_rows(rows.data(), static_cast<int>(rows.size()), logits, mode,
                                     static_cast<cudaStream_t>(stream));
}

const double* DeviceSampler::probabilities() const {
  return impl_->buffers.probs_by_id;
}

std::optional<SampleResult> DeviceSampler::result() const {
  const SampledRow& row = *impl_->row;
  if (row.status != 0) return std::nullopt;
  SampleResult r;
  r.token = row.token;
  r.logprob = row.logprob;
  for (int i = 0; i < row.n_top; ++i)
    r.top_logprobs.emplace_back(row.top_ids[i], row.top_logprobs[i]);
  return r;
}

}  // namespace mimo::cuda
