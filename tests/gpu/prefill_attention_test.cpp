// The prefill attention kernel (cuda::prefill_attention) against cpu::attention: steps of 17..300
// tokens, full and sliding (ring) layers with the step crossing the window, the step at position
// 0 and mid-context (history stored by earlier steps), with and without sinks, head dims 192/128,
// 128/96, 256/256 and 64/64, GQA 1..80 (16 and 8 at the benchmark geometry; 80 splits a kv
// group over two blocks, 3 and 4 leave a block's last rows empty). Each case runs on CUDA cores
// and, where the dims allow, on tensor cores (3xTF32: float32-level products, same tolerance).
// Tolerance: 2e-5 of the output peak. Both sides compute in float32, in different orders (the
// CPU: one pass over the keys with the exact max; the kernel: tiles of 32 keys, rescaled by the
// running max, and each row's sum in 16 lane partials). Scores are ~1 in magnitude, so their
// rounding and expf's (2 ulp) give relative errors of ~1e-6 per weight; the outputs are averages
// of up to ~1300 values, whose accumulated rounding stays below ~1e-5 of the peak (the decode
// kernels meet 1e-5 with the same inputs, attention_test.cpp); 2e-5 leaves room for the extra
// rescalings.
#include <algorithm>
#include <cstring>

#include "cpu/attention.hpp"
#include "cuda/kernels/ops.hpp"
#include "gpu_test_support.hpp"
#include "support/catch.hpp"

namespace mimo {
namespace {

struct PrefillCase {
  int heads, kv_heads, head_dim, v_head_dim;
  int window;   // 0: full
  int context;  // positions already in the cache before the step
  int step;     // query tokens in the step
  bool sinks;
};

// The cache as the forward fills it: the history in steps of `step` tokens, then the step itself,
// in a ring of window + step - 1 slots (sliding) or a plain array with unwritten (NaN) slots past
// the step (full). Returns the host copy of the cache for the CPU reference.
struct FilledCache {
  std::vector<float> k, v;
  int capacity = 0;
};
FilledCache fill_cache(const PrefillCase& c, const cuda::AttentionShape& shape,
                       const cuda::KvCacheView& cache, std::mt19937_64& rng) {
  const int total = c.context + c.step;
  const std::size_t k_row = std::size_t(c.kv_heads) * c.head_dim;
  const std::size_t v_row = std::size_t(c.kv_heads) * c.v_head_dim;
  const float value_scale = 0.707f;
  const std::vector<float> keys = gpu_test::random_floats(rng, total * k_row);
  const std::vector<float> values = gpu_test::random_floats(rng, total * v_row);
  FilledCache host{std::vector<float>(cache.capacity * k_row, 0.0f),
                   std::vector<float>(cache.capacity * v_row, 0.0f), cache.capacity};
  for (int p = 0; p < total; ++p) {
    const int slot = p % cache.capacity;
    std::copy_n(keys.begin() + p * k_row, k_row, host.k.begin() + slot * k_row);
    for (std::size_t j = 0; j < v_row; ++j)
      host.v[slot * v_row + j] = values[p * v_row + j] * value_scale;
  }
  std::vector<int> starts;
  for (int p0 = 0; p0 < c.context; p0 += c.step) starts.push_back(p0);
  starts.push_back(c.context);
  for (std::size_t s = 0; s < starts.size(); ++s) {
    const int p0 = starts[s];
    const int n = (s + 1 < starts.size() ? starts[s + 1] : total) - p0;
    std::vector<int> positions(n);
    for (int i = 0; i < n; ++i) positions[i] = p0 + i;
    const cuda::DeviceBuffer dpos = cuda::to_device(positions);
    const cuda::DeviceBuffer dk(n * k_row * sizeof(float)), dv(n * v_row * sizeof(float));
    cuda::copy_to_device(dk.get(), keys.data() + p0 * k_row, dk.bytes());
    cuda::copy_to_device(dv.get(), values.data() + p0 * v_row, dv.bytes());
    cuda::store_kv(dk.as<float>(), dv.as<float>(), dpos.as<int>(), n, shape, value_scale, cache);
    cuda::synchronize();
  }
  return host;
}

void check_prefill_attention(const PrefillCase& c, cuda::PrefillAttentionPath path,
                             std::mt19937_64& rng) {
  INFO((path == cuda::PrefillAttentionPath::kSimt ? "CUDA cores" : "tensor cores")
       << " heads " << c.heads << "/" << c.kv_heads << " dims " << c.head_dim << "/" << c.v_head_dim
       << " window " << c.window << " context " << c.context << " step " << c.step << " sinks "
       << c.sinks);
  const int total = c.context + c.step;
  const int capacity = c.window > 0 ? c.window + c.step - 1 : total + 5;
  const cuda::AttentionShape shape{c.heads,      c.kv_heads, c.head_dim,
                                   c.v_head_dim, c.window,   1.0f / std::sqrt(float(c.head_dim))};
  cuda::DeviceBuffer dk =
      gpu_test::poisoned_floats(std::size_t(capacity) * c.kv_heads * c.head_dim);
  cuda::DeviceBuffer dv =
      gpu_test::poisoned_floats(std::size_t(capacity) * c.kv_heads * c.v_head_dim);
  const cuda::KvCacheView cache{dk.as<float>(), dv.as<float>(), capacity};
  const FilledCache host = fill_cache(c, shape, cache, rng);

  const std::vector<float> q =
      gpu_test::random_floats(rng, std::size_t(c.step) * c.heads * c.head_dim);
  const std::vector<float> sinks = gpu_test::random_floats(rng, c.heads, 2.0f);
  std::vector<int> positions(c.step);
  for (int i = 0; i < c.step; ++i) positions[i] = c.context + i;
  const cuda::DeviceBuffer dq = cuda::to_device(q);
  const cuda::DeviceBuffer dpos = cuda::to_device(positions);
  const cuda::DeviceBuffer dsinks = cuda::to_device(sinks);
  const std::size_t out_count = std::size_t(c.step) * c.heads * c.v_head_dim;
  std::vector<float> got[2];
  for (std::vector<float>& g : got) {
    cuda::DeviceBuffer dout = gpu_test::poisoned_floats(out_count);
    cuda::prefill_attention(dq.as<float>(), dpos.as<int>(), c.step, shape, cache,
                            c.sinks ? dsinks.as<float>() : nullptr, dout.as<float>(), nullptr,
                            path);
    cuda::synchronize();
    g = cuda::to_host<float>(dout, out_count);
  }
  CHECK(std::memcmp(got[0].data(), got[1].data(), out_count * sizeof(float)) == 0);  // no races

  const cpu::KvLayerView view{host.k.data(), host.v.data(), capacity,
                              c.kv_heads,    c.head_dim,    c.v_head_dim};
  const cpu::AttentionParams params{c.heads, c.window, c.sinks ? sinks.data() : nullptr};
  std::vector<float> want(out_count);
  cpu::ThreadPool pool;  // every core: the reference is ~10 GFLOP for the largest cases
  cpu::attention(pool, view, params, q.data(), c.step, c.context, want.data());
  CHECK(gpu_test::max_relative_to_peak(got[0], want) <= 2e-5);
}

TEST_CASE("Prefill attention matches cpu::attention", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (const PrefillCase c : {
           PrefillCase{64, 4, 192, 128, 0, 0, 300, true},       // benchmark full layer, a prompt
           PrefillCase{64, 4, 192, 128, 0, 1000, 256, false},   // full, mid-context chunk
           PrefillCase{64, 8, 192, 128, 128, 0, 300, true},     // benchmark sliding, crosses window
           PrefillCase{64, 8, 192, 128, 128, 1000, 256, true},  // sliding ring, wrapped
           PrefillCase{64, 8, 192, 128, 128, 100, 17, false},   // shortest chunk, window filling
           PrefillCase{16, 2, 64, 64, 32, 77, 100, true},       // GQA 8, 64/64, chunk > window
           PrefillCase{16, 1, 64, 64, 0, 40, 33, false},        // GQA 16, 64/64
           PrefillCase{12, 3, 128, 96, 16, 500, 45, true},      // GQA 4, partial value group
           PrefillCase{9, 3, 64, 64, 0, 5, 70, true},           // GQA 3: 63 of 64 rows a block
           PrefillCase{8, 8, 64, 64, 0, 3, 70, false},          // GQA 1: 64 tokens a block
           PrefillCase{80, 1, 64, 64, 8, 20, 19, true},         // GQA 80: a group in 2 blocks
           PrefillCase{8, 2, 256, 256, 0, 50, 40, true},        // largest head dims
           PrefillCase{4, 2, 48, 32, 8, 10, 70, true},          // the tiny fixtures' dims
       }) {
    check_prefill_attention(c, cuda::PrefillAttentionPath::kSimt, rng);
    const cuda::AttentionShape shape{c.heads, c.kv_heads, c.head_dim, c.v_head_dim, c.window, 1};
    if (cuda::prefill_attention_mma_supports(shape))
      check_prefill_attention(c, cuda::PrefillAttentionPath::kTensorCores, rng);
  }
}

}  // namespace
}  // namespace mimo
