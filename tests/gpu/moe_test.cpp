// Router and MXFP4 expert kernels against cpu::route and cpu::moe; the dense FP8 gated MLP
// (linear + silu_mul) against cpu::gated_mlp.
// Tolerances: expert choices identical; router weights within 2e-6 relative (expf vs std::exp);
// MLP outputs within 2e-5 of their peak (float32 sums over 2 x 1-4k terms, different order).
#include <algorithm>
#include <cstring>
#include <memory>
#include <tuple>

#include "cpu/mlp.hpp"
#include "cpu/router.hpp"
#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/device_weights.hpp"
#include "gpu_test_support.hpp"
#include "support/catch.hpp"

namespace mimo {
namespace {

TEST_CASE("Router: sigmoid, bias, group-limited top-k and weights match cpu::route", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  // Expert counts for every lane-slot instance (32 .. 1024), group limits, top 32, a partial
  // last warp of tokens (6 and 9 tokens, 4 a block).
  for (const cuda::RouterShape r :
       {cuda::RouterShape{64, 8, 1, 1, true, 1.0f}, cuda::RouterShape{256, 8, 8, 4, true, 2.5f},
        cuda::RouterShape{384, 8, 1, 1, true, 1.0f}, cuda::RouterShape{32, 4, 4, 1, false, 1.0f},
        cuda::RouterShape{1024, 32, 16, 3, true, 1.0f}, cuda::RouterShape{100, 5, 1, 1, true, 1.0f},
        cuda::RouterShape{160, 6, 5, 2, false, 1.5f}}) {
    const int n = r.num_experts == 100 ? 9 : 6;
    const std::vector<float> logits =
        gpu_test::random_floats(rng, std::size_t(n) * r.num_experts, 2.0f);
    const std::vector<float> bias = gpu_test::random_floats(rng, r.num_experts, 0.1f);
    const cuda::DeviceBuffer dlogits = cuda::to_device(logits);
    const cuda::DeviceBuffer dbias = cuda::to_device(bias);
    cuda::DeviceBuffer dexperts = cuda::to_device(std::vector<int>(n * r.top_k, -7));
    cuda::DeviceBuffer dweights = gpu_test::poisoned_floats(n * r.top_k);
    cuda::route(dlogits.as<float>(), dbias.as<float>(), n, r, dexperts.as<int>(),
                dweights.as<float>());
    cuda::synchronize();
    const std::vector<int> experts = cuda::to_host<int>(dexperts, n * r.top_k);
    const std::vector<float> weights = cuda::to_host<float>(dweights, n * r.top_k);
    cpu::RouterParams params{r.num_experts, r.top_k,          r.n_group,
                             r.topk_group,  r.norm_topk_prob, r.routed_scaling_factor};
    for (int t = 0; t < n; ++t) {
      const cpu::Route want = cpu::route(logits.data() + t * r.num_experts, bias.data(), params);
      for (int k = 0; k < r.top_k; ++k) {
        INFO("experts " << r.num_experts << " groups " << r.n_group << " token " << t << " k "
                        << k);
        CHECK(experts[t * r.top_k + k] == want.experts[k]);
        CHECK(std::fabs(weights[t * r.top_k + k] - want.weights[k]) <=
              2e-6f * std::fabs(want.weights[k]));
      }
    }
  }
}

// route_and_group (one launch up to 64 tokens, two beyond) gives route's experts and weights
// bit for bit and group_experts' table.
TEST_CASE("Router with grouping in one launch equals route + group_experts", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  struct Case {
    cuda::RouterShape r;
    int tokens;
  };
  for (const Case c : {Case{{64, 8, 1, 1, true, 1.0f}, 1}, Case{{64, 8, 1, 1, true, 1.0f}, 8},
                       Case{{256, 8, 8, 4, true, 2.5f}, 16}, Case{{1024, 8, 1, 1, true, 1.0f}, 3},
                       Case{{1024, 8, 16, 3, true, 1.0f}, 20}, Case{{48, 4, 1, 1, false, 1.0f}, 64},
                       Case{{64, 8, 1, 1, true, 1.0f}, 70}}) {
    const cuda::RouterShape& r = c.r;
    const int n = c.tokens, slots = n * r.top_k;
    INFO("experts " << r.num_experts << " groups " << r.n_group << " tokens " << n);
    const std::vector<float> logits =
        gpu_test::random_floats(rng, std::size_t(n) * r.num_experts, 2.0f);
    const std::vector<float> bias = gpu_test::random_floats(rng, r.num_experts, 0.1f);
    const cuda::DeviceBuffer dlogits = cuda::to_device(logits);
    const cuda::DeviceBuffer dbias = cuda::to_device(bias);
    const int table_ints = cuda::expert_group_table_ints(slots);
    const auto run = [&](bool fused) {
      cuda::DeviceBuffer dexperts = cuda::to_device(std::vector<int>(slots, -7));
      cuda::DeviceBuffer dweights = gpu_test::poisoned_floats(slots);
      cuda::DeviceBuffer dtable = cuda::to_device(std::vector<int>(table_ints, -9));
      if (fused) {
        cuda::route_and_group(dlogits.as<float>(), dbias.as<float>(), n, r, dexperts.as<int>(),
                              dweights.as<float>(), dtable.as<int>());
      } else {
        cuda::route(dlogits.as<float>(), dbias.as<float>(), n, r, dexperts.as<int>(),
                    dweights.as<float>());
        cuda::group_experts(dexperts.as<int>(), n, r.top_k, r.num_experts, dtable.as<int>());
      }
      cuda::synchronize();
      const std::vector<int> table = cuda::to_host<int>(dtable, table_ints);
      const int groups = table[0];
      // The used part: count, experts, starts, members (the rest is not written).
      std::vector<int> used(table.begin(), table.begin() + 1 + groups);
      used.insert(used.end(), table.begin() + 1 + slots, table.begin() + 2 + slots + groups);
      used.insert(used.end(), table.begin() + 2 + 2 * slots, table.end());
      return std::tuple(cuda::to_host<int>(dexperts, slots), cuda::to_host<float>(dweights, slots),
                        used);
    };
    const auto [experts, weights, table] = run(true);
    const auto [want_experts, want_weights, want_table] = run(false);
    CHECK(experts == want_experts);
    CHECK(std::memcmp(weights.data(), want_weights.data(), slots * sizeof(float)) == 0);
    CHECK(table == want_table);
    CHECK(table[0] >= r.top_k);  // each token's top_k experts are distinct
  }
}

TEST_CASE("MXFP4 experts (gate/up + SiLU, weighted down) match cpu::moe", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  struct Case {
    int experts, hidden, inter, top_k, tokens;
    bool skewed = false;  // every token's first top_k / 2 experts are 0 .. top_k / 2 - 1
  };
  // Several members per expert (up to 16 tokens on 8 experts: more than one batch of 8), ragged
  // token counts, a single token, the benchmark's expert shape; prefill chunks (issue 20): 300
  // tokens at top-8 of 64, uniform (~37 members an expert) and skewed (4 experts with all 300
  // tokens, 38 passes of 8, the others a few members each).
  for (const Case c :
       {Case{8, 512, 256, 2, 1}, Case{16, 1024, 512, 4, 3}, Case{8, 4096, 2048, 8, 1},
        Case{8, 512, 256, 4, 16}, Case{64, 1024, 512, 8, 5}, Case{12, 256, 160, 3, 11},
        Case{64, 512, 256, 8, 300}, Case{64, 512, 256, 8, 300, true}}) {
    std::vector<std::unique_ptr<gpu_test::HostWeight>> store;
    std::vector<model::ExpertWeights> experts(c.experts);
    auto make = [&](int rows, int cols) -> model::LinearWeight {
      store.push_back(std::make_unique<gpu_test::HostWeight>());
      gpu_test::make_mxfp4(*store.back(), rng, rows, cols, 0.05f);
      return store.back()->w;
    };
    for (auto& e : experts) {
      e.gate = make(c.inter, c.hidden);
      e.up = make(c.inter, c.hidden);
      e.down = make(c.hidden, c.inter);
    }
    // One case carries E8M0 scale bytes 0x00 (2^-127): the kernels must take the exact scale
    // decode for that stack (special_scales).
    const bool special = c.experts == 12;
    if (special) {
      for (std::size_t i = 0; i < store.size(); i += 3) store[i]->scales[i % 7] = 0x00;
    }
    // Routes: distinct random experts per token, random positive weights.
    std::vector<cpu::Route> routes(c.tokens);
    std::vector<int> ids;
    std::vector<float> weights;
    for (auto& r : routes) {
      std::vector<int> all(c.experts);
      for (int e = 0; e < c.experts; ++e) all[e] = e;
      const int fixed = c.skewed ? c.top_k / 2 : 0;  // experts every token takes first
      std::shuffle(all.begin() + fixed, all.end(), rng);
      std::uniform_real_distribution<float> wdist(0.05f, 1.0f);
      for (int k = 0; k < c.top_k; ++k) {
        r.experts.push_back(all[k]);
        r.weights.push_back(wdist(rng));
        ids.push_back(all[k]);
        weights.push_back(r.weights.back());
      }
    }
    const std::vector<float> x = gpu_test::random_floats(rng, std::size_t(c.tokens) * c.hidden);
    std::vector<float> want(std::size_t(c.tokens) * c.hidden);
    cpu::ThreadPool pool(2);
    cpu::moe(pool, experts, routes, x.data(), c.tokens, c.hidden, want.data());

    cuda::DeviceArena arena;
    std::vector<const model::LinearWeight*> gates, ups, downs;
    for (const auto& e : experts) {
      gates.push_back(&e.gate);
      ups.push_back(&e.up);
      downs.push_back(&e.down);
    }
    const cuda::Mxfp4Stack gate = cuda::upload_mxfp4_stack(gates, arena);
    const cuda::Mxfp4Stack up = cuda::upload_mxfp4_stack(ups, arena);
    const cuda::Mxfp4Stack down = cuda::upload_mxfp4_stack(downs, arena);
    CHECK(gate.special_scales == special);
    CHECK_FALSE(up.special_scales);
    const cuda::DeviceBuffer dx = cuda::to_device(x);
    const cuda::DeviceBuffer dids = cuda::to_device(ids);
    const cuda::DeviceBuffer dweights = cuda::to_device(weights);
    const std::size_t slots = std::size_t(c.tokens) * c.top_k;
    cuda::DeviceBuffer dact = gpu_test::poisoned_floats(slots * c.inter);
    cuda::DeviceBuffer dpartial = gpu_test::poisoned_floats(slots * c.hidden);
    cuda::DeviceBuffer dy = gpu_test::poisoned_floats(want.size());
    cuda::DeviceBuffer dgroups =
        cuda::to_device(std::vector<int>(cuda::expert_group_table_ints(int(slots)), -3));
    cuda::group_experts(dids.as<int>(), c.tokens, c.top_k, c.experts, dgroups.as<int>());
    cuda::expert_gate_up(gate, up, dx.as<float>(), dgroups.as<int>(), c.tokens, c.top_k,
                         dact.as<float>());
    cuda::expert_down(down, dact.as<float>(), dgroups.as<int>(), dweights.as<float>(), c.tokens,
                      c.top_k, dpartial.as<float>(), dy.as<float>());
    cuda::synchronize();
    const std::vector<float> got = cuda::to_host<float>(dy, want.size());
    INFO("experts " << c.experts << " hidden " << c.hidden << " inter " << c.inter << " top "
                    << c.top_k << " tokens " << c.tokens << " skewed " << c.skewed);
    CHECK(gpu_test::max_relative_to_peak(got, want) <= 2e-5);

    // The last token alone (a decode step) gives bit-identical activations and outputs: a
    // slot's arithmetic does not depend on which tokens share its experts.
    const int last = c.tokens - 1;
    const cuda::DeviceBuffer dids1 =
        cuda::to_device(std::vector<int>(ids.begin() + std::size_t(last) * c.top_k, ids.end()));
    const cuda::DeviceBuffer dweights1 = cuda::to_device(
        std::vector<float>(weights.begin() + std::size_t(last) * c.top_k, weights.end()));
    const cuda::DeviceBuffer dx1 =
        cuda::to_device(std::vector<float>(x.begin() + std::size_t(last) * c.hidden, x.end()));
    cuda::DeviceBuffer dact1 = gpu_test::poisoned_floats(std::size_t(c.top_k) * c.inter);
    cuda::DeviceBuffer dy1 = gpu_test::poisoned_floats(c.hidden);
    cuda::group_experts(dids1.as<int>(), 1, c.top_k, c.experts, dgroups.as<int>());
    cuda::expert_gate_up(gate, up, dx1.as<float>(), dgroups.as<int>(), 1, c.top_k,
                         dact1.as<float>());
    cuda::expert_down(down, dact1.as<float>(), dgroups.as<int>(), dweights1.as<float>(), 1, c.top_k,
                      dpartial.as<float>(), dy1.as<float>());
    cuda::synchronize();
    const std::vector<float> act_all = cuda::to_host<float>(dact, slots * c.inter);
    const std::vector<float> act_one = cuda::to_host<float>(dact1, std::size_t(c.top_k) * c.inter);
    const std::vector<float> y_one = cuda::to_host<float>(dy1, c.hidden);
    CHECK(std::equal(act_one.begin(), act_one.end(),
                     act_all.begin() + std::size_t(last) * c.top_k * c.inter));
    CHECK(std::equal(y_one.begin(), y_one.end(), got.begin() + std::size_t(last) * c.hidden));

    // The executor's path: activations split once (split_activations) before each product.
    // Same tolerance, and the last token alone again gives bit-identical outputs.
    const auto run_split = [&](const float* dxp, const int* idsp, const float* wp, int ntok,
                               float* dactp, float* dyp) {
      const std::size_t nslots = std::size_t(ntok) * c.top_k;
      const std::size_t values = nslots * std::max(c.hidden, c.inter);
      cuda::DeviceBuffer hi(values * 2), lo(values * 2), inv(nslots * sizeof(float));
      const auto split = [&](int cols) {
        return cuda::SplitActivations{static_cast<std::uint16_t*>(hi.get()),
                                      static_cast<std::uint16_t*>(lo.get()),
                                      static_cast<float*>(inv.get()), cols};
      };
      cuda::split_activations(dxp, ntok, c.hidden, split(c.hidden));
      cuda::group_experts(idsp, ntok, c.top_k, c.experts, dgroups.as<int>());
      cuda::expert_gate_up(gate, up, split(c.hidden), dgroups.as<int>(), ntok, c.top_k, dactp);
      cuda::split_activations(dactp, int(nslots), c.inter, split(c.inter));
      cuda::expert_down(down, split(c.inter), dgroups.as<int>(), wp, ntok, c.top_k,
                        dpartial.as<float>(), dyp);
      cuda::synchronize();
    };
    cuda::DeviceBuffer dy_split = gpu_test::poisoned_floats(want.size());
    cuda::DeviceBuffer dy1_split = gpu_test::poisoned_floats(c.hidden);
    run_split(dx.as<float>(), dids.as<int>(), dweights.as<float>(), c.tokens, dact.as<float>(),
              dy_split.as<float>());
    const std::vector<float> got_split = cuda::to_host<float>(dy_split, want.size());
    CHECK(gpu_test::max_relative_to_peak(got_split, want) <= 2e-5);
    run_split(dx1.as<float>(), dids1.as<int>(), dweights1.as<float>(), 1, dact1.as<float>(),
              dy1_split.as<float>());
    const std::vector<float> y1_split = cuda::to_host<float>(dy1_split, c.hidden);
    CHECK(std::equal(y1_split.begin(), y1_split.end(),
                     got_split.begin() + std::size_t(last) * c.hidden));
  }
}

TEST_CASE("Expert grouping lists each selected expert once with its slots in order", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  struct Case {
    int experts, top_k, tokens;
    bool skewed = false;  // three quarters of the slots on experts 0..2: very ragged groups
  };
  // Prefill chunks too (issue 20): 256 and 4096 tokens at top-8 (32768 slots: the grouping's
  // shared memory no longer grows with the slots), skewed and uniform.
  for (const Case c : {Case{64, 8, 1}, Case{64, 8, 8}, Case{64, 8, 16}, Case{8, 4, 13},
                       Case{1024, 8, 3}, Case{5, 2, 40}, Case{64, 8, 256}, Case{64, 8, 256, true},
                       Case{256, 8, 1000, true}, Case{64, 8, 4096}, Case{1024, 8, 4096, true}}) {
    const int slots = c.tokens * c.top_k;
    std::vector<int> ids(slots);
    std::uniform_int_distribution<int> pick(0, c.experts - 1), popular(0, 2), coin(0, 3);
    for (int& id : ids) id = c.skewed && coin(rng) != 0 ? popular(rng) : pick(rng);
    ids[slots / 2] = c.experts + 3;  // out of range: dropped
    const cuda::DeviceBuffer dids = cuda::to_device(ids);
    const int table_ints = cuda::expert_group_table_ints(slots);
    cuda::DeviceBuffer dtable = cuda::to_device(std::vector<int>(table_ints, -9));
    cuda::group_experts(dids.as<int>(), c.tokens, c.top_k, c.experts, dtable.as<int>());
    cuda::synchronize();
    const std::vector<int> table = cuda::to_host<int>(dtable, table_ints);
    // Expected: experts ascending, each with its slots ascending.
    std::vector<int> want_experts, want_start, want_members;
    for (int e = 0; e < c.experts; ++e) {
      const std::size_t before = want_members.size();
      for (int s = 0; s < slots; ++s)
        if (ids[s] == e) want_members.push_back(s);
      if (want_members.size() > before) {
        want_experts.push_back(e);
        want_start.push_back(static_cast<int>(before));
      }
    }
    want_start.push_back(static_cast<int>(want_members.size()));
    const int groups = static_cast<int>(want_experts.size());
    INFO("experts " << c.experts << " top " << c.top_k << " tokens " << c.tokens << " skewed "
                    << c.skewed);
    REQUIRE(table[0] == groups);
    CHECK(std::equal(want_experts.begin(), want_experts.end(), table.begin() + 1));
    CHECK(std::equal(want_start.begin(), want_start.end(), table.begin() + 1 + slots));
    CHECK(std::equal(want_members.begin(), want_members.end(), table.begin() + 2 + 2 * slots));
    // Groups past the last are empty (the expert kernels read a group without table[0]).
    const int members = static_cast<int>(want_members.size());
    for (int g = groups; g < slots; ++g) {
      INFO("group " << g);
      CHECK(table[1 + g] == 0);
      CHECK(table[1 + slots + g] == members);
      CHECK(table[2 + slots + g] == members);
    }
  }
}

TEST_CASE("Dense FP8 gated MLP (linear, silu_mul, linear) matches cpu::gated_mlp", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int tokens : {1, 5}) {
    const int hidden = 512, inter = 1536;
    gpu_test::HostWeight hg, hu, hd;
    gpu_test::make_fp8(hg, rng, inter, hidden);
    gpu_test::make_fp8(hu, rng, inter, hidden);
    gpu_test::make_fp8(hd, rng, hidden, inter);
    const model::ExpertWeights mlp{hg.w, hu.w, hd.w};
    const std::vector<float> x = gpu_test::random_floats(rng, std::size_t(tokens) * hidden);
    std::vector<float> want(std::size_t(tokens) * hidden);
    cpu::ThreadPool pool(2);
    cpu::gated_mlp(pool, mlp, x.data(), tokens, want.data());

    cuda::DeviceArena arena;
    const cuda::Fp8Matrix g = cuda::upload_fp8(hg.w, arena), u = cuda::upload_fp8(hu.w, arena),
                          d = cuda::upload_fp8(hd.w, arena);
    const cuda::DeviceBuffer dx = cuda::to_device(x);
    cuda::DeviceBuffer dg = gpu_test::poisoned_floats(std::size_t(tokens) * inter);
    cuda::DeviceBuffer du = gpu_test::poisoned_floats(std::size_t(tokens) * inter);
    cuda::DeviceBuffer dy = gpu_test::poisoned_floats(want.size());
    cuda::linear(g, dx.as<float>(), tokens, dg.as<float>());
    cuda::linear(u, dx.as<float>(), tokens, du.as<float>());
    cuda::silu_mul(dg.as<float>(), du.as<float>(), std::size_t(tokens) * inter, dg.as<float>());
    cuda::linear(d, dg.as<float>(), tokens, dy.as<float>());
    cuda::synchronize();
    CHECK(gpu_test::max_relative_to_peak(cuda::to_host<float>(dy, want.size()), want) <= 2e-5);
  }
}

}  // namespace
}  // namespace mimo
