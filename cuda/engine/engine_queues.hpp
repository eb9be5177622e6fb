// What the persistent engine reads on the device: a queue plan (program/queue_plan.hpp) flattened
// into plain arrays, the step's counters and epoch, the fault record its watchdog writes and the
// optional per-task timeline. Plain structs shared by host and device code; no CUDA types.
#pragma once

#include <cstdint>

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
};

// Wait until `counter` has been signalled `count` times this step.
struct EngineWait {
  int counter;
  int count;
};

// Written once, by the first block whose wait outlasts the watchdog; every other block then
// abandons the step. status: 0 none, 1 a wait timed out.
struct EngineFault {
  int status;
  int plan;  // EngineQueues::plan_id of the plan that faulted
  int task, counter, queue;
  unsigned need, seen;
};

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
  const unsigned* producers;  // per counter: signals a step
  unsigned* counters;
  EngineEpoch* epoch;
  EngineFault* fault;
  TimelineEntry* timeline;  // null: none; else one entry per plan task
  unsigned long long watchdog_ns;
  int queues;
  int plan_id;  // names the plan in a fault record several plans share
};

}  // namespace mimo::cuda::engine
