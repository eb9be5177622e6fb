// jinja::Failure: what the lexer, parser and evaluator throw. It carries the byte offset in the
// template source where it happened (filled in by the innermost node being evaluated when the
// thrower did not know it); Template turns it into a mimo::Error naming line and column.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace mimo::jinja {

enum class FailureKind {
  kSyntax,  // the template cannot be parsed (malformed or a construct mimo does not support)
  kRender,  // rendering failed (type errors, unknown filters, bad arguments)
  kRaised,  // the template called raise_exception(message)
  kLimit,   // a bound on depth, size or steps was exceeded
};

class Failure : public std::runtime_error {
 public:
  static constexpr std::size_t kNoPosition = static_cast<std::size_t>(-1);
  Failure(FailureKind kind, const std::string& message, std::size_t position = kNoPosition)
      : std::runtime_error(message), kind(kind), position(position) {}
  FailureKind kind;
  std::size_t position;
};

[[noreturn]] inline void fail(const std::string& message) {
  throw Failure(FailureKind::kRender, message);
}

}  // namespace mimo::jinja
