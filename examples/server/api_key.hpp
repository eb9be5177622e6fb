// The API-key comparison of mimo-server: constant time, so response timing reveals nothing
// about how much of a guessed key was right.
#pragma once

#include <string>

namespace mimo::server {

// True when a and b are equal, in time that depends only on their lengths.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace mimo::server
