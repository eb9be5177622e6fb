// Cancellation: requests count only while a Scope is alive.
#include "api/cancellation.hpp"

namespace mimo {

Cancellation::Scope::Scope(Cancellation& owner) : owner_(owner) {
  if (owner_.depth_++ > 0) return;
  owner_.requested_ = false;  // a request that arrived after the last operation ended
  owner_.in_progress_ = true;
}

Cancellation::Scope::~Scope() {
  if (--owner_.depth_ > 0) return;
  owner_.in_progress_ = false;
  owner_.requested_ = false;
}

void Cancellation::request() noexcept {
  if (in_progress_) requested_ = true;
}

}  // namespace mimo
