// A JSON Schema (the subset docs/sampling.md lists) compiled into the tables the JSON
// recognizer walks: one node per schema, byte tries of enum values and property names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mimo::constraint {

// JSON value types a schema node admits, one bit each (kInteger: numbers without fraction or
// exponent; kNumber admits those too).
enum TypeBits : std::uint8_t {
  kObjectType = 1,
  kArrayType = 2,
  kStringType = 4,
  kNumberType = 8,
  kIntegerType = 16,
  kBooleanType = 32,
  kNullType = 64,
  kAnyType = 127,
};

// A byte trie of words: the serialized values of an enum, or an object's property names.
struct WordTrie {
  struct Node {
    std::int32_t first_child = -1;
    std::int32_t next_sibling = -1;
    std::int32_t word = -1;   // the word ending here, -1 for none
    std::uint64_t below = 0;  // property names: bit i set when word i ends in this subtree
    std::uint8_t byte = 0;
  };
  std::vector<Node> nodes{Node{}};  // nodes[0]: the root (the empty prefix)

  void insert(std::string_view word, std::int32_t index);
  // The child of `node` along `byte`, -1 when there is none.
  std::int32_t child(std::int32_t node, std::uint8_t byte) const {
    for (std::int32_t c = nodes[static_cast<std::size_t>(node)].first_child; c >= 0;
         c = nodes[static_cast<std::size_t>(c)].next_sibling) {
      if (nodes[static_cast<std::size_t>(c)].byte == byte) return c;
    }
    return -1;
  }
};

struct SchemaNode {
  std::uint8_t types = kAnyType;
  std::int32_t literals = -1;  // enum / const: the trie of their serialized values
  // Objects.
  std::int32_t names = -1;                    // trie of the property names, -1 without properties
  std::vector<std::int32_t> property_schema;  // by property index (the names trie's words)
  std::uint64_t properties = 0;               // bit per property
  std::uint64_t required = 0;
  bool additional = true;  // keys beyond `properties` allowed (their values: any JSON)
  // Arrays.
  std::int32_t items = 0;  // the schema of every item
};

struct CompiledSchema {
  std::vector<SchemaNode> nodes;  // nodes[0]: any JSON value
  std::vector<WordTrie> tries;    // tries[0]: true, false, null
  std::int32_t root = 0;
  int max_depth = 64;       // open objects and arrays at once
  int max_whitespace = 16;  // consecutive whitespace bytes between tokens
};

// The trie of the three literals; word 0 = true, 1 = false, 2 = null.
inline constexpr std::int32_t kLiteralTrie = 0;

// json_object mode: the top-level value is an object, anything inside.
CompiledSchema compile_object_mode(int max_depth, int max_whitespace);
// json_schema mode. Throws Error(kInvalidArgument) for malformed JSON and for schemas outside
// the subset, naming the schema path ("#/properties/name/items") and the keyword.
CompiledSchema compile_schema(std::string_view schema_json, int max_depth, int max_whitespace);

}  // namespace mimo::constraint
