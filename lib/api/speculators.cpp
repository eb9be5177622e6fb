// The public speculator factories (include/mimo/speculator.hpp).
#include "api/model_impl.hpp"
#include "cpu/thread_pool.hpp"
#include "mimo/speculator.hpp"
#include "spec/device_backend.hpp"
#include "spec/dflash_speculator.hpp"
#include "spec/lookup_first_speculator.hpp"
#include "spec/ngram_speculator.hpp"

namespace mimo {

std::shared_ptr<Speculator> make_dflash_speculator(const Model& target,
                                                   const std::string& drafter_dir,
                                                   const DFlashOptions& options) {
  const Model::Impl& m = target.impl();
  const int threads =
      cpu::checked_thread_count(options.num_threads, "DFlashOptions.num_threads") > 0
          ? options.num_threads
          : m.options.num_threads;
  // A target on a device gets the drafter on that device too where the backend can run it
  // there (its CPU pool then stays idle: one thread).
  const spec::DeviceBackend* backend = spec::linked_device_backend();
  if (backend != nullptr && backend->drafts_for(*m.executor)) {
    auto host = std::make_unique<spec::DFlashSpeculator>(
        target.shared_from_this(), m.config, m.weights, drafter_dir, options.block_size,
        m.options.max_step_tokens, 1, options.sample_drafts);
    return backend->make_dflash_drafter(std::move(host), *m.executor, m.config);
  }
  return std::make_shared<spec::DFlashSpeculator>(
      target.shared_from_this(), m.config, m.weights, drafter_dir, options.block_size,
      m.options.max_step_tokens, threads, options.sample_drafts);
}

std::shared_ptr<Speculator> make_ngram_speculator(int n, int max_draft) {
  return std::make_shared<spec::NgramSpeculator>(n, max_draft);
}

std::shared_ptr<Speculator> make_lookup_first_speculator(std::shared_ptr<Speculator> drafter, int n,
                                                         int max_lookup_draft) {
  return std::make_shared<spec::LookupFirstSpeculator>(std::move(drafter), n, max_lookup_draft);
}

}  // namespace mimo
