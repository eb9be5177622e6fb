// The state of one conversation: KV caches, token history, statistics, cancellation flag.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "api/cancellation.hpp"
#include "api/model_impl.hpp"
#include "exec/executor.hpp"
#include "mimo/session.hpp"

namespace mimo {

struct Session::Impl {
  Impl(std::shared_ptr<const Model> owner, std::unique_ptr<exec::ExecutorState> kv)
      : model(std::move(owner)), m(&model->impl()), state(std::move(kv)) {}
  static std::unique_ptr<Impl> create(std::shared_ptr<const Model> model);
  std::unique_ptr<Impl> clone() const;

  // Runs `tokens` through the model after the cached context; returns the logits of every
  // token when all_logits, else of the last one. Keeps the cache unchanged on any error.
  std::vector<float> run(const std::vector<std::int32_t>& tokens, bool all_logits);
  // As run(), also returning the outputs of the decoder layers in `taps` for every token.
  // With `sample` (last row) or `sample_rows` (all_logits), the device may sample
  // (exec::StepOptions); with taps_on_device the taps may stay on the device (device_taps).
  exec::StepOutput run_step(const std::vector<std::int32_t>& tokens, bool all_logits,
                            const std::vector<int>& taps,
                            const exec::SampleRequest* sample = nullptr,
                            const std::vector<exec::SampleRequest>* sample_rows = nullptr,
                            bool taps_on_device = false);
  // Runs the tokens accepted but not yet processed (the last generated one), if any. With a
  // sampler (and ModelOptions::sample_on_device, on an executor that can), the step also draws
  // the sampler's next token on the device and returns it; the logits then stay there until
  // host_logits() asks for them.
  std::optional<SampleResult> flush_pending(const Sampler* next = nullptr);
  // The logits after the last processed token, on the host (fetched from the device if needed).
  const std::vector<float>& host_logits();
  // The logits of the last step's row `row` stay on the device until host_logits() asks.
  void keep_logits_on_device(int row) {
    last_logits.clear();
    logits_on_device = true;
    logits_row = row;
  }
  void set_logits(std::vector<float> logits) {
    last_logits = std::move(logits);
    logits_on_device = false;
    logits_checked = false;
  }
  // Throws kOutOfRange, saying the context is full, when `new_tokens` more would not fit
  // (checked before anything changes; the executor's own check names no Session method).
  void check_room(std::size_t new_tokens, const char* method) const;
  // Session::generate with options.speculator set (session_speculative.cpp).
  GenerateResult generate_speculative(const std::vector<std::int32_t>& prompt, Sampler& sampler,
                                      const GenerateOptions& options,
                                      const TokenCallback& on_token);
  // Runs pending + `tokens` as prefill (or decode when `tokens` is empty), handing the
  // speculator the features it asks for.
  void process_for_speculator(const std::vector<std::int32_t>& tokens, Speculator& speculator,
                              bool is_prefill);

  std::shared_ptr<const Model> model;
  const Model::Impl* m;
  std::unique_ptr<exec::ExecutorState> state;  // the executor's KV caches
  std::vector<std::int32_t> tokens;            // every token in the context, pending ones included
  std::vector<std::int32_t> pending;           // tail of `tokens` not yet run through the model
  std::vector<float> last_logits;              // logits after the last processed token
  bool logits_on_device = false;  // last_logits not fetched: the executor still holds them
  int logits_row = 0;             // ... as this row of the state's last step
  bool logits_checked = false;    // host_logits() found last_logits finite
  SessionStats stats;
  // The speculator bound by the last speculative generate(); rewind / reset truncate it.
  std::shared_ptr<Speculator> speculator;
  Cancellation cancellation;  // Session::cancel(): only the operation in progress
  // True while generate() runs its on_token callback: the callback may read the session and
  // cancel() it, but a call that changes the context would pull it from under generate().
  bool in_callback = false;

  // Throws Error(kInvalidArgument) naming `method` while in_callback.
  void refuse_in_callback(const char* method) const;
  // on_token(s) with in_callback set.
  bool call_on_token(const TokenCallback& on_token, const SampleResult& s);
};

}  // namespace mimo
