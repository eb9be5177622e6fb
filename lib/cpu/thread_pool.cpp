// ThreadPool: workers claim ranges of the current job under a mutex; ranges are coarse (a few per
// thread), so the lock is not a bottleneck. Between jobs a worker spins for a short while before
// it sleeps on a condition variable, and so does the caller waiting for the last ranges: a decode
// step is hundreds of jobs microseconds apart, and a futex sleep + wake-up costs several
// microseconds each way (a fifth of a 2-thread decode step on the dev machine when every wait
// slept).
#include "cpu/thread_pool.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "mimo/error.hpp"

namespace mimo::cpu {
namespace {

thread_local bool t_inside_job = false;

// How long a thread polls for a change before it sleeps: longer than the gaps between a step's
// jobs, far shorter than the gaps between steps. Timed, as a pause instruction lasts from a few
// to ~150 cycles depending on the CPU.
constexpr auto kSpinTime = std::chrono::microseconds(50);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls `changed` for up to kSpinTime; true as soon as it holds.
template <class Pred>
bool spin_until(Pred&& changed) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      if (changed()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
}

}  // namespace

int checked_thread_count(int requested, const char* field) {
  if (requested < 0 || requested > kMaxThreads) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{} must be in [0, {}] (0 = all hardware threads), got {}", field,
                            kMaxThreads, requested));
  }
  return requested;
}

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(threads, 1);
  workers_.reserve(threads - 1);
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::run_ranges() {
  t_inside_job = true;
  for (;;) {
    const std::function<void(std::int64_t, std::int64_t)>* job;
    std::int64_t begin, end;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (job_ == nullptr || next_ >= job_n_ || error_) break;
      job = job_;
      begin = next_;
      end = std::min(job_n_, begin + grain_);
      next_ = end;
      ++in_flight_;
    }
    try {
      (*job)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    bool last;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last = --in_flight_ == 0;
    }
    if (last) done_.notify_one();
  }
  t_inside_job = false;
}

// A worker that wakes after the caller has claimed every range finds nothing to do: the caller
// never waits for workers to check in, only for the ranges they claimed.
void ThreadPool::worker_loop() {
  std::uint64_t seen = 0;
  for (;;) {
    spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    run_ranges();
  }
}

void ThreadPool::parallel_for(std::int64_t n,
                              const std::function<void(std::int64_t, std::int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1 || t_inside_job) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> call_lock(call_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    job_n_ = n;
    // About four ranges per thread balances uneven rows without much locking.
    grain_ = std::max<std::int64_t>(1, n / (4 * size()));
    next_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  run_ranges();
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    // Every range is claimed (or an error stopped the claiming) once run_ranges returns here;
    // what is left is the ranges workers are still running.
    if (in_flight_ != 0) {
      lock.unlock();
      spin_until([&] { return in_flight_.load(std::memory_order_acquire) == 0; });
      lock.lock();
    }
    done_.wait(lock, [&] { return in_flight_ == 0; });
    job_ = nullptr;
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace mimo::cpu
