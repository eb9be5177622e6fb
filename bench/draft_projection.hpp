// mimo-bench --draft-projection, the host side: a DFlash drafter of the MiMo-V2.5-Pro drafter's
// shape (../shared/docs/research/dflash.md: 5 layers, block 8, 128 query / 8 key-value heads of
// 128, intermediate 16384, a 1024-token window, sinks, taps of five target layers) with random
// BF16 weights in the drafter's own weight format (spec::DrafterWeights), and the speculative
// tokens/s its measured draft and verify times imply. The timing on the device is
// draft_projection_gpu.hpp. No CUDA here: the bench tests check all of it on the CPU.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "spec/drafter_weights.hpp"

namespace mimo::bench {

// MiMo-V2.5-Pro's drafter config (research/dflash.md) with two changes that fit it to `target`:
// hidden_size is the target's (the drafter reads the target's embeddings and feeds its lm_head;
// MiMo's is 6144, the benchmark geometry's 4096), and its taps [0, 15, 31, 47, 69] of 70 layers
// are scaled to the target's layers (round(id * (L - 1) / 69)). Parsed by
// model::parse_drafter_config and checked with validate_drafter_against_target.
model::DrafterConfig mimo_pro_drafter_config(const model::ModelConfig& target);

// Random drafter weights: every linear BF16, uniform in +-1/sqrt(cols) from a seeded generator
// (the same seed gives the same bytes), norms 1, sinks 0, no mask-embedding override. The
// weights point into `storage`, so they live as long as this object.
struct SyntheticDrafter {
  std::vector<std::unique_ptr<std::uint16_t[]>> storage;  // one BF16 buffer per linear
  spec::DrafterWeights weights;
};
std::unique_ptr<SyntheticDrafter> synthetic_drafter(const model::DrafterConfig& config,
                                                    std::int64_t target_hidden, std::uint64_t seed);

// Medians of the timed steps, milliseconds.
struct ProjectionTimes {
  double draft_ms = 0;    // the drafter's block pass (graph replay, drafts back on the host)
  double context_ms = 0;  // the drafter's context update for a block's rows (observe)
  double verify_ms = 0;   // the target's verify step of a block, with taps and greedy rows
  double decode_ms = 0;   // the target's decode-1 step with a greedy token (plain decoding)
};

// Tokens/s of speculative decoding that emits `acceptance` tokens per step (bonus included), a
// step costing step_ms: acceptance / step_ms * 1000. Throws mimo::Error(kInvalidArgument) for a
// non-positive step time or an acceptance below 1.
double projected_tokens_per_second(double acceptance, double step_ms);

// The acceptances the projection is printed at: 4.0, 5.56 and 6.30 (issue 19).
std::vector<double> projection_acceptances();

// The labelled projection: the drafter's shape, the measured times, then per acceptance the
// implied tokens/s and its ratio to plain decode-1, and the formula.
std::string format_projection(const model::DrafterConfig& drafter, const ProjectionTimes& times,
                              int context);

}  // namespace mimo::bench
