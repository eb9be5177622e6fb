// The scheduler of mimo-server's generations: admission into a bounded queue, up to `slots`
// generations in progress at once, and one model step at a time handed out first come, first
// served - so concurrent generations advance in turn, one step each (round robin), and none
// waits behind a long one. (Batching several sessions into one step is issue 22's later part.)
//
// A request holds a Ticket from admission to its end: wait_for_slot() until it may start (its
// slot index names the session it uses), then step() around each model step.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

namespace mimo::server {

class StepScheduler {
 public:
  StepScheduler(int slots, int max_waiting);

  class Ticket;
  // nullptr when max_waiting requests already wait for a slot (the caller answers 429) or the
  // scheduler is shut down.
  std::unique_ptr<Ticket> admit();

  // Refuses further admissions and makes every waiting or stepping call return false.
  void shut_down();
  bool is_shut_down() const;

  int waiting() const;  // admitted, not yet holding a slot
  int running() const;  // holding a slot

  class Ticket {
   public:
    ~Ticket();  // leaves the queue or frees the slot
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

    // Blocks until a slot is free and every earlier admission has one; false on shutdown or when
    // `abandoned` (polled every poll interval) returns true. Returns with slot() set.
    bool wait_for_slot(const std::function<bool()>& abandoned = {});
    int slot() const { return slot_; }

    // Blocks until it is this generation's turn for one model step: true with the turn held
    // (end_step() hands it on), false on shutdown.
    bool begin_step();
    void end_step();

   private:
    friend class StepScheduler;
    Ticket(StepScheduler& owner, std::uint64_t id) : owner_(owner), id_(id) {}
    StepScheduler& owner_;
    std::uint64_t id_;
    int slot_ = -1;
    bool holds_turn_ = false;
  };

 private:
  void leave(Ticket& ticket);

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  const int max_waiting_;
  std::vector<bool> slot_busy_;
  std::deque<std::uint64_t> waiting_;     // admission order
  std::deque<std::uint64_t> turn_queue_;  // generations asking for a step, in order of asking
  bool turn_taken_ = false;
  int running_ = 0;
  std::uint64_t next_id_ = 0;
  bool shut_down_ = false;
  std::chrono::milliseconds poll_{100};
};

}  // namespace mimo::server
