// Statements: {% if %}, {% for %}, {% set %}, {% macro %}, {% call %}, {% filter %}, text,
// comments and {{ expressions }} (see parser_internal.hpp).
#include "jinja/parser_internal.hpp"

namespace mimo::jinja {

NodePtr Parser::any() {
  Depth depth(*this);
  const Token& t = token();
  switch (t.type) {
    case TokenType::kComment: {
      ++current_;
      return make(NodeKind::kComment, t.position);
    }
    case TokenType::kText: {
      auto node = make(NodeKind::kText, t.position);
      node->text = t.value;
      ++current_;
      return node;
    }
    case TokenType::kOpenStatement:
      return statement();
    case TokenType::kOpenExpression: {
      ++current_;
      NodePtr e = expression();
      expect(TokenType::kCloseExpression, "}}");
      return e;
    }
    default:
      error("unexpected token '" + t.value + "'");
  }
}

NodePtr Parser::statement() {
  expect(TokenType::kOpenStatement, "{%");
  if (!is(TokenType::kIdentifier)) error("expected a statement name after {%");
  const Token& name_token = tokens_[current_++];
  const std::string& name = name_token.value;
  const std::size_t at = name_token.position;
  if (name == "set") return set_statement(at);
  if (name == "if") {
    NodePtr node = if_statement(at);
    end_tag("endif");
    return node;
  }
  if (name == "for") {
    NodePtr node = for_statement(at);
    end_tag("endfor");
    return node;
  }
  if (name == "macro") {
    auto node = make(NodeKind::kMacro, at);
    NodePtr callee = primary();
    if (callee->kind != NodeKind::kIdentifier) error("expected a macro name");
    node->text = callee->text;
    node->list = arguments(true);
    expect(TokenType::kCloseStatement, "%}");
    node->body = block_until({"endmacro"});
    end_tag("endmacro");
    return node;
  }
  if (name == "call") {
    auto node = make(NodeKind::kCallBlock, at);
    if (is(TokenType::kOpenParen)) node->list = arguments(true);
    NodePtr callee = primary();
    if (callee->kind != NodeKind::kIdentifier) error("expected a macro name after call");
    auto call = make(NodeKind::kCall, callee->position);
    call->list = arguments(false);
    call->a = std::move(callee);
    node->a = std::move(call);
    expect(TokenType::kCloseStatement, "%}");
    node->body = block_until({"endcall"});
    end_tag("endcall");
    return node;
  }
  if (name == "break" || name == "continue") {
    expect(TokenType::kCloseStatement, "%}");
    return make(name == "break" ? NodeKind::kBreak : NodeKind::kContinue, at);
  }
  if (name == "filter") {
    auto node = make(NodeKind::kFilterBlock, at);
    NodePtr filter = primary();
    if (filter->kind == NodeKind::kIdentifier && is(TokenType::kOpenParen)) {
      filter = call_expression(std::move(filter));
    }
    node->a = std::move(filter);
    expect(TokenType::kCloseStatement, "%}");
    node->body = block_until({"endfilter"});
    end_tag("endfilter");
    return node;
  }
  throw Failure(FailureKind::kSyntax, "unknown or unsupported statement '" + name + "'", at);
}

NodePtr Parser::set_statement(std::size_t at) {
  auto node = make(NodeKind::kSet, at);
  node->a = expression_sequence(false);
  if (is(TokenType::kEquals)) {
    ++current_;
    node->b = expression_sequence(false);
  } else {
    expect(TokenType::kCloseStatement, "%}");
    node->body = block_until({"endset"});
    expect(TokenType::kOpenStatement, "{%");
    expect_identifier("endset");
  }
  expect(TokenType::kCloseStatement, "%}");
  return node;
}

NodePtr Parser::if_statement(std::size_t at) {
  Depth depth(*this);
  auto node = make(NodeKind::kIf, at);
  node->a = expression();
  expect(TokenType::kCloseStatement, "%}");
  node->body = block_until({"endif", "elif", "else"});
  if (is_statement({"elif"})) {
    const std::size_t elif_at = tokens_[current_ + 1].position;
    current_ += 2;
    node->alternate.push_back(if_statement(elif_at));
  } else if (is_statement({"else"})) {
    current_ += 2;
    expect(TokenType::kCloseStatement, "%}");
    node->alternate = block_until({"endif"});
  }
  return node;
}

NodePtr Parser::for_statement(std::size_t at) {
  auto node = make(NodeKind::kFor, at);
  node->a = expression_sequence(true);
  if (node->a->kind != NodeKind::kIdentifier && node->a->kind != NodeKind::kTuple) {
    error("expected an identifier or tuple as the loop variable");
  }
  if (!is_identifier("in")) error("expected 'in' after the loop variable");
  ++current_;
  node->b = expression();
  expect(TokenType::kCloseStatement, "%}");
  node->body = block_until({"endfor", "else"});
  if (is_statement({"else"})) {
    current_ += 2;
    expect(TokenType::kCloseStatement, "%}");
    node->alternate = block_until({"endfor"});
  }
  return node;
}
}  // namespace mimo::jinja
