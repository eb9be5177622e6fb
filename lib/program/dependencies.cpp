// Tasks of a step program and their RAW / WAR / WAW edges (see dependencies.hpp).
#include "program/dependencies.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <utility>

#include "mimo/error.hpp"

namespace mimo::program {

std::vector<Task> op_tasks(std::span<const Op> ops) {
  std::vector<Task> tasks;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    tasks.push_back({static_cast<int>(i), -1, ops[i].reads, ops[i].writes});
  }
  return tasks;
}

std::vector<Task> tile_tasks(const StepProgram& program) {
  if (program.ranks != 1) {
    throw Error(ErrorCode::kInvalidArgument,
                "tile_tasks: tiles of a tensor-parallel program depend on each rank's shard");
  }
  return tile_tasks(program.ops);
}

std::vector<Task> tile_tasks(std::span<const Op> ops) {
  std::vector<Task> tasks;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    if (op.tiling.widths.empty()) {
      tasks.push_back({static_cast<int>(i), -1, op.reads, op.writes});
      continue;
    }
    if (op.kind == OpKind::kAttention || op.kind == OpKind::kBlockAttention) {
      const std::int64_t heads = op.tiling.rows, hd = op.tiling.widths[0],
                         vhd = op.tiling.widths[1];
      for (int t = 0; t < op.tiling.count; ++t) {
        // Its query heads, and of a block's own keys and values (kBlockAttention) kv head t's.
        Task task{static_cast<int>(i), t, {}, {}};
        for (const Access& a : op.reads) {
          if (a.buffer == Buffer::kQuery) {
            task.reads.push_back({a.buffer, -1, t * heads * hd, (t + 1) * heads * hd});
          } else if (a.buffer == Buffer::kKey) {
            task.reads.push_back({a.buffer, -1, t * hd, (t + 1) * hd});
          } else if (a.buffer == Buffer::kValue) {
            task.reads.push_back({a.buffer, -1, t * vhd, (t + 1) * vhd});
          } else {
            task.reads.push_back(a);
          }
        }
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
  // Per buffer (and index): which task wrote each feature range last, and the reads of each
  // range since. A task follows the last writers of what it reads (RAW), and the last writers
  // and later readers of what it writes (WAW, WAR). Earlier writers and readers are behind
  // those through the same rules, so the graph has the pairwise graph's orders with far fewer
  // edges, and costs about the number of accesses times the ranges they meet.
  struct Range {
    std::int64_t begin, end;
    int task;
  };
  struct Uses {
    std::vector<Range> writers;  // disjoint, sorted by begin
    std::vector<Range> readers;
  };
  std::map<std::pair<int, int>, Uses> uses;
  const auto key = [](const Access& a) {
    return std::make_pair(static_cast<int>(a.buffer), a.index);
  };
  const auto meets = [](const Range& r, const Access& a) {
    return r.begin < a.end && a.begin < r.end;
  };
  // The first of the sorted, disjoint writers that ends after a.begin.
  const auto first_meeting = [](const std::vector<Range>& writers, const Access& a) {
    return std::partition_point(writers.begin(), writers.end(),
                                [&](const Range& w) { return w.end <= a.begin; });
  };
  const int n = static_cast<int>(tasks.size());
  DependencyGraph graph;
  graph.waits_for.resize(n);
  for (int j = 0; j < n; ++j) {
    std::vector<int>& deps = graph.waits_for[j];
    for (const Access& a : tasks[j].reads) {
      const std::vector<Range>& writers = uses[key(a)].writers;
      for (auto w = first_meeting(writers, a); w != writers.end() && w->begin < a.end; ++w) {
        deps.push_back(w->task);
      }
    }
    for (const Access& a : tasks[j].writes) {
      const Uses& u = uses[key(a)];
      for (auto w = first_meeting(u.writers, a); w != u.writers.end() && w->begin < a.end; ++w) {
        deps.push_back(w->task);
      }
      for (const Range& r : u.readers) {
        if (meets(r, a) && r.task != j) deps.push_back(r.task);
      }
    }
    // Reads recorded before writes are applied: a task that reads and writes a range is that
    // range's last writer, and no later write waits for its read separately.
    for (const Access& a : tasks[j].reads) {
      uses[key(a)].readers.push_back({a.begin, a.end, j});
    }
    for (const Access& a : tasks[j].writes) {
      Uses& u = uses[key(a)];
      // The older writes [begin, end) meets give way to this one, but for their parts outside.
      const auto first = first_meeting(u.writers, a);
      auto last = first;
      std::vector<Range> pieces;
      for (; last != u.writers.end() && last->begin < a.end; ++last) {
        if (last->begin < a.begin) pieces.push_back({last->begin, a.begin, last->task});
      }
      pieces.push_back({a.begin, a.end, j});
      if (last != first && a.end < (last - 1)->end) {
        pieces.push_back({a.end, (last - 1)->end, (last - 1)->task});
      }
      const auto at = u.writers.erase(first, last);
      u.writers.insert(at, pieces.begin(), pieces.end());
      // The parts of earlier reads this write covers are behind it now (a later write there
      // follows this one); only the uncovered parts still need their own edges.
      std::vector<Range> readers;
      for (const Range& r : u.readers) {
        if (!meets(r, a) || r.task == j) {
          readers.push_back(r);
          continue;
        }
        if (r.begin < a.begin) readers.push_back({r.begin, a.begin, r.task});
        if (a.end < r.end) readers.push_back({a.end, r.end, r.task});
      }
      u.readers = std::move(readers);
    }
    std::sort(deps.begin(), deps.end());
    deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
    std::erase(deps, j);
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
