// Filters (`value | name` and `value | name(args)`), with @huggingface/jinja's set and
// behaviour: which filters exist depends on the operand's type, unknown ones are errors.
#include <cmath>
#include <cstdlib>

#include "jinja/evaluator.hpp"
#include "jinja/failure.hpp"
#include "jinja/js_text.hpp"

namespace mimo::jinja {

namespace {

using Args = std::vector<Value>;

[[noreturn]] void cannot_apply(const std::string& filter, const Value& operand) {
  fail("cannot apply filter \"" + filter + "\" to type " + type_name(operand.kind));
}

// Array#join of the wrapped JS values: none / undefined join as "", numbers without ".0".
std::string join_values(const Array& items, const std::string& separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += separator;
    const Value& v = items[i];
    if (v.is(Kind::kNull) || v.is(Kind::kUndefined)) continue;
    if (v.is_number()) {
      out += js_number(v.number);
    } else if (v.has_attributes()) {
      out += "[object Map]";
    } else if (v.is(Kind::kArray)) {
      for (std::size_t j = 0; j < v.array->size(); ++j) {
        if (j) out += ',';
        out += to_display((*v.array)[j]);
      }
    } else {
      out += to_display(v);
    }
  }
  return out;
}

// JS parseInt(s, 10) / parseFloat(s): the longest numeric prefix; false where JS gives NaN.
bool parse_number(const std::string& s, bool integer, double& out) {
  const std::string t = trim_start(s);
  const char* begin = t.c_str();
  char* end = nullptr;
  if (integer) {
    std::size_t digits = t[0] == '+' || t[0] == '-' ? 1 : 0;
    const std::size_t first = digits;
    while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9') ++digits;
    if (digits == first) return false;
    out = std::strtod(t.substr(0, digits).c_str(), nullptr);
    return true;
  }
  if (t.rfind("Infinity", 0) == 0 || t.rfind("+Infinity", 0) == 0) {
    out = INFINITY;
    return true;
  }
  if (t.rfind("-Infinity", 0) == 0) {
    out = -INFINITY;
    return true;
  }
  const char* p = begin;
  if (*p == '+' || *p == '-') ++p;
  if (!((*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9'))) return false;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {  // parseFloat stops at the x
    out = 0;
    return true;
  }
  out = std::strtod(begin, &end);
  return true;
}

std::string indent_lines(const std::string& s, std::size_t width, bool first, bool blank) {
  const std::string pad(width, ' ');
  std::string out;
  std::size_t line = 0;
  for (std::size_t from = 0;; ++line) {
    const std::size_t nl = s.find('\n', from);
    const std::string piece =
        s.substr(from, nl == std::string::npos ? std::string::npos : nl - from);
    if ((first || line > 0) && (blank || !piece.empty())) out += pad;
    out += piece;
    if (nl == std::string::npos) break;
    out += '\n';
    from = nl + 1;
  }
  return out;
}

// Value of a dotted attribute path (sort / map(attribute=)): "a.b", "0".
Value attribute_path(const Value& item, const std::string& path) {
  Value v = item;
  std::size_t from = 0;
  while (true) {
    const std::size_t dot = path.find('.', from);
    const std::string part =
        path.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
    if (v.has_attributes()) {
      const Value* found = v.object->find(part);
      v = found ? *found : Value::undefined();
    } else if (v.is(Kind::kArray)) {
      char* end = nullptr;
      const long index = std::strtol(part.c_str(), &end, 10);
      if (end == part.c_str() || index < 0 || static_cast<std::size_t>(index) >= v.array->size()) {
        return Value::undefined();
      }
      v = (*v.array)[static_cast<std::size_t>(index)];
    } else {
      return Value::undefined();
    }
    if (dot == std::string::npos) return v;
    from = dot + 1;
  }
}

// Python Jinja's select / reject, which the reference lacks (Qwen3-Coder's template uses
// `reject("in", keys)`): the items that pass (or fail) a test, by default truthiness.
Value select_items(const Array& items, const Args& args, bool select) {
  const char* name = select ? "select" : "reject";
  if (!args.empty() && !args[0].is(Kind::kString)) {
    fail(std::string(name) + ": the test name must be a string");
  }
  const std::string test = args.empty() ? "" : args[0].string;
  if (!test.empty() && !has_test(test)) fail("unknown test: " + test);
  Array out;
  for (const Value& item : items) {
    const bool passed =
        test.empty() ? item.truthy() : run_test(test, item, args.size() > 1 ? &args[1] : nullptr);
    if (passed == select) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value option(const Args& positional, const Value* kwargs, std::size_t index, const char* name,
             Value fallback) {
  if (index < positional.size()) return positional[index];
  if (kwargs) {
    if (const Value* v = kwargs->object->find(name)) return *v;
  }
  return fallback;
}

Value plain_filter(const Value& v, const std::string& name) {
  if (name == "safe") return v;
  if (name == "tojson") return Value::str(to_json(v, {}));
  if (v.is(Kind::kArray)) {
    const Array& a = *v.array;
    if (name == "list") return v;
    if ((name == "first" || name == "last") && a.empty()) {
      Value bare;
      bare.bare = true;
      return bare;
    }
    if (name == "first") return a.front();
    if (name == "last") return a.back();
    if (name == "length") return Value::integer(static_cast<double>(a.size()));
    if (name == "reverse") return Value::list(Array(a.rbegin(), a.rend()));
    if (name == "sort") {
      Array sorted = a;
      std::stable_sort(sorted.begin(), sorted.end(), [](const Value& x, const Value& y) {
        return compare_values(x, y, false) < 0;
      });
      return Value::list(std::move(sorted));
    }
    if (name == "join") return Value::str(join_values(a, ""));
    if (name == "string") return Value::str(to_json(v, {}, false));
    if (name == "select" || name == "reject") return select_items(a, {}, name == "select");
    if (name == "unique") {
      Array out;
      for (const Value& item : a) {
        bool seen = false;
        for (const Value& kept : out) seen = seen || strictly_equal(kept, item);
        if (!seen) out.push_back(item);
      }
      return Value::list(std::move(out));
    }
    fail("unknown array filter: " + name);
  }
  if (v.is(Kind::kString)) {
    if (name == "length" || name == "upper" || name == "lower" || name == "title" ||
        name == "capitalize") {
      const Value member = get_member(v, Value::str(name));
      if (!member.is(Kind::kFunction)) return member;
      Args none;
      return (*member.function)(none, nullptr);
    }
    if (name == "trim") return Value::str(trim(v.string));
    if (name == "indent") return Value::str(indent_lines(v.string, 4, false, false));
    if (name == "join" || name == "string") return v;
    double d = 0;
    if (name == "int") return Value::integer(parse_number(v.string, true, d) ? d : 0);
    if (name == "float") return Value::floating(parse_number(v.string, false, d) ? d : 0);
    fail("unknown string filter: " + name);
  }
  if (v.is_number()) {
    if (name == "abs") {
      return v.is(Kind::kInt) ? Value::integer(std::fabs(v.number))
                              : Value::floating(std::fabs(v.number));
    }
    if (name == "int") return Value::integer(std::floor(v.number));
    if (name == "float") return Value::floating(v.number);
    if (name == "string") return Value::str(to_display(v));
    fail("unknown numeric filter: " + name);
  }
  if (v.is_mapping()) {
    if (name == "length") return Value::integer(static_cast<double>(v.object->size()));
  }
  if (v.is(Kind::kBool)) {
    if (name == "bool") return v;
    if (name == "int") return Value::integer(v.boolean ? 1 : 0);
    if (name == "float") return Value::floating(v.boolean ? 1 : 0);
    if (name == "string") return Value::str(v.boolean ? "true" : "false");
    fail("unknown boolean filter: " + name);
  }
  cannot_apply(name, v);
}

}  // namespace

Value Evaluator::apply_filter(const Value& operand, const Node& filter, const ScopePtr& scope) {
  if (filter.kind == NodeKind::kCall) return call_filter(operand, filter, scope);
  if (filter.kind != NodeKind::kIdentifier) fail("a filter must be a name or a call");
  const std::string& name = filter.text;
  if (operand.is_mapping() && name != "safe" && name != "tojson" && name != "length") {
    // Object filters are the dict methods (items, keys, values, dictsort, ...) without arguments.
    const Value method = object_method(operand, name);
    if (!method.is(Kind::kFunction)) fail("unknown object filter: " + name);
    Args none;
    return (*method.function)(none, scope);
  }
  return plain_filter(operand, name);
}

Value Evaluator::call_filter(const Value& operand, const Node& filter, const ScopePtr& scope) {
  if (filter.a->kind != NodeKind::kIdentifier) fail("a filter must be a name");
  const std::string& name = filter.a->text;
  Args args = arguments(filter.list, scope, false);
  Value kwargs_value;
  const Value* kwargs = nullptr;
  if (!args.empty() && args.back().is(Kind::kKwargs)) {
    kwargs_value = args.back();
    args.pop_back();
    kwargs = &kwargs_value;
  }
  if (name == "tojson") {
    JsonStyle style;
    const Value indent = option({}, kwargs, 0, "indent", Value::null());
    if (!indent.is(Kind::kInt) && !indent.is(Kind::kNull)) fail("if set, indent must be a number");
    if (indent.is(Kind::kInt) && indent.number != 0 && !std::isnan(indent.number)) {
      if (indent.number < 0) fail("tojson indent must not be negative");
      if (indent.number > 64) throw Failure(FailureKind::kLimit, "tojson indent over 64");
      style.indent = static_cast<int>(indent.number);
    }
    const Value ascii = option({}, kwargs, 0, "ensure_ascii", Value::from_bool(false));
    if (!ascii.is(Kind::kBool)) fail("if set, ensure_ascii must be a boolean");
    style.ensure_ascii = ascii.boolean;
    const Value sort = option({}, kwargs, 0, "sort_keys", Value::from_bool(false));
    if (!sort.is(Kind::kBool)) fail("if set, sort_keys must be a boolean");
    style.sort_keys = sort.boolean;
    const Value separators = option({}, kwargs, 0, "separators", Value::null());
    if (separators.is(Kind::kArray)) {
      if (separators.array->size() != 2 || !(*separators.array)[0].is(Kind::kString) ||
          !(*separators.array)[1].is(Kind::kString)) {
        fail("separators must be a tuple of two strings");
      }
      style.has_separators = true;
      style.item_separator = (*separators.array)[0].string;
      style.key_separator = (*separators.array)[1].string;
    } else if (!separators.is(Kind::kNull)) {
      fail("if set, separators must be a tuple of two strings");
    }
    std::string out = to_json(operand, style);
    check_string(out);
    return Value::str(std::move(out));
  }
  if (name == "join") {
    const Value separator = option(args, kwargs, 0, "separator", Value::str(""));
    if (!separator.is(Kind::kString)) fail("separator must be a string");
    std::string out;
    if (operand.is(Kind::kString)) {
      const std::vector<std::string> chars = split_code_points(operand.string);
      for (std::size_t i = 0; i < chars.size(); ++i) out += (i ? separator.string : "") + chars[i];
    } else if (operand.is(Kind::kArray)) {
      out = join_values(*operand.array, separator.string);
    } else {
      cannot_apply(name, operand);
    }
    check_string(out);
    return Value::str(std::move(out));
  }
  if (name == "int" || name == "float") {
    const bool integer = name == "int";
    const Value fallback =
        option(args, kwargs, 0, "default", integer ? Value::integer(0) : Value::floating(0));
    if (operand.is(Kind::kString)) {
      double d = 0;
      if (!parse_number(operand.string, integer, d)) return fallback;
      return integer ? Value::integer(d) : Value::floating(d);
    }
    if (operand.is_number()) return operand;
    if (operand.is(Kind::kBool)) {
      return integer ? Value::integer(operand.boolean) : Value::floating(operand.boolean);
    }
    cannot_apply(name, operand);
  }
  if (name == "default") {
    const Value fallback = args.size() > 0 ? args[0] : Value::str("");
    const Value boolean = option(args, kwargs, 1, "boolean", Value::from_bool(false));
    if (!boolean.is(Kind::kBool)) fail("`default` filter flag must be a boolean");
    if (operand.is(Kind::kUndefined) || (boolean.boolean && !operand.truthy())) return fallback;
    return operand;
  }
  if (operand.is(Kind::kArray)) {
    const Array& items = *operand.array;
    if (name == "sort") {
      const Value reverse = option(args, kwargs, 0, "reverse", Value::from_bool(false));
      if (!reverse.is(Kind::kBool)) fail("reverse must be a boolean");
      const Value case_sensitive =
          option(args, kwargs, 1, "case_sensitive", Value::from_bool(false));
      if (!case_sensitive.is(Kind::kBool)) fail("case_sensitive must be a boolean");
      const Value attribute = option(args, kwargs, 2, "attribute", Value::null());
      if (!attribute.is(Kind::kString) && !attribute.is(Kind::kInt) && !attribute.is(Kind::kNull)) {
        fail("attribute must be a string, integer, or null");
      }
      const auto key = [&](const Value& item) {
        if (attribute.is(Kind::kNull)) return item;
        return attribute_path(
            item, attribute.is(Kind::kInt) ? js_number(attribute.number) : attribute.string);
      };
      Array sorted = items;
      std::stable_sort(sorted.begin(), sorted.end(), [&](const Value& x, const Value& y) {
        const int c = compare_values(key(x), key(y), case_sensitive.boolean);
        return reverse.boolean ? c > 0 : c < 0;
      });
      return Value::list(std::move(sorted));
    }
    if (name == "selectattr" || name == "rejectattr") {
      const bool select = name == "selectattr";
      for (const Value& item : items) {
        if (!item.has_attributes()) fail("`" + name + "` can only be applied to array of objects");
      }
      for (const NodePtr& arg : filter.list) {
        if (arg->kind != NodeKind::kString) fail("arguments of `" + name + "` must be strings");
      }
      if (args.empty()) fail("`" + name + "` needs an attribute name");
      const std::string test_name = args.size() > 1 ? args[1].string : "";
      if (!test_name.empty() && !has_test(test_name)) fail("unknown test: " + test_name);
      Array out;
      for (const Value& item : items) {
        const Value* a = item.object->find(args[0].string);
        bool result = false;
        if (a) {
          result = test_name.empty()
                       ? a->truthy()
                       : run_test(test_name, *a, args.size() > 2 ? &args[2] : nullptr);
        }
        if (result == select) out.push_back(item);
      }
      return Value::list(std::move(out));
    }
    if (name == "map") {
      const Value* attribute = kwargs ? kwargs->object->find("attribute") : nullptr;
      if (!attribute) fail("`map` without `attribute` is not supported");
      if (!attribute->is(Kind::kString)) fail("attribute must be a string");
      const Value* fallback = kwargs->object->find("default");
      Array out;
      for (const Value& item : items) {
        if (!item.has_attributes()) fail("items in map must be an object");
        const Value v = attribute_path(item, attribute->string);
        out.push_back(v.is(Kind::kUndefined) && fallback ? *fallback : v);
      }
      return Value::list(std::move(out));
    }
    if (name == "select" || name == "reject") return select_items(items, args, name == "select");
    fail("unknown array filter: " + name);
  }
  if (operand.is(Kind::kString)) {
    if (name == "indent") {
      const Value width = option(args, kwargs, 0, "width", Value::integer(4));
      if (!width.is(Kind::kInt)) fail("width must be a number");
      if (!(width.number >= 0 && width.number <= 1024)) {
        throw Failure(FailureKind::kLimit, "indent width outside 0..1024");
      }
      const Value first = option(args, kwargs, 1, "first", Value::from_bool(false));
      const Value blank = option(args, kwargs, 2, "blank", Value::from_bool(false));
      std::string out = indent_lines(operand.string, static_cast<std::size_t>(width.number),
                                     first.truthy(), blank.truthy());
      check_string(out);
      return Value::str(std::move(out));
    }
    if (name == "replace") {
      const Value fn = get_member(operand, Value::str("replace"));
      Args all = args;
      Value keywords = Value::dict(Kind::kKwargs);
      if (kwargs) keywords = *kwargs;
      all.push_back(keywords);
      Value out = (*fn.function)(all, scope);
      check_string(out.string);
      return out;
    }
    fail("unknown string filter: " + name);
  }
  if (operand.is_mapping()) {
    const Value method = object_method(operand, name);
    if (!method.is(Kind::kFunction)) fail("unknown object filter: " + name);
    if (kwargs) args.push_back(*kwargs);
    return (*method.function)(args, scope);
  }
  cannot_apply(name, operand);
}

}  // namespace mimo::jinja
