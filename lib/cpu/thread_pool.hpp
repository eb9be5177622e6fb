// A small persistent thread pool for the CPU executor. parallel_for splits [0, n) into ranges
// run by the workers and the calling thread; kernels write each output element from exactly one
// range with a fixed summation order, so results never depend on the thread count.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mimo::cpu {

// The most threads a caller may ask for (ModelOptions, DFlashOptions, QuantizeOptions): a pool
// hands every op to every thread, so a mistyped 100000 would start 100000 threads and crawl.
constexpr int kMaxThreads = 1024;

// `requested` when it is in [0, kMaxThreads] (0: all hardware threads); throws
// Error(kInvalidArgument) naming `field` otherwise.
int checked_thread_count(int requested, const char* field);

class ThreadPool {
 public:
  // threads <= 0: std::thread::hardware_concurrency() (at least 1). The calling thread counts
  // as one of them, so `threads - 1` workers are started.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint ranges covering [0, n) and returns when all are done.
  // The first exception thrown by fn is rethrown here (remaining ranges are skipped). A call
  // from inside fn runs serially on the calling thread. One parallel_for at a time per pool;
  // concurrent callers are serialised.
  void parallel_for(std::int64_t n, const std::function<void(std::int64_t, std::int64_t)>& fn);

 private:
  void worker_loop();
  void run_ranges();

  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // serialises parallel_for callers
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // The job in flight, guarded by mutex_.
  const std::function<void(std::int64_t, std::int64_t)>* job_ = nullptr;
  std::int64_t job_n_ = 0;
  std::int64_t grain_ = 1;
  std::int64_t next_ = 0;  // first index not yet claimed
  // Written under mutex_; also read without it by threads spinning for a change (thread_pool.cpp).
  std::atomic<int> in_flight_{0};  // ranges claimed and not yet finished
  std::atomic<std::uint64_t> generation_{0};
  std::exception_ptr error_;
  bool stop_ = false;
};

}  // namespace mimo::cpu
