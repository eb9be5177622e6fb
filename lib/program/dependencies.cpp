// Tasks of a step program and their RAW / WAR / WAW edges (see dependencies.hpp). Pairwise over
// the tasks: a step has a few hundred, and an edge implied by others costs nothing to keep.
#include "program/dependencies.hpp"

#include <algorithm>
#include <random>

#include "mimo/error.hpp"

namespace mimo::program {
namespace {

bool any_overlap(const std::vector<Access>& a, const std::vector<Access>& b) {
  for (const Access& x : a) {
    for (const Access& y : b) {
      if (overlap(x, y)) return true;
    }
  }
  return false;
}

}  // namespace

std::vector<Task> op_tasks(const StepProgram& program) {
  std::vector<Task> tasks;
  for (std::size_t i = 0; i < program.ops.size(); ++i) {
    tasks.push_back({static_cast<int>(i), -1, program.ops[i].reads, program.ops[i].writes});
  }
  return tasks;
}

std::vector<Task> tile_tasks(const StepProgram& program) {
  if (program.ranks != 1) {
    throw Error(ErrorCode::kInvalidArgument,
                "tile_tasks: tiles of a tensor-parallel program depend on each rank's shard");
  }
  std::vector<Task> tasks;
  for (std::size_t i = 0; i < program.ops.size(); ++i) {
    const Op& op = program.ops[i];
    if (op.tiling.widths.empty()) {
      tasks.push_back({static_cast<int>(i), -1, op.reads, op.writes});
      continue;
    }
    if (op.kind == OpKind::kAttention) {
      const std::int64_t heads = op.tiling.rows, hd = op.tiling.widths[0],
                         vhd = op.tiling.widths[1];
      for (int t = 0; t < op.tiling.count; ++t) {
        Task task{static_cast<int>(i), t, {}, {}};
        for (const Access& a : op.reads) {
          if (a.buffer != Buffer::kQuery) task.reads.push_back(a);
        }
        task.reads.push_back({Buffer::kQuery, -1, t * heads * hd, (t + 1) * heads * hd});
        task.writes.push_back({Buffer::kHeads, -1, t * heads * vhd, (t + 1) * heads * vhd});
        tasks.push_back(std::move(task));
      }
      continue;
    }
    for (int t = 0; t < op.tiling.count; ++t) {
      Task task{static_cast<int>(i), t, op.reads, {}};
      for (const TileSlice& slice : tile_slices(op, t)) {
        const Access& out = op.writes[slice.output];
        task.writes.push_back({out.buffer, out.index, slice.begin, slice.end});
      }
      tasks.push_back(std::move(task));
    }
  }
  return tasks;
}

DependencyGraph dependencies(const std::vector<Task>& tasks) {
  const int n = static_cast<int>(tasks.size());
  DependencyGraph graph;
  graph.waits_for.resize(n);
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < j; ++i) {
      if (any_overlap(tasks[i].writes, tasks[j].reads) ||
          any_overlap(tasks[i].reads, tasks[j].writes) ||
          any_overlap(tasks[i].writes, tasks[j].writes)) {
        graph.waits_for[j].push_back(i);
      }
    }
  }
  return graph;
}

std::vector<int> random_order(const DependencyGraph& graph, std::uint64_t seed) {
  const int n = static_cast<int>(graph.waits_for.size());
  std::vector<int> pending(n);
  std::vector<std::vector<int>> followers(n);
  for (int i = 0; i < n; ++i) {
    pending[i] = static_cast<int>(graph.waits_for[i].size());
    for (int d : graph.waits_for[i]) followers[d].push_back(i);
  }
  std::vector<int> ready, order;
  for (int i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push_back(i);
  }
  std::mt19937_64 rng(seed);
  while (!ready.empty()) {
    const std::size_t pick = rng() % ready.size();
    const int op = ready[pick];
    ready[pick] = ready.back();
    ready.pop_back();
    order.push_back(op);
    for (int f : followers[op]) {
      if (--pending[f] == 0) ready.push_back(f);
    }
  }
  return order;
}

bool is_permutation(const std::vector<int>& order, std::size_t count) {
  if (order.size() != count) return false;
  std::vector<char> seen(count, 0);
  for (int op : order) {
    if (op < 0 || static_cast<std::size_t>(op) >= count || seen[op]) return false;
    seen[op] = 1;
  }
  return true;
}

bool respects(const DependencyGraph& graph, const std::vector<int>& order) {
  const int n = static_cast<int>(graph.waits_for.size());
  if (!is_permutation(order, graph.waits_for.size())) return false;
  std::vector<int> position(n, -1);
  for (int i = 0; i < n; ++i) position[order[i]] = i;
  for (int i = 0; i < n; ++i) {
    for (int d : graph.waits_for[i]) {
      if (position[d] > position[i]) return false;
    }
  }
  return true;
}

}  // namespace mimo::program
