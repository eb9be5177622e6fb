// RankWorkers (see rank_workers.hpp).
#include "exec/rank_workers.hpp"

#include <fmt/format.h>

#include "mimo/error.hpp"

namespace mimo::exec {

RankWorkers::RankWorkers(int ranks) {
  if (ranks < 1) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("rank workers: {} ranks, at least 1 expected", ranks));
  }
  errors_.resize(ranks);
  try {
    for (int r = 0; r < ranks; ++r) threads_.emplace_back([this, r] { work(r); });
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    start_.notify_all();
    for (std::thread& t : threads_) t.join();
    throw;
  }
}

RankWorkers::~RankWorkers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  start_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void RankWorkers::run(const std::function<void(int)>& fn) {
  std::lock_guard<std::mutex> one_run(run_mutex_);
  std::unique_lock<std::mutex> lock(mutex_);
  job_ = &fn;
  pending_ = size();
  for (std::exception_ptr& e : errors_) e = nullptr;
  ++round_;
  start_.notify_all();
  done_.wait(lock, [this] { return pending_ == 0; });
  job_ = nullptr;
  for (const std::exception_ptr& e : errors_) {
    if (e) std::rethrow_exception(e);
  }
}

void RankWorkers::work(int rank) {
  std::uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    start_.wait(lock, [&] { return stop_ || round_ != seen; });
    if (stop_) return;
    seen = round_;
    const std::function<void(int)>* job = job_;
    lock.unlock();
    std::exception_ptr error;
    try {
      (*job)(rank);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    errors_[rank] = error;
    if (--pending_ == 0) done_.notify_one();
  }
}

}  // namespace mimo::exec
