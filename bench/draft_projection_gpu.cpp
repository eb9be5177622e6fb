// mimo-bench --draft-projection on the device (draft_projection_gpu.hpp).
#include "draft_projection_gpu.hpp"

#include <algorithm>
#include <chrono>
#include <random>
#include <span>
#include <vector>

#include "api/sampler_access.hpp"
#include "cuda/stream/gpu_drafter.hpp"
#include "cuda/stream/gpu_executor.hpp"
#include "draft_projection.hpp"
#include "mimo/error.hpp"
#include "mimo/sampler.hpp"

namespace mimo::bench {
namespace {

// Median wall-clock milliseconds of `steps` calls of `call` after two warm-up calls (graph
// capture, buffer growth). Every call returns after its device work finished.
template <class Call>
double median_ms(int steps, Call&& call) {
  std::vector<double> ms;
  for (int i = 0; i < steps + 2; ++i) {
    const auto start = std::chrono::steady_clock::now();
    call();
    const double elapsed =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (i >= 2) ms.push_back(elapsed);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Device requests of `rows` greedy rows (no penalties: every row is its argmax).
std::vector<exec::SampleRequest> greedy_requests(int rows, int vocab) {
  const Sampler greedy{SamplerConfig{}};
  std::vector<exec::SampleRequest> requests;
  for (int r = 0; r < rows; ++r) {
    std::optional<exec::SampleRequest> request = SamplerAccess::device_request(greedy, vocab);
    if (!request) throw Error(ErrorCode::kInternal, "draft projection: no greedy device request");
    requests.push_back(*request);
  }
  return requests;
}

void require(bool condition, const char* what) {
  if (!condition) throw Error(ErrorCode::kInternal, std::string("draft projection: ") + what);
}

}  // namespace

std::string run_draft_projection(const cuda::GpuExecutor& gpu, exec::ExecutorState& state,
                                 const model::ModelConfig& config, int steps) {
  const model::DrafterConfig drafter_config = mimo_pro_drafter_config(config);
  const int block = drafter_config.block_size;
  const std::int64_t context = state.length();
  std::unique_ptr<SyntheticDrafter> host =
      synthetic_drafter(drafter_config, config.hidden_size, 4321);
  cuda::GpuDrafter drafter(drafter_config, host->weights, config, gpu.device_model(), block);
  host.reset();  // uploaded

  // Random target features for the context and one block beyond it.
  std::mt19937 rng(11);
  std::normal_distribution<float> feature(0.0f, 1.0f);
  const std::size_t row_floats = drafter_config.target_layer_ids.size() * config.hidden_size;
  std::vector<float> features(std::size_t(context + block) * row_floats);
  for (float& f : features) f = feature(rng);
  drafter.add_context(0, features.data(), context);

  ProjectionTimes times;
  // What observe() costs per step at most: a block's rows projected into every layer's cache.
  times.context_ms = median_ms(steps, [&] {
    drafter.add_context(context, features.data() + std::size_t(context) * row_floats, block);
    drafter.truncate(context);
  });
  std::uniform_int_distribution<int> token(0, config.vocab_size - 1);
  times.draft_ms = median_ms(steps, [&] {
    require(drafter.propose(token(rng), context, block - 1).size() == std::size_t(block - 1),
            "the drafter proposed fewer drafts than a block holds");
  });

  exec::StepOptions verify;
  verify.all_logits = true;
  verify.hidden_taps = drafter_config.target_layer_ids;
  const std::vector<exec::SampleRequest> rows = greedy_requests(block, config.vocab_size);
  verify.sample_rows = &rows;
  std::vector<std::int32_t> ids(block);
  times.verify_ms = median_ms(steps, [&] {
    for (std::int32_t& id : ids) id = token(rng);
    const exec::StepOutput out = gpu.run(state, ids, verify);
    state.truncate(state.length() - block);
    require(out.sampled_rows.size() == std::size_t(block), "the device declined the verify rows");
    require(out.hidden.size() == std::size_t(block) * row_floats, "taps missing");
  });

  exec::StepOptions decode;
  const std::vector<exec::SampleRequest> one = greedy_requests(1, config.vocab_size);
  decode.sample = &one.front();
  const std::int32_t anchor = 1;
  times.decode_ms = median_ms(steps, [&] {
    const exec::StepOutput out = gpu.run(state, std::span(&anchor, 1), decode);
    state.truncate(state.length() - 1);
    require(out.sampled.has_value(), "the device declined the decode sample");
  });
  return format_projection(drafter_config, times, static_cast<int>(context));
}

}  // namespace mimo::bench
