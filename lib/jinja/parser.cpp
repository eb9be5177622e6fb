// Template parser entry point (see parser.hpp); the grammar is in parser_statements.cpp and
// parser_expressions.cpp.
#include "jinja/parser.hpp"

#include "jinja/parser_internal.hpp"

namespace mimo::jinja {

NodeList parse(const std::vector<Token>& tokens, const Limits& limits) {
  return Parser(tokens, limits).program();
}

}  // namespace mimo::jinja
