// The template lexer: transformers' whitespace handling (trim_blocks and lstrip_blocks on, one
// trailing newline dropped, {%- -%} {{- -}} {#- -#} stripping, the `generation` tag removed),
// then text / tag tokens, following @huggingface/jinja's tokenizer rule for rule. Every token
// keeps its byte offset in the original source for error messages.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mimo::jinja {

enum class TokenType {
  kText,
  kNumber,
  kString,
  kIdentifier,
  kEquals,
  kOpenParen,
  kCloseParen,
  kOpenStatement,
  kCloseStatement,
  kOpenExpression,
  kCloseExpression,
  kOpenBracket,
  kCloseBracket,
  kOpenBrace,
  kCloseBrace,
  kComma,
  kDot,
  kColon,
  kPipe,
  kAdditive,
  kMultiplicative,
  kPower,
  kComparison,
  kUnary,
  kComment
};

struct Token {
  TokenType type;
  std::string value;
  std::size_t position;  // byte offset in the original template source
};

std::vector<Token> tokenize(const std::string& source);

}  // namespace mimo::jinja
