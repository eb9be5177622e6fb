// mimo-bench --draft-projection's host side (bench/draft_projection.hpp): the MiMo-V2.5-Pro drafter
// shape fitted to the benchmark geometry, random weights in the shapes the drafter checkpoint
// binder produces, and the projection arithmetic and text.
#include "draft_projection.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "mimo/error.hpp"
#include "model/benchmark_config.hpp"
#include "model/drafter_config.hpp"
#include "support/catch.hpp"

namespace {

using mimo::bench::ProjectionTimes;

std::size_t bytes_of(const mimo::model::LinearWeight& w) {
  return static_cast<std::size_t>(w.rows * w.row_stride_bytes);
}

bool same_bytes(const mimo::model::LinearWeight& a, const mimo::model::LinearWeight& b) {
  return bytes_of(a) == bytes_of(b) && std::memcmp(a.data, b.data, bytes_of(a)) == 0;
}

float bf16_value(const mimo::model::LinearWeight& w, std::int64_t i) {
  std::uint16_t bits;
  std::memcpy(&bits, w.data + 2 * i, 2);
  const std::uint32_t wide = std::uint32_t{bits} << 16;
  float value;
  std::memcpy(&value, &wide, 4);
  return value;
}

}  // namespace

TEST_CASE("draft projection: MiMo-V2.5-Pro's drafter shape on the benchmark geometry") {
  const mimo::model::ModelConfig target = mimo::model::benchmark_config();
  const mimo::model::DrafterConfig d = mimo::bench::mimo_pro_drafter_config(target);
  CHECK(d.architecture == "DFlashDraftModel");
  CHECK(d.hidden_size == target.hidden_size);
  CHECK(d.num_layers == 5);
  CHECK(d.block_size == 8);
  CHECK(d.num_heads == 128);
  CHECK(d.num_kv_heads == 8);
  CHECK(d.head_dim == 128);
  CHECK(d.v_head_dim == 128);
  CHECK(d.rotary_dim == 64);
  CHECK(d.intermediate_size == 16384);
  CHECK(d.sliding_window == 1024);
  CHECK(d.layer_types.empty());  // every layer windowed (use_swa)
  CHECK(d.has_sink);
  CHECK(std::abs(d.attention_value_scale - 0.612) < 1e-12);
  CHECK(d.mask_token_id == 151669);
  CHECK(d.num_target_layers == 48);
  // MiMo's taps [0, 15, 31, 47, 69] of 70 layers, scaled to 48.
  CHECK(d.target_layer_ids == std::vector<int>{0, 10, 21, 32, 47});
  CHECK(mimo::bench::mimo_pro_drafter_config(mimo::model::benchmark_config(70, 64))
            .target_layer_ids == std::vector<int>{0, 15, 31, 47, 69});
}

TEST_CASE("draft projection: random weights have the shapes of a bound drafter checkpoint") {
  // The fixture drafter bound from its checkpoint is the reference for every tensor's shape.
  const std::string dir = std::string(MIMO_TEST_DATA_DIR) + "/dflash/drafter";
  const mimo::model::DrafterConfig config = mimo::model::load_drafter_config(dir);
  const mimo::io::Checkpoint checkpoint = mimo::io::Checkpoint::open(dir);
  const std::int64_t target_hidden = config.hidden_size;
  const mimo::spec::DrafterWeights bound =
      mimo::spec::bind_drafter_weights(config, target_hidden, checkpoint);
  const auto made = mimo::bench::synthetic_drafter(config, target_hidden, 7);
  const mimo::spec::DrafterWeights& w = made->weights;

  auto same_shape = [](const mimo::model::LinearWeight& a, const mimo::model::LinearWeight& b) {
    return a.rows == b.rows && a.cols == b.cols && a.format == mimo::model::WeightFormat::kBF16 &&
           a.row_stride_bytes == a.cols * 2 && a.data != nullptr;
  };
  CHECK(same_shape(w.fc, bound.fc));
  CHECK(w.context_norm.size() == bound.context_norm.size());
  CHECK(w.final_norm.size() == bound.final_norm.size());
  CHECK(w.mask_embedding.empty());
  REQUIRE(w.layers.size() == bound.layers.size());
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    const auto& m = w.layers[l];
    const auto& b = bound.layers[l];
    CHECK(same_shape(m.q, b.q));
    CHECK(same_shape(m.k, b.k));
    CHECK(same_shape(m.v, b.v));
    CHECK(same_shape(m.o, b.o));
    CHECK(same_shape(m.mlp.gate, b.mlp.gate));
    CHECK(same_shape(m.mlp.up, b.mlp.up));
    CHECK(same_shape(m.mlp.down, b.mlp.down));
    CHECK(m.input_norm.size() == b.input_norm.size());
    CHECK(m.q_norm.size() == b.q_norm.size());
    CHECK(m.k_norm.size() == b.k_norm.size());
    CHECK(m.sink.size() == b.sink.size());
  }
}

TEST_CASE("draft projection: the weights are seeded, bounded by 1/sqrt(cols) and not constant") {
  const std::string dir = std::string(MIMO_TEST_DATA_DIR) + "/dflash/drafter";
  const mimo::model::DrafterConfig config = mimo::model::load_drafter_config(dir);
  const auto a = mimo::bench::synthetic_drafter(config, config.hidden_size, 7);
  const auto b = mimo::bench::synthetic_drafter(config, config.hidden_size, 7);
  const auto c = mimo::bench::synthetic_drafter(config, config.hidden_size, 8);
  CHECK(same_bytes(a->weights.fc, b->weights.fc));
  CHECK(same_bytes(a->weights.layers.back().mlp.down, b->weights.layers.back().mlp.down));
  CHECK_FALSE(same_bytes(a->weights.fc, c->weights.fc));
  const mimo::model::LinearWeight& q = a->weights.layers[0].q;
  const float bound = 1.0f / std::sqrt(static_cast<float>(q.cols));
  float low = 0, high = 0;
  for (std::int64_t i = 0; i < q.rows * q.cols; ++i) {
    const float v = bf16_value(q, i);
    REQUIRE(std::isfinite(v));
    REQUIRE(std::abs(v) <= bound);
    low = std::min(low, v);
    high = std::max(high, v);
  }
  CHECK(low < -0.5f * bound);
  CHECK(high > 0.5f * bound);
}

TEST_CASE("draft projection: tokens/s = acceptance over the step time") {
  CHECK(std::abs(mimo::bench::projected_tokens_per_second(4.0, 12.0) - 4.0 / 0.012) < 1e-9);
  CHECK(std::abs(mimo::bench::projected_tokens_per_second(1.0, 1.0) - 1000.0) < 1e-9);
  CHECK(std::abs(mimo::bench::projected_tokens_per_second(6.3, 0.5) - 12600.0) < 1e-9);
  CHECK_THROWS_AS(mimo::bench::projected_tokens_per_second(4.0, 0.0), mimo::Error);
  CHECK_THROWS_AS(mimo::bench::projected_tokens_per_second(0.5, 10.0), mimo::Error);
  CHECK(mimo::bench::projection_acceptances() == std::vector<double>{4.0, 5.56, 6.30});
}

TEST_CASE("draft projection: the printed projection is labelled and sums the step") {
  const mimo::model::DrafterConfig d =
      mimo::bench::mimo_pro_drafter_config(mimo::model::benchmark_config());
  ProjectionTimes t;
  t.draft_ms = 1.5;
  t.context_ms = 0.5;
  t.verify_ms = 10.0;
  t.decode_ms = 6.0;
  const std::string text = mimo::bench::format_projection(d, t, 256);
  CHECK(text.rfind("projection (not a measured speculative run)", 0) == 0);
  CHECK(text.find("5 layers, block 8, 128/8 heads x 128, intermediate 16384, window 1024, hidden "
                  "4096 (the target's), taps of target layers 0,10,21,32,47; context 256") !=
        std::string::npos);
  CHECK(text.find("plain 166.7 tok/s") != std::string::npos);
  // 12 ms a step: 4.0 -> 333.3 tok/s (2.00x of 166.7), 5.56 -> 463.3, 6.30 -> 525.0.
  CHECK(text.find("projection at acceptance 4.00:       333.3 tok/s (2.00x plain)") !=
        std::string::npos);
  CHECK(text.find("projection at acceptance 5.56:       463.3 tok/s (2.78x plain)") !=
        std::string::npos);
  CHECK(text.find("projection at acceptance 6.30:       525.0 tok/s (3.15x plain)") !=
        std::string::npos);
  CHECK(text.find("acceptance / 12.000 ms") != std::string::npos);
}
