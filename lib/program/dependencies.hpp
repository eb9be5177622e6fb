// The dependency graph of a step program's ops, or of its tile tasks, from the buffers each
// reads and writes: a node follows the earlier nodes that write what it reads
// (read-after-write), read what it writes (write-after-read) or write what it writes
// (write-after-write), where the uses overlap - the most recent ones only: older writers and
// readers are ordered before those by the same rules, so every pairwise order still holds. Any
// order that respects it computes the same bits - the CPU interpreter proves that in random orders
// (tests/exec/program_order_test.cpp, and tests/exec/drafter_program_test.cpp for the drafter's
// programs), and the persistent engine schedules tiles by exactly these edges.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "program/drafter_program.hpp"
#include "program/step_program.hpp"

namespace mimo::program {

// One unit of work: tile `tile` of program.ops[op], or the whole op when tile < 0.
struct Task {
  int op = 0;
  int tile = -1;
  std::vector<Access> reads, writes;
};

// The ops as whole tasks, in program order.
std::vector<Task> op_tasks(std::span<const Op> ops);
inline std::vector<Task> op_tasks(const StepProgram& program) {
  return op_tasks(program.ops);
}
inline std::vector<Task> op_tasks(const DrafterProgram& program) {
  return op_tasks(program.ops);
}
// Every projection (an op whose tiling has widths) split into its tiles, each writing its own
// feature range; every other op one whole task. Single-rank programs only (kInvalidArgument).
std::vector<Task> tile_tasks(std::span<const Op> ops);
std::vector<Task> tile_tasks(const StepProgram& program);
inline std::vector<Task> tile_tasks(const DrafterProgram& program) {
  return tile_tasks(program.ops);
}

struct DependencyGraph {
  std::vector<std::vector<int>> waits_for;  // per task, the earlier tasks it must follow
};

DependencyGraph dependencies(const std::vector<Task>& tasks);
inline DependencyGraph dependencies(const StepProgram& program) {
  return dependencies(op_tasks(program));
}
inline DependencyGraph dependencies(const DrafterProgram& program) {
  return dependencies(op_tasks(program));
}

// A topological order of the graph chosen at random among the ready tasks at every step
// (seeded, so a failing order can be replayed).
std::vector<int> random_order(const DependencyGraph& graph, std::uint64_t seed);

// Whether `order` holds each of 0 .. count - 1 exactly once.
bool is_permutation(const std::vector<int>& order, std::size_t count);

// Whether `order` is a permutation of the tasks that runs every task after everything it
// waits for.
bool respects(const DependencyGraph& graph, const std::vector<int>& order);

}  // namespace mimo::program
