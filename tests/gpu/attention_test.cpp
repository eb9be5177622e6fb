// RoPE, KV-cache writes and decode / multi-token attention on the GPU against cpu::Rope and
// cpu::attention: full and sliding (ring) layers, GQA, sinks, 192/128 and 64/64 head dims; the
// fused rope + store kv kernel against the separate ones.
// Tolerances: RoPE within 1e-6 of the larger input magnitude (CUDA's double cos/sin may differ
// from glibc's in the last bit); cache writes exact; attention 1e-5 of the output peak.
#include "cpu/attention.hpp"

#include <algorithm>
#include <cstring>

#include "cpu/rope.hpp"
#include "cuda/kernels/ops.hpp"
#include "gpu_test_support.hpp"
#include "support/catch.hpp"

namespace mimo {
namespace {

TEST_CASE("Partial neox RoPE matches cpu::Rope at large and small positions", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  struct Case {
    int heads, head_dim, rotary_dim;
    double theta;
  };
  for (const Case c : {Case{64, 192, 64, 5e6}, Case{8, 192, 64, 1e4}, Case{4, 128, 128, 1e4}}) {
    const int n = 5;
    std::vector<int> positions = {0, 1, 17, 4095, 1000003};
    std::vector<float> x = gpu_test::random_floats(rng, std::size_t(n) * c.heads * c.head_dim);
    const cpu::Rope rope(c.rotary_dim, c.theta);
    cuda::DeviceBuffer dx = cuda::to_device(x);
    const cuda::DeviceBuffer dpos = cuda::to_device(positions);
    const cuda::DeviceBuffer dfreq = cuda::to_device(rope.inv_freq());
    cuda::rope(dx.as<float>(), dpos.as<int>(), n, c.heads, c.head_dim, c.rotary_dim,
               dfreq.as<float>());
    cuda::synchronize();
    const std::vector<float> got = cuda::to_host<float>(dx, x.size());
    std::vector<float> want = x;
    for (int t = 0; t < n; ++t) {
      rope.apply(want.data() + std::size_t(t) * c.heads * c.head_dim, c.heads, c.head_dim,
                 positions[t]);
    }
    int bad = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!(std::fabs(got[i] - want[i]) <= 1e-6f * 4.0f * std::max(1.0f, std::fabs(want[i]))))
        ++bad;
    }
    CHECK(bad == 0);
  }
}

TEST_CASE("Fused rope + store kv equals rope, rope and store_kv bit for bit", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  struct Case {
    int heads, kv_heads, head_dim, v_head_dim, rotary_dim, capacity;
  };
  for (const Case c :
       {Case{64, 4, 192, 128, 64, 300}, Case{8, 8, 64, 64, 64, 7}, Case{6, 2, 128, 96, 32, 11}}) {
    const int n = 5;
    const std::vector<int> positions = {3, 1000, 4, 5, 7};  // distinct slots in every ring
    const std::size_t q_size = std::size_t(n) * c.heads * c.head_dim;
    const std::size_t k_size = std::size_t(n) * c.kv_heads * c.head_dim;
    const std::size_t v_size = std::size_t(n) * c.kv_heads * c.v_head_dim;
    const std::vector<float> q = gpu_test::random_floats(rng, q_size, 3.0f);
    const std::vector<float> k = gpu_test::random_floats(rng, k_size, 3.0f);
    const std::vector<float> v = gpu_test::random_floats(rng, v_size, 3.0f);
    const cpu::Rope rope(c.rotary_dim, 1e4);
    const cuda::DeviceBuffer dfreq = cuda::to_device(rope.inv_freq());
    const cuda::DeviceBuffer dpos = cuda::to_device(positions);
    const cuda::AttentionShape shape{c.heads, c.kv_heads, c.head_dim, c.v_head_dim, 0, 1.0f};
    const std::size_t kc = std::size_t(c.capacity) * c.kv_heads * c.head_dim;
    const std::size_t vc = std::size_t(c.capacity) * c.kv_heads * c.v_head_dim;
    std::vector<float> results[2][4];  // [way][q, k, cache k, cache v]
    for (int way = 0; way < 2; ++way) {
      cuda::DeviceBuffer dq = cuda::to_device(q), dk = cuda::to_device(k);
      const cuda::DeviceBuffer dv = cuda::to_device(v);
      cuda::DeviceBuffer ck = gpu_test::poisoned_floats(kc), cv = gpu_test::poisoned_floats(vc);
      const cuda::KvCacheView cache{ck.as<float>(), cv.as<float>(), c.capacity};
      if (way == 0) {
        cuda::rope(dq.as<float>(), dpos.as<int>(), n, c.heads, c.head_dim, c.rotary_dim,
                   dfreq.as<float>());
        cuda::rope(dk.as<float>(), dpos.as<int>(), n, c.kv_heads, c.head_dim, c.rotary_dim,
                   dfreq.as<float>());
        cuda::store_kv(dk.as<float>(), dv.as<float>(), dpos.as<int>(), n, shape, 0.707f, cache);
      } else {
        cuda::rope_store_kv(dq.as<float>(), dk.as<float>(), dv.as<float>(), dpos.as<int>(), n,
                            shape, c.rotary_dim, dfreq.as<float>(), 0.707f, cache);
      }
      cuda::synchronize();
      results[way][0] = cuda::to_host<float>(dq, q_size);
      results[way][1] = cuda::to_host<float>(dk, k_size);
      results[way][2] = cuda::to_host<float>(ck, kc);
      results[way][3] = cuda::to_host<float>(cv, vc);
    }
    CHECK(results[1][0] != q);  // the rotation happened
    for (int part = 0; part < 4; ++part) {
      INFO("heads " << c.heads << " part " << part);
      const std::vector<float>& a = results[0][part];
      const std::vector<float>& b = results[1][part];
      REQUIRE(a.size() == b.size());
      int mismatch = 0;
      for (std::size_t i = 0; i < a.size(); ++i) {
        mismatch += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;  // NaN poison compared too
      }
      CHECK(mismatch == 0);
    }
  }
}

struct AttentionCase {
  int heads, kv_heads, head_dim, v_head_dim;
  int window;   // 0: full
  int context;  // positions already in the cache before the step
  int step;     // query tokens in the step
  bool sinks;
};

void check_attention(const AttentionCase& c, std::mt19937_64& rng) {
  const int total = c.context + c.step;
  const int capacity = c.window > 0 ? c.window + c.step - 1 : total + 3;
  cuda::AttentionShape shape{c.heads,      c.kv_heads, c.head_dim,
                             c.v_head_dim, c.window,   1.0f / std::sqrt(float(c.head_dim))};
  const float value_scale = 0.707f;
  const std::size_t k_row = std::size_t(c.kv_heads) * c.head_dim;
  const std::size_t v_row = std::size_t(c.kv_heads) * c.v_head_dim;

  // Keys / values of every position, written on both sides the way the forward writes them.
  const std::vector<float> keys = gpu_test::random_floats(rng, total * k_row);
  const std::vector<float> values = gpu_test::random_floats(rng, total * v_row);
  std::vector<float> host_k(capacity * k_row, 0.0f), host_v(capacity * v_row, 0.0f);
  for (int p = 0; p < total; ++p) {
    const int slot = p % capacity;
    std::copy_n(keys.begin() + p * k_row, k_row, host_k.begin() + slot * k_row);
    for (std::size_t j = 0; j < v_row; ++j)
      host_v[slot * v_row + j] = values[p * v_row + j] * value_scale;
  }
  cuda::DeviceBuffer dk = gpu_test::poisoned_floats(capacity * k_row);
  cuda::DeviceBuffer dv = gpu_test::poisoned_floats(capacity * v_row);
  const cuda::KvCacheView cache{dk.as<float>(), dv.as<float>(), capacity};
  // Every position in chunks of `step` tokens, in order, as successive steps would store them;
  // the ring keeps the last `capacity` positions, all the step's queries can see.
  for (int p0 = 0; p0 < total; p0 += c.step) {
    const int n = std::min(c.step, total - p0);
    std::vector<int> positions(n);
    for (int i = 0; i < n; ++i) positions[i] = p0 + i;
    const cuda::DeviceBuffer dpos = cuda::to_device(positions);
    const cuda::DeviceBuffer dks(n * k_row * sizeof(float));
    const cuda::DeviceBuffer dvs(n * v_row * sizeof(float));
    cuda::copy_to_device(dks.get(), keys.data() + p0 * k_row, dks.bytes());
    cuda::copy_to_device(dvs.get(), values.data() + p0 * v_row, dvs.bytes());
    cuda::store_kv(dks.as<float>(), dvs.as<float>(), dpos.as<int>(), n, shape, value_scale, cache);
  }
  cuda::synchronize();
  const std::vector<float> got_k = cuda::to_host<float>(dk, host_k.size());
  const std::vector<float> got_v = cuda::to_host<float>(dv, host_v.size());
  int cache_mismatch = 0;
  for (int p = std::max(0, total - capacity); p < total; ++p) {
    const int slot = p % capacity;
    for (std::size_t j = 0; j < k_row; ++j)
      cache_mismatch += got_k[slot * k_row + j] != host_k[slot * k_row + j];
    for (std::size_t j = 0; j < v_row; ++j)
      cache_mismatch += got_v[slot * v_row + j] != host_v[slot * v_row + j];
  }
  CHECK(cache_mismatch == 0);

  const std::vector<float> q =
      gpu_test::random_floats(rng, std::size_t(c.step) * c.heads * c.head_dim);
  const std::vector<float> sinks = gpu_test::random_floats(rng, c.heads, 2.0f);
  std::vector<int> positions(c.step);
  for (int i = 0; i < c.step; ++i) positions[i] = c.context + i;
  const cuda::DeviceBuffer dq = cuda::to_device(q);
  const cuda::DeviceBuffer dpos = cuda::to_device(positions);
  const cuda::DeviceBuffer dsinks = cuda::to_device(sinks);
  const std::size_t out_count = std::size_t(c.step) * c.heads * c.v_head_dim;
  // Single pass, then in key segments (flash-decoding) with segment counts that leave some
  // ranges empty (more segments than keys) and ranges of unequal length.
  std::vector<std::vector<float>> results;
  for (const int segments : {1, 2, 7, cuda::kMaxAttentionKeySegments}) {
    cuda::DeviceBuffer dout = gpu_test::poisoned_floats(out_count);
    cuda::DeviceBuffer dpartial = gpu_test::poisoned_floats(
        cuda::attention_partial_floats(c.step, c.heads, c.v_head_dim, segments));
    cuda::attention(dq.as<float>(), dpos.as<int>(), c.step, shape, cache,
                    c.sinks ? dsinks.as<float>() : nullptr, dout.as<float>(), nullptr,
                    segments > 1 ? dpartial.as<float>() : nullptr, segments);
    cuda::synchronize();
    results.push_back(cuda::to_host<float>(dout, out_count));
    if (segments > 1) {
      // The partials merged by the segment kernel's last block of each head: the same bits. Run
      // twice, since the arrival counters must be left at zero for the next launch.
      const std::size_t counters = cuda::attention_arrival_counters(c.step, c.heads);
      cuda::DeviceBuffer arrivals = cuda::to_device(std::vector<unsigned>(counters, 0u));
      for (int run = 0; run < 2; ++run) {
        INFO("segments " << segments << ", merged in the segment kernel, run " << run);
        cuda::DeviceBuffer fused_out = gpu_test::poisoned_floats(out_count);
        cuda::attention(dq.as<float>(), dpos.as<int>(), c.step, shape, cache,
                        c.sinks ? dsinks.as<float>() : nullptr, fused_out.as<float>(), nullptr,
                        dpartial.as<float>(), segments, arrivals.as<unsigned>());
        cuda::synchronize();
        const std::vector<float> got = cuda::to_host<float>(fused_out, out_count);
        CHECK(std::memcmp(got.data(), results.back().data(), out_count * sizeof(float)) == 0);
      }
      const std::vector<unsigned> left = cuda::to_host<unsigned>(arrivals, counters);
      CHECK(std::all_of(left.begin(), left.end(), [](unsigned v) { return v == 0; }));
    }
    if (segments > 1 && c.step > 1) {
      // The step's last token alone (a decode step) gives the same bits as in the step.
      const int last = c.step - 1;
      const std::size_t q_row = std::size_t(c.heads) * c.head_dim;
      const std::size_t out_row = std::size_t(c.heads) * c.v_head_dim;
      const cuda::DeviceBuffer dq1 = cuda::to_device(
          std::vector<float>(q.begin() + last * q_row, q.begin() + (last + 1) * q_row));
      const cuda::DeviceBuffer dpos1 = cuda::to_device(std::vector<int>{positions[last]});
      cuda::DeviceBuffer dout1 = gpu_test::poisoned_floats(out_row);
      cuda::attention(dq1.as<float>(), dpos1.as<int>(), 1, shape, cache,
                      c.sinks ? dsinks.as<float>() : nullptr, dout1.as<float>(), nullptr,
                      dpartial.as<float>(), segments);
      cuda::synchronize();
      const std::vector<float> alone = cuda::to_host<float>(dout1, out_row);
      INFO("segments " << segments << ": last token alone vs in the step");
      CHECK(std::memcmp(alone.data(), results.back().data() + last * out_row,
                        out_row * sizeof(float)) == 0);
    }
  }

  cpu::KvLayerView view{host_k.data(), host_v.data(), capacity,
                        c.kv_heads,    c.head_dim,    c.v_head_dim};
  cpu::AttentionParams params{c.heads, c.window, c.sinks ? sinks.data() : nullptr};
  std::vector<float> want(out_count);
  cpu::ThreadPool pool(2);
  cpu::attention(pool, view, params, q.data(), c.step, c.context, want.data());
  INFO("heads " << c.heads << "/" << c.kv_heads << " dims " << c.head_dim << "/" << c.v_head_dim
                << " window " << c.window << " context " << c.context << " step " << c.step
                << " sinks " << c.sinks);
  for (std::size_t i = 0; i < results.size(); ++i) {
    INFO("variant " << i << " (0: single pass, then 2, 7, 32 key segments)");
    CHECK(gpu_test::max_relative_to_peak(results[i], want) <= 1e-5);
  }
}

TEST_CASE("Decode and multi-token attention match cpu::attention", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (const AttentionCase c : {
           AttentionCase{16, 2, 192, 128, 0, 0, 1, false},     // first token
           AttentionCase{16, 2, 192, 128, 0, 300, 1, false},   // full layer decode
           AttentionCase{16, 4, 192, 128, 0, 77, 5, false},    // full layer verify step
           AttentionCase{16, 4, 192, 128, 32, 200, 1, true},   // sliding ring, wrapped, sinks
           AttentionCase{16, 4, 192, 128, 32, 200, 8, true},   // sliding multi-token step
           AttentionCase{8, 8, 64, 64, 16, 5, 3, true},        // window not yet full
           AttentionCase{12, 3, 128, 128, 0, 1000, 2, false},  // many keys per warp
           AttentionCase{64, 4, 192, 128, 0, 255, 8, true},    // benchmark full layer, verify
           AttentionCase{64, 8, 192, 128, 128, 300, 3, true},  // benchmark sliding layer
       }) {
    check_attention(c, rng);
  }
}

}  // namespace
}  // namespace mimo
