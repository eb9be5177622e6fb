// jinja::Value: the runtime values of the template engine, modelled on @huggingface/jinja's
// (undefined, none, booleans, integers, floats, strings, arrays, objects, namespaces, keyword
// arguments, functions). Arrays, objects and namespaces are shared by reference, as in JS, so a
// namespace assigned in a loop is seen outside it.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mimo::jinja {

struct Value;
class Scope;

class Object;
using Array = std::vector<Value>;
// Positional arguments; keyword arguments arrive as a trailing kKwargs value.
using Function = std::function<Value(std::vector<Value>& args, const std::shared_ptr<Scope>&)>;

enum class Kind {
  kUndefined,
  kNull,
  kBool,
  kInt,
  kFloat,
  kString,
  kArray,
  kObject,
  kNamespace,
  kKwargs,
  kFunction
};

struct Value {
  Kind kind = Kind::kUndefined;
  bool boolean = false;
  double number = 0;  // kInt and kFloat: JS numbers are doubles
  std::string string;
  bool tuple = false;  // kArray from a tuple literal: the reference cannot print it as JSON
  // kUndefined that the reference holds as a bare JS undefined (first / last of an empty
  // list): an error wherever it is used, except as a macro argument (then it counts as not
  // given), in set (then it is a plain undefined) and as an item of a list / dict literal.
  bool bare = false;
  std::shared_ptr<Array> array;
  std::shared_ptr<Object> object;  // kObject, kNamespace, kKwargs
  std::shared_ptr<Function> function;

  static Value undefined() { return {}; }
  static Value null();
  static Value from_bool(bool b);
  static Value integer(double n);
  static Value floating(double n);
  static Value str(std::string s);
  static Value list(Array items = {});
  static Value dict(Kind kind = Kind::kObject);
  static Value callable(Function fn);

  bool is(Kind k) const { return kind == k; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  bool is_mapping() const { return kind == Kind::kObject || kind == Kind::kKwargs; }
  bool has_attributes() const { return is_mapping() || kind == Kind::kNamespace; }
  bool truthy() const;
};

// An insertion-ordered string map (a JS Map).
class Object {
 public:
  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value value);
  bool erase(const std::string& key);
  std::size_t size() const { return entries_.size(); }
  void clear() {
    entries_.clear();
    index_.clear();
  }
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string, Value>> entries_;
  std::unordered_map<std::string, std::size_t> index_;
};

// A fresh empty object whose release, like Value::list's arrays, frees the containers nested in
// it one after another instead of recursively: a loop may nest a list a million deep, and its
// destruction must not overflow the stack.
std::shared_ptr<Object> new_object();

// The JS type names @huggingface/jinja reports ("StringValue", ...), for error messages.
const char* type_name(Kind kind);

// String(value) as the output sees it: booleans as true / false, floats with a ".0", arrays
// and objects as JSON, none as "undefined".
std::string to_display(const Value& value);

// String(value.value) in JS: what `~`, `+` and == with a string see. Numbers without the ".0",
// lists as their elements' display joined by commas, objects "[object Map]".
std::string to_js_string(const Value& value);

// JSON.stringify-like serialization with Python's tojson knobs (indent, separators, sort_keys,
// ensure_ascii), as @huggingface/jinja writes it.
struct JsonStyle {
  int indent = 0;  // 0: one line
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool has_separators = false;
  std::string item_separator, key_separator;
};
std::string to_json(const Value& value, const JsonStyle& style, bool undefined_as_null = true,
                    int depth = 0);

// JS loose equality of the wrapped values (==), and strict equality (===, used by `in`).
bool loosely_equal(const Value& a, const Value& b);
bool strictly_equal(const Value& a, const Value& b);

// JSON data (messages, tools) as template values; integers stay integers.
// Throws Failure(kLimit) for a value nested deeper than to_json prints (512 levels), so a hostile
// render context cannot overflow the stack here or in the values' destructors.
Value from_json(const nlohmann::ordered_json& json, int depth = 0);

}  // namespace mimo::jinja
