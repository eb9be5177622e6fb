// Orders of a program's dependency graph for the tests that prove its edges complete and
// needed (tests/exec/program_order_test.cpp, drafter_program_test.cpp): tasks in a given order,
// whether an edge is implied by the others, and an order that runs one task as late as it can.
#pragma once

#include <algorithm>
#include <vector>

#include "program/dependencies.hpp"

namespace mimo::testing {

// The tasks in the order given.
inline std::vector<program::Task> ordered(const std::vector<program::Task>& tasks,
                                          const std::vector<int>& order) {
  std::vector<program::Task> out;
  for (int i : order) out.push_back(tasks[i]);
  return out;
}

// Whether j is reachable from i through edges other than i -> j itself.
inline bool implied(const program::DependencyGraph& g, int i, int j) {
  std::vector<char> seen(g.waits_for.size(), 0);
  std::vector<int> stack;
  for (int d : g.waits_for[j]) {
    if (d != i) stack.push_back(d);
  }
  while (!stack.empty()) {
    const int k = stack.back();
    stack.pop_back();
    if (k == i) return true;
    if (k < i || seen[k]) continue;  // edges go backwards in program order
    seen[k] = 1;
    for (int d : g.waits_for[k]) stack.push_back(d);
  }
  return false;
}

// A topological order that takes `last` only when no other task is ready.
inline std::vector<int> deferred_order(const program::DependencyGraph& g, int last) {
  const int n = static_cast<int>(g.waits_for.size());
  std::vector<int> pending(n);
  std::vector<std::vector<int>> followers(n);
  for (int k = 0; k < n; ++k) {
    pending[k] = static_cast<int>(g.waits_for[k].size());
    for (int d : g.waits_for[k]) followers[d].push_back(k);
  }
  std::vector<int> ready, order;
  for (int k = 0; k < n; ++k) {
    if (pending[k] == 0) ready.push_back(k);
  }
  while (!ready.empty()) {
    auto pick = std::find_if(ready.begin(), ready.end(), [&](int k) { return k != last; });
    if (pick == ready.end()) pick = ready.begin();
    const int k = *pick;
    ready.erase(pick);
    order.push_back(k);
    for (int f : followers[k]) {
      if (--pending[f] == 0) ready.push_back(f);
    }
  }
  return order;
}

}  // namespace mimo::testing
