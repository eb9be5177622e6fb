// dependencies(): read/write sets -> RAW, WAR and WAW edges (see dependencies.hpp).
#include "program/dependencies.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <utility>

namespace mimo::program {
namespace {

using Key = std::pair<int, int>;  // (buffer, index)

Key key_of(const Access& a) {
  return {static_cast<int>(a.buffer), a.index};
}

}  // namespace

DependencyGraph dependencies(const StepProgram& program) {
  const int n = static_cast<int>(program.ops.size());
  DependencyGraph graph;
  graph.waits_for.resize(n);
  std::map<Key, int> last_writer;
  std::map<Key, std::vector<int>> readers_since_write;
  for (int i = 0; i < n; ++i) {
    const Op& op = program.ops[i];
    std::vector<int>& deps = graph.waits_for[i];
    for (const Access& a : op.reads) {
      auto w = last_writer.find(key_of(a));
      if (w != last_writer.end()) deps.push_back(w->second);
    }
    for (const Access& a : op.writes) {
      const Key k = key_of(a);
      auto w = last_writer.find(k);
      if (w != last_writer.end()) deps.push_back(w->second);
      for (int r : readers_since_write[k]) deps.push_back(r);
    }
    std::sort(deps.begin(), deps.end());
    deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
    deps.erase(std::remove(deps.begin(), deps.end(), i), deps.end());
    for (const Access& a : op.reads) readers_since_write[key_of(a)].push_back(i);
    for (const Access& a : op.writes) {
      last_writer[key_of(a)] = i;
      readers_since_write[key_of(a)].clear();
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
