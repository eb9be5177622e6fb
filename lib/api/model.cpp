// mimo::Model::load: config -> checkpoint mapping -> weight binding -> executor.
#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "api/session_impl.hpp"
#include "cpu/thread_pool.hpp"
#include "errors/foreign_errors.hpp"
#include "exec/cpu_executor.hpp"
#include "mimo/error.hpp"
#include "model/config_parse.hpp"
#include "model/weight_binder.hpp"
#include "spec/device_backend.hpp"

namespace mimo {

namespace {

std::uint64_t weight_bytes(const model::ModelWeights& w) {
  std::uint64_t total = w.embed.stored_bytes() + w.lm_head.stored_bytes();
  for (const auto& layer : w.layers) {
    for (const auto* linear : {&layer.q, &layer.k, &layer.v, &layer.o}) {
      total += linear->stored_bytes();
    }
    if (layer.dense) {
      total += layer.dense->gate.stored_bytes() + layer.dense->up.stored_bytes() +
               layer.dense->down.stored_bytes();
    }
    if (layer.router) total += layer.router->stored_bytes();
    for (const auto& e : layer.experts) {
      total += e.gate.stored_bytes() + e.up.stored_bytes() + e.down.stored_bytes();
    }
  }
  return total;
}

void report(const ModelOptions& options, float fraction) {
  if (options.on_progress) options.on_progress(fraction);
}

}  // namespace

std::shared_ptr<const Model> Model::load(const std::string& path, const ModelOptions& options) try {
  if (options.max_context <= 0) {
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("ModelOptions.max_context must be positive, got {}", options.max_context));
  }
  if (options.max_step_tokens <= 0 || options.max_step_tokens > exec::kMaxChunkTokens) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("ModelOptions.max_step_tokens must be in [1, {}], got {}",
                            exec::kMaxChunkTokens, options.max_step_tokens));
  }
  if (options.prefill_chunk_tokens <= 0 || options.prefill_chunk_tokens > exec::kMaxChunkTokens) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("ModelOptions.prefill_chunk_tokens must be in [1, {}], got {}",
                            exec::kMaxChunkTokens, options.prefill_chunk_tokens));
  }
  cpu::checked_thread_count(options.num_threads, "ModelOptions.num_threads");
  if (options.check_activations && options.device == Device::kCuda) {
    throw Error(ErrorCode::kInvalidArgument,
                "ModelOptions.check_activations runs on the CPU executor: use Device::kCpu (or "
                "kAuto, which then loads on the CPU), not Device::kCuda");
  }
  if (options.num_devices < 1 || (options.num_devices > 1 && options.device != Device::kCuda)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("ModelOptions.num_devices {} needs Device::kCuda (and at least 1)",
                            options.num_devices));
  }
  const spec::DeviceBackend* backend = spec::linked_device_backend();
  const bool gpu_present = backend != nullptr && backend->device_count() > 0;
  if (options.device == Device::kCuda && backend == nullptr) {
    throw Error(ErrorCode::kUnsupported,
                "Device::kCuda requested, but this libmimo was built without the CUDA backend; "
                "use kCpu or kAuto");
  }
  if (options.device == Device::kCuda && !gpu_present) {
    throw Error(ErrorCode::kDevice, "Device::kCuda requested, but no CUDA device is usable: " +
                                        backend->describe_devices());
  }
  const bool persistent = options.engine == Engine::kPersistent;
  if (persistent && options.num_devices > 1) {
    throw Error(ErrorCode::kUnsupported,
                fmt::format("ModelOptions.engine = kPersistent runs on one device (num_devices "
                            "is {})",
                            options.num_devices));
  }
  if (persistent && (options.device == Device::kCpu || options.check_activations || !gpu_present)) {
    throw Error(ErrorCode::kInvalidArgument,
                "ModelOptions.engine = kPersistent needs the model on a CUDA device, but it "
                "would load on the CPU (Device::kCpu, check_activations, or no usable GPU)");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  report(options, 0.0f);
  impl->config = model::load_model_config(path);
  report(options, 0.1f);
  impl->checkpoint = io::Checkpoint::open(path);
  report(options, 0.6f);
  impl->weights = model::bind_weights(impl->config, impl->checkpoint);
  report(options, 0.8f);

  ModelSummary& s = impl->summary;
  s.path = path;
  s.architecture = impl->config.architecture;
  s.vocab_size = impl->config.vocab_size;
  s.hidden_size = impl->config.hidden_size;
  s.num_layers = impl->config.num_layers;
  s.max_context = options.max_context;
  s.eos_token_ids.assign(impl->config.eos_token_ids.begin(), impl->config.eos_token_ids.end());
  s.weight_bytes = weight_bytes(impl->weights);
  if (options.memory_budget_bytes != 0 && s.weight_bytes > options.memory_budget_bytes) {
    throw Error(ErrorCode::kOutOfRange,
                fmt::format("{}: weights need {} bytes, over the memory budget of {} bytes", path,
                            s.weight_bytes, options.memory_budget_bytes));
  }
  if (options.device == Device::kCuda && options.num_devices > 1) {
    std::vector<int> devices(options.num_devices);
    for (int d = 0; d < options.num_devices; ++d) devices[d] = d;
    impl->executor = backend->make_parallel_executor(impl->config, impl->weights, devices);
  } else if (options.device == Device::kCuda) {
    impl->executor = backend->make_executor(impl->config, impl->weights, persistent);
  } else if (options.device == Device::kAuto && gpu_present && !options.check_activations) {
    try {
      impl->executor = backend->make_executor(impl->config, impl->weights, persistent);
    } catch (const Error& e) {
      // A model the GPU cannot hold or run still loads, on the CPU (summary.device says so).
      if (e.code() != ErrorCode::kUnsupported && e.code() != ErrorCode::kDevice) throw;
    }
  }
  if (!impl->executor && persistent) {
    throw Error(ErrorCode::kInvalidArgument,
                "ModelOptions.engine = kPersistent needs the model on a CUDA device, but the "
                "CUDA backend cannot run it (it would load on the CPU)");
  }
  if (!impl->executor) {
    impl->executor = std::make_unique<exec::CpuExecutor>(
        impl->config, impl->weights, options.num_threads, options.check_activations);
  }
  s.device = impl->executor->device_name();
  report(options, 1.0f);
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
} catch (...) {
  rethrow_as_mimo_error(path);
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const ModelSummary& Model::summary() const {
  return impl_->summary;
}
const ModelOptions& Model::options() const {
  return impl_->options;
}

std::unique_ptr<Session> Model::new_session() const try {
  return std::unique_ptr<Session>(new Session(Session::Impl::create(shared_from_this())));
} catch (...) {
  rethrow_as_mimo_error("Model::new_session");
}

}  // namespace mimo
