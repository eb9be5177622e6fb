// VirtualRanksExecutor: cpu::Forward's step (lib/cpu/forward.cpp), each layer split over ranks:
//   x = embed(tokens)                                    replicated on every rank
//   per layer: h = rmsnorm(x)                            replicated
//              x += all_reduce(o_proj_r(attention_r(h)))  rank r: its heads, o_proj columns
//              h = rmsnorm(x); routes = router(h)        replicated
//              x += all_reduce(mlp_r(h))                 rank r: its experts or dense columns
//   logits = all_gather(lm_head_r(rmsnorm(x)))           rank r: its vocab rows
#include "exec/virtual_ranks_executor.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cpu/attention.hpp"
#include "cpu/embedding.hpp"
#include "cpu/forward.hpp"
#include "cpu/linear.hpp"
#include "cpu/mlp.hpp"
#include "cpu/rmsnorm.hpp"
#include "cpu/router.hpp"
#include "cpu/weight_rows.hpp"
#include "exec/virtual_collectives.hpp"
#include "mimo/error.hpp"

namespace mimo::exec {
namespace {

class VirtualState final : public ExecutorState {
 public:
  std::int64_t length() const override { return caches.front().length(); }
  bool can_truncate(std::int64_t n) const override { return caches.front().can_truncate(n); }
  void truncate(std::int64_t n) override {
    for (cpu::KvCache& c : caches) c.truncate(n);
  }
  std::unique_ptr<ExecutorState> clone() const override {
    return std::make_unique<VirtualState>(*this);
  }
  std::vector<cpu::KvCache> caches;  // one per rank, holding that rank's kv heads
};

}  // namespace

// One chunk of a step: its tokens, where its outputs go.
struct VirtualRanksExecutor::Chunk {
  VirtualState& state;
  std::span<const std::int32_t> tokens;
  const StepOptions& options;
  std::int64_t out_row;
  bool last;
  StepOutput& out;
};

VirtualRanksExecutor::VirtualRanksExecutor(const model::ModelConfig& config,
                                           const model::ModelWeights& weights, int num_ranks,
                                           int num_threads, MoeSplit moe_split)
    : config_(config),
      weights_(weights),
      pool_(std::make_unique<cpu::ThreadPool>(num_threads)),
      plan_(make_sharding_plan(config, num_ranks, moe_split)),
      full_rope_(config.full.rotary_dim, config.full.rope_theta),
      sliding_rope_(config.sliding.rotary_dim, config.sliding.rope_theta) {
  // The reference's constructor checks every weight against the config; reuse it.
  cpu::Forward check(config, weights, *pool_);
  for (const RankShard& shard : plan_.ranks) {
    ranks_.push_back(make_rank_weights(config, weights, shard, moe_split));
  }
  const std::int64_t hidden = config.hidden_size;
  for (int l = 0; l < config.num_layers; ++l) {
    const model::LayerWeights& w = weights.layers[l];
    input_norms_.push_back(cpu::to_floats(w.input_norm, hidden));
    post_norms_.push_back(cpu::to_floats(w.post_attention_norm, hidden));
    router_biases_.push_back(w.router_bias ? cpu::to_floats(*w.router_bias, config.n_routed_experts)
                                           : std::vector<float>{});
  }
  final_norm_ = cpu::to_floats(weights.final_norm, hidden);
}

VirtualRanksExecutor::~VirtualRanksExecutor() = default;

std::unique_ptr<ExecutorState> VirtualRanksExecutor::new_state(std::int64_t max_context,
                                                               int max_step_tokens) const {
  auto state = std::make_unique<VirtualState>();
  for (const RankWeights& rank : ranks_) {
    state->caches.emplace_back(rank.config, max_context, max_step_tokens);
  }
  return state;
}

std::string VirtualRanksExecutor::device_name() const {
  return fmt::format("cpu, {} virtual ranks ({} threads)", plan_.num_ranks, pool_->size());
}

StepOutput VirtualRanksExecutor::run(ExecutorState& state, std::span<const std::int32_t> tokens,
                                     const StepOptions& options) const {
  auto* vstate = dynamic_cast<VirtualState*>(&state);
  if (vstate == nullptr) {
    throw Error(ErrorCode::kInternal,
                "VirtualRanksExecutor::run: state belongs to another executor");
  }
  if (tokens.empty()) throw Error(ErrorCode::kInvalidArgument, "forward: no tokens given");
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("forward: token {} at index {} is outside the vocabulary [0, {})",
                              tokens[i], i, config_.vocab_size));
    }
  }
  for (int tap : options.hidden_taps) {
    if (tap < 0 || tap >= config_.num_layers) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("forward: hidden tap {} is not a layer index [0, {})", tap,
                              config_.num_layers));
    }
  }
  const cpu::KvCache& first = vstate->caches.front();
  const std::int64_t total = static_cast<std::int64_t>(tokens.size());
  if (first.length() + total > first.max_context()) {
    throw Error(ErrorCode::kOutOfRange,
                fmt::format("forward: {} cached + {} new tokens exceed the context of {}",
                            first.length(), total, first.max_context()));
  }
  const int chunk = options.max_chunk > 0 ? std::min(options.max_chunk, first.max_step_tokens())
                                          : first.max_step_tokens();
  std::lock_guard<std::mutex> lock(mutex_);
  StepOutput out;
  out.logits.resize((options.all_logits ? total : 1) * config_.vocab_size);
  out.hidden.resize(total * options.hidden_taps.size() * config_.hidden_size);
  std::vector<cpu::KvCache::Undo> undo;
  for (const cpu::KvCache& c : vstate->caches) undo.push_back(c.save_for_append(total));
  try {
    for (std::int64_t begin = 0; begin < total; begin += chunk) {
      const std::int64_t n = std::min<std::int64_t>(chunk, total - begin);
      Chunk c{*vstate, tokens.subspan(begin, n), options, begin, begin + n == total, out};
      run_chunk(c);
    }
  } catch (...) {
    for (std::size_t r = 0; r < undo.size(); ++r) vstate->caches[r].restore(undo[r]);
    throw;
  }
  return out;
}

void VirtualRanksExecutor::run_chunk(Chunk& c) const {
  const int n = static_cast<int>(c.tokens.size());
  const std::int64_t hidden = config_.hidden_size;
  const int n_ranks = plan_.num_ranks;
  const std::size_t n_taps = c.options.hidden_taps.size();
  auto store_tap = [&](int layer, const float* x) {
    for (std::size_t k = 0; k < n_taps; ++k) {
      if (c.options.hidden_taps[k] != layer) continue;
      for (int i = 0; i < n; ++i) {
        std::copy_n(x + i * hidden, hidden,
                    c.out.hidden.data() + ((c.out_row + i) * n_taps + k) * hidden);
      }
    }
  };
  auto check_cancel = [&] {
    if (c.options.cancel && c.options.cancel->load(std::memory_order_relaxed)) {
      throw Error(ErrorCode::kCancelled, "forward: cancelled");
    }
  };
  auto add_all_reduced = [&](const std::vector<std::vector<float>>& partials,
                             std::vector<float>& x) {
    std::vector<float> delta(x.size());
    all_reduce_sum(partials, delta.data(), static_cast<std::int64_t>(delta.size()));
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += delta[i];
  };

  std::vector<float> x(n * hidden), h(n * hidden);
  std::vector<std::vector<float>> partials(n_ranks);
  cpu::embed(weights_.embed, c.tokens, x.data());
  for (cpu::KvCache& cache : c.state.caches) cache.reserve_step(n);
  const int last_layer = config_.num_layers - 1;
  for (int l = 0; l < config_.num_layers; ++l) {
    check_cancel();
    cpu::rmsnorm(x.data(), input_norms_[l].data(), n, hidden, config_.rms_norm_eps, h.data());
    for (int r = 0; r < n_ranks; ++r) {
      attention_partial(r, l, c.state.caches[r], h.data(), n, partials[r]);
    }
    add_all_reduced(partials, x);
    cpu::rmsnorm(x.data(), post_norms_[l].data(), n, hidden, config_.rms_norm_eps, h.data());
    mlp_partials(l, h.data(), n, partials);
    add_all_reduced(partials, x);
    if (l != last_layer) store_tap(l, x.data());
  }
  check_cancel();
  cpu::rmsnorm(x.data(), final_norm_.data(), n, hidden, config_.rms_norm_eps, h.data());
  store_tap(last_layer, h.data());

  const int rows = c.options.all_logits ? n : (c.last ? 1 : 0);
  if (rows > 0) {
    const float* input = c.options.all_logits ? h.data() : h.data() + (n - 1) * hidden;
    std::vector<std::int64_t> widths;
    for (int r = 0; r < n_ranks; ++r) {
      const model::LinearWeight& lm_head = ranks_[r].lm_head;
      partials[r].assign(rows * lm_head.rows, 0.0f);
      cpu::linear(*pool_, lm_head, input, rows, partials[r].data());
      widths.push_back(lm_head.rows);
    }
    const std::int64_t out_row = c.options.all_logits ? c.out_row : 0;
    all_gather_columns(partials, widths, rows, c.out.logits.data() + out_row * config_.vocab_size);
  }
  for (cpu::KvCache& cache : c.state.caches) cache.commit(n);
}

void VirtualRanksExecutor::attention_partial(int rank, int layer, cpu::KvCache& cache,
                                             const float* h, int n, std::vector<float>& out) const {
  const RankWeights& rw = ranks_[rank];
  const RankLayerWeights& w = rw.layers[layer];
  const model::AttentionSpec& a = rw.config.attention(layer);  // local head counts
  const bool sliding = config_.layers[layer].attention == model::AttentionKind::kSliding;
  const cpu::Rope& rope = sliding ? sliding_rope_ : full_rope_;
  const std::int64_t q_size = std::int64_t{a.num_heads} * a.head_dim;
  const std::int64_t k_size = std::int64_t{a.num_kv_heads} * a.head_dim;
  const std::int64_t v_size = std::int64_t{a.num_kv_heads} * a.v_head_dim;
  std::vector<float> q(n * q_size), k(n * k_size), v(n * v_size);
  cpu::linear(*pool_, w.q, h, n, q.data());
  cpu::linear(*pool_, w.k, h, n, k.data());
  cpu::linear(*pool_, w.v, h, n, v.data());
  const float value_scale = static_cast<float>(config_.attention_value_scale);
  const std::int64_t first_pos = cache.length();
  for (int i = 0; i < n; ++i) {
    const std::int64_t pos = first_pos + i;
    rope.apply(q.data() + i * q_size, a.num_heads, a.head_dim, pos);
    rope.apply(k.data() + i * k_size, a.num_kv_heads, a.head_dim, pos);
    std::copy_n(k.data() + i * k_size, k_size, cache.key(layer, pos));
    float* cached_v = cache.value(layer, pos);
    for (std::int64_t j = 0; j < v_size; ++j) cached_v[j] = v[i * v_size + j] * value_scale;
  }
  cpu::AttentionParams params;
  params.num_heads = a.num_heads;
  params.window = sliding ? config_.sliding_window : 0;
  params.sinks = w.sink.empty() ? nullptr : w.sink.data();
  std::vector<float> heads(n * std::int64_t{a.num_heads} * a.v_head_dim);
  cpu::attention(*pool_, cache.view(layer), params, q.data(), n, first_pos, heads.data());
  out.assign(n * std::int64_t{config_.hidden_size}, 0.0f);
  cpu::linear(*pool_, w.o->weight(), heads.data(), n, out.data());
}

void VirtualRanksExecutor::mlp_partials(int layer, const float* h, int n,
                                        std::vector<std::vector<float>>& out) const {
  const std::int64_t hidden = config_.hidden_size;
  for (auto& partial : out) partial.assign(n * hidden, 0.0f);
  if (config_.layers[layer].mlp == model::MlpKind::kDense) {
    for (std::size_t r = 0; r < ranks_.size(); ++r) {
      cpu::gated_mlp(*pool_, *ranks_[r].layers[layer].dense, h, n, out[r].data());
    }
    return;
  }
  // Every rank holds the same h, so each computes the (small) router itself: no token exchange
  // and no routing metadata cross the link; only the partial outputs are reduced.
  const model::LayerWeights& w = weights_.layers[layer];
  const int n_experts = config_.n_routed_experts;
  std::vector<float> logits(std::int64_t{n} * n_experts);
  cpu::linear(*pool_, *w.router, h, n, logits.data());
  cpu::RouterParams router;
  router.n_experts = n_experts;
  router.top_k = config_.num_experts_per_tok;
  router.n_group = config_.n_group;
  router.topk_group = config_.topk_group;
  router.norm_topk_prob = config_.norm_topk_prob;
  router.routed_scaling_factor = config_.routed_scaling_factor;
  const std::vector<float>& bias = router_biases_[layer];
  std::vector<cpu::Route> routes(n);
  for (int i = 0; i < n; ++i) {
    routes[i] =
        cpu::route(logits.data() + i * n_experts, bias.empty() ? nullptr : bias.data(), router);
  }
  const std::span<const model::ExpertWeights> experts(w.experts);
  if (plan_.moe_split == MoeSplit::kExpertColumns) {
    // Every rank: every routed expert, its own intermediate units; the all-reduce completes them.
    for (std::size_t r = 0; r < ranks_.size(); ++r) {
      cpu::moe(*pool_, ranks_[r].layers[layer].expert_slices, routes, h, n, hidden, out[r].data());
    }
    return;
  }
  for (std::size_t r = 0; r < ranks_.size(); ++r) {
    const Range& mine = ranks_[r].shard.experts;
    std::vector<cpu::Route> local(n);  // this rank's share of each route, local expert ids
    for (int i = 0; i < n; ++i) {
      for (std::size_t k = 0; k < routes[i].experts.size(); ++k) {
        const int e = routes[i].experts[k];
        if (e < mine.begin || e >= mine.end) continue;
        local[i].experts.push_back(static_cast<int>(e - mine.begin));
        local[i].weights.push_back(routes[i].weights[k]);
      }
    }
    cpu::moe(*pool_, experts.subspan(mine.begin, mine.size()), local, h, n, hidden, out[r].data());
  }
}

}  // namespace mimo::exec
