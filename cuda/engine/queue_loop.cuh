// The persistent engine's interpreter loop (device code): block q runs queue q of a plan
// (engine_queues.hpp) task by task - thread 0 waits on the task's counters, the block runs the
// task's body, thread 0 publishes its writes and signals its counter - so an op boundary costs a
// counter hop on the same resident block instead of a kernel launch. A wait that outlasts the
// watchdog records a fault naming the task and the counter and makes every block abandon the
// step: a missing signal fails the step instead of hanging the process.
#pragma once

#include "cuda/engine/engine_queues.hpp"

namespace mimo::cuda::engine {

__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__device__ __forceinline__ unsigned sm_id() {
  unsigned id;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
  return id;
}

// A load that orders every later load of this thread after it, at device scope: what a
// consumer pairs with a producer's fence + atomic signal.
__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// Adds n to a counter with release semantics at device scope: every write the block made before
// the barrier that precedes this (bar.sync orders them before thread 0) is visible to whoever
// acquires the new value. One instruction, no separate fence.
__device__ __forceinline__ void signal_release(unsigned* counter, unsigned n) {
  asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(counter), "r"(n) : "memory");
}

// Whether a counter that only grows (wrapping at 2^32) has reached `need`.
__device__ __forceinline__ bool reached(unsigned seen, unsigned need) {
  return static_cast<int>(seen - need) >= 0;
}

// Thread 0 only: waits for every counter of task t in step `epoch` (counter c must have seen
// epoch * producers[c] + count signals). False: the step is abandoned (a fault, here or in
// another block).
__device__ inline bool wait_for_task(const EngineQueues& e, const EngineTask& t, unsigned epoch) {
  for (int w = t.wait_begin; w < t.wait_end; ++w) {
    const EngineWait wait = e.waits[w];
    const unsigned need = epoch * wait.producers + static_cast<unsigned>(wait.count);
    unsigned seen = load_acquire(&e.counters[wait.counter]);
    if (reached(seen, need)) continue;
    // A tight poll first (producers usually finish within a microsecond or two), then pauses.
    for (int spin = 0; spin < 64 && !reached(seen, need); ++spin) {
      seen = load_acquire(&e.counters[wait.counter]);
    }
    if (reached(seen, need)) continue;
    const unsigned long long start = global_ns();
    unsigned pause = 32;
    while (!reached(seen, need)) {
      __nanosleep(pause);
      pause = pause < 256 ? 2 * pause : pause;
      seen = load_acquire(&e.counters[wait.counter]);
      if (reached(seen, need)) break;
      const bool abandoned = load_acquire(&e.epoch->abort) != 0;
      if (abandoned || global_ns() - start > e.watchdog_ns) {
        // Offer this task as the step's stuck task (the earliest in plan order is kept), then
        // make every block give up.
        atomicMax(&e.fault->stuck,
                  pack_fault(t.task, wait.counter, seen - epoch * wait.producers, e.plan_id));
        __threadfence();
        atomicExch(&e.epoch->abort, 1u);
        return false;
      }
    }
  }
  return true;
}

// A barrier of the block's first `threads` threads (the ones running the queue).
__device__ __forceinline__ void queue_sync(int threads) {
  asm volatile("bar.sync %0, %1;" ::"r"(kQueueBarrier), "r"(threads) : "memory");
}

// Runs queue blockIdx.x of `e` with `body(run, count, epoch)` for each run of tasks (planned on
// the host: EngineTask::run), after body.prefetch(run, count), which may only touch what no task
// writes (weights) and runs before the run's waits;
// the run's records staged in shared memory; every thread of the
// block calls it, and it must not return before the run's writes are issued. Called by the
// block's first `threads` threads (a multiple of 32; the rest of the block may have other roles).
template <class Body>
__device__ void run_queue(const EngineQueues& e, Body& body, int threads) {
  __shared__ unsigned s_epoch;
  __shared__ int s_go;
  // Two buffers: thread 0 still reads a run's records to signal it while the others stage the
  // next run's.
  __shared__ EngineTask s_runs[2][kMaxRun];
  const int queue = blockIdx.x;
  if (threadIdx.x == 0) s_epoch = load_acquire(&e.epoch->epoch);
  const int end = e.queue_begin[queue + 1];
  int parity = 0;
  for (int i = e.queue_begin[queue]; i < end; parity ^= 1) {
    EngineTask* s_run = s_runs[parity];
    // The next kMaxRun records in one parallel load (a run never crosses the queue's end).
    if (threadIdx.x < kMaxRun && i + static_cast<int>(threadIdx.x) < end) {
      s_run[threadIdx.x] = e.tasks[i + threadIdx.x];
    }
    queue_sync(threads);
    const unsigned epoch = s_epoch;
    const int n = s_run[0].run;
    // What needs no producer (weights) starts moving while thread 0 waits for the producers.
    body.prefetch(s_run, n);
    unsigned long long start = 0;
    if (threadIdx.x == 0) {
      s_go = wait_for_task(e, s_run[0], epoch);
      // The acquire loads order thread 0's later loads; the barrier below extends that to the
      // block's other threads.
      if (e.timeline != nullptr) start = global_ns();
    }
    queue_sync(threads);
    if (!s_go) break;  // uniform over the queue's threads
    body(s_run, n, epoch);
    queue_sync(threads);  // every thread's writes are issued before thread 0 publishes them
    if (threadIdx.x == 0) {
      signal_release(&e.counters[s_run[0].signal], static_cast<unsigned>(n));
      if (e.timeline != nullptr) {
        const unsigned long long stop = global_ns();
        for (int r = 0; r < n; ++r) {
          e.timeline[s_run[r].task] = TimelineEntry{start, stop, queue, static_cast<int>(sm_id())};
        }
      }
    }
    i += n;
  }
  const unsigned epoch = s_epoch;
  // The last block to finish ends the step: the next launch waits for epoch + 1.
  if (threadIdx.x == 0) {
    __threadfence();
    if (atomicAdd(&e.epoch->finished, 1u) == gridDim.x - 1) {
      e.epoch->finished = 0;
      if (e.epoch->abort == 0) e.epoch->epoch = epoch + 1;
      __threadfence();
    }
  }
}

}  // namespace mimo::cuda::engine
