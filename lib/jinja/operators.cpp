// Binary operators with @huggingface/jinja's rules: numbers stay integers unless a float is
// involved, + concatenates strings (and arrays), `in` works on arrays, strings and objects,
// == is JS loose equality, and anything else between mismatched types is an error.
#include <cmath>

#include "jinja/evaluator.hpp"
#include "jinja/failure.hpp"
#include "jinja/js_text.hpp"

namespace mimo::jinja {

namespace {

bool numeric_like(const Value& v) {
  return v.is_number() || v.is(Kind::kBool);
}
double numeric(const Value& v) {
  return v.is(Kind::kBool) ? (v.boolean ? 1 : 0) : v.number;
}

}  // namespace

Value apply_binary(const std::string& op, const Value& left, const Value& right,
                   const Limits& limits) {
  if (op == "==") return Value::from_bool(loosely_equal(left, right));
  if (op == "!=") return Value::from_bool(!loosely_equal(left, right));
  const bool membership = op == "in" || op == "not in";
  if (left.is(Kind::kUndefined) || right.is(Kind::kUndefined)) {
    if (right.is(Kind::kUndefined) && membership) return Value::from_bool(op == "not in");
    fail("cannot perform operation " + op + " on undefined values");
  }
  if (left.is(Kind::kNull) || right.is(Kind::kNull))
    fail("cannot perform operation on null values");
  const auto checked = [&](std::string s) {
    if (s.size() > limits.max_string_bytes) {
      throw Failure(FailureKind::kLimit, "a string grew past the size limit");
    }
    return Value::str(std::move(s));
  };
  if (op == "~") return checked(to_js_string(left) + to_js_string(right));
  if (op == "**" && numeric_like(left) && numeric_like(right)) {
    const double a = numeric(left), b = numeric(right);
    if (a == 0 && b < 0) fail("0.0 cannot be raised to a negative power");
    const double result = std::pow(a, b);
    if (!std::isfinite(result)) fail("exponentiation result is not a finite real number");
    const bool is_float = left.is(Kind::kFloat) || right.is(Kind::kFloat) || b < 0;
    return is_float ? Value::floating(result) : Value::integer(result);
  }
  if (left.is_number() && right.is_number()) {
    const double a = left.number, b = right.number;
    const bool is_float = left.is(Kind::kFloat) || right.is(Kind::kFloat);
    const auto number = [&](double x) { return is_float ? Value::floating(x) : Value::integer(x); };
    if (op == "+") return number(a + b);
    if (op == "-") return number(a - b);
    if (op == "*") return number(a * b);
    if (op == "/") return Value::floating(a / b);
    if (op == "//") return number(std::floor(a / b));
    if (op == "%") return number(std::fmod(a, b));
    if (op == "<") return Value::from_bool(a < b);
    if (op == ">") return Value::from_bool(a > b);
    if (op == ">=") return Value::from_bool(a >= b);
    if (op == "<=") return Value::from_bool(a <= b);
  } else if (left.is(Kind::kArray) && right.is(Kind::kArray)) {
    if (op == "+") {
      if (left.array->size() + right.array->size() > limits.max_array_items) {
        throw Failure(FailureKind::kLimit, "an array grew past the size limit");
      }
      Array joined = *left.array;
      joined.insert(joined.end(), right.array->begin(), right.array->end());
      return Value::list(std::move(joined));
    }
  } else if (right.is(Kind::kArray)) {
    bool member = false;
    for (const Value& item : *right.array) member = member || strictly_equal(item, left);
    if (op == "in") return Value::from_bool(member);
    if (op == "not in") return Value::from_bool(!member);
  }
  if ((left.is(Kind::kString) || right.is(Kind::kString)) && op == "+") {
    return checked(to_js_string(left) + to_js_string(right));
  }
  if (left.is(Kind::kString) && right.is(Kind::kString) && membership) {
    const bool found = right.string.find(left.string) != std::string::npos;
    return Value::from_bool(found == (op == "in"));
  }
  if (left.is(Kind::kString) && right.is_mapping() && membership) {
    const bool found = right.object->find(left.string) != nullptr;
    return Value::from_bool(found == (op == "in"));
  }
  fail("unknown operator \"" + op + "\" between " + type_name(left.kind) + " and " +
       type_name(right.kind));
}

}  // namespace mimo::jinja
