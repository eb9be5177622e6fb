// The message of the mimo::Error a call throws, after checking its code - for tests that then
// look for the file, field or position the message must name.
#pragma once

#include <functional>
#include <string>

#include "mimo/error.hpp"
#include "support/catch.hpp"

namespace mimo::testing {

// Fails the test case when `body` throws nothing (or not a mimo::Error).
inline std::string error_message(const std::function<void()>& body, ErrorCode expected) {
  try {
    body();
  } catch (const Error& e) {
    CHECK(e.code() == expected);
    return e.what();
  }
  FAIL("expected a mimo::Error");
  return {};
}

}  // namespace mimo::testing
