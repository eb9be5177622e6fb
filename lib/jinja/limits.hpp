// Bounds that keep a hostile template from crashing or hanging the host: each is exceeded with
// Failure(kLimit), never a stack overflow, an out-of-memory kill or an endless loop.
#pragma once

#include <cstddef>

namespace mimo::jinja {

struct Limits {
  std::size_t max_nesting = 200;             // parser recursion (brackets, blocks, operators)
  std::size_t max_call_depth = 100;          // nested macro / caller() calls while rendering
  std::size_t max_steps = 20'000'000;        // evaluated nodes per render (loops included)
  std::size_t max_string_bytes = 64u << 20;  // any one string value, the output included
  std::size_t max_array_items = 1u << 20;    // range() and array concatenation
};

}  // namespace mimo::jinja
