// The scheduler of mimo-server (examples/server/step_scheduler.hpp): bounded admission, slots in
// arrival order, steps handed out in turn, shutdown releasing every waiter.
#include "server/step_scheduler.hpp"

#include <atomic>
#include <mutex>
#include <thread>

#include "support/catch.hpp"

using mimo::server::StepScheduler;

TEST_CASE("scheduler: admission is bounded by the waiting queue") {
  StepScheduler scheduler(1, 2);
  auto a = scheduler.admit();
  auto b = scheduler.admit();
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(scheduler.admit());  // two wait: the third is refused (429)
  REQUIRE(a->wait_for_slot());
  CHECK(scheduler.waiting() == 1);
  CHECK(scheduler.running() == 1);
  auto c = scheduler.admit();  // a holds the slot, so there is room in the queue again
  CHECK(c);
  a.reset();
  CHECK(scheduler.running() == 0);
  REQUIRE(b->wait_for_slot());
  CHECK(b->slot() == 0);
}

TEST_CASE("scheduler: slots go in arrival order and a waiter can give up") {
  StepScheduler scheduler(1, 8);
  auto first = scheduler.admit();
  auto second = scheduler.admit();
  auto third = scheduler.admit();
  REQUIRE(first->wait_for_slot());
  // The third cannot overtake the second, and gives up when told.
  CHECK_FALSE(third->wait_for_slot([] { return true; }));
  std::atomic<bool> second_started{false};
  std::thread t([&] {
    REQUIRE(second->wait_for_slot());
    second_started = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(second_started);
  first.reset();
  t.join();
  CHECK(second_started);
}

TEST_CASE("scheduler: concurrent generations take turns one step each") {
  StepScheduler scheduler(3, 8);
  std::mutex log_mutex;
  std::vector<int> log;
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  constexpr int kSteps = 30;
  for (int g = 0; g < 3; ++g) {
    threads.emplace_back([&, g] {
      auto ticket = scheduler.admit();
      REQUIRE(ticket->wait_for_slot());
      ++ready;
      while (ready < 3) std::this_thread::yield();
      for (int s = 0; s < kSteps; ++s) {
        REQUIRE(ticket->begin_step());
        {
          std::lock_guard lock(log_mutex);
          log.push_back(g);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        ticket->end_step();
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(log.size() == 3 * kSteps);
  // Fair: once all three have asked for a step, and until one is done, none gets ahead of
  // another by more than a step or two (a step holder's 2 ms let the others queue up again).
  std::vector<int> counts(3, 0);
  int worst_lead = 0;
  for (int g : log) {
    ++counts[static_cast<std::size_t>(g)];
    const int lo = *std::min_element(counts.begin(), counts.end());
    const int hi = *std::max_element(counts.begin(), counts.end());
    if (lo >= 1 && hi < kSteps) worst_lead = std::max(worst_lead, hi - lo);
  }
  INFO("step order: " << Catch::Detail::stringify(log));
  CHECK(worst_lead <= 2);
}

TEST_CASE("scheduler: shutdown releases waiting and stepping calls") {
  StepScheduler scheduler(1, 4);
  auto holder = scheduler.admit();
  REQUIRE(holder->wait_for_slot());
  REQUIRE(holder->begin_step());
  auto waiter = scheduler.admit();
  std::atomic<int> released{0};
  std::thread slot_waiter([&] {
    CHECK_FALSE(waiter->wait_for_slot());
    ++released;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  scheduler.shut_down();
  slot_waiter.join();
  CHECK(released == 1);
  holder->end_step();
  CHECK_FALSE(holder->begin_step());
  CHECK_FALSE(scheduler.admit());
}
