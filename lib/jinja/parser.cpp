// Template parser (see parser.hpp): recursive descent, one function per precedence level.
#include "jinja/parser.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "jinja/failure.hpp"

namespace mimo::jinja {

namespace {

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

  NodePtr any() {
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

  NodePtr statement() {
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

  NodePtr set_statement(std::size_t at) {
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

  NodePtr if_statement(std::size_t at) {
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

  NodePtr for_statement(std::size_t at) {
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

  NodePtr expression_sequence(bool primary_only) {
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

  NodePtr expression() {
    Depth depth(*this);
    return if_expression();
  }

  NodePtr if_expression() {
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

  NodePtr binary(std::string op, std::size_t at, NodePtr left, NodePtr right) {
    auto node = make(NodeKind::kBinary, at);
    node->text = std::move(op);
    node->a = std::move(left);
    node->b = std::move(right);
    return node;
  }

  NodePtr logical_or() {
    NodePtr left = logical_and();
    while (is_identifier("or")) {
      const std::size_t at = position();
      ++current_;
      left = binary("or", at, std::move(left), logical_and());
    }
    return left;
  }

  NodePtr logical_and() {
    NodePtr left = logical_not();
    while (is_identifier("and")) {
      const std::size_t at = position();
      ++current_;
      left = binary("and", at, std::move(left), logical_not());
    }
    return left;
  }

  NodePtr logical_not() {
    if (!is_identifier("not")) return comparison();
    Depth depth(*this);
    auto node = make(NodeKind::kUnary, position());
    node->text = "not";
    ++current_;
    node->a = logical_not();
    return node;
  }

  NodePtr comparison() {
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

  NodePtr additive() {
    NodePtr left = multiplicative();
    while (is(TokenType::kAdditive)) {
      const Token& op = tokens_[current_++];
      left = binary(op.value, op.position, std::move(left), multiplicative());
    }
    return left;
  }

  NodePtr multiplicative() {
    NodePtr left = power();
    while (is(TokenType::kMultiplicative)) {
      const Token& op = tokens_[current_++];
      left = binary(op.value, op.position, std::move(left), power());
    }
    return left;
  }

  NodePtr power() {
    NodePtr left = test_expression();
    while (is(TokenType::kPower)) {
      const Token& op = tokens_[current_++];
      left = binary(op.value, op.position, std::move(left), test_expression());
    }
    return left;
  }

  NodePtr test_expression() {
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

  NodePtr filter_expression() {
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

  NodePtr unary_sign() {
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

  NodePtr call_expression(NodePtr callee) {
    Depth depth(*this);
    auto node = make(NodeKind::kCall, callee->position);
    node->list = arguments(false);
    node->a = std::move(callee);
    NodePtr expr = member_expression(std::move(node));
    if (is(TokenType::kOpenParen)) return call_expression(std::move(expr));
    return expr;
  }

  // "( ... )": call arguments, or parameter declarations of a macro / call block.
  NodeList arguments(bool parameters) {
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
  NodePtr subscript(std::size_t at) {
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

  NodePtr member_expression(NodePtr object) {
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

  NodePtr primary() {
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

  const std::vector<Token>& tokens_;
  const Limits& limits_;
  std::size_t current_ = 0;
  std::size_t depth_ = 0;
};

}  // namespace

NodeList parse(const std::vector<Token>& tokens, const Limits& limits) {
  return Parser(tokens, limits).program();
}

}  // namespace mimo::jinja
