// jinja::Template: parse once, render many times; Failure -> mimo::Error with line:column.
#include "jinja/template.hpp"

#include <fmt/format.h>

#include "jinja/evaluator.hpp"
#include "jinja/failure.hpp"
#include "jinja/lexer.hpp"
#include "jinja/parser.hpp"
#include "mimo/error.hpp"

namespace mimo::jinja {

namespace {

[[noreturn]] void raise(const Failure& failure, const std::string& source,
                        const std::string& origin) {
  std::size_t line = 1, column = 1;
  const std::size_t end = std::min(failure.position, source.size());
  for (std::size_t i = 0; i < end; ++i) {
    if (source[i] == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  const char* what = "";
  ErrorCode code = ErrorCode::kInvalidArgument;
  switch (failure.kind) {
    case FailureKind::kSyntax:
      what = "cannot parse the chat template: ";
      code = ErrorCode::kUnsupported;
      break;
    case FailureKind::kRender:
      what = "chat template rendering failed: ";
      break;
    case FailureKind::kRaised:
      what = "the chat template raised an exception: ";
      break;
    case FailureKind::kLimit:
      what = "chat template limit exceeded: ";
      code = ErrorCode::kOutOfRange;
      break;
  }
  throw Error(code, fmt::format("{}:{}:{}: {}{}", origin, line, column, what, failure.what()));
}

}  // namespace

Template::Template(std::string source, std::string origin, Limits limits)
    : source_(std::move(source)), origin_(std::move(origin)), limits_(limits) {
  try {
    program_ = std::make_shared<const NodeList>(parse(tokenize(source_), limits_));
  } catch (const Failure& failure) {
    raise(failure, source_, origin_);
  }
}

std::string Template::render(const nlohmann::ordered_json& context,
                             std::optional<std::int64_t> now) const {
  if (!context.is_object()) {
    throw Error(ErrorCode::kInvalidArgument, origin_ + ": the render context must be an object");
  }
  std::vector<std::shared_ptr<Object>> namespaces;
  auto globals = std::make_shared<Scope>();
  install_globals(*globals, limits_, namespaces, now);
  // Namespaces may hold themselves; emptying them afterwards frees such cycles.
  struct Release {
    std::vector<std::shared_ptr<Object>>& namespaces;
    ~Release() {
      for (const auto& ns : namespaces) ns->clear();
    }
  } release{namespaces};
  try {
    for (const auto& [key, value] : context.items()) globals->set(key, from_json(value));
    Evaluator evaluator(limits_);
    return evaluator.render(*program_, globals);
  } catch (const Failure& failure) {
    raise(failure, source_, origin_);
  }
}

}  // namespace mimo::jinja
