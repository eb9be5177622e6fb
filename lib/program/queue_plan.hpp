// A step's tile tasks laid out for the persistent engine: one queue of tasks per resident block
// (virtual SM), each task waiting on counters in global memory and signalling one. Counters are
// epoch-tagged - every task signals its counter exactly once a step and nothing is reset
// between steps: in step e (1-based) a wait for `count` signals of counter c holds once c has
// been signalled (e - 1) * producers[c] + count times. Planned once per step shape, uploaded
// once. The CPU simulator below runs a plan the way the engine does, so its placement and
// ordering rules are tested without a GPU.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "program/dependencies.hpp"
#include "program/step_program.hpp"

namespace mimo::program {

// Wait until counter `counter` has been signalled `count` times in the current step.
struct CounterWait {
  int counter;
  int count;
  bool operator==(const CounterWait&) const = default;
};

// Which part of its op's work a planned task is: chunk `chunk` of `chunks` of a tile (or of the
// whole op), or of the op's prologue - work a runner does before any tile of the op may start
// (the GPU engine splits the attention heads for the o projection there).
struct TaskPart {
  int chunk = 0;
  int chunks = 1;
  bool prologue = false;
  bool operator==(const TaskPart&) const = default;
};

struct QueuePlan {
  std::vector<Task> tasks;                      // the tile tasks, in program order
  std::vector<TaskPart> parts;                  // per task
  std::vector<int> signals;                     // per task: the counter it signals (its op's)
  std::vector<int> producers;                   // per counter: tasks signalling it each step
  std::vector<std::vector<CounterWait>> waits;  // per task, none implied by another
  std::vector<std::vector<int>> queues;         // per queue: task indices, run in this order
};

struct PlanOptions {
  int queues = 1;
  // 0: the tiles of each op dealt round-robin over the queues (continuing where the previous op
  // stopped), every queue in program order. Otherwise a stress plan: every task on a random
  // queue, the queues in a random order that still respects the waits (seeded, replayable).
  std::uint64_t shuffle_seed = 0;
  // Optional, per op: into how many chunks each of its tasks is cut (>= 1), and how many
  // prologue chunks run before its tiles (0: none). Chunks of one op never wait for each other:
  // the runner gives each a disjoint share of the work. The tiles of an op with a prologue wait
  // only for the prologue, which takes the op's waits.
  std::function<int(const Op&)> chunks;
  std::function<int(const Op&)> prologue_chunks;
};

// The program's tile tasks (tile_tasks) planned on `options.queues` queues. A task waits for
// every task of each op it depends on (one counter per op); waits implied by other waits are
// dropped. Throws mimo::Error(kInvalidArgument) for queues < 1 or a tensor-parallel program.
QueuePlan plan_queues(const StepProgram& program, const PlanOptions& options);

// The dependency graph check_plan holds a plan to: dependencies() over its tasks, without the
// pairs of one op (its chunks share their accesses, and the runner keeps them disjoint).
DependencyGraph plan_dependencies(const QueuePlan& plan);

// Throws mimo::Error(kInternal) naming the first defect: a task on no queue or on two, a wait
// on an unknown counter or for more signals than it has producers, a dependency of the task
// graph that no chain of waits enforces, or a queue order that deadlocks (the simulator runs
// it once: counters only grow, so if one interleaving completes, all do).
void check_plan(const QueuePlan& plan, const DependencyGraph& graph);

// Runs `steps` consecutive steps of the plan as the engine does - queues advanced one task at a
// time, picked at random (seeded) among those whose head task's waits hold, counters never
// reset - and returns the order the tasks ran in, one vector per step. Throws
// mimo::Error(kInternal) when no queue can advance, naming each stuck queue's head task, the
// counter it waits on, the signals it needs and the signals seen (what the engine's watchdog
// reports).
std::vector<std::vector<int>> simulate_plan(const QueuePlan& plan, int steps, std::uint64_t seed);

// "task 12 (L3 attention tile 1)" for messages.
std::string describe_task(const StepProgram& program, const QueuePlan& plan, int task);

}  // namespace mimo::program
