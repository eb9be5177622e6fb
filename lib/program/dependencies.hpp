// The dependency graph of a step program, from the buffers each op reads and writes: an op waits
// for the last writer of everything it reads (read-after-write), for every reader since the last
// write of what it writes (write-after-read) and for that last writer (write-after-write).
// Any order that respects it computes the same bits - the CPU interpreter proves that in random
// orders (tests/program), and the persistent engine schedules tiles by exactly these edges.
#pragma once

#include <cstdint>
#include <vector>

#include "program/step_program.hpp"

namespace mimo::program {

struct DependencyGraph {
  std::vector<std::vector<int>> waits_for;  // per op, the earlier ops it must follow (ascending)
};

DependencyGraph dependencies(const StepProgram& program);

// A topological order of the graph chosen at random among the ready ops at every step (seeded,
// so a failing order can be replayed).
std::vector<int> random_order(const DependencyGraph& graph, std::uint64_t seed);

// Whether `order` holds each of 0 .. count - 1 exactly once.
bool is_permutation(const std::vector<int>& order, std::size_t count);

// Whether `order` is a permutation of the ops that runs every op after everything it waits for.
bool respects(const DependencyGraph& graph, const std::vector<int>& order);

}  // namespace mimo::program
