// mimo::Error: the one exception type libmimo throws. Every failure carries a code and a message
// that names the file / tensor / field involved and what was expected; nothing aborts the host.
#pragma once

#include <stdexcept>
#include <string>

#include "mimo/export.hpp"

namespace mimo {

enum class ErrorCode {
  kInvalidArgument,  // a caller passed a bad value (token id out of range, empty prompt, ...)
  kInvalidFile,      // a checkpoint / config / tokenizer file is malformed or inconsistent
  kUnsupported,      // well-formed but not supported (unknown architecture, dtype, layout)
  kIo,               // the OS refused (missing file, permission, mmap failure)
  kOutOfRange,       // a capacity was exceeded (context length, memory budget)
  kCancelled,        // Session::cancel() interrupted the operation
  kDevice,           // the GPU backend failed (CUDA error, out of device memory)
  kInternal,         // a broken invariant inside libmimo: a bug
  kNonFinite,        // the model computed NaN or infinity (bad weights or overflow); the
                     // message names the token position
};

MIMO_API const char* to_string(ErrorCode code) noexcept;

class MIMO_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message);
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace mimo
