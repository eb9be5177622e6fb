// First-come-first-served slots and model steps (step_scheduler.hpp).
#include "server/step_scheduler.hpp"

#include <algorithm>

namespace mimo::server {

StepScheduler::StepScheduler(int slots, int max_waiting)
    : max_waiting_(max_waiting), slot_busy_(static_cast<std::size_t>(std::max(1, slots))) {}

std::unique_ptr<StepScheduler::Ticket> StepScheduler::admit() {
  std::lock_guard lock(mutex_);
  if (shut_down_ || static_cast<int>(waiting_.size()) >= max_waiting_) return nullptr;
  const std::uint64_t id = next_id_++;
  waiting_.push_back(id);
  return std::unique_ptr<Ticket>(new Ticket(*this, id));
}

void StepScheduler::shut_down() {
  {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
  }
  changed_.notify_all();
}

bool StepScheduler::is_shut_down() const {
  std::lock_guard lock(mutex_);
  return shut_down_;
}

int StepScheduler::waiting() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(waiting_.size());
}

int StepScheduler::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

void StepScheduler::leave(Ticket& ticket) {
  {
    std::lock_guard lock(mutex_);
    if (ticket.holds_turn_) turn_taken_ = false;
    std::erase(turn_queue_, ticket.id_);
    if (ticket.slot_ >= 0) {
      slot_busy_[static_cast<std::size_t>(ticket.slot_)] = false;
      --running_;
    } else {
      std::erase(waiting_, ticket.id_);
    }
  }
  changed_.notify_all();
}

StepScheduler::Ticket::~Ticket() {
  owner_.leave(*this);
}

bool StepScheduler::Ticket::wait_for_slot(const std::function<bool()>& abandoned) {
  StepScheduler& s = owner_;
  std::unique_lock lock(s.mutex_);
  while (true) {
    if (s.shut_down_) return false;
    if (s.waiting_.front() == id_) {
      auto free = std::find(s.slot_busy_.begin(), s.slot_busy_.end(), false);
      if (free != s.slot_busy_.end()) {
        *free = true;
        slot_ = static_cast<int>(free - s.slot_busy_.begin());
        s.waiting_.pop_front();
        ++s.running_;
        lock.unlock();
        s.changed_.notify_all();
        return true;
      }
    }
    if (abandoned) {
      lock.unlock();
      if (abandoned()) return false;
      lock.lock();
      if (s.shut_down_) return false;
    }
    s.changed_.wait_for(lock, s.poll_);
  }
}

bool StepScheduler::Ticket::begin_step() {
  StepScheduler& s = owner_;
  std::unique_lock lock(s.mutex_);
  s.turn_queue_.push_back(id_);
  s.changed_.wait(lock,
                  [&] { return s.shut_down_ || (!s.turn_taken_ && s.turn_queue_.front() == id_); });
  if (s.shut_down_) {
    std::erase(s.turn_queue_, id_);
    return false;
  }
  s.turn_queue_.pop_front();
  s.turn_taken_ = true;
  holds_turn_ = true;
  return true;
}

void StepScheduler::Ticket::end_step() {
  {
    std::lock_guard lock(owner_.mutex_);
    if (!holds_turn_) return;
    holds_turn_ = false;
    owner_.turn_taken_ = false;
  }
  owner_.changed_.notify_all();
}

}  // namespace mimo::server
