// A step program: the forward of one step (a chunk of tokens) as data - a list of ops over named
// buffers, weights and KV slots, built once per step shape by build_step_program (the model's
// math in one place) and run by every runner: the CPU interpreter, the virtual-ranks CPU runner,
// the GPU stream runner (kernel per op) and, next, the persistent engine. Tensor parallelism is a
// rewrite of the program (tensor_parallel), not a second forward. The DFlash drafter's passes are
// programs of the same ops and buffers too (drafter_program.hpp).
#pragma once

#include <climits>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace mimo::program {

// What a program is planned for. Two steps of equal shape run the same program.
struct StepShape {
  int tokens = 1;           // tokens in the chunk: 1 (decode), B (verify), a prefill chunk
  bool all_logits = false;  // logits of every token, else of the last one only
  bool logits = true;       // no lm_head at all when false (a prefill chunk before the last)
  std::vector<int> taps;    // layers whose output residual stream is copied out, in this order
  int sample_mode = 0;      // 0: logits are the output; else 1 + the device sampler's mode
  bool operator==(const StepShape&) const = default;
};

// Step-local buffers (one row per token unless said otherwise). Every runner owns storage for
// them; the names are what dependencies are computed over.
enum class Buffer : std::uint8_t {
  kTokens,     // token ids [T] (input)
  kPositions,  // positions [T] (input)
  kResidual,   // x: the residual stream [T, hidden]
  kNormed,     // h: rmsnorm(x) * w [T, hidden]
  kDelta,      // the last block's output, to add to x [T, hidden]
  kQuery,      // [T, heads * head_dim]
  kKey,        // [T, kv_heads * head_dim]
  kValue,      // [T, kv_heads * v_head_dim]
  kHeads,      // attention output [T, heads * v_head_dim]
  kRoutes,     // chosen experts and their weights [T, top_k]
  kLogits,     // [rows, vocab] (output)
  kTaps,       // [T, taps, hidden] (output); access index = the tap's slot
  kKvCache,    // a layer's KV cache (a drafter's: its context cache); access index = the layer
  kSampled,    // the device sampler's results (output)
  // Drafter programs only (drafter_program.hpp):
  kFeatures,  // target features of the context rows [C, K * target hidden] (input)
  kContext,   // the context rows projected into the drafter [C, hidden]
  kDrafts,    // the draft tokens, argmax of each logits row (output)
};
inline constexpr int kBufferCount = 17;

// One use of a buffer: features [begin, end) of each of its rows (the whole row by default).
// Uses of the same buffer with different indices never overlap (tap slots, cache layers); for
// the others the index is -1.
struct Access {
  static constexpr std::int64_t kWholeRow = INT64_MAX;
  Buffer buffer;
  int index = -1;
  std::int64_t begin = 0, end = kWholeRow;
  bool operator==(const Access&) const = default;
};
// Whether two uses touch a common element.
bool overlap(const Access& a, const Access& b);

enum class OpKind : std::uint8_t {
  kEmbed,        // x = embed[tokens]
  kAddNorm,      // x += delta (add), h = rmsnorm(x) * norm weight
  kQkv,          // q, k, v = W_q h, W_k h, W_v h
  kRopeStoreKv,  // rotate q and k at their positions (only their rotary dims are touched);
                 // cache[layer] <- k, v * value_scale
  kAttention,    // heads = attention(q, cache[layer]) (window, sinks)
  kOutProj,      // delta = W_o heads
  kRoute,        // routes = top-k of the router over h
  kExperts,      // delta = sum_k route_k.weight * expert_k(h)
  kDenseMlp,     // delta = W_down (silu(W_gate h) * W_up h)
  kLmHead,       // logits = lm_head h (every row, or the last)
  kTap,          // taps[:, slot] = x (or h for the last layer, after the final norm)
  kAllReduce,    // delta = sum over ranks of delta (tensor-parallel programs)
  kAllGather,    // logits = the ranks' vocab columns side by side (tensor-parallel programs)
  kSample,       // the device sampler draws from the logits rows (device runners)
  // DFlash drafter programs (drafter_program.hpp); kAddNorm, kQkv, kOutProj and kDenseMlp
  // appear there too, with the drafter's weights.
  kContextFc,       // context = W_fc features
  kContextNorm,     // context = rmsnorm(context) * context norm
  kContextKv,       // k, v = W_k context, W_v context (the context rows)
  kStoreContext,    // k = rope(rmsnorm of each head * k_norm) at the context positions;
                    // cache[layer] <- k, v
  kBlockEmbed,      // x = embed(anchor), then the mask input on every other row
  kQkNormRope,      // q, k = rope(rmsnorm of each head * q_norm / k_norm) at the block positions
  kBlockAttention,  // heads = attention(q, cache[layer] below the anchor and the block's k, v):
                    // non-causal, window, sinks
  kDraftLogits,     // logits = lm_head h of rows 1 .. draft rows (the target's lm_head)
  kArgmax,          // drafts = argmax of each logits row (ties to the lowest id)
};

// Which RMSNorm weight an kAddNorm applies.
enum class Norm : std::uint8_t { kInput, kPostAttention, kFinal };

// How an op's work splits into tiles (what the persistent engine will schedule): `count` tiles
// of `rows` output rows (or heads, or expert slots) each. For the projections (kQkv, kOutProj,
// kLmHead; a drafter's kContextFc, kContextKv, kDraftLogits) tile t computes output features
// [t * rows, (t + 1) * rows) of the concatenation of the op's outputs, whose widths are `widths`
// (q | k | v, or one buffer). For kAttention and kBlockAttention tile t computes the `rows`
// query heads of kv head t; widths = {head_dim, v_head_dim}.
struct Tiling {
  int count = 1;
  int rows = 0;
  std::vector<std::int64_t> widths;
};

// Output features per tile of a projection.
inline constexpr int kTileRows = 16;
// The tiling of a projection whose outputs are `widths` wide, kTileRows features a tile.
Tiling projection_tiling(std::vector<std::int64_t> widths);

struct Op {
  OpKind kind;
  int layer = -1;    // decoder layer; -1 for embed, the final norm, lm_head, sampling
  bool add = false;  // kAddNorm: add delta to x first
  Norm norm = Norm::kInput;
  bool all_rows = true;               // kLmHead / kSample: every row, else only the last
  int slot = -1;                      // kTap: the tap's slot in the output
  Buffer source = Buffer::kResidual;  // kTap: x, or h after the final norm
  std::vector<Access> reads, writes;
  Tiling tiling;
};

// Appends an op of `kind` (layer -1: none) reading and writing the given accesses; the step
// and drafter program builders both write their programs through it.
Op& append_op(std::vector<Op>& ops, OpKind kind, int layer, std::vector<Access> reads,
              std::vector<Access> writes, Tiling tiling);

struct StepProgram {
  StepShape shape;
  int ranks = 1;  // > 1: a tensor-parallel program (weights sharded per rank, collectives)
  std::vector<Op> ops;
};

// The forward of one chunk of `shape.tokens` tokens, for the model of `config`:
//   x = embed(tokens)
//   per layer: h = rmsnorm(x += delta); q, k, v = qkv(h); rope + store k, v; heads = attention
//              delta = o(heads); h = rmsnorm(x += delta); delta = experts(route(h)) or mlp(h)
//   h = rmsnorm(x += delta); logits = lm_head(h); taps; sampling
// Throws mimo::Error(kInvalidArgument) for a shape the config cannot run (tokens < 1, a tap
// outside the layers, all_logits without logits).
StepProgram build_step_program(const model::ModelConfig& config, const StepShape& shape);

// The same program for `ranks` tensor/expert-parallel ranks: every rank runs it on its shard of
// the weights; the partial outputs of the o projection and the MLP are all-reduced before they
// reach the residual stream and the vocab shards of the logits gathered.
StepProgram tensor_parallel(const StepProgram& program, int ranks);

// Whether `op` begins a layer (its input norm) or the head (the final norm): where runners check
// cancellation, between layers.
inline bool starts_layer(const Op& op) {
  return op.kind == OpKind::kAddNorm && op.norm != Norm::kPostAttention;
}

// Throws mimo::Error(kInvalidArgument) naming the first tap that is not a layer of `config`.
void check_taps(const model::ModelConfig& config, const std::vector<int>& taps);

// The part of each output a projection tile writes: features [begin, end) of output `output`
// (an index into the op's writes and tiling.widths), for every output the tile touches.
struct TileSlice {
  int output;
  std::int64_t begin, end;
};
std::vector<TileSlice> tile_slices(const Op& op, int tile);

const char* name(OpKind kind);
const char* name(Buffer buffer);
// One line per op: "12 L1 attention  reads q kv[1]  writes heads" (for docs, tests, debugging).
std::string describe(std::span<const Op> ops);
inline std::string describe(const StepProgram& program) {
  return describe(program.ops);
}

}  // namespace mimo::program
