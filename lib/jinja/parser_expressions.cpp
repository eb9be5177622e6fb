// Expressions, from the ternary down to literals, with @huggingface/jinja's precedence:
// if-else < or < and < not < comparisons / in < + - ~ < * / // % < ** < is-tests < filters <
// unary sign < calls, members, subscripts < primaries (see parser_internal.hpp).
#include <cstdlib>
#include <set>

#include "jinja/parser_internal.hpp"

namespace mimo::jinja {

NodePtr Parser::expression_sequence(bool primary_only) {
  const std::size_t at = position();
  NodeList items;
  items.push_back(primary_only ? primary() : expression());
  const bool tuple = is(TokenType::kComma);
  while (tuple) {
    ++current_;
    items.push_back(primary_only ? primary() : expression());
    if (!is(TokenType::kComma)) break;
  }
  if (!tuple) return std::move(items[0]);
  auto node = make(NodeKind::kTuple, at);
  node->list = std::move(items);
  return node;
}

NodePtr Parser::expression() {
  Depth depth(*this);
  return if_expression();
}

NodePtr Parser::if_expression() {
  NodePtr value = logical_or();
  if (!is_identifier("if")) return value;
  const std::size_t at = position();
  ++current_;
  NodePtr test = logical_or();
  if (is_identifier("else")) {
    ++current_;
    auto node = make(NodeKind::kTernary, at);
    node->a = std::move(test);
    node->b = std::move(value);
    Depth depth(*this);
    node->c = if_expression();
    return node;
  }
  auto node = make(NodeKind::kSelect, at);
  node->a = std::move(value);
  node->b = std::move(test);
  return node;
}

NodePtr Parser::binary(std::string op, std::size_t at, NodePtr left, NodePtr right) {
  auto node = make(NodeKind::kBinary, at);
  node->text = std::move(op);
  node->a = std::move(left);
  node->b = std::move(right);
  return node;
}

NodePtr Parser::logical_or() {
  NodePtr left = logical_and();
  while (is_identifier("or")) {
    const std::size_t at = position();
    ++current_;
    left = binary("or", at, std::move(left), logical_and());
  }
  return left;
}

NodePtr Parser::logical_and() {
  NodePtr left = logical_not();
  while (is_identifier("and")) {
    const std::size_t at = position();
    ++current_;
    left = binary("and", at, std::move(left), logical_not());
  }
  return left;
}

NodePtr Parser::logical_not() {
  if (!is_identifier("not")) return comparison();
  Depth depth(*this);
  auto node = make(NodeKind::kUnary, position());
  node->text = "not";
  ++current_;
  node->a = logical_not();
  return node;
}

NodePtr Parser::comparison() {
  NodePtr left = additive();
  while (true) {
    const std::size_t at = position();
    std::string op;
    if (is_identifier("not") && is_identifier("in", 1)) {
      op = "not in";
      current_ += 2;
    } else if (is_identifier("in") || is(TokenType::kComparison)) {
      op = tokens_[current_++].value;
    } else {
      break;
    }
    left = binary(op, at, std::move(left), additive());
  }
  return left;
}

NodePtr Parser::additive() {
  NodePtr left = multiplicative();
  while (is(TokenType::kAdditive)) {
    const Token& op = tokens_[current_++];
    left = binary(op.value, op.position, std::move(left), multiplicative());
  }
  return left;
}

NodePtr Parser::multiplicative() {
  NodePtr left = power();
  while (is(TokenType::kMultiplicative)) {
    const Token& op = tokens_[current_++];
    left = binary(op.value, op.position, std::move(left), power());
  }
  return left;
}

NodePtr Parser::power() {
  NodePtr left = test_expression();
  while (is(TokenType::kPower)) {
    const Token& op = tokens_[current_++];
    left = binary(op.value, op.position, std::move(left), test_expression());
  }
  return left;
}

NodePtr Parser::test_expression() {
  NodePtr operand = filter_expression();
  while (is_identifier("is")) {
    auto node = make(NodeKind::kTest, position());
    ++current_;
    if (is_identifier("not")) {
      node->negate = true;
      ++current_;
    }
    NodePtr test = primary();
    if (test->kind != NodeKind::kIdentifier) error("expected a test name after 'is'");
    node->text = test->text;
    node->a = std::move(operand);
    operand = std::move(node);
  }
  return operand;
}

NodePtr Parser::filter_expression() {
  NodePtr operand = unary_sign();
  while (is(TokenType::kPipe)) {
    auto node = make(NodeKind::kFilter, position());
    ++current_;
    NodePtr filter = primary();
    if (filter->kind != NodeKind::kIdentifier) error("expected a filter name after '|'");
    if (is(TokenType::kOpenParen)) filter = call_expression(std::move(filter));
    node->a = std::move(operand);
    node->b = std::move(filter);
    operand = std::move(node);
  }
  return operand;
}

NodePtr Parser::unary_sign() {
  if ((is(TokenType::kUnary) || is(TokenType::kAdditive)) &&
      (token().value == "-" || token().value == "+")) {
    Depth depth(*this);
    auto node = make(NodeKind::kUnary, position());
    node->text = tokens_[current_++].value;
    node->a = unary_sign();
    return node;
  }
  NodePtr member = member_expression(primary());
  if (is(TokenType::kOpenParen)) return call_expression(std::move(member));
  return member;
}

NodePtr Parser::call_expression(NodePtr callee) {
  Depth depth(*this);
  auto node = make(NodeKind::kCall, callee->position);
  node->list = arguments(false);
  node->a = std::move(callee);
  NodePtr expr = member_expression(std::move(node));
  if (is(TokenType::kOpenParen)) return call_expression(std::move(expr));
  return expr;
}

// "( ... )": call arguments, or parameter declarations of a macro / call block.
NodeList Parser::arguments(bool parameters) {
  expect(TokenType::kOpenParen, "(");
  NodeList args;
  std::set<std::string> names;
  bool saw_keyword = false, saw_spread = false;
  while (!is(TokenType::kCloseParen)) {
    if (current_ >= tokens_.size()) error("unexpected end of template in an argument list");
    const bool keyword_spread = is(TokenType::kPower);
    const bool spread = is(TokenType::kMultiplicative) && token().value == "*";
    if (parameters && (keyword_spread || spread)) {
      error("argument unpacking is not allowed in parameter declarations");
    }
    const std::size_t at = position();
    if (keyword_spread) {
      ++current_;
      auto node = make(NodeKind::kKeywordSpread, at);
      node->a = expression();
      args.push_back(std::move(node));
      if (is(TokenType::kComma)) ++current_;
      if (!is(TokenType::kCloseParen)) error("`**` must be applied to the final argument");
      break;
    }
    NodePtr argument;
    if (spread) {
      if (saw_spread) error("only one `*` argument unpacking is allowed");
      saw_spread = true;
      ++current_;
      argument = make(NodeKind::kSpread, at);
      argument->a = expression();
    } else {
      argument = expression();
      if (is(TokenType::kEquals)) {
        ++current_;
        if (argument->kind != NodeKind::kIdentifier) error("expected an identifier before '='");
        auto keyword = make(NodeKind::kKeywordArgument, at);
        keyword->text = argument->text;
        keyword->a = expression();
        argument = std::move(keyword);
      }
      if (parameters) {
        if (argument->kind != NodeKind::kIdentifier &&
            argument->kind != NodeKind::kKeywordArgument) {
          error("expected an identifier for a parameter declaration");
        }
        if (!names.insert(argument->text).second) {
          error("duplicate parameter name: " + argument->text);
        }
      }
      if (argument->kind == NodeKind::kKeywordArgument) {
        saw_keyword = true;
      } else if (saw_keyword) {
        error(parameters ? "non-default argument follows default argument"
                         : "positional arguments must come before keyword arguments");
      } else if (saw_spread) {
        error("positional arguments must not follow `*` argument unpacking");
      }
    }
    args.push_back(std::move(argument));
    if (is(TokenType::kComma)) ++current_;
  }
  expect(TokenType::kCloseParen, ")");
  return args;
}

// The inside of [...]: an index, or a slice start:stop:step.
NodePtr Parser::subscript(std::size_t at) {
  std::vector<NodePtr> parts;
  bool slice = false;
  while (!is(TokenType::kCloseBracket)) {
    if (current_ >= tokens_.size()) error("unexpected end of template in [...]");
    if (is(TokenType::kColon)) {
      parts.push_back(nullptr);
      ++current_;
      slice = true;
    } else {
      parts.push_back(expression());
      if (is(TokenType::kColon)) {
        ++current_;
        slice = true;
      }
    }
  }
  if (parts.empty()) error("expected an index or slice inside [...]");
  if (!slice) return std::move(parts[0]);
  if (parts.size() > 3) error("a slice takes at most three parts");
  auto node = make(NodeKind::kSlice, at);
  if (parts.size() > 0) node->a = std::move(parts[0]);
  if (parts.size() > 1) node->b = std::move(parts[1]);
  if (parts.size() > 2) node->c = std::move(parts[2]);
  return node;
}

NodePtr Parser::member_expression(NodePtr object) {
  while (is(TokenType::kDot) || is(TokenType::kOpenBracket)) {
    const Token& op = tokens_[current_++];
    auto node = make(NodeKind::kMember, op.position);
    node->computed = op.type == TokenType::kOpenBracket;
    if (node->computed) {
      node->b = subscript(op.position);
      expect(TokenType::kCloseBracket, "]");
    } else {
      node->b = primary();
      if (node->b->kind != NodeKind::kIdentifier && node->b->kind != NodeKind::kInteger) {
        error("expected an identifier or integer after '.'");
      }
    }
    node->a = std::move(object);
    object = std::move(node);
  }
  return object;
}

NodePtr Parser::primary() {
  Depth depth(*this);
  const Token& t = token();
  ++current_;
  switch (t.type) {
    case TokenType::kNumber: {
      const bool is_float = t.value.find('.') != std::string::npos;
      auto node = make(is_float ? NodeKind::kFloat : NodeKind::kInteger, t.position);
      node->number = std::strtod(t.value.c_str(), nullptr);
      return node;
    }
    case TokenType::kString: {
      auto node = make(NodeKind::kString, t.position);
      node->text = t.value;
      while (is(TokenType::kString)) node->text += tokens_[current_++].value;  // 'a' 'b'
      return node;
    }
    case TokenType::kIdentifier: {
      auto node = make(NodeKind::kIdentifier, t.position);
      node->text = t.value;
      return node;
    }
    case TokenType::kOpenParen: {
      NodePtr e = expression_sequence(false);
      expect(TokenType::kCloseParen, ")");
      return e;
    }
    case TokenType::kOpenBracket: {
      auto node = make(NodeKind::kArray, t.position);
      while (!is(TokenType::kCloseBracket)) {
        if (current_ >= tokens_.size()) error("unexpected end of template in [...]");
        node->list.push_back(expression());
        if (is(TokenType::kComma)) ++current_;
      }
      ++current_;
      return node;
    }
    case TokenType::kOpenBrace: {
      auto node = make(NodeKind::kDict, t.position);
      while (!is(TokenType::kCloseBrace)) {
        if (current_ >= tokens_.size()) error("unexpected end of template in {...}");
        node->list.push_back(expression());
        expect(TokenType::kColon, "':' between key and value");
        node->list2.push_back(expression());
        if (is(TokenType::kComma)) ++current_;
      }
      ++current_;
      return node;
    }
    default:
      --current_;
      error("unexpected token '" + t.value + "'");
  }
}
}  // namespace mimo::jinja
