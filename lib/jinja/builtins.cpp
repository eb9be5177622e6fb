// Attributes and methods of values (str.strip(), dict.items(), ...), `is` tests, ordering for
// sorts, and the globals of every render, following @huggingface/jinja.
#include <cmath>

#include "jinja/evaluator.hpp"
#include "jinja/failure.hpp"
#include "jinja/js_text.hpp"

namespace mimo::jinja {

namespace {

using Args = std::vector<Value>;

Value method(std::function<Value(Args&)> body) {
  return Value::callable([body](Args& args, const ScopePtr&) { return body(args); });
}

// s.startswith(x) / s.endswith(x): x a string or a tuple of strings.
Value affix_test(const std::string& s, Args& args, bool prefix) {
  const char* name = prefix ? "startswith" : "endswith";
  if (args.empty()) fail(std::string(name) + "() requires at least one argument");
  const auto matches = [&](const std::string& p) {
    if (p.size() > s.size()) return false;
    return prefix ? s.compare(0, p.size(), p) == 0
                  : s.compare(s.size() - p.size(), p.size(), p) == 0;
  };
  if (args[0].is(Kind::kString)) return Value::from_bool(matches(args[0].string));
  if (args[0].is(Kind::kArray)) {
    for (const Value& item : *args[0].array) {
      if (!item.is(Kind::kString)) fail(std::string(name) + "() tuple elements must be strings");
      if (matches(item.string)) return Value::from_bool(true);
    }
    return Value::from_bool(false);
  }
  fail(std::string(name) + "() argument must be a string or tuple of strings");
}

// Python's str.split(sep=None, maxsplit=-1) as the reference implements it.
Value split(const std::string& s, Args& args) {
  const Value sep = args.size() > 0 ? args[0] : Value::null();
  if (!sep.is(Kind::kString) && !sep.is(Kind::kNull)) fail("sep argument must be a string or null");
  const Value maxsplit = args.size() > 1 ? args[1] : Value::integer(-1);
  if (!maxsplit.is(Kind::kInt)) fail("maxsplit argument must be a number");
  const double max = maxsplit.number;
  if (max != -1 && !(max >= 0)) fail("maxsplit must be -1 or a non-negative number");
  Array parts;
  if (sep.is(Kind::kNull)) {
    const std::string text = trim_start(s);
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t word_end = pos;
      while (word_end < text.size()) {
        std::size_t next = word_end;
        if (is_js_space(next_code_point(text, next))) break;
        word_end = next;
      }
      if (max != -1 && static_cast<double>(parts.size()) >= max) {
        parts.push_back(Value::str(text.substr(pos)));
        break;
      }
      parts.push_back(Value::str(text.substr(pos, word_end - pos)));
      pos = word_end;
      while (pos < text.size()) {
        std::size_t next = pos;
        if (!is_js_space(next_code_point(text, next))) break;
        pos = next;
      }
    }
    return Value::list(std::move(parts));
  }
  if (sep.string.empty()) fail("empty separator");
  std::vector<std::string> pieces;
  for (std::size_t from = 0;;) {
    const std::size_t at = s.find(sep.string, from);
    if (at == std::string::npos) {
      pieces.push_back(s.substr(from));
      break;
    }
    pieces.push_back(s.substr(from, at - from));
    from = at + sep.string.size();
  }
  if (max != -1 && static_cast<double>(pieces.size()) > max) {
    const auto keep = static_cast<std::size_t>(max);
    std::string rest;
    for (std::size_t i = keep; i < pieces.size(); ++i)
      rest += (i > keep ? sep.string : "") + pieces[i];
    pieces.resize(keep);
    pieces.push_back(rest);
  }
  for (std::string& p : pieces) parts.push_back(Value::str(std::move(p)));
  return Value::list(std::move(parts));
}

Value replace(const std::string& s, Args& args) {
  if (args.size() < 2) fail("replace() requires at least two arguments");
  if (!args[0].is(Kind::kString) || !args[1].is(Kind::kString)) {
    fail("replace() arguments must be strings");
  }
  Value count = Value::null();
  if (args.size() > 2) {
    if (args[2].is(Kind::kKwargs)) {
      const Value* c = args[2].object->find("count");
      count = c ? *c : Value::null();
    } else {
      count = args[2];
    }
  }
  if (!count.is(Kind::kInt) && !count.is(Kind::kNull)) {
    fail("replace() count argument must be a number or null");
  }
  double remaining = count.is(Kind::kNull) || count.number < 0 ? INFINITY : count.number;
  const std::string& from = args[0].string;
  const std::string& to = args[1].string;
  std::string out;
  if (from.empty()) {  // inserts `to` around every character
    std::size_t pos = 0;
    while (true) {
      if (remaining > 0) {
        out += to;
        --remaining;
      }
      if (pos >= s.size()) break;
      const std::size_t begin = pos;
      next_code_point(s, pos);
      out.append(s, begin, pos - begin);
    }
    return Value::str(std::move(out));
  }
  std::size_t pos = 0;
  for (std::size_t at; remaining > 0 && (at = s.find(from, pos)) != std::string::npos;) {
    out.append(s, pos, at - pos);
    out += to;
    pos = at + from.size();
    --remaining;
  }
  out.append(s, pos, std::string::npos);
  return Value::str(std::move(out));
}

Value string_member(const std::string& s, const std::string& name) {
  if (name == "upper") return method([s](Args&) { return Value::str(to_upper(s)); });
  if (name == "lower") return method([s](Args&) { return Value::str(to_lower(s)); });
  // The reference ignores strip's argument: it always trims whitespace.
  if (name == "strip") return method([s](Args&) { return Value::str(trim(s)); });
  if (name == "lstrip") return method([s](Args&) { return Value::str(trim_start(s)); });
  if (name == "rstrip") return method([s](Args&) { return Value::str(trim_end(s)); });
  if (name == "title") return method([s](Args&) { return Value::str(title_case(s)); });
  if (name == "capitalize") {  // the first character upper-cased, the rest left as it is
    return method([s](Args&) {
      std::size_t first = 0;
      if (!s.empty()) next_code_point(s, first);
      return Value::str(to_upper(s.substr(0, first)) + s.substr(first));
    });
  }
  if (name == "length") return Value::integer(static_cast<double>(utf16_length(s)));
  if (name == "startswith") return method([s](Args& a) { return affix_test(s, a, true); });
  if (name == "endswith") return method([s](Args& a) { return affix_test(s, a, false); });
  if (name == "split") return method([s](Args& a) { return split(s, a); });
  if (name == "replace") return method([s](Args& a) { return replace(s, a); });
  return Value::undefined();
}

Value pairs(const Object& object) {
  Array items;
  for (const auto& [key, value] : object.entries()) {
    items.push_back(Value::list({Value::str(key), value}));
  }
  return Value::list(std::move(items));
}

Value dictsort(const std::shared_ptr<Object>& object, Args& args) {
  Value kwargs = Value::dict(Kind::kKwargs);
  Args positional;
  for (const Value& a : args) {
    if (a.is(Kind::kKwargs))
      kwargs = a;
    else
      positional.push_back(a);
  }
  const auto option = [&](std::size_t index, const char* name, Value fallback) {
    if (index < positional.size()) return positional[index];
    const Value* v = kwargs.object->find(name);
    return v ? *v : fallback;
  };
  const Value case_sensitive = option(0, "case_sensitive", Value::from_bool(false));
  if (!case_sensitive.is(Kind::kBool)) fail("case_sensitive must be a boolean");
  const Value by = option(1, "by", Value::str("key"));
  if (!by.is(Kind::kString)) fail("by must be a string");
  if (by.string != "key" && by.string != "value") fail("by must be either 'key' or 'value'");
  const Value reverse = option(2, "reverse", Value::from_bool(false));
  if (!reverse.is(Kind::kBool)) fail("reverse must be a boolean");
  Value items = pairs(*object);
  const std::size_t index = by.string == "key" ? 0 : 1;
  std::stable_sort(items.array->begin(), items.array->end(), [&](const Value& a, const Value& b) {
    const int c = compare_values((*a.array)[index], (*b.array)[index], case_sensitive.boolean);
    return reverse.boolean ? c > 0 : c < 0;
  });
  return items;
}

Value object_member(const std::shared_ptr<Object>& object, const std::string& name) {
  if (name == "get") {
    return method([object](Args& a) {
      if (a.empty() || !a[0].is(Kind::kString)) {
        fail(std::string("object key must be a string: got ") +
             type_name(a.empty() ? Kind::kUndefined : a[0].kind));
      }
      if (const Value* v = object->find(a[0].string)) return *v;
      return a.size() > 1 ? a[1] : Value::null();
    });
  }
  if (name == "items") return method([object](Args&) { return pairs(*object); });
  if (name == "keys") {
    return method([object](Args&) {
      Array keys;
      for (const auto& entry : object->entries()) keys.push_back(Value::str(entry.first));
      return Value::list(std::move(keys));
    });
  }
  if (name == "values") {
    return method([object](Args&) {
      Array values;
      for (const auto& entry : object->entries()) values.push_back(entry.second);
      return Value::list(std::move(values));
    });
  }
  if (name == "dictsort") return method([object](Args& a) { return dictsort(object, a); });
  return Value::undefined();
}

// JS String#at on code points: negative indices count from the end.
Value char_at(const std::string& s, double index) {
  const std::vector<std::string> chars = split_code_points(s);
  const double n = static_cast<double>(chars.size());
  const double i = index < 0 ? n + index : index;
  if (!(i >= 0 && i < n)) return Value::undefined();  // also NaN
  return Value::str(chars[static_cast<std::size_t>(i)]);
}

}  // namespace

Value object_method(const Value& object, const std::string& name) {
  return object.is_mapping() ? object_member(object.object, name) : Value::undefined();
}

Value get_member(const Value& object, const Value& property) {
  if (object.has_attributes()) {
    if (!property.is(Kind::kString)) {
      fail(std::string("cannot access property with non-string: got ") + type_name(property.kind));
    }
    if (const Value* v = object.object->find(property.string)) return *v;
    if (object.is_mapping()) return object_member(object.object, property.string);
    return Value::undefined();
  }
  if (object.is(Kind::kArray) || object.is(Kind::kString)) {
    if (property.is(Kind::kInt)) {
      if (object.is(Kind::kString)) return char_at(object.string, property.number);
      const double n = static_cast<double>(object.array->size());
      const double i = property.number < 0 ? n + property.number : property.number;
      if (!(i >= 0 && i < n)) return Value::undefined();  // also NaN
      return (*object.array)[static_cast<std::size_t>(i)];
    }
    if (property.is(Kind::kString)) {
      if (object.is(Kind::kString)) return string_member(object.string, property.string);
      if (property.string == "length") {
        return Value::integer(static_cast<double>(object.array->size()));
      }
      return Value::undefined();
    }
    fail(std::string("cannot access property with non-string/non-number: got ") +
         type_name(property.kind));
  }
  if (!property.is(Kind::kString)) {
    fail(std::string("cannot access property with non-string: got ") + type_name(property.kind));
  }
  return Value::undefined();
}

bool has_test(const std::string& name) {
  static const char* const kNames[] = {"boolean",  "callable",  "odd",      "even",   "false",
                                       "true",     "none",      "string",   "number", "integer",
                                       "iterable", "mapping",   "sequence", "lower",  "upper",
                                       "defined",  "undefined", "equalto",  "eq",     "in"};
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

bool run_test(const std::string& name, const Value& v, const Value* argument) {
  if (name == "boolean") return v.is(Kind::kBool);
  if (name == "callable") return v.is(Kind::kFunction);
  if (name == "odd" || name == "even") {
    if (!v.is(Kind::kInt)) fail("cannot " + name + " on " + type_name(v.kind));
    const bool odd = std::fmod(v.number, 2) != 0;
    return name == "odd" ? odd : !odd;
  }
  if (name == "false") return v.is(Kind::kBool) && !v.boolean;
  if (name == "true") return v.is(Kind::kBool) && v.boolean;
  if (name == "none") return v.is(Kind::kNull);
  if (name == "string") return v.is(Kind::kString);
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is(Kind::kInt);
  // The reference compares type names here, so a tuple is not "iterable".
  if (name == "iterable") return (v.is(Kind::kArray) && !v.tuple) || v.is(Kind::kString);
  if (name == "mapping") return v.is_mapping();
  if (name == "sequence") return v.is(Kind::kArray) || v.is_mapping() || v.is(Kind::kString);
  if (name == "lower") return v.is(Kind::kString) && v.string == to_lower(v.string);
  if (name == "upper") return v.is(Kind::kString) && v.string == to_upper(v.string);
  if (name == "defined") return !v.is(Kind::kUndefined);
  if (name == "undefined") return v.is(Kind::kUndefined);
  if (name == "equalto" || name == "eq") {
    return argument ? strictly_equal(v, *argument) : v.is(Kind::kUndefined);
  }
  if (name == "in") {  // Python Jinja's test (the reference lacks it), for select / reject
    if (!argument) fail("the `in` test needs a container to look in");
    return apply_binary("in", v, *argument, Limits{}).boolean;
  }
  fail("unknown test: " + name);
}

int compare_values(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is(Kind::kNull) && b.is(Kind::kNull)) return 0;
  if (a.is(Kind::kNull) || b.is(Kind::kNull) || a.is(Kind::kUndefined) || b.is(Kind::kUndefined)) {
    if (a.kind == b.kind) return 0;
    fail(std::string("cannot compare ") + type_name(a.kind) + " with " + type_name(b.kind));
  }
  const auto numeric = [](const Value& v) { return v.is_number() || v.is(Kind::kBool); };
  if (numeric(a) && numeric(b)) {
    const double x = a.is(Kind::kBool) ? a.boolean : a.number;
    const double y = b.is(Kind::kBool) ? b.boolean : b.number;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind != b.kind) {
    fail(std::string("cannot compare different types: ") + type_name(a.kind) + " and " +
         type_name(b.kind));
  }
  if (!a.is(Kind::kString)) fail(std::string("cannot compare type: ") + type_name(a.kind));
  const std::string x = case_sensitive ? a.string : to_lower(a.string);
  const std::string y = case_sensitive ? b.string : to_lower(b.string);
  return x < y ? -1 : x > y ? 1 : 0;
}

}  // namespace mimo::jinja
