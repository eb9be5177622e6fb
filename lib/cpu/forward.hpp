// The MiMo-V2 forward pass on the CPU: the numeric definition every other executor is checked
// against. One code path serves a 1-token decode step, a B-token verify and prefill chunks.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "cpu/kv_cache.hpp"
#include "cpu/rope.hpp"
#include "cpu/thread_pool.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"

namespace mimo::cpu {

struct ForwardOptions {
  bool all_logits = false;  // logits of every token, else only of the last one
  // Decoder layers whose output residual stream is returned per token, in this order. The last
  // layer's entry is taken after the final RMSNorm (transformers' hidden_states convention).
  std::vector<int> hidden_taps;
  // Checked between layers and chunks; when set the call throws mimo::Error(kCancelled) and
  // leaves the cache exactly as it was before the call.
  const std::atomic<bool>* cancel = nullptr;
  // Tokens per chunk (<= 0 or larger than the cache's max_step_tokens: max_step_tokens).
  int max_chunk = 0;
};

struct ForwardOutput {
  std::vector<float> logits;  // [rows, vocab]: rows = T if all_logits, else 1
  std::vector<float> hidden;  // [T, taps, hidden_size]
};

class Forward {
 public:
  // Converts the small vector parameters (norms, sinks, router biases) to float once and checks
  // every weight's shape against the config. The config and weights must outlive this object.
  Forward(const model::ModelConfig& config, const model::ModelWeights& weights, ThreadPool& pool);

  // Runs `tokens` at positions cache.length() .. + T - 1 and appends them to the cache.
  // Validation (T >= 1, 0 <= id < vocab, context capacity, taps) happens before the cache is
  // touched: kInvalidArgument for bad ids / taps / empty input, kOutOfRange for overflow.
  ForwardOutput run(KvCache& cache, std::span<const std::int32_t> tokens,
                    const ForwardOptions& options);

  const model::ModelConfig& config() const { return config_; }

 private:
  struct LayerParams {
    std::vector<float> input_norm, post_attention_norm, sink, router_bias;
  };

  void validate(const KvCache& cache, std::span<const std::int32_t> tokens,
                const ForwardOptions& options) const;
  // One chunk through every layer; x: [n, hidden] embeddings in, final residual stream out.
  void run_chunk(KvCache& cache, std::span<const std::int32_t> tokens,
                 const ForwardOptions& options, std::int64_t out_row, bool last_chunk,
                 ForwardOutput& out);
  void attention_block(int layer, KvCache& cache, const float* h, int n, float* out);
  void mlp_block(int layer, const float* h, int n, float* out);
  void check_cancel(const ForwardOptions& options) const;

  const model::ModelConfig& config_;
  const model::ModelWeights& weights_;
  ThreadPool& pool_;
  std::vector<LayerParams> params_;
  std::vector<float> final_norm_;
  Rope full_rope_, sliding_rope_;
};

}  // namespace mimo::cpu
