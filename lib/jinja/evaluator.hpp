// jinja::Evaluator: renders a parsed template against a scope, as @huggingface/jinja's
// Interpreter does. Statements are in evaluator.cpp, expressions in expressions.cpp, operators in
// operators.cpp, filters in filters.cpp, attributes / methods / tests in builtins.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jinja/ast.hpp"
#include "jinja/limits.hpp"
#include "jinja/scope.hpp"
#include "jinja/value.hpp"

namespace mimo::jinja {

using ScopePtr = std::shared_ptr<Scope>;

class Evaluator {
 public:
  explicit Evaluator(const Limits& limits) : limits_(limits) {}

  std::string render(const NodeList& program, const ScopePtr& scope);

  // Used by the filter / builtin files.
  const Limits& limits() const { return limits_; }
  void check_string(const std::string& s) const;

 private:
  // Counts one unit of work against limits().max_steps.
  void count_step(std::size_t position);
  // `allow_bare`: the value may be a bare undefined (see Value::bare); only call arguments and
  // set take one.
  Value evaluate(const Node& node, const ScopePtr& scope, bool allow_bare = false);
  Value evaluate_node(const Node& node, const ScopePtr& scope);
  std::string block(const NodeList& statements, const ScopePtr& scope);
  void set(const Node& node, const ScopePtr& scope);
  std::string for_loop(const Node& node, const ScopePtr& scope);
  void macro(const Node& node, const ScopePtr& scope);
  Value call_block(const Node& node, const ScopePtr& scope);
  Value call(const Node& node, const ScopePtr& scope);
  Value member(const Node& node, const ScopePtr& scope);
  Value slice(const Value& object, const Node& node, const ScopePtr& scope);
  Value binary(const Node& node, const ScopePtr& scope);
  Value unary(const Node& node, const ScopePtr& scope);
  Value test(const Node& node, const ScopePtr& scope);
  // Positional arguments, with keyword arguments appended as one kKwargs value when any.
  std::vector<Value> arguments(const NodeList& args, const ScopePtr& scope, bool always_kwargs);
  Value apply_filter(const Value& operand, const Node& filter, const ScopePtr& scope);
  Value call_filter(const Value& operand, const Node& filter, const ScopePtr& scope);
  Value call_function(const Value& fn, std::vector<Value>& args, const ScopePtr& scope);
  void bind_arguments(const std::string& name, const NodeList& parameters, bool takes_kwargs,
                      bool takes_varargs, std::vector<Value>& args, const ScopePtr& scope);

  const Limits& limits_;
  std::size_t steps_ = 0;
  std::size_t call_depth_ = 0;
};

// Binary operators other than and / or, on evaluated operands.
Value apply_binary(const std::string& op, const Value& left, const Value& right,
                   const Limits& limits);
// Attribute / item access: object.property or object[property].
Value get_member(const Value& object, const Value& property);
// A dict method (get, items, keys, values, dictsort) bound to `object`, or undefined.
Value object_method(const Value& object, const std::string& name);
// `is` tests; false for an unknown name is not possible: unknown names throw.
bool run_test(const std::string& name, const Value& operand, const Value* argument);
bool has_test(const std::string& name);
// Sort order for sort / dictsort; throws for values that cannot be compared.
int compare_values(const Value& a, const Value& b, bool case_sensitive);
// Globals every render sees: true / false / none (and capitalized), namespace, range,
// raise_exception, strftime_now (local time of `now`, or of the clock). Namespaces made are
// recorded in `namespaces` so that the caller can break reference cycles (a namespace holding
// itself) after the render.
void install_globals(Scope& scope, const Limits& limits,
                     std::vector<std::shared_ptr<Object>>& namespaces,
                     std::optional<std::int64_t> now);

}  // namespace mimo::jinja
