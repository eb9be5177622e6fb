// The template parser: tokens to a statement list, with @huggingface/jinja's grammar and
// operator precedence. Throws Failure(kSyntax) at the offending token.
#pragma once

#include <vector>

#include "jinja/ast.hpp"
#include "jinja/lexer.hpp"
#include "jinja/limits.hpp"

namespace mimo::jinja {

NodeList parse(const std::vector<Token>& tokens, const Limits& limits);

}  // namespace mimo::jinja
