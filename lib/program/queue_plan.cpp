// Per-queue task plans with epoch-tagged counters (see queue_plan.hpp).
#include "program/queue_plan.hpp"

#include <algorithm>
#include <random>
#include <sstream>

#include "mimo/error.hpp"

namespace mimo::program {
namespace {

// Per op, the ops it transitively waits for, as a bit set over op indices.
class Ancestors {
 public:
  explicit Ancestors(int ops) : words_((ops + 63) / 64), bits_(std::size_t(ops) * words_, 0) {}
  bool has(int op, int ancestor) const { return (row(op)[ancestor / 64] >> (ancestor % 64)) & 1u; }
  // op now waits for `parent` and everything `parent` waits for.
  void add(int op, int parent) {
    std::uint64_t* r = row(op);
    const std::uint64_t* p = row(parent);
    for (int w = 0; w < words_; ++w) r[w] |= p[w];
    r[parent / 64] |= std::uint64_t(1) << (parent % 64);
  }

 private:
  std::uint64_t* row(int op) { return bits_.data() + std::size_t(op) * words_; }
  const std::uint64_t* row(int op) const { return bits_.data() + std::size_t(op) * words_; }
  int words_;
  std::vector<std::uint64_t> bits_;
};

// Each task's waits: one counter (op) per producer op, minus those another waited op implies.
void plan_waits(const DependencyGraph& graph, int ops, QueuePlan& plan) {
  const int n = static_cast<int>(plan.tasks.size());
  Ancestors ancestors(ops);
  plan.waits.assign(n, {});
  for (int t = 0; t < n; ++t) {
    const int op = plan.tasks[t].op;
    std::vector<int> producer_ops;
    for (int u : graph.waits_for[t]) {
      const int p = plan.tasks[u].op;
      if (p == op) {
        throw Error(ErrorCode::kInternal,
                    "plan_queues: two tiles of one op depend on each other (op " +
                        std::to_string(op) + "); a counter per op cannot order them");
      }
      producer_ops.push_back(p);
    }
    std::sort(producer_ops.begin(), producer_ops.end());
    producer_ops.erase(std::unique(producer_ops.begin(), producer_ops.end()), producer_ops.end());
    for (int p : producer_ops) {
      const bool implied = std::any_of(producer_ops.begin(), producer_ops.end(),
                                       [&](int q) { return q != p && ancestors.has(q, p); });
      if (!implied) plan.waits[t].push_back({p, plan.producers[p]});
    }
    // Once the op finishes, every tile of it has run, so the op waits for all these.
    for (int p : producer_ops) ancestors.add(op, p);
  }
}

// Tasks of each op dealt round-robin, continuing from where the previous op stopped.
void place_round_robin(QueuePlan& plan, int queues) {
  plan.queues.assign(queues, {});
  int next = 0;
  for (int t = 0; t < static_cast<int>(plan.tasks.size()); ++t) {
    plan.queues[next].push_back(t);
    next = (next + 1) % queues;
  }
}

// The graph the waits define: task t follows every task of each counter it waits on fully (a
// wait for part of a counter's signals guarantees no particular producer).
DependencyGraph wait_graph(const QueuePlan& plan) {
  std::vector<std::vector<int>> tasks_of(plan.producers.size());
  for (int t = 0; t < static_cast<int>(plan.tasks.size()); ++t) {
    tasks_of[plan.signals[t]].push_back(t);
  }
  DependencyGraph g;
  g.waits_for.resize(plan.tasks.size());
  for (int t = 0; t < static_cast<int>(plan.tasks.size()); ++t) {
    for (const CounterWait& w : plan.waits[t]) {
      if (w.count != plan.producers[w.counter]) continue;
      for (int u : tasks_of[w.counter]) g.waits_for[t].push_back(u);
    }
  }
  return g;
}

// Random queues, each in the order of one random topological order of the waits.
void place_shuffled(QueuePlan& plan, int queues, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::vector<int> order = random_order(wait_graph(plan), rng());
  plan.queues.assign(queues, {});
  for (int t : order) plan.queues[rng() % queues].push_back(t);
}

int count_of(const std::function<int(const Op&)>& f, const Op& op, int fallback) {
  if (!f) return fallback;
  const int n = f(op);
  if (n < 0 || (fallback == 1 && n < 1)) {
    throw Error(ErrorCode::kInvalidArgument, std::string("plan_queues: ") + std::to_string(n) +
                                                 " chunks for op " + name(op.kind));
  }
  return n;
}

// The tile tasks (one counter per op, waits planned) cut into chunks, with each op's prologue
// chunks first: prologue counters follow the op counters.
QueuePlan expand(const StepProgram& program, const QueuePlan& tiles, const PlanOptions& options) {
  const int ops = static_cast<int>(program.ops.size());
  std::vector<int> first_task(ops, -1);
  for (int t = 0; t < static_cast<int>(tiles.tasks.size()); ++t) {
    if (first_task[tiles.tasks[t].op] < 0) first_task[tiles.tasks[t].op] = t;
  }
  QueuePlan plan;
  plan.producers.assign(ops, 0);
  std::vector<int> prologue_counter(ops, -1);
  for (int t = 0; t < static_cast<int>(tiles.tasks.size()); ++t) {
    const Task& task = tiles.tasks[t];
    const Op& op = program.ops[task.op];
    if (t == first_task[task.op]) {
      const int prologue = count_of(options.prologue_chunks, op, 0);
      if (prologue > 0) {
        // The prologue waits for whatever any tile of the op waits for.
        std::vector<CounterWait> waits;
        for (int u = t; u < static_cast<int>(tiles.tasks.size()) && tiles.tasks[u].op == task.op;
             ++u) {
          for (const CounterWait& w : tiles.waits[u]) {
            if (std::find(waits.begin(), waits.end(), w) == waits.end()) waits.push_back(w);
          }
        }
        prologue_counter[task.op] = static_cast<int>(plan.producers.size());
        plan.producers.push_back(prologue);
        for (int c = 0; c < prologue; ++c) {
          plan.tasks.push_back(Task{task.op, -1, op.reads, op.writes});
          plan.parts.push_back(TaskPart{c, prologue, true});
          plan.signals.push_back(prologue_counter[task.op]);
          plan.waits.push_back(waits);
        }
      }
    }
    const int chunks = count_of(options.chunks, op, 1);
    for (int c = 0; c < chunks; ++c) {
      plan.tasks.push_back(task);
      plan.parts.push_back(TaskPart{c, chunks, false});
      plan.signals.push_back(task.op);
      ++plan.producers[task.op];
      if (prologue_counter[task.op] >= 0) {
        const int pc = prologue_counter[task.op];
        plan.waits.push_back({CounterWait{pc, plan.producers[pc]}});
      } else {
        // Waits count whole ops: a producer cut into chunks signals once a chunk.
        plan.waits.push_back(tiles.waits[t]);
      }
    }
  }
  // Whole-op waits now count every chunk of the producer.
  for (std::vector<CounterWait>& waits : plan.waits) {
    for (CounterWait& w : waits) {
      if (w.counter < ops) w.count = plan.producers[w.counter];
    }
  }
  return plan;
}

[[noreturn]] void fail(const std::string& what) {
  throw Error(ErrorCode::kInternal, "queue plan: " + what);
}

}  // namespace

QueuePlan plan_queues(const StepProgram& program, const PlanOptions& options) {
  if (options.queues < 1) {
    throw Error(ErrorCode::kInvalidArgument,
                "plan_queues: queues must be at least 1, got " + std::to_string(options.queues));
  }
  QueuePlan tiles;
  tiles.tasks = tile_tasks(program);
  tiles.producers.assign(program.ops.size(), 0);
  for (const Task& t : tiles.tasks) ++tiles.producers[t.op];
  plan_waits(dependencies(tiles.tasks), static_cast<int>(program.ops.size()), tiles);
  QueuePlan plan = expand(program, tiles, options);
  if (options.shuffle_seed == 0) {
    place_round_robin(plan, options.queues);
  } else {
    place_shuffled(plan, options.queues, options.shuffle_seed);
  }
  return plan;
}

DependencyGraph plan_dependencies(const QueuePlan& plan) {
  DependencyGraph graph = dependencies(plan.tasks);
  for (int t = 0; t < static_cast<int>(plan.tasks.size()); ++t) {
    std::vector<int>& w = graph.waits_for[t];
    w.erase(std::remove_if(w.begin(), w.end(),
                           [&](int u) { return plan.tasks[u].op == plan.tasks[t].op; }),
            w.end());
  }
  return graph;
}

void check_plan(const QueuePlan& plan, const DependencyGraph& graph) {
  const int n = static_cast<int>(plan.tasks.size());
  const int counters = static_cast<int>(plan.producers.size());
  if (static_cast<int>(plan.signals.size()) != n || static_cast<int>(plan.waits.size()) != n ||
      static_cast<int>(plan.parts.size()) != n || static_cast<int>(graph.waits_for.size()) != n) {
    fail("parts, signals, waits and the dependency graph must have one entry per task");
  }
  std::vector<int> placed(n, 0), signalled(counters, 0);
  for (const std::vector<int>& q : plan.queues) {
    for (int t : q) {
      if (t < 0 || t >= n) fail("queue entry " + std::to_string(t) + " is not a task");
      ++placed[t];
    }
  }
  for (int t = 0; t < n; ++t) {
    if (placed[t] != 1) {
      fail("task " + std::to_string(t) + " is on " + std::to_string(placed[t]) + " queues");
    }
    if (plan.signals[t] < 0 || plan.signals[t] >= counters) {
      fail("task " + std::to_string(t) + " signals unknown counter " +
           std::to_string(plan.signals[t]));
    }
    ++signalled[plan.signals[t]];
  }
  for (int c = 0; c < counters; ++c) {
    if (signalled[c] != plan.producers[c]) {
      fail("counter " + std::to_string(c) + " has " + std::to_string(signalled[c]) +
           " signalling tasks, the plan says " + std::to_string(plan.producers[c]));
    }
  }
  for (int t = 0; t < n; ++t) {
    for (const CounterWait& w : plan.waits[t]) {
      if (w.counter < 0 || w.counter >= counters || w.count < 1 ||
          w.count > plan.producers[w.counter]) {
        fail("task " + std::to_string(t) + " waits for " + std::to_string(w.count) +
             " signals of counter " + std::to_string(w.counter));
      }
    }
  }
  // Every edge enforced: u's counter fully awaited by t, directly or through a chain of full
  // waits. Per counter, the counters behind it (bit sets), built in task order.
  const int words = (counters + 63) / 64;
  std::vector<std::uint64_t> behind(std::size_t(counters) * words, 0);
  std::vector<int> finished(counters, 0);
  const auto closure_of = [&](int t, std::vector<std::uint64_t>& bits) {
    bits.assign(words, 0);
    for (const CounterWait& w : plan.waits[t]) {
      if (w.count != plan.producers[w.counter]) continue;  // a partial wait orders nothing
      if (finished[w.counter] != plan.producers[w.counter]) {
        fail("task " + std::to_string(t) + " waits on counter " + std::to_string(w.counter) +
             ", which tasks later in the plan's order signal");
      }
      const std::uint64_t* b = behind.data() + std::size_t(w.counter) * words;
      for (int i = 0; i < words; ++i) bits[i] |= b[i];
      bits[w.counter / 64] |= std::uint64_t(1) << (w.counter % 64);
    }
  };
  std::vector<std::uint64_t> bits;
  for (int t = 0; t < n; ++t) {
    closure_of(t, bits);
    for (int u : graph.waits_for[t]) {
      const int c = plan.signals[u];
      if (!((bits[c / 64] >> (c % 64)) & 1u)) {
        fail("task " + std::to_string(t) + " depends on task " + std::to_string(u) +
             " but no chain of waits enforces it");
      }
    }
    std::uint64_t* mine = behind.data() + std::size_t(plan.signals[t]) * words;
    for (int i = 0; i < words; ++i) mine[i] |= bits[i];
    ++finished[plan.signals[t]];
  }
  simulate_plan(plan, 1, 0);
}

std::vector<std::vector<int>> simulate_plan(const QueuePlan& plan, int steps, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<long long> counter(plan.producers.size(), 0);
  std::vector<std::vector<int>> orders;
  for (int step = 1; step <= steps; ++step) {
    std::vector<std::size_t> head(plan.queues.size(), 0);
    const auto ready = [&](int t) {
      for (const CounterWait& w : plan.waits[t]) {
        if (counter[w.counter] < (long long)(step - 1) * plan.producers[w.counter] + w.count) {
          return false;
        }
      }
      return true;
    };
    std::vector<int> order;
    for (;;) {
      std::vector<int> runnable, busy;
      for (std::size_t q = 0; q < plan.queues.size(); ++q) {
        if (head[q] == plan.queues[q].size()) continue;
        busy.push_back(static_cast<int>(q));
        if (ready(plan.queues[q][head[q]])) runnable.push_back(static_cast<int>(q));
      }
      if (busy.empty()) break;
      if (runnable.empty()) {
        std::ostringstream why;
        why << "step " << step << " deadlocks:";
        for (int q : busy) {
          const int t = plan.queues[q][head[q]];
          for (const CounterWait& w : plan.waits[t]) {
            const long long need = (long long)(step - 1) * plan.producers[w.counter] + w.count;
            if (counter[w.counter] < need) {
              why << " queue " << q << " task " << t << " waits on counter " << w.counter << " for "
                  << need << " signals, seen " << counter[w.counter] << ";";
              break;
            }
          }
        }
        fail(why.str());
      }
      const int q = runnable[rng() % runnable.size()];
      const int t = plan.queues[q][head[q]++];
      order.push_back(t);
      ++counter[plan.signals[t]];
    }
    orders.push_back(std::move(order));
  }
  return orders;
}

std::string describe_task(const StepProgram& program, const QueuePlan& plan, int task) {
  std::ostringstream out;
  out << "task " << task;
  if (task < 0 || task >= static_cast<int>(plan.tasks.size())) return out.str();
  const Task& t = plan.tasks[task];
  const Op& op = program.ops[t.op];
  out << " (";
  if (op.layer >= 0) out << "L" << op.layer << " ";
  out << name(op.kind);
  if (t.tile >= 0) out << " tile " << t.tile;
  out << ")";
  return out.str();
}

}  // namespace mimo::program
