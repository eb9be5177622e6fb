// The sharding plan: every head, kv head, expert, dense column and vocab row is owned as the
// design says (docs/parallel.md), on the fixtures and on the MiMo-V2-Flash and V2.5-Pro
// geometries; configs that cannot be split fail with messages naming the field.
#include "exec/sharding.hpp"

#include <string>

#include "mimo/error.hpp"
#include "model/config_parse.hpp"
#include "support/catch.hpp"

using mimo::exec::make_sharding_plan;
using mimo::exec::Range;
using mimo::model::AttentionKind;
using mimo::model::MlpKind;

namespace {

mimo::model::ModelConfig geometry(int layers, int hidden, int heads, int full_kv, int swa_kv,
                                  int experts, int vocab) {
  mimo::model::ModelConfig c;
  c.num_layers = layers;
  c.hidden_size = hidden;
  c.vocab_size = vocab;
  c.full = {heads, full_kv, 192, 128, 5e6, 64, false};
  c.sliding = {heads, swa_kv, 192, 128, 1e4, 64, true};
  c.intermediate_size = 16384;
  c.moe_intermediate_size = 2048;
  c.n_routed_experts = experts;
  c.num_experts_per_tok = 8;
  for (int l = 0; l < layers; ++l) {
    const bool full = l == 0 || (l + 1) % 6 == 0;
    c.layers.push_back({full ? AttentionKind::kFull : AttentionKind::kSliding,
                        l == 0 ? MlpKind::kDense : MlpKind::kMoe});
  }
  return c;
}

mimo::model::ModelConfig flash() {
  return geometry(48, 4096, 64, 4, 8, 256, 152576);
}
mimo::model::ModelConfig pro() {
  return geometry(70, 6144, 128, 8, 8, 384, 152576);
}

// The ranks' ranges, concatenated in rank order, tile [0, total) exactly.
void check_tiles(const std::vector<Range>& parts, std::int64_t total) {
  std::int64_t next = 0;
  for (const Range& r : parts) {
    CHECK(r.begin == next);
    CHECK(r.size() > 0);
    next = r.end;
  }
  CHECK(next == total);
}

void check_plan(const mimo::model::ModelConfig& c, int n) {
  const auto plan = make_sharding_plan(c, n);
  REQUIRE(plan.num_ranks == n);
  REQUIRE(static_cast<int>(plan.ranks.size()) == n);
  std::vector<Range> full_heads, swa_heads, experts, dense, vocab;
  for (int r = 0; r < n; ++r) {
    const auto& s = plan.ranks[r];
    CHECK(s.rank == r);
    full_heads.push_back(s.full.heads);
    swa_heads.push_back(s.sliding.heads);
    experts.push_back(s.experts);
    dense.push_back(s.dense_columns);
    vocab.push_back(s.vocab);
    for (const auto* a : {&s.full, &s.sliding}) {
      const auto& spec = a == &s.full ? c.full : c.sliding;
      const int group = spec.num_heads / spec.num_kv_heads;
      // Every local query head reads a kv head the rank holds.
      CHECK(a->heads.begin / group == a->kv_heads.begin);
      CHECK((a->heads.end - 1) / group == a->kv_heads.end - 1);
      CHECK(a->kv_replicas == std::max(1, n / spec.num_kv_heads));
    }
    for (std::int64_t e = s.experts.begin; e < s.experts.end; ++e) {
      CHECK(plan.expert_owner(static_cast<int>(e)) == r);
    }
  }
  check_tiles(full_heads, c.full.num_heads);
  check_tiles(swa_heads, c.sliding.num_heads);
  check_tiles(experts, c.n_routed_experts);
  check_tiles(dense, c.intermediate_size);
  check_tiles(vocab, c.vocab_size);
}

void check_fails(const mimo::model::ModelConfig& c, int n, const std::string& field) {
  try {
    make_sharding_plan(c, n);
    FAIL("no error for " << n << " ranks");
  } catch (const mimo::Error& e) {
    CHECK(e.code() == mimo::ErrorCode::kInvalidArgument);
    INFO(e.what());
    CHECK(std::string(e.what()).find(field) != std::string::npos);
  }
}

void check_fails_split(const mimo::model::ModelConfig& c, int n, const std::string& field) {
  try {
    make_sharding_plan(c, n, mimo::exec::MoeSplit::kExpertColumns);
    FAIL("no error for " << n << " ranks");
  } catch (const mimo::Error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find(field) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("sharding plans of the fixtures and the MiMo geometries tile every dimension",
          "[exec][sharding]") {
  for (const char* name : {"tiny-bf16", "tiny-hub-fused"}) {
    INFO(name);
    const auto c =
        mimo::model::load_model_config(std::string(MIMO_TEST_DATA_DIR) + "/models/" + name);
    for (int n : {1, 2, 4}) check_plan(c, n);
  }
  for (int n : {1, 2, 4, 8}) check_plan(flash(), n);
  for (int n : {1, 2, 4, 8, 16}) check_plan(pro(), n);
}

TEST_CASE("kv heads fewer than ranks are replicated", "[exec][sharding]") {
  // tiny-hub-fused: 4 heads; full layers 1 kv head, sliding layers 2.
  const auto c =
      mimo::model::load_model_config(std::string(MIMO_TEST_DATA_DIR) + "/models/tiny-hub-fused");
  const auto plan = make_sharding_plan(c, 4);
  for (int r = 0; r < 4; ++r) {
    CHECK(plan.ranks[r].full.heads == Range{r, r + 1});
    CHECK(plan.ranks[r].full.kv_heads == Range{0, 1});
    CHECK(plan.ranks[r].full.kv_replicas == 4);
    CHECK(plan.ranks[r].sliding.kv_heads == Range{r / 2, r / 2 + 1});
    CHECK(plan.ranks[r].sliding.kv_replicas == 2);
    CHECK(plan.ranks[r].experts == Range{2 * r, 2 * r + 2});
  }
  // MiMo-V2-Flash on 8 GPUs: full layers have 4 kv heads (each on 2 ranks), sliding layers 8.
  const auto f = make_sharding_plan(flash(), 8);
  CHECK(f.ranks[5].full.kv_heads == Range{2, 3});
  CHECK(f.ranks[5].full.kv_replicas == 2);
  CHECK(f.ranks[5].sliding.kv_heads == Range{5, 6});
  CHECK(f.ranks[5].experts == Range{160, 192});
}

TEST_CASE("expert tensor parallelism splits every expert's intermediate units",
          "[exec][sharding]") {
  const auto plan = make_sharding_plan(pro(), 8, mimo::exec::MoeSplit::kExpertColumns);
  std::vector<Range> columns;
  for (const auto& s : plan.ranks) {
    CHECK(s.experts == Range{0, 384});
    columns.push_back(s.expert_columns);
  }
  check_tiles(columns, 2048);
  CHECK(plan.ranks[3].expert_columns == Range{768, 1024});
  CHECK_THROWS_AS(plan.expert_owner(5), mimo::Error);
  auto odd = pro();
  odd.moe_intermediate_size = 2050;
  check_fails_split(odd, 8, "moe_intermediate_size");
}

TEST_CASE("the vocabulary splits as evenly as possible", "[exec][sharding]") {
  auto c = geometry(2, 64, 8, 8, 8, 8, 10);
  const auto plan = make_sharding_plan(c, 4);
  CHECK(plan.ranks[0].vocab == Range{0, 3});
  CHECK(plan.ranks[1].vocab == Range{3, 6});
  CHECK(plan.ranks[2].vocab == Range{6, 8});
  CHECK(plan.ranks[3].vocab == Range{8, 10});
}

TEST_CASE("configs that cannot be split name the field", "[exec][sharding]") {
  check_fails(flash(), 0, "at least 1");
  check_fails(flash(), 3, "num_attention_heads");
  check_fails(geometry(2, 64, 12, 6, 6, 8, 100), 4, "num_key_value_heads");   // 6 >= 4, 6 % 4
  check_fails(geometry(2, 64, 12, 4, 4, 12, 100), 6, "num_key_value_heads");  // 4 < 6, 6 % 4
  check_fails(geometry(2, 64, 8, 8, 8, 12, 100), 8, "n_routed_experts");
  check_fails(geometry(2, 64, 8, 8, 8, 8, 5), 8, "vocab_size");
  auto dense = geometry(2, 64, 8, 8, 8, 8, 100);
  dense.intermediate_size = 100;
  check_fails(dense, 8, "intermediate_size");
  // A dimension no layer uses is not checked: no MoE layer, experts 0.
  auto no_moe = geometry(1, 64, 8, 8, 8, 0, 100);
  CHECK(make_sharding_plan(no_moe, 8).ranks[7].experts.size() == 0);
}
