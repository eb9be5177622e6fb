// mimo::Model: a loaded MiMo-V2 checkpoint, immutable after load.
//
// Thread safety: a Model is immutable once load() returns; any number of threads may create
// Sessions on it and run them concurrently (each Session on one thread at a time). The Model
// must outlive its Sessions (Sessions hold a shared reference, so this is automatic).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mimo/error.hpp"
#include "mimo/export.hpp"

namespace mimo {

enum class Device {
  kAuto,  // the GPU when one is usable and the CUDA backend supports the model, else the CPU
  kCpu,
  kCuda,
};

// Which GPU runner issues each step (docs/cuda.md, "The persistent engine").
enum class Engine {
  kAuto,        // the runner measured faster for every step shape: today the stream runner
  kStream,      // a kernel per op, programmatic dependent launch, a CUDA graph per step shape
  kPersistent,  // the persistent engine: its ops in resident launches, the rest as kernels
};

struct ModelOptions {
  Device device = Device::kAuto;
  int num_threads = 0;                    // CPU worker threads, <= 1024; 0 = all hardware threads
  std::uint64_t memory_budget_bytes = 0;  // 0 = no limit; load fails cleanly if weights exceed it
  std::int64_t max_context = 4096;        // KV capacity per session, in tokens
  // Largest step whose every row's logits are returned: a speculative verify block (and
  // Session::score's chunks). Logits buffers on the device hold this many rows.
  int max_step_tokens = 16;
  // Tokens per chunk of a prompt (Session::prefill, and the pending tokens of generate): a
  // prompt runs in chunks of this many tokens, only the last chunk's last row producing logits,
  // and Session::cancel is honoured between chunks (and layers). Larger chunks read each weight
  // once for more tokens; they cost memory per session: the sliding layers' KV rings hold
  // sliding_window + max(max_step_tokens, prefill_chunk_tokens) - 1 positions and the step
  // scratch one chunk's activations. Chunking never changes the result beyond float rounding.
  // Default 1024: on the H100 with the prefill GEMMs (docs/performance.md, thirteenth session) a
  // 4096-token prompt runs at 3076 / 3391 / 3620 tok/s in chunks of 512 / 1024 / 2048; 2048's
  // extra 7% would double the chunk's memory (~1.4 GB a session at the benchmark geometry at
  // 1024: scratch ~525 KB a token plus the sliding rings and their undo copies).
  int prefill_chunk_tokens = 1024;
  // Device::kCuda with num_devices > 1: tensor / expert parallel over CUDA devices 0..N-1 of
  // this process (docs/parallel.md); needs a libmimo built with MIMO_WITH_NCCL.
  int num_devices = 1;
  // Session::generate draws each token on the GPU, right after the step that computed its logits
  // (same chain and result as mimo::Sampler on the host: docs/sampling.md); false keeps
  // sampling on the host. No effect on the CPU.
  bool sample_on_device = true;
  // The GPU runner. kPersistent computes the stream runner's bits and is slower today (H100,
  // benchmark geometry: decode-1 7.54 against 5.93 ms; docs/performance.md, ninth session): for
  // experiments. It needs the model on one CUDA device: load throws kInvalidArgument when the
  // model would load on the CPU, kUnsupported with num_devices > 1.
  Engine engine = Engine::kAuto;
  // Debugging NaN / infinity: the CPU executor checks the output of every op of the forward
  // and throws Error(kNonFinite) at the first non-finite value, naming the layer, the op and the
  // token's context position ("layer 2 (experts) produced NaN at context position 5"). Without
  // it, non-finite logits are still reported (kNonFinite), by token position only. Costs a pass
  // over every activation. It runs on the CPU executor: with Device::kAuto the model then loads
  // on the CPU, with Device::kCuda load throws kInvalidArgument.
  bool check_activations = false;
  // Called during load with the fraction done in [0, 1] (for progress bars); may be empty.
  std::function<void(float)> on_progress;
};

struct ModelSummary {
  std::string path;
  std::string architecture;
  int vocab_size = 0;
  int hidden_size = 0;
  int num_layers = 0;
  std::int64_t max_context = 0;
  std::vector<std::int32_t> eos_token_ids;
  std::string device;              // "cpu" or the GPU's name
  std::uint64_t weight_bytes = 0;  // bytes of weights as stored (what a full pass reads)
};

class Session;

class MIMO_API Model : public std::enable_shared_from_this<Model> {
 public:
  // Loads config.json + safetensors shards from `path` (a checkpoint directory). Weights stay in
  // their stored precision (BF16 / FP8 block-scaled / MXFP4). Throws mimo::Error.
  static std::shared_ptr<const Model> load(const std::string& path,
                                           const ModelOptions& options = {});

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelSummary& summary() const;
  const ModelOptions& options() const;
  // A fresh conversation on this model.
  std::unique_ptr<Session> new_session() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mimo
