// ThreadPool: coverage of every index exactly once, exceptions, nesting, reuse.
#include "cpu/thread_pool.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/catch.hpp"

namespace mimo::cpu {
namespace {

TEST_CASE("parallel_for covers 0..n-1 exactly once") {
  for (int threads : {1, 2, 5}) {
    ThreadPool pool(threads);
    REQUIRE(pool.size() == threads);
    for (std::int64_t n : {0, 1, 3, 17, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      for (int repeat = 0; repeat < 3; ++repeat) {
        pool.parallel_for(n, [&](std::int64_t b, std::int64_t e) {
          REQUIRE(b < e);
          for (std::int64_t i = b; i < e; ++i) hits[i]++;
        });
      }
      for (std::int64_t i = 0; i < n; ++i) REQUIRE(hits[i] == 3);
    }
  }
}

TEST_CASE("parallel_for rethrows and stays usable, and nested calls run inline") {
  ThreadPool pool(3);
  REQUIRE_THROWS_AS(pool.parallel_for(100,
                                      [](std::int64_t b, std::int64_t) {
                                        if (b >= 0) throw std::runtime_error("boom");
                                      }),
                    std::runtime_error);
  std::atomic<long long> sum{0};
  pool.parallel_for(10, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      pool.parallel_for(10, [&](std::int64_t b2, std::int64_t e2) {
        for (std::int64_t j = b2; j < e2; ++j) sum += i * 10 + j;
      });
    }
  });
  REQUIRE(sum == 99 * 100 / 2);
}

// Workers poll for the next job a short while, then sleep: jobs in quick succession are caught
// while they poll, jobs after a pause wake them; both must cover every index once, and the
// workers must take part (a pool whose workers never woke would still be correct, only serial).
TEST_CASE("parallel_for works for jobs back to back and after the workers went to sleep") {
  ThreadPool pool(3);
  std::atomic<int> by_workers{0};
  const std::thread::id caller = std::this_thread::get_id();
  for (int round = 0; round < 40; ++round) {
    if (round % 10 == 9) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::vector<std::atomic<int>> hits(64);
    pool.parallel_for(64, [&](std::int64_t b, std::int64_t e) {
      if (std::this_thread::get_id() != caller) by_workers++;
      // Long enough that an awake worker claims a range before the caller has taken them all.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      for (std::int64_t i = b; i < e; ++i) hits[i]++;
    });
    for (int i = 0; i < 64; ++i) REQUIRE(hits[i] == 1);
  }
  CHECK(by_workers > 0);
}

}  // namespace
}  // namespace mimo::cpu
