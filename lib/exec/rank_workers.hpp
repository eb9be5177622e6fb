// One host thread per rank, started once and kept: run(fn) calls fn(r) on rank r's own thread for
// every rank at once (the tensor-parallel executor issues each rank's kernels and NCCL calls from
// its own thread, so the ranks' collectives can meet) and returns when every call has returned.
// Starting threads for every step cost tens of microseconds a thread, a step (docs/parallel.md).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mimo::exec {

class RankWorkers {
 public:
  explicit RankWorkers(int ranks);  // ranks >= 1
  ~RankWorkers();
  RankWorkers(const RankWorkers&) = delete;
  RankWorkers& operator=(const RankWorkers&) = delete;

  int size() const { return static_cast<int>(threads_.size()); }
  // fn(r) on rank r's thread for r = 0 .. size() - 1; after all have returned, rethrows the
  // lowest rank's exception, if any. One run at a time (callers from several threads queue).
  // fn must not call run() itself.
  void run(const std::function<void(int)>& fn);

 private:
  void work(int rank);

  std::mutex run_mutex_;  // one run at a time
  std::mutex mutex_;      // guards what follows
  std::condition_variable start_, done_;
  const std::function<void(int)>* job_ = nullptr;
  std::uint64_t round_ = 0;  // bumped by each run: a worker runs each round once
  int pending_ = 0;
  bool stop_ = false;
  std::vector<std::exception_ptr> errors_;
  std::vector<std::thread> threads_;
};

}  // namespace mimo::exec
