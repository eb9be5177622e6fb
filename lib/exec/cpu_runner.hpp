// The CPU reference interpreter of step programs: each op runs with the lib/cpu kernels (the
// numeric definition of every op) over one rank's buffers and KV cache. Ops run in program
// order, or in any order the program's dependency graph allows (tests prove the bits agree).
// Collective ops (kAllReduce, kAllGather) belong to the runner that holds every rank
// (VirtualRanksExecutor); here they are refused.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "cpu/kv_cache.hpp"
#include "cpu/router.hpp"
#include "cpu/thread_pool.hpp"
#include "exec/cpu_model.hpp"
#include "program/dependencies.hpp"
#include "program/step_program.hpp"

namespace mimo::exec {

// A rank's step-local buffers (program::Buffer), grown to the chunk's size.
struct CpuBuffers {
  std::vector<float> x, h, delta, q, k, v, heads;
  std::vector<std::int32_t> positions;
  std::vector<cpu::Route> routes;
  std::vector<float> local_logits;  // a tensor-parallel rank's vocab columns before the gather
};

// One chunk's inputs and where its outputs go.
struct ChunkIo {
  std::span<const std::int32_t> tokens;
  float* logits = nullptr;  // the chunk's logits rows ([rows, vocab of this rank])
  float* taps = nullptr;    // the chunk's first row of StepOutput::hidden
  int n_taps = 0;
  const std::atomic<bool>* cancel = nullptr;  // checked before every layer's first op
};

class CpuRunner {
 public:
  // model and pool must outlive the runner. check_activations: after each whole op, its output
  // is checked for NaN / infinity (exec/activation_checks.hpp; tiles are not checked).
  CpuRunner(const CpuModel& model, cpu::ThreadPool& pool, bool check_activations = false);

  // Runs the chunk's program over `cache` (positions cache.length() ...), then commits it.
  // `tasks`, when given, replaces program order: the program's ops or tiles (program::op_tasks,
  // tile_tasks) in an order their dependency graph allows, each op's work done exactly once.
  void run(const program::StepProgram& program, cpu::KvCache& cache, CpuBuffers& buffers,
           const ChunkIo& io, const std::vector<program::Task>* tasks = nullptr) const;

  // One op, or one tile of a projection or of attention (tile >= 0). The chunk's buffers must be
  // sized (prepare) and the cache reserved.
  void run_op(const program::Op& op, cpu::KvCache& cache, CpuBuffers& buffers, const ChunkIo& io,
              int tile = -1) const;
  void prepare(CpuBuffers& buffers, const ChunkIo& io, std::int64_t first_pos) const;

 private:
  void add_norm(const program::Op& op, CpuBuffers& b, int n) const;
  void qkv(int layer, CpuBuffers& b, int n) const;
  void rope_store_kv(int layer, cpu::KvCache& cache, CpuBuffers& b, int n) const;
  // All heads, or (tile >= 0) the query heads of kv head `tile`.
  void attention(int layer, cpu::KvCache& cache, CpuBuffers& b, int n, int tile = -1) const;
  void route(int layer, CpuBuffers& b, int n) const;
  void experts(int layer, CpuBuffers& b, int n) const;
  void tap(const program::Op& op, const CpuBuffers& b, const ChunkIo& io) const;
  // Output features [tile * rows, ...) of a projection's outputs, one row-slice linear each.
  void projection_tile(const program::Op& op, int tile, CpuBuffers& b, const ChunkIo& io) const;

  const CpuModel& model_;
  cpu::ThreadPool& pool_;
  bool check_activations_;
  // Per-token widths of q, k, v and heads, the largest over the layers (full and sliding).
  std::size_t q_width_ = 0, k_width_ = 0, v_width_ = 0, heads_width_ = 0;
};

}  // namespace mimo::exec
