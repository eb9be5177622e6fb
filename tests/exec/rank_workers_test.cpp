// RankWorkers: one kept thread per rank, every rank's call in flight at once (a collective needs
// them to meet), the lowest rank's failure rethrown after all returned, runs from several threads
// queued.
#include "exec/rank_workers.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mimo/error.hpp"
#include "support/catch.hpp"

namespace mimo::exec {
namespace {

TEST_CASE("rank workers run every rank once a run, each on its own kept thread") {
  RankWorkers workers(4);
  CHECK(workers.size() == 4);
  std::vector<std::thread::id> first(4);
  workers.run([&](int r) { first[r] = std::this_thread::get_id(); });
  CHECK(std::set<std::thread::id>(first.begin(), first.end()).size() == 4);
  CHECK(std::find(first.begin(), first.end(), std::this_thread::get_id()) == first.end());
  std::vector<int> calls(4, 0), same_thread(4, 0);  // Catch2 asserts on this thread only
  for (int run = 0; run < 500; ++run) {
    workers.run([&](int r) {
      ++calls[r];
      same_thread[r] += std::this_thread::get_id() == first[r];
    });
  }
  CHECK(calls == std::vector<int>(4, 500));
  CHECK(same_thread == std::vector<int>(4, 500));
}

TEST_CASE("rank workers have every rank's call in flight at once") {
  // Each call waits until all ranks have entered: run() returns only if they meet, as NCCL's
  // all-reduces of one process need. A bounded wait keeps a broken pool from hanging the test.
  RankWorkers workers(3);
  for (int run = 0; run < 50; ++run) {
    std::atomic<int> arrived{0};
    std::atomic<int> met{0};
    workers.run([&](int) {
      ++arrived;
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (arrived.load() < 3 && std::chrono::steady_clock::now() < until) {
        std::this_thread::yield();
      }
      if (arrived.load() == 3) ++met;
    });
    REQUIRE(met.load() == 3);
  }
}

TEST_CASE("rank workers rethrow the lowest failing rank's error after every rank returned") {
  RankWorkers workers(4);
  std::atomic<int> returned{0};
  try {
    workers.run([&](int r) {
      // A rank that returns late must still have returned when run() rethrows.
      if (r == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ++returned;
      if (r == 3) throw std::runtime_error("rank 3");
      if (r == 1) throw Error(ErrorCode::kDevice, "rank 1");
    });
    FAIL("run() should have thrown");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kDevice);
    CHECK(std::string(e.what()).find("rank 1") != std::string::npos);
  }
  CHECK(returned.load() == 4);
  // A failure does not stick: the next run is clean.
  std::atomic<int> calls{0};
  workers.run([&](int) { ++calls; });
  CHECK(calls.load() == 4);
}

TEST_CASE("rank workers queue runs asked from several threads") {
  RankWorkers workers(2);
  std::vector<int> calls(2, 0);  // touched by one run at a time, so no atomics needed
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int run = 0; run < 200; ++run) workers.run([&](int r) { ++calls[r]; });
    });
  }
  for (std::thread& t : callers) t.join();
  CHECK(calls == std::vector<int>(2, 800));
}

TEST_CASE("rank workers want at least one rank") {
  CHECK_THROWS_AS(RankWorkers(0), Error);
  RankWorkers one(1);
  int calls = 0;
  one.run([&](int r) { calls += r + 1; });
  CHECK(calls == 1);
}

}  // namespace
}  // namespace mimo::exec
