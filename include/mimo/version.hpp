// The libmimo version, for host applications that want to log it.
#pragma once

#include "mimo/export.hpp"

namespace mimo {

MIMO_API const char* version() noexcept;
// True when this libmimo was built with its CUDA backend (a GPU may still be absent at run time).
MIMO_API bool built_with_cuda() noexcept;

}  // namespace mimo
