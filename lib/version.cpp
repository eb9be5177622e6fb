// Library version and build facts.
#include "mimo/version.hpp"

namespace mimo {

const char* version() noexcept {
  return "0.1.0";
}

bool built_with_cuda() noexcept {
#if defined(MIMO_WITH_CUDA)
  return true;
#else
  return false;
#endif
}

}  // namespace mimo
