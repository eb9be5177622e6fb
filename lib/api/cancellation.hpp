// A session's cancellation flag that reaches only the operation in progress. Session::cancel()
// while idle does nothing, so it can never cancel the next call (nor one after reset()): every
// public operation that runs the model holds a Scope, and the flag is cleared when the
// outermost Scope begins and ends.
//
// request() is lock-free and async-signal-safe (mimo-cli calls cancel() from its SIGINT
// handler). Its one race: a request that sees an operation in progress and is then delayed
// while that operation ends and the next one begins would cancel the next one (between two
// adjacent atomic instructions; impossible from a signal handler on the session's thread).
#pragma once

#include <atomic>

namespace mimo {

class Cancellation {
 public:
  // Marks an operation in progress for its lifetime; nested scopes (generate -> prefill) are
  // one operation. Scopes are opened by the thread using the session only.
  class Scope {
   public:
    explicit Scope(Cancellation& owner);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Cancellation& owner_;
  };

  // From any thread or a signal handler: interrupt the operation in progress, if there is one.
  void request() noexcept;
  // Consumes a pending request (generate checks between tokens).
  bool take() noexcept { return requested_.exchange(false); }
  // What the executor polls at layer boundaries (exec::StepOptions::cancel).
  const std::atomic<bool>* flag() const { return &requested_; }

 private:
  int depth_ = 0;  // nested Scopes alive (touched by the session's thread only)
  std::atomic<bool> in_progress_{false};
  std::atomic<bool> requested_{false};
  static_assert(std::atomic<bool>::is_always_lock_free, "request() must be async-signal-safe");
};

}  // namespace mimo
