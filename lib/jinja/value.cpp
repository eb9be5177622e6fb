// jinja::Value: construction, truthiness, display, JSON and the JS equality rules.
#include "jinja/value.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "jinja/failure.hpp"
#include "jinja/js_text.hpp"

namespace mimo::jinja {

namespace {

// How deep tojson prints and from_json converts (both recurse once per level).
constexpr int kMaxJsonDepth = 512;

// Containers whose last reference went while an outer release was freeing others: that release
// frees them in turn, so freeing a nested value never recurses more than one level.
struct PendingRelease {
  std::vector<Array*> arrays;
  std::vector<Object*> objects;
};
thread_local PendingRelease* t_pending = nullptr;

template <typename Container>
void defer_or_free(Container* container, std::vector<Container*> PendingRelease::*list) {
  if (t_pending != nullptr) {
    try {
      (t_pending->*list).push_back(container);
      return;
    } catch (...) {
      delete container;  // out of memory for the work list: free it here (recursively)
      return;
    }
  }
  PendingRelease pending;
  t_pending = &pending;
  delete container;
  while (!pending.arrays.empty() || !pending.objects.empty()) {
    if (!pending.arrays.empty()) {
      Array* next = pending.arrays.back();
      pending.arrays.pop_back();
      delete next;
    } else {
      Object* next = pending.objects.back();
      pending.objects.pop_back();
      delete next;
    }
  }
  t_pending = nullptr;
}

std::shared_ptr<Array> new_array(Array items) {
  return std::shared_ptr<Array>(new Array(std::move(items)), [](Array* array) {
    defer_or_free(array, &PendingRelease::arrays);
  });
}

}  // namespace

std::shared_ptr<Object> new_object() {
  return std::shared_ptr<Object>(
      new Object(), [](Object* object) { defer_or_free(object, &PendingRelease::objects); });
}

const Value* Object::find(const std::string& key) const {
  const auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

void Object::set(const std::string& key, Value value) {
  const auto it = index_.find(key);
  if (it != index_.end()) {
    entries_[it->second].second = std::move(value);
    return;
  }
  index_.emplace(key, entries_.size());
  entries_.emplace_back(key, std::move(value));
}

bool Object::erase(const std::string& key) {
  const auto it = index_.find(key);
  if (it == index_.end()) return false;
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(it->second));
  index_.clear();
  for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].first, i);
  return true;
}

Value Value::null() {
  Value v;
  v.kind = Kind::kNull;
  return v;
}
Value Value::from_bool(bool b) {
  Value v;
  v.kind = Kind::kBool;
  v.boolean = b;
  return v;
}
Value Value::integer(double n) {
  Value v;
  v.kind = Kind::kInt;
  v.number = n;
  return v;
}
Value Value::floating(double n) {
  Value v;
  v.kind = Kind::kFloat;
  v.number = n;
  return v;
}
Value Value::str(std::string s) {
  Value v;
  v.kind = Kind::kString;
  v.string = std::move(s);
  return v;
}
Value Value::list(Array items) {
  Value v;
  v.kind = Kind::kArray;
  v.array = new_array(std::move(items));
  return v;
}
Value Value::dict(Kind kind) {
  Value v;
  v.kind = kind;
  v.object = new_object();
  return v;
}
Value Value::callable(Function fn) {
  Value v;
  v.kind = Kind::kFunction;
  v.function = std::make_shared<Function>(std::move(fn));
  return v;
}

bool Value::truthy() const {
  switch (kind) {
    case Kind::kUndefined:
    case Kind::kNull:
      return false;
    case Kind::kBool:
      return boolean;
    case Kind::kInt:
    case Kind::kFloat:
      return number != 0 && !std::isnan(number);
    case Kind::kString:
      return !string.empty();
    case Kind::kArray:
      return !array->empty();
    case Kind::kObject:
    case Kind::kKwargs:
      return object->size() > 0;
    case Kind::kNamespace:
    case Kind::kFunction:
      return true;
  }
  return false;
}

const char* type_name(Kind kind) {
  switch (kind) {
    case Kind::kUndefined:
      return "UndefinedValue";
    case Kind::kNull:
      return "NullValue";
    case Kind::kBool:
      return "BooleanValue";
    case Kind::kInt:
      return "IntegerValue";
    case Kind::kFloat:
      return "FloatValue";
    case Kind::kString:
      return "StringValue";
    case Kind::kArray:
      return "ArrayValue";
    case Kind::kObject:
      return "ObjectValue";
    case Kind::kNamespace:
      return "NamespaceValue";
    case Kind::kKwargs:
      return "KeywordArgumentsValue";
    case Kind::kFunction:
      return "FunctionValue";
  }
  return "?";
}

std::string to_display(const Value& value) {
  switch (value.kind) {
    // The reference's none wraps a JS undefined (NullValue's default value), so it reads
    // "undefined" where it becomes text (a list joined by ~ or +); blocks skip both.
    case Kind::kUndefined:
    case Kind::kNull:
      return "undefined";
    case Kind::kBool:
      return value.boolean ? "true" : "false";
    case Kind::kInt:
      return js_number(value.number);
    case Kind::kFloat:
      // FloatValue#toString: integral values keep one decimal (toFixed(1)).
      if (value.number == 0 && std::signbit(value.number)) return "-0.0";
      if (std::isfinite(value.number) && std::floor(value.number) == value.number &&
          std::fabs(value.number) < 1e21) {
        return js_number(value.number) + ".0";
      }
      return js_number(value.number);
    case Kind::kString:
      return value.string;
    case Kind::kArray:
    case Kind::kObject:
    case Kind::kNamespace:
    case Kind::kKwargs:
      return to_json(value, {}, false);
    case Kind::kFunction:
      fail("cannot print a function");
  }
  return {};
}

std::string to_js_string(const Value& v) {
  switch (v.kind) {
    case Kind::kInt:
    case Kind::kFloat:
      return js_number(v.number);
    case Kind::kArray: {
      std::string out;
      for (std::size_t i = 0; i < v.array->size(); ++i) {
        if (i) out += ",";
        out += to_display((*v.array)[i]);
      }
      return out;
    }
    case Kind::kObject:
    case Kind::kNamespace:
    case Kind::kKwargs:
      return "[object Map]";
    default:
      return to_display(v);
  }
}

std::string to_json(const Value& value, const JsonStyle& style, bool undefined_as_null, int depth) {
  // Self-containing namespaces would recurse forever in JS; here they end in an error.
  if (depth > kMaxJsonDepth) {
    throw Failure(FailureKind::kLimit,
                  fmt::format("tojson: value nested more than {} deep", kMaxJsonDepth));
  }
  std::string item_sep = ", ", key_sep = ": ";
  if (style.has_separators) {
    item_sep = style.item_separator;
    key_sep = style.key_separator;
  } else if (style.indent > 0) {
    item_sep = ",";
  }
  switch (value.kind) {
    case Kind::kNull:
      return "null";
    case Kind::kUndefined:
      return undefined_as_null ? "null" : "undefined";
    case Kind::kInt:
    case Kind::kFloat:
      return std::isfinite(value.number) ? js_number(value.number) : "null";
    case Kind::kBool:
      return value.boolean ? "true" : "false";
    case Kind::kString:
      return js_quote(value.string, style.ensure_ascii);
    case Kind::kFunction:
      fail("Cannot convert to JSON: FunctionValue");
    default:
      break;
  }
  if (value.tuple) fail("Cannot convert to JSON: TupleValue");
  if (value.bare) fail("cannot convert the first / last item of an empty list to JSON");
  const std::string unit(static_cast<std::size_t>(std::max(style.indent, 0)), ' ');
  std::string base = "\n";
  for (int i = 0; i < depth; ++i) base += unit;
  const std::string child = base + unit;
  const bool indented = style.indent > 0;
  std::string out;
  if (value.kind == Kind::kArray) {
    const Array& items = *value.array;
    out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) out += item_sep;
      if (indented) out += child;
      out += to_json(items[i], style, undefined_as_null, depth + 1);
    }
    if (indented && !items.empty()) out += base;
    return out + "]";
  }
  auto entries = value.object->entries();
  if (style.sort_keys) {
    std::stable_sort(entries.begin(), entries.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  out = "{";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i) out += item_sep;
    if (indented) out += child;
    out += js_quote(entries[i].first, style.ensure_ascii) + key_sep +
           to_json(entries[i].second, style, undefined_as_null, depth + 1);
  }
  if (indented && !entries.empty()) out += base;
  return out + "}";
}

namespace {

// JS Number(string): surrounding whitespace ignored, "" is 0, anything else not numeric is NaN.
double js_to_number(const std::string& s) {
  const std::string t = trim(s);
  if (t.empty()) return 0;
  if (t == "Infinity" || t == "+Infinity") return INFINITY;
  if (t == "-Infinity") return -INFINITY;
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || t.find_first_of("xXnN") != std::string::npos) return NAN;
  return d;
}

bool is_reference(Kind k) {
  return k == Kind::kArray || k == Kind::kObject || k == Kind::kNamespace || k == Kind::kKwargs ||
         k == Kind::kFunction;
}

const void* identity(const Value& v) {
  if (v.kind == Kind::kArray) return v.array.get();
  if (v.kind == Kind::kFunction) return v.function.get();
  return v.object.get();
}

}  // namespace

bool loosely_equal(const Value& a, const Value& b) {
  const bool a_nullish = a.kind == Kind::kNull || a.kind == Kind::kUndefined;
  const bool b_nullish = b.kind == Kind::kNull || b.kind == Kind::kUndefined;
  if (a_nullish || b_nullish) return a_nullish && b_nullish;
  if (is_reference(a.kind) && is_reference(b.kind)) return identity(a) == identity(b);
  if (a.is(Kind::kFunction) || b.is(Kind::kFunction)) return false;
  // A list or object against a primitive compares as its string (JS ToPrimitive).
  if (is_reference(a.kind)) return loosely_equal(Value::str(to_js_string(a)), b);
  if (is_reference(b.kind)) return loosely_equal(a, Value::str(to_js_string(b)));
  if (a.kind == Kind::kString && b.kind == Kind::kString) return a.string == b.string;
  const auto as_number = [](const Value& v) {
    if (v.kind == Kind::kBool) return v.boolean ? 1.0 : 0.0;
    if (v.kind == Kind::kString) return js_to_number(v.string);
    return v.number;
  };
  return as_number(a) == as_number(b);
}

bool strictly_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.number == b.number;
  // none and undefined both wrap a JS undefined in the reference.
  const bool a_nullish = a.is(Kind::kNull) || a.is(Kind::kUndefined);
  const bool b_nullish = b.is(Kind::kNull) || b.is(Kind::kUndefined);
  if (a_nullish || b_nullish) return a_nullish && b_nullish;
  if (a.kind != b.kind) {
    // Objects, namespaces and keyword arguments are all JS Maps.
    return a.has_attributes() && b.has_attributes() && a.object == b.object;
  }
  switch (a.kind) {
    case Kind::kUndefined:
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return a.boolean == b.boolean;
    case Kind::kString:
      return a.string == b.string;
    default:
      return identity(a) == identity(b);
  }
}

namespace {

// JS objects list integer-like keys first, in ascending order (Object.entries).
bool is_array_index(const std::string& key) {
  if (key.empty() || key.size() > 10 || (key.size() > 1 && key[0] == '0')) return false;
  if (!std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  return std::stoull(key) < 4294967295ull;
}

}  // namespace

Value from_json(const nlohmann::ordered_json& json, int depth) {
  if (depth > kMaxJsonDepth) {
    throw Failure(FailureKind::kLimit,
                  fmt::format("a render context value nests more than {} levels", kMaxJsonDepth));
  }
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::null();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::from_bool(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(static_cast<double>(json.get<std::int64_t>()));
    case nlohmann::ordered_json::value_t::number_unsigned:
      return Value::integer(static_cast<double>(json.get<std::uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: {
      const double d = json.get<double>();
      return std::isfinite(d) && std::floor(d) == d ? Value::integer(d) : Value::floating(d);
    }
    case nlohmann::ordered_json::value_t::string:
      return Value::str(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Array items;
      for (const auto& item : json) items.push_back(from_json(item, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Value out = Value::dict();
      std::vector<std::pair<unsigned long long, std::string>> indices;
      for (const auto& [key, item] : json.items()) {
        if (is_array_index(key)) indices.emplace_back(std::stoull(key), key);
      }
      std::sort(indices.begin(), indices.end());
      for (const auto& [number, key] : indices)
        out.object->set(key, from_json(json.at(key), depth + 1));
      for (const auto& [key, item] : json.items()) {
        if (!is_array_index(key)) out.object->set(key, from_json(item, depth + 1));
      }
      return out;
    }
    default:
      fail("unsupported JSON value (binary)");
  }
}

}  // namespace mimo::jinja
