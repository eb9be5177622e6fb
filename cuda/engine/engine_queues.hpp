// What the persistent engine reads on the device: a queue plan (program/queue_plan.hpp) flattened
// into plain arrays, the step's counters and epoch, the fault record its watchdog writes and the
// optional per-task timeline. Plain structs shared by host and device code; no CUDA types.
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define MIMO_HOST_DEVICE __host__ __device__
#else
#define MIMO_HOST_DEVICE
#endif

namespace mimo::cuda::engine {

// One task of a queue: the op and tile it runs (what the body dispatches on), its waits
// (waits[wait_begin, wait_end)) and the counter it signals once it is done.
struct EngineTask {
  int task;  // index in the plan (the timeline's and the fault record's name for it)
  int op, tile;
  int chunk, chunks;  // this task's share of its tile (or of the op's prologue)
  int prologue;       // 1: a prologue chunk of the op
  int wait_begin, wait_end;
  int signal;
  // Tasks of the run this task begins (consecutive tasks of one op and part on the queue, at
  // most kMaxRun, run together: one wait check, one signal); 0 inside a run. The run's first
  // task carries the waits of all of them.
  int run;
};

inline constexpr int kMaxRun = 16;

// The named barrier of the threads that run a queue (run_queue); a body's teams use 1 .. 8.
inline constexpr int kQueueBarrier = 15;

// Wait until `counter` has been signalled `count` times this step.
struct EngineWait {
  int counter;
  int count;
  unsigned producers;  // the counter's signals a step (a wait needs epoch * producers + count)
};

// The watchdog's record. Every block stuck in a wait when a step is abandoned offers its task,
// and the earliest task in plan order wins (the others usually wait, through it, on the same
// missing signal): packed so one atomicMax keeps it - bits 44-63 the inverted task index,
// 28-43 the counter, 16-27 the signals seen (clamped), 0-15 the plan's id. 0: no fault.
struct EngineFault {
  unsigned long long stuck;
};

MIMO_HOST_DEVICE inline unsigned long long pack_fault(int task, int counter, unsigned seen,
                                                      int plan) {
  return (static_cast<unsigned long long>(0xFFFFFu - (static_cast<unsigned>(task) & 0xFFFFFu))
          << 44) |
         (static_cast<unsigned long long>(counter & 0xFFFF) << 28) |
         (static_cast<unsigned long long>(seen < 0xFFFu ? seen : 0xFFFu) << 16) |
         static_cast<unsigned long long>(plan & 0xFFFF);
}
struct UnpackedFault {
  int task, counter;
  unsigned seen;
  int plan;  // the low 16 bits of the plan's id
};
inline UnpackedFault unpack_fault(unsigned long long stuck) {
  return UnpackedFault{static_cast<int>(0xFFFFFu - static_cast<unsigned>(stuck >> 44)),
                       static_cast<int>((stuck >> 28) & 0xFFFF),
                       static_cast<unsigned>((stuck >> 16) & 0xFFF),
                       static_cast<int>(stuck & 0xFFFF)};
}

// Per task: when it began and ended (globaltimer ns) and where it ran.
struct TimelineEntry {
  unsigned long long start_ns, end_ns;
  int queue, sm;
};

// Step state in device memory: `epoch` steps have completed; `finished` counts blocks that
// finished (the last block of a step advances epoch). Counters and both words only grow, with
// unsigned wrap-around: nothing is reset between steps, so a captured graph replays unchanged.
struct EngineEpoch {
  unsigned epoch;
  unsigned finished;
  unsigned abort;  // set with a fault: waits give up
};

struct EngineQueues {
  const EngineTask* tasks;  // all queues' tasks back to back
  const int* queue_begin;   // [queues + 1]: queue q is tasks[queue_begin[q], queue_begin[q + 1])
  const EngineWait* waits;
  unsigned* counters;
  EngineEpoch* epoch;
  EngineFault* fault;
  TimelineEntry* timeline;  // null: none; else one entry per plan task
  unsigned long long watchdog_ns;
  int queues;
  int plan_id;  // names the plan in a fault record several plans share
};

}  // namespace mimo::cuda::engine
