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
  std::thread t([&] { second_started = second->wait_for_slot(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(second_started);
  first.reset();
  t.join();
  CHECK(second_started);
}

TEST_CASE("scheduler: steps go in the order they were asked for, so generations alternate") {
  StepScheduler scheduler(3, 8);
  auto a = scheduler.admit();
  auto b = scheduler.admit();
  auto c = scheduler.admit();
  for (auto* t : {&a, &b, &c}) REQUIRE((*t)->wait_for_slot());
  std::mutex log_mutex;
  std::string log;
  // (Catch's assertions are not thread-safe: threads only record.)
  auto step = [&](StepScheduler::Ticket& ticket, char name) {
    const bool turn = ticket.begin_step();
    {
      std::lock_guard lock(log_mutex);
      log += turn ? name : '!';
    }
    ticket.end_step();
  };
  REQUIRE(a->begin_step());  // a is mid-step; b, then c, ask for one
  std::thread tb([&] { step(*b, 'b'); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::thread tc([&] { step(*c, 'c'); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  a->end_step();
  step(*a, 'a');  // a asks again right away: it comes after b and c
  tb.join();
  tc.join();
  CHECK(log == "bca");
}

TEST_CASE("scheduler: two busy generations share the steps") {
  StepScheduler scheduler(2, 8);
  std::atomic<int> steps[2] = {0, 0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int g = 0; g < 2; ++g) {
    threads.emplace_back([&, g] {
      auto ticket = scheduler.admit();
      if (!ticket || !ticket->wait_for_slot()) return;
      while (!stop) {
        if (!ticket->begin_step()) return;
        ++steps[g];
        std::this_thread::sleep_for(std::chrono::microseconds(500));
        ticket->end_step();
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (auto& t : threads) t.join();
  // Neither starves: a plain mutex would let the thread that just unlocked take it again.
  CHECK(steps[0] > 20);
  CHECK(steps[1] > 20);
}

TEST_CASE("scheduler: shutdown releases waiting and stepping calls") {
  StepScheduler scheduler(1, 4);
  auto holder = scheduler.admit();
  REQUIRE(holder->wait_for_slot());
  REQUIRE(holder->begin_step());
  auto waiter = scheduler.admit();
  std::atomic<int> released{0};
  std::atomic<bool> got_slot{true};
  std::thread slot_waiter([&] {
    got_slot = waiter->wait_for_slot();
    ++released;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  scheduler.shut_down();
  slot_waiter.join();
  CHECK(released == 1);
  CHECK_FALSE(got_slot);
  holder->end_step();
  CHECK_FALSE(holder->begin_step());
  CHECK_FALSE(scheduler.admit());
}
