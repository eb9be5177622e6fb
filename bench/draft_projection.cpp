// mimo-bench --draft-projection, host side (draft_projection.hpp): the drafter's config, its random
// weights and the projection arithmetic.
#include "draft_projection.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "mimo/error.hpp"
#include "model/drafter_config.hpp"

namespace mimo::bench {
namespace {

// splitmix64: a small, fast, seedable generator (the values only need to be deterministic).
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

// BF16 bits of x (truncation: the values are random anyway).
std::uint16_t to_bf16(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return static_cast<std::uint16_t>(bits >> 16);
}

class WeightMaker {
 public:
  WeightMaker(SyntheticDrafter& out, std::uint64_t seed) : out_(out), rng_{seed} {}

  // [rows, cols] BF16, uniform in +-1/sqrt(cols): four values from each 64-bit draw.
  model::LinearWeight linear(const std::string& name, std::int64_t rows, std::int64_t cols) {
    const std::int64_t count = rows * cols;
    auto data = std::make_unique_for_overwrite<std::uint16_t[]>(count);
    const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
    for (std::int64_t i = 0; i < count; i += 4) {
      std::uint64_t bits = rng_.next();
      for (std::int64_t j = i; j < std::min(i + 4, count); ++j, bits >>= 16) {
        const float unit = static_cast<float>(bits & 0xFFFF) / 32768.0f - 1.0f;  // [-1, 1)
        data[j] = to_bf16(unit * scale);
      }
    }
    model::LinearWeight w;
    w.name = name;
    w.format = model::WeightFormat::kBF16;
    w.rows = rows;
    w.cols = cols;
    w.data = reinterpret_cast<const std::uint8_t*>(data.get());
    w.row_stride_bytes = cols * 2;
    out_.storage.push_back(std::move(data));
    return w;
  }

 private:
  SyntheticDrafter& out_;
  SplitMix64 rng_;
};

}  // namespace

model::DrafterConfig mimo_pro_drafter_config(const model::ModelConfig& target) {
  const int last = target.num_layers - 1;
  nlohmann::json taps = nlohmann::json::array();
  for (int id : {0, 15, 31, 47, 69})
    taps.push_back(static_cast<int>(std::lround(id * last / 69.0)));
  const nlohmann::json config = {{"architectures", nlohmann::json::array({"DFlashDraftModel"})},
                                 {"hidden_size", target.hidden_size},
                                 {"intermediate_size", 16384},
                                 {"num_hidden_layers", 5},
                                 {"num_attention_heads", 128},
                                 {"num_key_value_heads", 8},
                                 {"head_dim", 128},
                                 {"v_head_dim", 128},
                                 {"partial_rotary_factor", 0.5},
                                 {"rope_theta", 10000.0},
                                 {"rms_norm_eps", 1e-5},
                                 {"vocab_size", target.vocab_size},
                                 {"hidden_act", "silu"},
                                 {"block_size", 8},
                                 {"num_target_layers", target.num_layers},
                                 {"sliding_window", 1024},
                                 {"dflash_config",
                                  {{"target_layer_ids", taps},
                                   {"mask_token_id", 151669},
                                   {"block_size", 8},
                                   {"use_swa", true},
                                   {"swa_window_size", 1024},
                                   {"attention_value_scale", 0.612},
                                   {"attention_sink_bias", true}}}};
  model::DrafterConfig drafter =
      model::parse_drafter_config(config, "MiMo-V2.5-Pro drafter shape (mimo-bench)");
  model::validate_drafter_against_target(drafter, target);
  return drafter;
}

std::unique_ptr<SyntheticDrafter> synthetic_drafter(const model::DrafterConfig& c,
                                                    std::int64_t target_hidden,
                                                    std::uint64_t seed) {
  auto out = std::make_unique<SyntheticDrafter>();
  WeightMaker make(*out, seed);
  spec::DrafterWeights& w = out->weights;
  const std::int64_t h = c.hidden_size;
  const std::int64_t features =
      static_cast<std::int64_t>(c.target_layer_ids.size()) * target_hidden;
  w.fc = make.linear("fc.weight", h, features);
  w.context_norm.assign(h, 1.0f);
  w.final_norm.assign(h, 1.0f);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = fmt::format("layers.{}.", i);
    spec::DrafterLayerWeights l;
    l.input_norm.assign(h, 1.0f);
    l.post_attention_norm.assign(h, 1.0f);
    l.q = make.linear(p + "self_attn.q_proj.weight", std::int64_t{c.num_heads} * c.head_dim, h);
    l.k = make.linear(p + "self_attn.k_proj.weight", std::int64_t{c.num_kv_heads} * c.head_dim, h);
    l.v =
        make.linear(p + "self_attn.v_proj.weight", std::int64_t{c.num_kv_heads} * c.v_head_dim, h);
    l.o = make.linear(p + "self_attn.o_proj.weight", h, std::int64_t{c.num_heads} * c.v_head_dim);
    l.q_norm.assign(c.head_dim, 1.0f);
    l.k_norm.assign(c.head_dim, 1.0f);
    l.mlp.gate = make.linear(p + "mlp.gate_proj.weight", c.intermediate_size, h);
    l.mlp.up = make.linear(p + "mlp.up_proj.weight", c.intermediate_size, h);
    l.mlp.down = make.linear(p + "mlp.down_proj.weight", h, c.intermediate_size);
    if (c.has_sink) l.sink.assign(c.num_heads, 0.0f);
    w.layers.push_back(std::move(l));
  }
  return out;
}

double projected_tokens_per_second(double acceptance, double step_ms) {
  if (!(step_ms > 0) || !(acceptance >= 1)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("projection: acceptance {} (>= 1) over a step of {} ms (> 0)",
                            acceptance, step_ms));
  }
  return acceptance / step_ms * 1000.0;
}

std::vector<double> projection_acceptances() {
  return {4.0, 5.56, 6.30};
}

std::string format_projection(const model::DrafterConfig& d, const ProjectionTimes& t,
                              int context) {
  std::string taps;
  for (int id : d.target_layer_ids) taps += fmt::format("{}{}", taps.empty() ? "" : ",", id);
  const double step_ms = t.draft_ms + t.context_ms + t.verify_ms;
  const double plain = 1000.0 / t.decode_ms;
  std::string s = fmt::format(
      "projection (not a measured speculative run): random BF16 DFlash drafter of MiMo-V2.5-Pro's "
      "drafter shape: {} layers, block {}, {}/{} heads x {}, intermediate {}, window {}, hidden "
      "{} (the target's), taps of target layers {}; context {}\n",
      d.num_layers, d.block_size, d.num_heads, d.num_kv_heads, d.head_dim, d.intermediate_size,
      d.sliding_window.value_or(0), d.hidden_size, taps, context);
  s += fmt::format("  draft block pass (graph)           {:8.3f} ms\n", t.draft_ms);
  s +=
      fmt::format("  drafter context update, {} rows     {:8.3f} ms\n", d.block_size, t.context_ms);
  s += fmt::format("  verify-{} + taps + greedy rows      {:8.3f} ms\n", d.block_size, t.verify_ms);
  s += fmt::format("  decode-1 + greedy token            {:8.3f} ms = plain {:.1f} tok/s\n",
                   t.decode_ms, plain);
  for (double a : projection_acceptances()) {
    const double rate = projected_tokens_per_second(a, step_ms);
    s += fmt::format("  projection at acceptance {:4.2f}:    {:8.1f} tok/s ({:.2f}x plain)\n", a,
                     rate, rate / plain);
  }
  s += fmt::format(
      "  (projection = acceptance / (draft + context update + verify) = acceptance / {:.3f} ms; "
      "acceptance counts the bonus token)\n",
      step_ms);
  return s;
}

}  // namespace mimo::bench
