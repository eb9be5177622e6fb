// Smallest host application: links the installed libmimo and reports what it was built with.
#include <cstdio>

#include "mimo/error.hpp"
#include "mimo/version.hpp"

int main() {
  std::printf("libmimo %s (CUDA backend: %s)\n", mimo::version(),
              mimo::built_with_cuda() ? "yes" : "no");
  try {
    throw mimo::Error(mimo::ErrorCode::kInvalidArgument, "error round trip");
  } catch (const mimo::Error& e) {
    return e.code() == mimo::ErrorCode::kInvalidArgument ? 0 : 1;
  }
}
