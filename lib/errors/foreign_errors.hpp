// Standard-library exceptions that would otherwise cross the public API - a filesystem error
// (a symlink loop), an allocation failure (an absurd size in a file), a length error - turned
// into mimo::Error with the matching code, so callers only ever catch mimo::Error.
#pragma once

#include <string>

namespace mimo {

// Call inside a catch (...) handler of a public entry point: rethrows filesystem_error as
// Error(kIo) and bad_alloc / length_error as Error(kOutOfRange), naming `context` (a path or the
// operation). Anything else is rethrown unchanged: a mimo::Error, or a caller's own exception
// thrown from a callback (on_progress, on_tensor), which is the caller's to catch.
[[noreturn]] void rethrow_as_mimo_error(const std::string& context);

// The same for an entry point that runs no caller code (Session::prefill, score, ...): any other
// exception can only come from libmimo itself, a bug, and becomes Error(kInternal) naming it.
[[noreturn]] void rethrow_as_internal_error(const std::string& context);

}  // namespace mimo
