// A session's cancellation flag that reaches only the operation in progress. Session::cancel()
// while idle does nothing, so it can never cancel the next call (nor one after reset()): every
// public operation that runs the model holds a Scope, and the flag is cleared when the
// outermost Scope begins and ends.
#pragma once

#include <atomic>
#include <mutex>

namespace mimo {

class Cancellation {
 public:
  // Marks an operation in progress for its lifetime; nested scopes (generate -> prefill) are
  // one operation.
  class Scope {
   public:
    explicit Scope(Cancellation& owner);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Cancellation& owner_;
  };

  // From any thread: interrupt the operation in progress, if there is one.
  void request() noexcept;
  // Consumes a pending request (generate checks between tokens).
  bool take() noexcept { return requested_.exchange(false); }
  // What the executor polls at layer boundaries (exec::StepOptions::cancel).
  const std::atomic<bool>* flag() const { return &requested_; }

 private:
  std::mutex mutex_;  // orders request() against the start and end of an operation
  int depth_ = 0;     // nested Scopes alive
  std::atomic<bool> requested_{false};
};

}  // namespace mimo
