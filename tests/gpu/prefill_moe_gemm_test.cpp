// The experts' prefill GEMM (cuda::prefill_expert_gate_up / prefill_expert_down,
// cuda/tiles/prefill_moe_gemm.cuh) against float64 products of the CPU-decoded MXFP4 weights,
// element by element within the linear tests' tolerance (2e-5 of sum |w x| a product, carried
// through SiLU for act); against the grouped decode kernels (expert_gate_up / expert_down, split
// forms) within 2e-5 of the peak; and a member's bits alone == in its full group.
// Routings are built by hand so the groups are ragged: experts with 0, 1, 63, 64, 65, 200 and
// all-token members (1 to 11 work tiles of 64) where the token count allows, the rest spread at
// random. Shapes: 256 x 512 and 512 x 256 experts, row counts that leave odd and partial row tiles
// (128 rows a gate/up block, 256 a down block), column counts that are multiples of 32 but not of
// 128 (a partial last stage), 64 to 700 tokens at top-8 and top-2, and one stack with special
// scale bytes (0x00). Outputs are poisoned with NaN first, so an unwritten element fails.
#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>

#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/device_weights.hpp"
#include "gpu_test_support.hpp"
#include "support/catch.hpp"

namespace mimo {
namespace {

using Split = gpu_test::SplitBuffers;

// Per token top_k distinct experts whose member counts are `demand` (sum n * top_k, each <= n):
// each token takes the experts of largest remaining demand (ties by a random order), which
// always completes; tokens are then shuffled.
std::vector<int> route_by_demand(std::mt19937_64& rng, std::vector<int> demand, int n, int top_k) {
  std::vector<int> ids;
  ids.reserve(std::size_t(n) * top_k);
  std::vector<int> order(demand.size());
  for (int t = 0; t < n; ++t) {
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return demand[a] > demand[b]; });
    for (int k = 0; k < top_k; ++k) {
      ids.push_back(order[k]);
      --demand[order[k]];
    }
  }
  std::vector<int> tokens(n);
  std::iota(tokens.begin(), tokens.end(), 0);
  std::shuffle(tokens.begin(), tokens.end(), rng);
  std::vector<int> out(ids.size());
  for (int t = 0; t < n; ++t) {
    std::copy_n(ids.begin() + std::size_t(tokens[t]) * top_k, top_k,
                out.begin() + std::size_t(t) * top_k);
    std::shuffle(out.begin() + std::size_t(t) * top_k, out.begin() + std::size_t(t + 1) * top_k,
                 rng);
  }
  return out;
}

// Member counts: experts 0..6 take 0, 1, 63, 64, 65, 200 and n members while they fit, the
// others the remaining slots at random (at most n each).
std::vector<int> ragged_demand(std::mt19937_64& rng, int experts, int n, int top_k) {
  std::vector<int> demand(experts, 0);
  int left = n * top_k;
  const int special[] = {0, 1, 63, 64, 65, 200, n};
  for (int e = 0; e < 7; ++e) {
    if (special[e] <= n && special[e] <= left) {
      demand[e] = special[e];
      left -= special[e];
    }
  }
  std::uniform_int_distribution<int> pick(7, experts - 1);
  while (left > 0) {
    const int e = pick(rng);
    if (demand[e] < n) {
      ++demand[e];
      --left;
    }
  }
  return demand;
}

struct Case {
  int hidden, inter, tokens, top_k;
  bool special = false;  // scale bytes 0x00 in the gate and down stacks
  int experts = 16;      // 34 (33 groups) and 80: the work-tile search takes several warp passes
};

// The device state of one case: stacks, inputs, routing and group table.
struct Setup {
  std::vector<std::unique_ptr<gpu_test::HostWeight>> store;
  std::vector<const model::LinearWeight*> gates, ups, downs;
  cuda::DeviceArena arena;
  cuda::Mxfp4Stack gate, up, down;
};

struct Outputs {
  std::vector<float> act, partial, y;
};

// One run on n tokens (x [n, hidden] on the host, ids / weights [n, top_k]).
Outputs run(const Setup& s, const Case& c, const std::vector<float>& x, const std::vector<int>& ids,
            const std::vector<float>& weights, int n, bool prefill) {
  const std::size_t slots = std::size_t(n) * c.top_k;
  const cuda::DeviceBuffer dx = cuda::to_device(x);
  const cuda::DeviceBuffer dids = cuda::to_device(ids);
  const cuda::DeviceBuffer dweights = cuda::to_device(weights);
  cuda::DeviceBuffer table =
      cuda::to_device(std::vector<int>(cuda::expert_group_table_ints(int(slots)), -3));
  cuda::DeviceBuffer act = gpu_test::poisoned_floats(slots * c.inter);
  cuda::DeviceBuffer partial = gpu_test::poisoned_floats(slots * c.hidden);
  cuda::DeviceBuffer y = gpu_test::poisoned_floats(std::size_t(n) * c.hidden);
  Split split_x(n, c.hidden), split_act(int(slots), c.inter);
  cuda::split_activations(dx.as<float>(), n, c.hidden, split_x.view);
  cuda::group_experts(dids.as<int>(), n, c.top_k, c.experts, table.as<int>());
  if (prefill) {
    cuda::prefill_expert_gate_up(s.gate, s.up, split_x.view, table.as<int>(), n, c.top_k,
                                 act.as<float>());
  } else {
    cuda::expert_gate_up(s.gate, s.up, split_x.view, table.as<int>(), n, c.top_k, act.as<float>());
  }
  cuda::split_activations(act.as<float>(), int(slots), c.inter, split_act.view);
  if (prefill) {
    cuda::prefill_expert_down(s.down, split_act.view, table.as<int>(), dweights.as<float>(), n,
                              c.top_k, partial.as<float>(), y.as<float>());
  } else {
    cuda::expert_down(s.down, split_act.view, table.as<int>(), dweights.as<float>(), n, c.top_k,
                      partial.as<float>(), y.as<float>());
  }
  cuda::synchronize();
  return Outputs{cuda::to_host<float>(act, slots * c.inter),
                 cuda::to_host<float>(partial, slots * c.hidden),
                 cuda::to_host<float>(y, std::size_t(n) * c.hidden)};
}

// Rows of a weight decoded by the CPU.
std::vector<float> decoded(const model::LinearWeight& w) {
  std::vector<float> rows(std::size_t(w.rows) * w.cols);
  for (std::int64_t r = 0; r < w.rows; ++r) cpu::decode_row(w, r, rows.data() + r * w.cols);
  return rows;
}

// sum_c w[c] x[c] and sum_c |w[c] x[c]| in float64.
void dot(const float* w, const float* x, int cols, double& sum, double& magnitude) {
  sum = magnitude = 0;
  for (int i = 0; i < cols; ++i) {
    const double p = double(w[i]) * x[i];
    sum += p;
    magnitude += std::fabs(p);
  }
}

double silu(double g) {
  return g / (1.0 + std::exp(-g));
}

// Elements outside tolerance (NaN counts): act against silu(gate) * up from x, partial against
// down of the GPU's own act, y against the weighted sum of those; worst error / tolerance.
int count_bad(const Setup& s, const Case& c, const std::vector<float>& x,
              const std::vector<int>& ids, const std::vector<float>& weights, const Outputs& o,
              double& worst) {
  std::vector<std::vector<float>> g(c.experts), u(c.experts), d(c.experts);
  for (int e = 0; e < c.experts; ++e) {
    g[e] = decoded(*s.gates[e]);
    u[e] = decoded(*s.ups[e]);
    d[e] = decoded(*s.downs[e]);
  }
  int bad = 0;
  worst = 0;
  const auto check = [&](double got, double want, double tol) {
    const double err = std::fabs(got - want);
    if (!(err <= tol)) ++bad;
    worst = std::max(worst, err / tol);
  };
  for (int t = 0; t < c.tokens; ++t) {
    std::vector<double> y(c.hidden, 0.0), y_mag(c.hidden, 0.0);
    for (int k = 0; k < c.top_k; ++k) {
      const std::size_t slot = std::size_t(t) * c.top_k + k;
      const int e = ids[slot];
      const float* xt = x.data() + std::size_t(t) * c.hidden;
      for (int r = 0; r < c.inter; ++r) {
        double gs, gm, us, um;
        dot(g[e].data() + std::size_t(r) * c.hidden, xt, c.hidden, gs, gm);
        dot(u[e].data() + std::size_t(r) * c.hidden, xt, c.hidden, us, um);
        const double want = silu(gs) * us;
        const double tol = 2e-5 * (1.1 * std::fabs(us) * gm + std::fabs(silu(gs)) * um) +
                           1e-6 * std::fabs(want) + 1e-30;
        check(o.act[slot * c.inter + r], want, tol);
      }
      const float* a = o.act.data() + slot * c.inter;
      for (int r = 0; r < c.hidden; ++r) {
        double ds, dm;
        dot(d[e].data() + std::size_t(r) * c.inter, a, c.inter, ds, dm);
        check(o.partial[slot * c.hidden + r], ds, 2e-5 * dm + 1e-30);
        y[r] += double(weights[slot]) * ds;
        y_mag[r] += double(weights[slot]) * dm;
      }
    }
    for (int r = 0; r < c.hidden; ++r)
      check(o.y[std::size_t(t) * c.hidden + r], y[r], 2e-5 * y_mag[r] + 1e-30);
  }
  return bad;
}

TEST_CASE("Experts' prefill GEMM matches float64 and the grouped kernels on ragged groups",
          "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (const Case c : {Case{512, 256, 64, 8}, Case{256, 512, 100, 2}, Case{416, 384, 512, 8},
                       Case{640, 160, 700, 8, true}, Case{512, 256, 700, 2},
                       Case{256, 128, 300, 8, false, 80}, Case{256, 128, 300, 4, false, 34}}) {
    INFO("hidden " << c.hidden << " inter " << c.inter << " tokens " << c.tokens << " top "
                   << c.top_k << " special " << c.special << " experts " << c.experts);
    Setup s;
    auto make = [&](int rows, int cols, std::vector<const model::LinearWeight*>& list) {
      s.store.push_back(std::make_unique<gpu_test::HostWeight>());
      gpu_test::make_mxfp4(*s.store.back(), rng, rows, cols, 0.05f);
      list.push_back(&s.store.back()->w);
    };
    for (int e = 0; e < c.experts; ++e) {
      make(c.inter, c.hidden, s.gates);
      make(c.inter, c.hidden, s.ups);
      make(c.hidden, c.inter, s.downs);
    }
    if (c.special) {  // 2^-127 scales in some gate and down rows: the exact scale decode
      for (std::size_t i = 0; i < s.store.size(); i += 3) {
        s.store[i]->scales[i % 5] = 0x00;
        s.store[i + 2]->scales[(i + 1) % 5] = 0x00;
      }
    }
    s.gate = cuda::upload_mxfp4_stack(s.gates, s.arena);
    s.up = cuda::upload_mxfp4_stack(s.ups, s.arena);
    s.down = cuda::upload_mxfp4_stack(s.downs, s.arena);
    CHECK(s.gate.special_scales == c.special);
    CHECK(s.down.special_scales == c.special);

    const std::vector<int> ids =
        route_by_demand(rng, ragged_demand(rng, c.experts, c.tokens, c.top_k), c.tokens, c.top_k);
    for (int t = 0; t < c.tokens; ++t) {  // distinct experts a token
      std::vector<int> mine(ids.begin() + std::size_t(t) * c.top_k,
                            ids.begin() + std::size_t(t + 1) * c.top_k);
      std::sort(mine.begin(), mine.end());
      REQUIRE(std::adjacent_find(mine.begin(), mine.end()) == mine.end());
    }
    std::vector<float> weights(ids.size());
    std::uniform_real_distribution<float> wdist(0.05f, 1.0f);
    for (float& w : weights) w = wdist(rng);
    std::vector<float> x = gpu_test::random_floats(rng, std::size_t(c.tokens) * c.hidden);
    for (float& v : x) {
      if (v == 0.0f) v = 1e-3f;  // a zero would hide a wrong weight column
    }

    const Outputs got = run(s, c, x, ids, weights, c.tokens, true);
    double worst = 0;
    const int bad = count_bad(s, c, x, ids, weights, got, worst);
    INFO("worst error / tolerance " << worst);
    CHECK(bad == 0);

    const Outputs grouped = run(s, c, x, ids, weights, c.tokens, false);
    CHECK(gpu_test::max_relative_to_peak(got.act, grouped.act) <= 2e-5);
    CHECK(gpu_test::max_relative_to_peak(got.y, grouped.y) <= 2e-5);

    // A member of the largest group alone (a one-token step, its experts one member each) gives
    // the same bits as in the full step: act, partial and y.
    std::vector<int> members(c.experts, 0);
    for (int id : ids) ++members[id];
    const int big = int(std::max_element(members.begin(), members.end()) - members.begin());
    int t = 0;
    while (t < c.tokens && std::find(ids.begin() + std::size_t(t) * c.top_k,
                                     ids.begin() + std::size_t(t + 1) * c.top_k,
                                     big) == ids.begin() + std::size_t(t + 1) * c.top_k)
      ++t;
    REQUIRE(t < c.tokens);
    const std::size_t k0 = std::size_t(t) * c.top_k;
    const Outputs one =
        run(s, c,
            std::vector<float>(x.begin() + std::size_t(t) * c.hidden,
                               x.begin() + std::size_t(t + 1) * c.hidden),
            std::vector<int>(ids.begin() + k0, ids.begin() + k0 + c.top_k),
            std::vector<float>(weights.begin() + k0, weights.begin() + k0 + c.top_k), 1, true);
    INFO("token " << t);
    CHECK(std::memcmp(one.act.data(), got.act.data() + k0 * c.inter, one.act.size() * 4) == 0);
    CHECK(std::memcmp(one.partial.data(), got.partial.data() + k0 * c.hidden,
                      one.partial.size() * 4) == 0);
    CHECK(std::memcmp(one.y.data(), got.y.data() + std::size_t(t) * c.hidden, one.y.size() * 4) ==
          0);
  }
}

}  // namespace
}  // namespace mimo
