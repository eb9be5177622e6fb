// The template syntax tree: one Node type whose fields mean what the kind says (listed below),
// mirroring @huggingface/jinja's AST. Nodes keep the source offset they were parsed at.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace mimo::jinja {

enum class NodeKind {
  // statements
  kText,         // text: the literal output
  kComment,      // nothing
  kSet,          // a: target (identifier, tuple or member); b: value, or body when b is null
  kIf,           // a: test; body; alternate
  kFor,          // a: loop variable (identifier or tuple); b: iterable (maybe kSelect); body;
                 // alternate: the else block
  kMacro,        // text: name; list: parameters (identifiers / keyword arguments); body
  kCallBlock,    // a: the kCall; list: caller parameters; body: the caller
  kFilterBlock,  // a: filter (identifier or call); body
  kBreak,
  kContinue,
  // expressions
  kInteger,          // number
  kFloat,            // number
  kString,           // text
  kArray,            // list
  kTuple,            // list
  kDict,             // list: keys; list2: values
  kIdentifier,       // text
  kCall,             // a: callee; list: arguments
  kMember,           // a: object; b: property; computed: [] rather than .
  kSlice,            // a, b, c: start, stop, step (each may be null)
  kUnary,            // text: operator (not + -); a
  kBinary,           // text: operator; a, b
  kFilter,           // a: operand; b: filter (identifier or call)
  kTest,             // a: operand; text: test name; negate
  kSelect,           // a: value; b: condition (`x if c` without else)
  kTernary,          // a: condition; b: if true; c: if false
  kKeywordArgument,  // text: name; a: value
  kSpread,           // a: *argument
  kKeywordSpread,    // a: **argument
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

struct Node {
  NodeKind kind;
  std::size_t position = 0;
  std::string text;
  double number = 0;
  bool computed = false;
  bool negate = false;
  NodePtr a, b, c;
  NodeList list, list2, body, alternate;
};

}  // namespace mimo::jinja
