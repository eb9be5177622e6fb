// "2024-07-26T12:00:00Z" as seconds since the epoch: the fixed clock of the chat-template
// conformance fixtures (conversations.json "now"), for strftime_now().
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

#include "support/catch.hpp"

namespace mimo::testing {

inline std::int64_t parse_utc(const std::string& iso) {
  std::tm t{};
  REQUIRE(std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d", &t.tm_year, &t.tm_mon, &t.tm_mday,
                      &t.tm_hour, &t.tm_min, &t.tm_sec) == 6);
  t.tm_year -= 1900;
  t.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&t));
}

}  // namespace mimo::testing
