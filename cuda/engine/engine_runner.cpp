// EngineRunner (engine_runner.hpp): segments of a step program on the persistent engine, the
// rest on the stream runner. Each op's record mirrors exactly what StreamRunner launches for it.
#include "cuda/engine/engine_runner.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>

#include "cuda/engine/engine_step.hpp"
#include "cuda/kernels/cuda_check.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/runtime/layer_shapes.hpp"
#include "mimo/error.hpp"
#include "program/queue_plan.hpp"

namespace mimo::cuda::engine {

using program::Op;
using program::OpKind;

namespace {

// Fewer consecutive engine ops than this stay on the stream runner: a lone small op is cheaper
// as one small kernel than as a launch of a block on every multiprocessor.
constexpr int kMinSegmentOps = 2;
constexpr int kTeamsOf128 = kEngineThreads / 128;
constexpr int kMaxPreparedShapes = 64;

bool aligned16(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

int blocks_for(long long items, int per_block) {
  return static_cast<int>((items + per_block - 1) / per_block);
}

// The FP8 batch launch's block size (linear_kernels.cu, launch_fp8_mma_linear).
int projection_warps(int row_tiles, int cols) {
  return std::min(row_tiles >= 264 ? 8 : 16, (cols + 63) / 64);
}

int next_plan_id() {
  static std::atomic<int> next{1};
  return next++;
}

std::uint64_t next_runner_id() {
  static std::atomic<std::uint64_t> next{1};
  return next++;
}

}  // namespace

struct EngineRunner::Segment {
  int begin = 0, end = 0;  // ops [begin, end) of the program
  bool engine = false;
  int plan_id = 0;
  program::StepProgram sub;  // engine: the segment's ops
  std::unique_ptr<DevicePlan> device;
  DeviceBuffer ops;    // one EngineOp per op of `sub`
  bool paged = false;  // runs on the paged kernel (some projection reads the page ring)
};

struct EngineRunner::Prepared {
  std::shared_ptr<DeviceBuffer> fault;  // the record its plans write: outlives them
  std::uint64_t buffers_id = 0;
  program::StepShape shape;
  std::vector<Segment> segments;
};

EngineRunner::EngineRunner(const model::ModelConfig& config, const DeviceModel& model)
    : config_(config),
      model_(model),
      queues_(resident_engine_blocks()),
      id_(next_runner_id()),
      fault_(std::make_shared<DeviceBuffer>(sizeof(EngineFault))),
      fault_host_(sizeof(EngineFault)) {
  check(cudaMemset(fault_->get(), 0, sizeof(EngineFault)), "engine fault record");
  *fault_host_.as<EngineFault>() = EngineFault{};
  if (queues_ < 1) {
    throw Error(ErrorCode::kDevice, "persistent engine: its step kernel cannot be resident");
  }
}

EngineRunner::~EngineRunner() = default;

bool EngineRunner::build_op(const Op& op, const program::StepShape& shape, GpuState& s,
                            EngineOp& out) const {
  GpuState::Scratch& b = s.scratch;
  const int n = shape.tokens, hidden = config_.hidden_size;
  out = EngineOp{};
  out.tokens = n;
  switch (op.kind) {
    case OpKind::kEmbed:
      out.kind = EngineOpKind::kEmbed;
      if (model_.embed_format == MatrixFormat::kBf16) {
        out.embed.bf16 = model_.embed_bf16;
      } else {
        out.embed.f32 = model_.embed_f32;
      }
      out.embed.tokens = b.tokens.as<int>();
      out.embed.out = b.x.as<float>();
      return true;
    case OpKind::kAddNorm: {
      AddNormArgs& a = out.norm;
      out.kind = EngineOpKind::kAddNorm;
      a.weight = op.norm == program::Norm::kFinal   ? model_.final_norm
                 : op.norm == program::Norm::kInput ? model_.layers[op.layer].input_norm
                                                    : model_.layers[op.layer].post_attention_norm;
      a.x = b.x.as<float>();
      a.delta = op.add ? b.delta.as<float>() : nullptr;
      a.out = b.h.as<float>();
      a.dim = hidden;
      a.eps = static_cast<float>(config_.rms_norm_eps);
      if (hidden % 8 == 0 && op.norm != program::Norm::kFinal) a.split = b.split(hidden);
      // The stream runner's vectorised kernel (rmsnorm_vec_kernel) only.
      return hidden % 4 == 0 && hidden <= 4 * 4 * kEngineThreads && aligned16(a.x) &&
             aligned16(a.delta) && aligned16(a.weight) && aligned16(a.out);
    }
    case OpKind::kQkv:
    case OpKind::kOutProj: {
      // Prefill chunks' projections run on the stream runner's prefill GEMM (its bits).
      if (s.prefill_gemm(n)) return false;
      const DeviceLayer& w = model_.layers[op.layer];
      ProjectionArgs& p = out.projection;
      out.kind = EngineOpKind::kProjection;
      const DeviceLinear* mats[3] = {&w.q, &w.k, &w.v};
      float* outs[3] = {b.q.as<float>(), b.k.as<float>(), b.v.as<float>()};
      int count = 3, cols = hidden;
      if (op.kind == OpKind::kOutProj) {
        const model::AttentionSpec& a = config_.attention(op.layer);
        mats[0] = &w.o;
        outs[0] = b.delta.as<float>();
        count = 1;
        cols = a.num_heads * a.v_head_dim;
        p.split_source = b.heads.as<float>();
      }
      if (cols % 8 != 0) return false;
      for (int i = 0; i < count; ++i) {
        const DeviceLinear& m = *mats[i];
        if (m.format != MatrixFormat::kFp8 || !fp8_on_tensor_cores(m.fp8) || m.fp8.rows % 16 != 0 ||
            m.fp8.cols != cols) {
          return false;
        }
        p.batch.w[i] = m.fp8;
        p.batch.y[i] = outs[i];
        p.batch.first_block[i] = p.row_tiles;
        p.row_tiles += m.fp8.rows / 16;
      }
      p.batch.count = count;
      p.input = b.split(cols);
      p.warps = projection_warps(p.row_tiles, cols);
      p.paged = paged_ && cols % 16 == 0 && kReleaseCount % p.warps == 0;
      for (int i = 0; i < count; ++i) p.paged = p.paged && aligned16(p.batch.w[i].codes);
      return op.tiling.count == p.row_tiles && op.tiling.rows == 16;
    }
    case OpKind::kRopeStoreKv: {
      RopeStoreKvArgs& r = out.rope;
      out.kind = EngineOpKind::kRopeStoreKv;
      const bool sliding = config_.layers[op.layer].attention == model::AttentionKind::kSliding;
      const int rotary_dim = config_.attention(op.layer).rotary_dim;
      r.q = b.q.as<float>();
      r.k = b.k.as<float>();
      r.v = b.v.as<float>();
      r.positions = b.positions.as<int>();
      r.a = attention_shape(config_, op.layer);
      r.half = rotary_dim / 2;
      r.inv_freq = sliding ? model_.sliding_inv_freq : model_.full_inv_freq;
      r.value_scale = static_cast<float>(config_.attention_value_scale);
      r.cache = s.cache(op.layer);
      return rotary_dim % 2 == 0 && rotary_dim <= r.a.head_dim && r.cache.capacity > 0;
    }
    case OpKind::kAttention: {
      AttentionArgs& a = out.attention;
      out.kind = EngineOpKind::kAttention;
      a.q = b.q.as<float>();
      a.positions = b.positions.as<int>();
      a.a = attention_shape(config_, op.layer);
      a.cache = s.cache(op.layer);
      a.sinks = model_.layers[op.layer].sinks;
      a.out = b.heads.as<float>();
      a.partial = b.attention_partial.as<float>();
      a.arrivals = b.attention_arrivals();
      a.segments = s.attention_key_segments(op.layer);
      if (a.partial == nullptr || a.arrivals == nullptr) a.segments = 1;
      a.tokens_per_block = n > 1 ? 2 : 1;
      if (a.a.num_kv_heads < 1 || a.a.num_heads % a.a.num_kv_heads != 0) return false;
      out.heads_per_kv = a.a.num_heads / a.a.num_kv_heads;
      const int team_floats = attention_team_floats(a.a.head_dim, a.a.v_head_dim);
      // Chunks longer than the partials hold go to the stream runner (launches of
      // attention_tokens() each).
      return n <= s.attention_tokens() && a.a.head_dim <= 256 && a.a.v_head_dim <= 256 &&
             team_floats * kTeamsOf128 <= kEngineSmemFloats &&
             a.segments <= kMaxAttentionKeySegments && op.tiling.count == a.a.num_kv_heads &&
             op.tiling.rows == out.heads_per_kv;
    }
    case OpKind::kTap:
      out.kind = EngineOpKind::kTap;
      out.tap.from = op.source == program::Buffer::kNormed ? b.h.as<float>() : b.x.as<float>();
      out.tap.to = b.taps.as<float>() + std::size_t(op.slot) * hidden;
      out.tap.hidden = hidden;
      out.tap.n_taps = static_cast<int>(shape.taps.size());
      return true;
    default:
      return false;
  }
}

std::shared_ptr<EngineRunner::Prepared> EngineRunner::prepared(const program::StepProgram& program,
                                                               GpuState& s, bool may_build) {
  for (const auto& p : prepared_) {
    if (p->buffers_id == s.buffers_id() && p->shape == program.shape) return p;
  }
  if (!may_build) {
    throw Error(ErrorCode::kInternal,
                "persistent engine: a step shape was captured before EngineRunner::prepare");
  }
  if (static_cast<int>(prepared_.size()) >= kMaxPreparedShapes) prepared_.erase(prepared_.begin());
  auto p = std::make_shared<Prepared>();
  p->fault = fault_;
  p->buffers_id = s.buffers_id();
  p->shape = program.shape;
  const int n_ops = static_cast<int>(program.ops.size());
  std::vector<EngineOp> records(n_ops);
  std::vector<char> on_engine(n_ops, 0);
  for (int i = 0; i < n_ops; ++i) {
    on_engine[i] = build_op(program.ops[i], program.shape, s, records[i]);
  }
  for (int i = 0; i < n_ops;) {
    int j = i + 1;
    while (j < n_ops && on_engine[j] == on_engine[i]) ++j;
    const bool engine = on_engine[i] && j - i >= kMinSegmentOps;
    if (!p->segments.empty() && !p->segments.back().engine && !engine) {
      p->segments.back().end = j;  // merge stream runs
    } else {
      Segment seg;
      seg.begin = i;
      seg.end = j;
      seg.engine = engine;
      p->segments.push_back(std::move(seg));
    }
    i = j;
  }
  const int n = program.shape.tokens;
  for (Segment& seg : p->segments) {
    if (!seg.engine) continue;
    seg.sub.shape = program.shape;
    seg.sub.ops.assign(program.ops.begin() + seg.begin, program.ops.begin() + seg.end);
    const std::vector<EngineOp> sub_records(records.begin() + seg.begin, records.begin() + seg.end);
    program::PlanOptions options;
    options.queues = queues_;
    // A chunk per token for the per-token ops; attention and RoPE in chunks of about one round
    // of the block's four 128-thread teams.
    options.chunks = [&](const Op& op) {
      switch (op.kind) {
        case OpKind::kEmbed:
        case OpKind::kAddNorm:
        case OpKind::kTap:
          return n;
        case OpKind::kRopeStoreKv: {
          const model::AttentionSpec& a = config_.attention(op.layer);
          return std::min(queues_, blocks_for(n * (a.num_heads + a.num_kv_heads), kTeamsOf128));
        }
        case OpKind::kAttention: {
          const int segments = s.attention_key_segments(op.layer);
          const int per_tile = op.tiling.rows * blocks_for(n, n > 1 ? 2 : 1) * segments;
          return std::max(1, std::min(blocks_for(per_tile, kTeamsOf128),
                                      queues_ / std::max(1, op.tiling.count)));
        }
        default:
          return 1;
      }
    };
    options.prologue_chunks = [&](const Op& op) { return op.kind == OpKind::kOutProj ? n : 0; };
    options.shuffle_seed = shuffle_seed_;
    const program::QueuePlan plan = program::plan_queues(seg.sub, options);
    program::check_plan(plan, program::plan_dependencies(plan));
    seg.plan_id = next_plan_id();
    seg.device = std::make_unique<DevicePlan>(plan, 2'000'000'000ull, fault_->as<EngineFault>(),
                                              seg.plan_id);
    seg.device->record_timeline(timeline_);
    seg.ops = to_device(sub_records);
    for (const EngineOp& r : sub_records) {
      seg.paged = seg.paged || (r.kind == EngineOpKind::kProjection && r.projection.paged);
    }
  }
  prepared_.push_back(p);
  return p;
}

std::shared_ptr<const void> EngineRunner::prepare(const program::StepProgram& program,
                                                  GpuState& s) {
  return prepared(program, s, true);
}

void EngineRunner::set_paging(bool on) {
  paged_ = on;
  prepared_.clear();
  id_ = next_runner_id();
}

void EngineRunner::set_plan_for_testing(int queues, std::uint64_t shuffle_seed) {
  const int resident = resident_engine_blocks();
  if (queues < 1 || queues > resident) {
    throw Error(ErrorCode::kInvalidArgument, "persistent engine: " + std::to_string(queues) +
                                                 " queues, at most " + std::to_string(resident) +
                                                 " blocks can be resident");
  }
  queues_ = queues;
  shuffle_seed_ = shuffle_seed;
  prepared_.clear();
  id_ = next_runner_id();
}

void EngineRunner::issue(const program::StepProgram& program, GpuState& s, Stream st,
                         const std::function<void(int op)>& fallback,
                         const std::function<void(const char*)>& mark, bool capturing) {
  const std::shared_ptr<Prepared> p = prepared(program, s, !capturing);
  for (const Segment& seg : p->segments) {
    if (seg.engine) {
      launch_engine_step(*seg.device, seg.ops.as<EngineOp>(), seg.paged, st);
      mark("engine segment");
      continue;
    }
    for (int i = seg.begin; i < seg.end; ++i) fallback(i);
  }
  check(cudaMemcpyAsync(fault_host_.as<void>(), fault_->get(), sizeof(EngineFault),
                        cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(st)),
        "engine fault record download");
}

void EngineRunner::check_fault() {
  const EngineFault fault = *fault_host_.as<EngineFault>();
  if (fault.stuck == 0) return;
  const UnpackedFault stuck = unpack_fault(fault.stuck);
  std::string message = "persistent engine: task " + std::to_string(stuck.task) +
                        " waited past the watchdog for counter " + std::to_string(stuck.counter);
  for (const auto& p : prepared_) {
    for (const Segment& seg : p->segments) {
      if (seg.engine && (seg.plan_id & 0xFFFF) == stuck.plan) {
        message = seg.device->fault_message(stuck, [&](int t) {
          return program::describe_task(seg.sub, seg.device->plan(), t) +
                 " of the segment of ops " + std::to_string(seg.begin) + ".." +
                 std::to_string(seg.end - 1);
        });
      }
    }
  }
  for (const auto& p : prepared_) {
    for (const Segment& seg : p->segments) {
      if (seg.engine) seg.device->reset();
    }
  }
  *fault_host_.as<EngineFault>() = EngineFault{};
  throw Error(ErrorCode::kDevice, message);
}

EngineRunner::Coverage EngineRunner::coverage(const program::StepProgram& program, GpuState& s) {
  Coverage c;
  for (const Segment& seg : prepared(program, s, true)->segments) {
    if (seg.engine) {
      c.engine_ops += seg.end - seg.begin;
      ++c.engine_launches;
    } else {
      c.stream_ops += seg.end - seg.begin;
    }
  }
  return c;
}

void EngineRunner::record_timeline(bool on) {
  timeline_ = on;
  for (const auto& p : prepared_) {
    for (Segment& seg : p->segments) {
      if (seg.engine) seg.device->record_timeline(on);
    }
  }
}

std::vector<EngineRunner::TimelineTask> EngineRunner::timeline(const program::StepProgram& program,
                                                               GpuState& s) {
  std::vector<TimelineTask> out;
  const std::shared_ptr<Prepared> p = prepared(program, s, true);
  for (std::size_t i = 0; i < p->segments.size(); ++i) {
    const Segment& seg = p->segments[i];
    if (!seg.engine) continue;
    const std::vector<TimelineEntry> entries = seg.device->timeline();
    for (std::size_t t = 0; t < entries.size(); ++t) {
      const program::Task& task = seg.device->plan().tasks[t];
      const program::TaskPart& part = seg.device->plan().parts[t];
      out.push_back(TimelineTask{static_cast<int>(i), seg.begin + task.op, task.tile, part.chunk,
                                 part.prologue, program::name(seg.sub.ops[task.op].kind),
                                 entries[t]});
    }
  }
  return out;
}

}  // namespace mimo::cuda::engine
