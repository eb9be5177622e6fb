// KvCache: ring sizing, rewind limits, exact undo of an interrupted step.
#include "cpu/kv_cache.hpp"

#include <cstring>

#include "mimo/error.hpp"
#include "support/catch.hpp"

namespace mimo::cpu {
namespace {

model::ModelConfig two_layer_config() {
  model::ModelConfig c;
  c.num_layers = 2;
  c.full = {2, 1, 4, 3, 1e4, 2, false};
  c.sliding = {2, 2, 4, 3, 1e4, 2, true};
  c.sliding_window = 4;
  c.layers = {{model::AttentionKind::kFull, model::MlpKind::kDense},
              {model::AttentionKind::kSliding, model::MlpKind::kDense}};
  return c;
}

// Writes a recognisable value (the position) into every key/value entry of [from, to).
void write_positions(KvCache& cache, std::int64_t from, std::int64_t to) {
  for (std::int64_t p = from; p < to; p += cache.max_chunk_tokens()) {
    const int n = static_cast<int>(std::min<std::int64_t>(cache.max_chunk_tokens(), to - p));
    cache.reserve_step(n);
    for (int l = 0; l < cache.num_layers(); ++l) {
      const KvLayerView v = cache.view(l);
      for (int i = 0; i < n; ++i) {
        std::fill_n(cache.key(l, p + i), v.kv_heads * v.head_dim, float(p + i));
        std::fill_n(cache.value(l, p + i), v.kv_heads * v.v_head_dim, float(-(p + i)));
      }
    }
    cache.commit(n);
  }
}

TEST_CASE("sliding layers use a ring of window + max_step - 1, full layers keep everything") {
  const model::ModelConfig c = two_layer_config();
  KvCache cache(c, 100, 3);
  write_positions(cache, 0, 20);
  REQUIRE(cache.length() == 20);
  REQUIRE(cache.view(1).capacity == 4 + 3 - 1);
  REQUIRE(cache.view(0).capacity >= 20);
  for (std::int64_t p = 0; p < 20; ++p) REQUIRE(cache.key(0, p)[0] == float(p));
  for (std::int64_t p = 14; p < 20; ++p) REQUIRE(cache.key(1, p)[0] == float(p));
  // Small contexts make the ring linear.
  KvCache small(c, 5, 3);
  REQUIRE(small.view(1).capacity == 5);
}

TEST_CASE("truncate is exact up to max_step tokens back and refuses beyond") {
  const model::ModelConfig c = two_layer_config();
  KvCache cache(c, 100, 3);
  write_positions(cache, 0, 20);
  // Highest written 19; ring keeps 14..19. Rewinding to n needs n-3 .. n-1.
  REQUIRE(cache.can_truncate(17));
  REQUIRE_FALSE(cache.can_truncate(16));
  REQUIRE_FALSE(cache.can_truncate(21));
  REQUIRE_THROWS_AS(cache.truncate(16), Error);
  cache.truncate(17);
  REQUIRE(cache.length() == 17);
  write_positions(cache, 17, 19);
  // Rewriting 17, 18 keeps the floor at 14 (position 19 had been written before).
  REQUIRE(cache.can_truncate(17));
  REQUIRE_FALSE(cache.can_truncate(16));
  for (std::int64_t p = 14; p < 19; ++p) REQUIRE(cache.key(1, p)[0] == float(p));
  // Early on every rewind is possible.
  KvCache fresh(c, 100, 3);
  write_positions(fresh, 0, 5);
  REQUIRE(fresh.can_truncate(0));
}

TEST_CASE("save_for_append + restore undo a step that wrapped the ring") {
  const model::ModelConfig c = two_layer_config();
  KvCache cache(c, 100, 3);
  write_positions(cache, 0, 10);
  const KvCache before = cache;
  const KvCache::Undo undo = cache.save_for_append(9);
  write_positions(cache, 10, 19);  // wraps the 6-slot ring more than once
  cache.restore(undo);
  REQUIRE(cache.length() == 10);
  for (int l = 0; l < 2; ++l) {
    for (std::int64_t p = l == 0 ? 0 : 4; p < 10; ++p) {
      REQUIRE(std::memcmp(cache.key(l, p), const_cast<KvCache&>(before).key(l, p), 4 * 4) == 0);
      REQUIRE(cache.value(l, p)[0] == float(-p));
    }
  }
  REQUIRE(cache.can_truncate(7) == before.can_truncate(7));
}

TEST_CASE("bad cache parameters are rejected") {
  const model::ModelConfig c = two_layer_config();
  REQUIRE_THROWS_AS(KvCache(c, 0, 1), Error);
  REQUIRE_THROWS_AS(KvCache(c, 10, 0), Error);
}

}  // namespace
}  // namespace mimo::cpu
