// Cancellation: requests count only while a Scope is alive.
#include "api/cancellation.hpp"

namespace mimo {

Cancellation::Scope::Scope(Cancellation& owner) : owner_(owner) {
  const std::lock_guard<std::mutex> lock(owner_.mutex_);
  if (owner_.depth_++ == 0) owner_.requested_ = false;
}

Cancellation::Scope::~Scope() {
  const std::lock_guard<std::mutex> lock(owner_.mutex_);
  if (--owner_.depth_ == 0) owner_.requested_ = false;
}

void Cancellation::request() noexcept {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (depth_ > 0) requested_ = true;
}

}  // namespace mimo
