// Expressions of the template evaluator that take more than a line: calls and their
// arguments, attribute / item access, slices, operators and tests (see evaluator.hpp).
#include <algorithm>
#include <cmath>

#include "jinja/evaluator.hpp"
#include "jinja/failure.hpp"
#include "jinja/js_text.hpp"

namespace mimo::jinja {

std::vector<Value> Evaluator::arguments(const NodeList& args, const ScopePtr& scope,
                                        bool always_kwargs) {
  std::vector<Value> positional;
  Value keywords = Value::dict(Kind::kKwargs);
  for (const NodePtr& arg : args) {
    if (arg->kind == NodeKind::kSpread) {
      const Value v = evaluate(*arg->a, scope);
      if (!v.is(Kind::kArray)) fail(std::string("cannot unpack non-iterable ") + type_name(v.kind));
      positional.insert(positional.end(), v.array->begin(), v.array->end());
    } else if (arg->kind != NodeKind::kKeywordArgument && arg->kind != NodeKind::kKeywordSpread) {
      positional.push_back(evaluate(*arg, scope, true));
    }
  }
  const auto add = [&](const std::string& key, Value value) {
    if (keywords.object->find(key)) fail("got multiple values for keyword argument '" + key + "'");
    keywords.object->set(key, std::move(value));
  };
  for (const NodePtr& arg : args) {
    if (arg->kind == NodeKind::kKeywordArgument) {
      add(arg->text, evaluate(*arg->a, scope));
    } else if (arg->kind == NodeKind::kKeywordSpread) {
      const Value v = evaluate(*arg->a, scope);
      if (!v.is(Kind::kObject)) {
        fail(std::string("argument after ** must be a mapping, not ") + type_name(v.kind));
      }
      for (const auto& [key, value] : v.object->entries()) add(key, value);
    }
  }
  if (always_kwargs || keywords.object->size() > 0) positional.push_back(keywords);
  return positional;
}

Value Evaluator::call_function(const Value& fn, std::vector<Value>& args, const ScopePtr& scope) {
  if (!fn.is(Kind::kFunction)) {
    fail(std::string("cannot call something that is not a function: got ") + type_name(fn.kind));
  }
  if (++call_depth_ > limits_.max_call_depth) {
    --call_depth_;
    throw Failure(FailureKind::kLimit, "macro calls nested more than " +
                                           std::to_string(limits_.max_call_depth) + " deep");
  }
  struct Leave {
    std::size_t& depth;
    ~Leave() { --depth; }
  } leave{call_depth_};
  return (*fn.function)(args, scope);
}

Value Evaluator::call(const Node& node, const ScopePtr& scope) {
  std::vector<Value> args = arguments(node.list, scope, false);
  const Value fn = evaluate(*node.a, scope);
  return call_function(fn, args, scope);
}

Value Evaluator::member(const Node& node, const ScopePtr& scope) {
  const Value object = evaluate(*node.a, scope);
  Value property;
  if (node.computed) {
    if (node.b->kind == NodeKind::kSlice) return slice(object, *node.b, scope);
    property = evaluate(*node.b, scope);
  } else if (node.b->kind == NodeKind::kInteger) {
    property = Value::integer(node.b->number);
  } else {
    property = Value::str(node.b->text);
  }
  return get_member(object, property);
}

Value Evaluator::slice(const Value& object, const Node& node, const ScopePtr& scope) {
  if (!object.is(Kind::kArray) && !object.is(Kind::kString)) {
    fail("slice object must be an array or string");
  }
  double bounds[3] = {0, 0, 1};
  bool given[3] = {false, false, false};
  const NodePtr* parts[3] = {&node.a, &node.b, &node.c};
  for (int i = 0; i < 3; ++i) {
    if (!*parts[i]) continue;
    const Value v = evaluate(**parts[i], scope);
    if (v.is(Kind::kUndefined)) continue;
    if (!v.is(Kind::kInt)) fail("slice indices must be integers or undefined");
    bounds[i] = v.number;
    given[i] = true;
  }
  std::vector<std::string> chars;
  const std::size_t size = object.is(Kind::kArray)
                               ? object.array->size()
                               : (chars = split_code_points(object.string)).size();
  const double length = static_cast<double>(size);
  const double step = given[2] ? bounds[2] : 1;
  double start, stop;
  // utils.ts slice(): Python semantics for negative indices and steps.
  if (step >= 0) {
    start = !given[0]       ? 0
            : bounds[0] < 0 ? std::max(length + bounds[0], 0.0)
                            : std::min(bounds[0], length);
    stop = !given[1]       ? length
           : bounds[1] < 0 ? std::max(length + bounds[1], 0.0)
                           : std::min(bounds[1], length);
  } else {
    start = !given[0]       ? length - 1
            : bounds[0] < 0 ? std::max(length + bounds[0], -1.0)
                            : std::min(bounds[0], length - 1);
    stop = !given[1]        ? -1
           : bounds[1] < -1 ? std::max(length + bounds[1], -1.0)
                            : std::min(bounds[1], length - 1);
  }
  if (step == 0) return object.is(Kind::kArray) ? Value::list() : Value::str("");
  const double direction = step > 0 ? 1 : -1;
  Array items;
  std::string text;
  for (double i = start; direction * i < direction * stop; i += step) {
    const auto at = static_cast<std::size_t>(i);
    if (object.is(Kind::kArray)) {
      items.push_back((*object.array)[at]);
    } else {
      text += chars[at];
    }
  }
  return object.is(Kind::kArray) ? Value::list(std::move(items)) : Value::str(std::move(text));
}

Value Evaluator::binary(const Node& node, const ScopePtr& scope) {
  const Value left = evaluate(*node.a, scope);
  if (node.text == "and") return left.truthy() ? evaluate(*node.b, scope) : left;
  if (node.text == "or") return left.truthy() ? left : evaluate(*node.b, scope);
  const Value right = evaluate(*node.b, scope);
  return apply_binary(node.text, left, right, limits_);
}

Value Evaluator::unary(const Node& node, const ScopePtr& scope) {
  const Value v = evaluate(*node.a, scope);
  if (node.text == "not") return Value::from_bool(!v.truthy());
  const double sign = node.text == "-" ? -1 : 1;
  if (v.is_number() || v.is(Kind::kBool)) {
    const double x = v.is(Kind::kBool) ? (v.boolean ? 1 : 0) : v.number;
    return v.is(Kind::kFloat) ? Value::floating(sign * x) : Value::integer(sign * x);
  }
  fail("unknown operator \"" + node.text + "\" for " + type_name(v.kind));
}

Value Evaluator::test(const Node& node, const ScopePtr& scope) {
  const Value operand = evaluate(*node.a, scope);
  const bool result = run_test(node.text, operand, nullptr);
  return Value::from_bool(node.negate ? !result : result);
}

}  // namespace mimo::jinja
