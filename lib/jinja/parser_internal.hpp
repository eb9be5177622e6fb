// The recursive-descent parser behind parse() (parser.hpp), shared by its three files:
// parser.cpp (token cursor and entry point), parser_statements.cpp, parser_expressions.cpp.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "jinja/ast.hpp"
#include "jinja/failure.hpp"
#include "jinja/lexer.hpp"
#include "jinja/limits.hpp"

namespace mimo::jinja {

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const Limits& limits)
      : tokens_(tokens), limits_(limits) {}

  NodeList program() {
    NodeList out;
    while (current_ < tokens_.size()) out.push_back(any());
    return out;
  }

 private:
  // Bounds recursion so that deeply nested input fails cleanly instead of overflowing the stack.
  struct Depth {
    explicit Depth(Parser& p) : p(p) {
      if (++p.depth_ > p.limits_.max_nesting) {
        throw Failure(FailureKind::kLimit, "template nested too deeply", p.position());
      }
    }
    ~Depth() { --p.depth_; }
    Parser& p;
  };

  std::size_t position() const {
    if (tokens_.empty()) return 0;
    return tokens_[std::min(current_, tokens_.size() - 1)].position;
  }
  [[noreturn]] void error(const std::string& message) const {
    throw Failure(FailureKind::kSyntax, message, position());
  }
  const Token& token() const {
    if (current_ >= tokens_.size()) error("unexpected end of template");
    return tokens_[current_];
  }
  bool is(TokenType type, std::size_t ahead = 0) const {
    return current_ + ahead < tokens_.size() && tokens_[current_ + ahead].type == type;
  }
  bool is_identifier(const char* name, std::size_t ahead = 0) const {
    return is(TokenType::kIdentifier, ahead) && tokens_[current_ + ahead].value == name;
  }
  bool is_statement(std::initializer_list<const char*> names) const {
    if (!is(TokenType::kOpenStatement) || !is(TokenType::kIdentifier, 1)) return false;
    const std::string& word = tokens_[current_ + 1].value;
    return std::any_of(names.begin(), names.end(), [&](const char* n) { return word == n; });
  }
  const Token& expect(TokenType type, const char* what) {
    if (!is(type)) error(std::string("expected ") + what);
    return tokens_[current_++];
  }
  void expect_identifier(const char* name) {
    if (!is_identifier(name)) error(std::string("expected '") + name + "'");
    ++current_;
  }
  NodePtr make(NodeKind kind, std::size_t position) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->position = position;
    return node;
  }

  // Statements until one of `ends` opens; the tag is left unread. The first of `ends` is the
  // closing tag named when the template ends first.
  NodeList block_until(std::initializer_list<const char*> ends) {
    NodeList out;
    while (!is_statement(ends)) {
      if (current_ >= tokens_.size()) {
        error(std::string("unexpected end of template: missing {% ") + *ends.begin() + " %}");
      }
      out.push_back(any());
    }
    return out;
  }
  void end_tag(const char* name) {
    expect(TokenType::kOpenStatement, "{%");
    expect_identifier(name);
    expect(TokenType::kCloseStatement, "%}");
  }

  // Statements (parser_statements.cpp).
  NodePtr any();
  NodePtr statement();
  NodePtr set_statement(std::size_t at);
  NodePtr if_statement(std::size_t at);
  NodePtr for_statement(std::size_t at);

  // Expressions, one function per precedence level (parser_expressions.cpp).
  NodePtr expression_sequence(bool primary_only);
  NodePtr expression();
  NodePtr if_expression();
  NodePtr binary(std::string op, std::size_t at, NodePtr left, NodePtr right);
  NodePtr logical_or();
  NodePtr logical_and();
  NodePtr logical_not();
  NodePtr comparison();
  NodePtr additive();
  NodePtr multiplicative();
  NodePtr power();
  NodePtr test_expression();
  NodePtr filter_expression();
  NodePtr unary_sign();
  NodePtr call_expression(NodePtr callee);
  // "( ... )": call arguments, or parameter declarations of a macro / call block.
  NodeList arguments(bool parameters);
  // The inside of [...]: an index, or a slice start:stop:step.
  NodePtr subscript(std::size_t at);
  NodePtr member_expression(NodePtr object);
  NodePtr primary();

  const std::vector<Token>& tokens_;
  const Limits& limits_;
  std::size_t current_ = 0;
  std::size_t depth_ = 0;
};

}  // namespace mimo::jinja
