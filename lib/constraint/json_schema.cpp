// Compiles the supported JSON Schema subset (type, properties, required, additionalProperties,
// items, enum, const, and the annotations) into CompiledSchema; anything else is refused with
// the schema path that holds it.
#include "constraint/json_schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "mimo/error.hpp"

namespace mimo::constraint {

namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 7> kKeywords = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "const"};
constexpr std::array<std::string_view, 7> kAnnotations = {
    "title", "description", "$schema", "$id", "$comment", "default", "examples"};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, fmt::format("JSON schema at {}: {}", path, what));
}

// A JSON Pointer token (RFC 6901): ~ and / escaped.
std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::uint8_t type_bit(const json& name, const std::string& path) {
  if (!name.is_string()) fail(path, "a type must be a string");
  const std::string& t = name.get_ref<const std::string&>();
  if (t == "object") return kObjectType;
  if (t == "array") return kArrayType;
  if (t == "string") return kStringType;
  if (t == "number") return kNumberType;
  if (t == "integer") return kIntegerType;
  if (t == "boolean") return kBooleanType;
  if (t == "null") return kNullType;
  fail(path, fmt::format("unknown type '{}'", t));
}

std::uint8_t value_bits(const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      return kObjectType;
    case json::value_t::array:
      return kArrayType;
    case json::value_t::string:
      return kStringType;
    case json::value_t::boolean:
      return kBooleanType;
    case json::value_t::null:
      return kNullType;
    case json::value_t::number_float:
      return kNumberType;
    default:
      return kNumberType | kIntegerType;
  }
}

bool needs_escape(const std::string& name) {
  return std::any_of(name.begin(), name.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b < 0x20 || c == '"' || c == '\\';
  });
}

class Compiler {
 public:
  Compiler(CompiledSchema& out) : out_(out) {}

  std::int32_t compile(const json& s, const std::string& path, int depth) {
    if (depth >= out_.max_depth) {
      fail(path, fmt::format("nests deeper than {} levels", out_.max_depth));
    }
    if (s.is_boolean()) {
      if (s.get<bool>()) return 0;
      fail(path, "the schema false admits no value");
    }
    if (!s.is_object()) fail(path, "a schema must be an object or a boolean");
    for (const auto& item : s.items()) {
      const std::string& key = item.key();
      const bool known =
          std::find(kKeywords.begin(), kKeywords.end(), key) != kKeywords.end() ||
          std::find(kAnnotations.begin(), kAnnotations.end(), key) != kAnnotations.end();
      if (!known) {
        fail(path, fmt::format("unsupported keyword '{}' (supported: type, properties, required, "
                               "additionalProperties, items, enum, const)",
                               key));
      }
    }
    SchemaNode node;
    read_type(s, path, node);
    read_enum(s, path, node);
    read_object(s, path, depth, node);
    if (const auto it = s.find("items"); it != s.end()) {
      if (it->is_array()) fail(path + "/items", "tuple items (an array) are not supported");
      node.items = compile(*it, path + "/items", depth + 1);
    }
    out_.nodes.push_back(std::move(node));
    return static_cast<std::int32_t>(out_.nodes.size() - 1);
  }

 private:
  void read_type(const json& s, const std::string& path, SchemaNode& node) {
    const auto it = s.find("type");
    if (it == s.end()) return;
    if (it->is_array()) {
      if (it->empty()) fail(path + "/type", "an empty list of types admits no value");
      node.types = 0;
      for (std::size_t i = 0; i < it->size(); ++i) {
        node.types |= type_bit((*it)[i], fmt::format("{}/type/{}", path, i));
      }
    } else {
      node.types = type_bit(*it, path + "/type");
    }
  }

  void read_enum(const json& s, const std::string& path, SchemaNode& node) {
    const auto e = s.find("enum");
    const auto c = s.find("const");
    if (e == s.end() && c == s.end()) return;
    if (e != s.end() && c != s.end()) fail(path, "both 'enum' and 'const' are given");
    json values;
    std::string where;
    if (c != s.end()) {
      values = json::array({*c});
      where = path + "/const";
    } else {
      if (!e->is_array() || e->empty()) fail(path + "/enum", "'enum' must be a non-empty array");
      values = *e;
      where = path + "/enum";
    }
    WordTrie trie;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if ((value_bits(values[i]) & node.types) == 0) {
        fail(c != s.end() ? where : fmt::format("{}/{}", where, i),
             "the value does not match the schema's 'type'");
      }
      trie.insert(values[i].dump(), static_cast<std::int32_t>(i));
    }
    out_.tries.push_back(std::move(trie));
    node.literals = static_cast<std::int32_t>(out_.tries.size() - 1);
  }

  void read_object(const json& s, const std::string& path, int depth, SchemaNode& node) {
    std::vector<std::string> names;
    if (const auto it = s.find("properties"); it != s.end()) {
      if (!it->is_object()) fail(path + "/properties", "'properties' must be an object");
      if (it->size() > 64) fail(path + "/properties", "more than 64 properties");
      WordTrie trie;
      for (const auto& item : it->items()) {
        const std::string where = path + "/properties/" + pointer_token(item.key());
        if (needs_escape(item.key())) {
          fail(where,
               "property names with quotes, backslashes or control characters are not "
               "supported");
        }
        const auto index = static_cast<std::int32_t>(names.size());
        trie.insert(item.key(), index);
        names.push_back(item.key());
        node.property_schema.push_back(compile(item.value(), where, depth + 1));
        node.properties |= std::uint64_t{1} << index;
      }
      out_.tries.push_back(std::move(trie));
      node.names = static_cast<std::int32_t>(out_.tries.size() - 1);
    }
    if (const auto it = s.find("required"); it != s.end()) {
      if (!it->is_array()) fail(path + "/required", "'required' must be an array of names");
      for (std::size_t i = 0; i < it->size(); ++i) {
        const json& name = (*it)[i];
        const auto found = name.is_string() ? std::find(names.begin(), names.end(),
                                                        name.get_ref<const std::string&>())
                                            : names.end();
        if (found == names.end()) {
          fail(fmt::format("{}/required/{}", path, i),
               "a required property must be one of 'properties'");
        }
        node.required |= std::uint64_t{1} << (found - names.begin());
      }
    }
    if (const auto it = s.find("additionalProperties"); it != s.end()) {
      if (!it->is_boolean()) {
        fail(path + "/additionalProperties", "only true or false is supported (not a schema)");
      }
      node.additional = it->get<bool>();
    }
  }

  CompiledSchema& out_;
};

// Rejects nesting past `limit` before parsing, so a hostile schema cannot recurse deeply.
void check_nesting(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) {
        fail("#", fmt::format("the document nests deeper than {} levels", limit));
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

CompiledSchema empty_schema(int max_depth, int max_whitespace) {
  if (max_depth < 1 || max_depth > 4096 || max_whitespace < 0 || max_whitespace > 4096) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("JSON constraint: max_depth must be in [1, 4096] and max_whitespace in "
                            "[0, 4096], got {} and {}",
                            max_depth, max_whitespace));
  }
  CompiledSchema out;
  out.max_depth = max_depth;
  out.max_whitespace = max_whitespace;
  out.nodes.push_back(SchemaNode{});  // any value
  WordTrie literals;
  literals.insert("true", 0);
  literals.insert("false", 1);
  literals.insert("null", 2);
  out.tries.push_back(std::move(literals));
  return out;
}

}  // namespace

void WordTrie::insert(std::string_view word, std::int32_t index) {
  std::int32_t node = 0;
  const std::uint64_t bit = index < 64 ? std::uint64_t{1} << index : 0;
  nodes[0].below |= bit;
  for (char c : word) {
    const auto b = static_cast<std::uint8_t>(c);
    std::int32_t next = child(node, b);
    if (next < 0) {
      Node fresh;
      fresh.byte = b;
      fresh.next_sibling = nodes[static_cast<std::size_t>(node)].first_child;
      nodes.push_back(fresh);
      next = static_cast<std::int32_t>(nodes.size() - 1);
      nodes[static_cast<std::size_t>(node)].first_child = next;
    }
    node = next;
    nodes[static_cast<std::size_t>(node)].below |= bit;
  }
  Node& end = nodes[static_cast<std::size_t>(node)];
  if (end.word < 0) end.word = index;
}

CompiledSchema compile_object_mode(int max_depth, int max_whitespace) {
  CompiledSchema out = empty_schema(max_depth, max_whitespace);
  SchemaNode root;
  root.types = kObjectType;
  out.nodes.push_back(root);
  out.root = 1;
  return out;
}

CompiledSchema compile_schema(std::string_view schema_json, int max_depth, int max_whitespace) {
  CompiledSchema out = empty_schema(max_depth, max_whitespace);
  check_nesting(schema_json, 2 * max_depth + 2);
  json schema;
  try {
    schema = json::parse(schema_json);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("JSON schema: not JSON ({})", e.what()));
  }
  out.root = Compiler(out).compile(schema, "#", 0);
  return out;
}

}  // namespace mimo::constraint
