// The public speculator factories (include/mimo/speculator.hpp).
#include "api/model_impl.hpp"
#include "mimo/speculator.hpp"
#include "spec/dflash_speculator.hpp"
#include "spec/ngram_speculator.hpp"
#if defined(MIMO_WITH_CUDA)
#include "api/gpu_dflash_speculator.hpp"
#include "cuda/launch/gpu_executor.hpp"
#endif

namespace mimo {

std::shared_ptr<Speculator> make_dflash_speculator(const Model& target,
                                                   const std::string& drafter_dir,
                                                   const DFlashOptions& options) {
  const Model::Impl& m = target.impl();
  const int threads = options.num_threads > 0 ? options.num_threads : m.options.num_threads;
#if defined(MIMO_WITH_CUDA)
  // A target on the GPU gets the drafter on the GPU too (its CPU pool stays idle: one thread).
  if (const auto* gpu = dynamic_cast<const cuda::GpuExecutor*>(m.executor.get())) {
    auto host = std::make_unique<spec::DFlashSpeculator>(target.shared_from_this(), m.config,
                                                         m.weights, drafter_dir, options.block_size,
                                                         m.options.max_step_tokens, 1);
    return std::make_shared<GpuDFlashSpeculator>(std::move(host), m.config, gpu->device_model());
  }
#endif
  return std::make_shared<spec::DFlashSpeculator>(target.shared_from_this(), m.config, m.weights,
                                                  drafter_dir, options.block_size,
                                                  m.options.max_step_tokens, threads);
}

std::shared_ptr<Speculator> make_ngram_speculator(int n, int max_draft) {
  return std::make_shared<spec::NgramSpeculator>(n, max_draft);
}

}  // namespace mimo
