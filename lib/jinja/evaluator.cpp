// Statements and expressions of the template evaluator (see evaluator.hpp).
#include "jinja/evaluator.hpp"

#include <cmath>

#include "jinja/failure.hpp"
#include "jinja/js_text.hpp"

namespace mimo::jinja {

namespace {

// {% break %} / {% continue %} unwind to the enclosing loop.
struct BreakSignal {};
struct ContinueSignal {};

// Whether `name` is read anywhere under the nodes (macros bind kwargs / varargs only then).
bool mentions(const Node* node, const std::string& name) {
  if (!node) return false;
  if (node->kind == NodeKind::kIdentifier && node->text == name) return true;
  for (const NodePtr* child : {&node->a, &node->b, &node->c}) {
    if (mentions(child->get(), name)) return true;
  }
  for (const NodeList* list : {&node->list, &node->list2, &node->body, &node->alternate}) {
    for (const NodePtr& child : *list) {
      if (mentions(child.get(), name)) return true;
    }
  }
  return false;
}

bool body_mentions(const NodeList& parameters, const NodeList& body, const std::string& name) {
  for (const NodePtr& p : parameters) {
    if (p->text == name) return false;  // a declared parameter of that name
    if (p->kind == NodeKind::kKeywordArgument && mentions(p->a.get(), name)) return true;
  }
  for (const NodePtr& n : body) {
    if (mentions(n.get(), name)) return true;
  }
  return false;
}

}  // namespace

void Evaluator::check_string(const std::string& s) const {
  if (s.size() > limits_.max_string_bytes) {
    throw Failure(FailureKind::kLimit,
                  "a string grew past " + std::to_string(limits_.max_string_bytes) + " bytes");
  }
}

std::string Evaluator::render(const NodeList& program, const ScopePtr& scope) {
  try {
    return block(program, scope);
  } catch (const BreakSignal&) {
    fail("{% break %} outside of a loop");
  } catch (const ContinueSignal&) {
    fail("{% continue %} outside of a loop");
  }
}

std::string Evaluator::block(const NodeList& statements, const ScopePtr& scope) {
  std::string out;
  for (const NodePtr& statement : statements) {
    const Value v = evaluate(*statement, scope);
    if (v.kind == Kind::kNull || v.kind == Kind::kUndefined) continue;
    if (v.kind == Kind::kString) {
      out += v.string;
    } else {
      out += to_display(v);
    }
    check_string(out);
  }
  return out;
}

void Evaluator::count_step(std::size_t position) {
  if (++steps_ > limits_.max_steps) {
    throw Failure(FailureKind::kLimit,
                  "rendering took more than " + std::to_string(limits_.max_steps) + " steps",
                  position);
  }
}

Value Evaluator::evaluate(const Node& node, const ScopePtr& scope) {
  count_step(node.position);
  try {
    Value v = evaluate_node(node, scope);
    // Values made by calls, filters and operators cost steps by size, so that loops building
    // big strings or ranges end on the step bound rather than after hours.
    if (node.kind == NodeKind::kCall || node.kind == NodeKind::kFilter ||
        node.kind == NodeKind::kBinary || node.kind == NodeKind::kMember) {
      steps_ += v.kind == Kind::kString  ? v.string.size() / 256
                : v.kind == Kind::kArray ? v.array->size()
                                         : 0;
    }
    return v;
  } catch (Failure& failure) {
    if (failure.position == Failure::kNoPosition) failure.position = node.position;
    throw;
  }
}

Value Evaluator::evaluate_node(const Node& node, const ScopePtr& scope) {
  switch (node.kind) {
    case NodeKind::kText:
    case NodeKind::kString:
      return Value::str(node.text);
    case NodeKind::kComment:
      return Value::null();
    case NodeKind::kSet:
      set(node, scope);
      return Value::null();
    case NodeKind::kIf:
      return Value::str(
          block(evaluate(*node.a, scope).truthy() ? node.body : node.alternate, scope));
    case NodeKind::kFor:
      return Value::str(for_loop(node, scope));
    case NodeKind::kMacro:
      macro(node, scope);
      return Value::null();
    case NodeKind::kCallBlock:
      return call_block(node, scope);
    case NodeKind::kFilterBlock:
      return apply_filter(Value::str(block(node.body, scope)), *node.a, scope);
    case NodeKind::kBreak:
      throw BreakSignal{};
    case NodeKind::kContinue:
      throw ContinueSignal{};
    case NodeKind::kInteger:
      return Value::integer(node.number);
    case NodeKind::kFloat:
      return Value::floating(node.number);
    case NodeKind::kArray:
    case NodeKind::kTuple: {
      Array items;
      for (const NodePtr& item : node.list) items.push_back(evaluate(*item, scope));
      return Value::list(std::move(items));
    }
    case NodeKind::kDict: {
      Value out = Value::dict();
      for (std::size_t i = 0; i < node.list.size(); ++i) {
        const Value key = evaluate(*node.list[i], scope);
        if (!key.is(Kind::kString)) {
          fail(std::string("object keys must be strings: got ") + type_name(key.kind));
        }
        out.object->set(key.string, evaluate(*node.list2[i], scope));
      }
      return out;
    }
    case NodeKind::kIdentifier:
      return scope->lookup(node.text);
    case NodeKind::kCall:
      return call(node, scope);
    case NodeKind::kMember:
      return member(node, scope);
    case NodeKind::kUnary:
      return unary(node, scope);
    case NodeKind::kBinary:
      return binary(node, scope);
    case NodeKind::kFilter:
      return apply_filter(evaluate(*node.a, scope), *node.b, scope);
    case NodeKind::kTest:
      return test(node, scope);
    case NodeKind::kSelect:
      return evaluate(*node.b, scope).truthy() ? evaluate(*node.a, scope) : Value::undefined();
    case NodeKind::kTernary:
      return evaluate(*node.a, scope).truthy() ? evaluate(*node.b, scope)
                                               : evaluate(*node.c, scope);
    case NodeKind::kSlice:
    case NodeKind::kKeywordArgument:
    case NodeKind::kSpread:
    case NodeKind::kKeywordSpread:
      fail("this expression is only allowed in an argument list");
  }
  fail("unknown node");
}

void Evaluator::set(const Node& node, const ScopePtr& scope) {
  const Value rhs = node.b ? evaluate(*node.b, scope) : Value::str(block(node.body, scope));
  const Node& target = *node.a;
  if (target.kind == NodeKind::kIdentifier) {
    scope->set(target.text, rhs);
  } else if (target.kind == NodeKind::kTuple) {
    if (!rhs.is(Kind::kArray)) {
      fail(std::string("cannot unpack non-iterable type in set: ") + type_name(rhs.kind));
    }
    if (rhs.array->size() != target.list.size()) {
      fail(std::string("too ") + (target.list.size() > rhs.array->size() ? "few" : "many") +
           " items to unpack in set");
    }
    for (std::size_t i = 0; i < target.list.size(); ++i) {
      if (target.list[i]->kind != NodeKind::kIdentifier) fail("cannot unpack to a non-identifier");
      scope->set(target.list[i]->text, (*rhs.array)[i]);
    }
  } else if (target.kind == NodeKind::kMember) {
    const Value object = evaluate(*target.a, scope);
    if (!object.is(Kind::kNamespace)) fail("cannot assign an attribute of a non-namespace object");
    if (target.b->kind != NodeKind::kIdentifier || target.computed) {
      fail("cannot assign to a member with a non-identifier property");
    }
    object.object->set(target.b->text, rhs);
  } else {
    fail("invalid target of set");
  }
}

std::string Evaluator::for_loop(const Node& node, const ScopePtr& outer) {
  auto scope = std::make_shared<Scope>(outer);
  const Node* filter = nullptr;
  Value iterable;
  if (node.b->kind == NodeKind::kSelect) {  // for x in xs if cond
    iterable = evaluate(*node.b->a, scope);
    filter = node.b->b.get();
  } else {
    iterable = evaluate(*node.b, scope);
  }
  if (iterable.is_mapping()) {
    Array keys;
    for (const auto& entry : iterable.object->entries()) keys.push_back(Value::str(entry.first));
    iterable = Value::list(std::move(keys));
  } else if (!iterable.is(Kind::kArray)) {
    fail(std::string("expected an array or object in the for loop: got ") +
         type_name(iterable.kind));
  }
  const Node& target = *node.a;
  const auto bind = [&](Scope& s, const Value& item) {
    if (target.kind == NodeKind::kIdentifier) {
      s.set(target.text, item);
      return;
    }
    if (!item.is(Kind::kArray)) fail(std::string("cannot unpack ") + type_name(item.kind));
    if (item.array->size() != target.list.size()) {
      fail(std::string("too ") + (target.list.size() > item.array->size() ? "few" : "many") +
           " items to unpack");
    }
    for (std::size_t j = 0; j < target.list.size(); ++j) {
      if (target.list[j]->kind != NodeKind::kIdentifier) fail("cannot unpack to a non-identifier");
      s.set(target.list[j]->text, (*item.array)[j]);
    }
  };
  Array items;
  for (const Value& item : *iterable.array) {
    count_step(node.position);  // an empty loop body still costs a step per item
    if (filter) {
      auto probe = std::make_shared<Scope>(scope);
      bind(*probe, item);
      if (!evaluate(*filter, probe).truthy()) continue;
    }
    items.push_back(item);
  }
  std::string out;
  bool no_iteration = true;
  const double n = static_cast<double>(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    Value loop = Value::dict();
    const double k = static_cast<double>(i);
    loop.object->set("index", Value::integer(k + 1));
    loop.object->set("index0", Value::integer(k));
    loop.object->set("revindex", Value::integer(n - k));
    loop.object->set("revindex0", Value::integer(n - k - 1));
    loop.object->set("first", Value::from_bool(i == 0));
    loop.object->set("last", Value::from_bool(i + 1 == items.size()));
    loop.object->set("length", Value::integer(n));
    loop.object->set("previtem", i > 0 ? items[i - 1] : Value::undefined());
    loop.object->set("nextitem", i + 1 < items.size() ? items[i + 1] : Value::undefined());
    scope->set("loop", loop);
    bind(*scope, items[i]);
    try {
      out += block(node.body, scope);
      check_string(out);
    } catch (const ContinueSignal&) {
      continue;
    } catch (const BreakSignal&) {
      break;
    }
    no_iteration = false;
  }
  if (no_iteration) out += block(node.alternate, scope);
  return out;
}

void Evaluator::bind_arguments(const std::string& name, const NodeList& parameters,
                               bool takes_kwargs, bool takes_varargs, std::vector<Value>& args,
                               const ScopePtr& scope) {
  std::shared_ptr<Object> keywords = std::make_shared<Object>();
  if (!args.empty() && args.back().is(Kind::kKwargs)) {
    for (const auto& [key, value] : args.back().object->entries()) keywords->set(key, value);
    args.pop_back();
  }
  std::vector<const Node*> pending_defaults;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const Node& p = *parameters[i];
    Value value;
    bool given = i < args.size();
    if (given) {
      value = args[i];
    } else if (const Value* v = keywords->find(p.text)) {
      value = *v;
      keywords->erase(p.text);
      given = true;
    }
    if (!given && p.kind == NodeKind::kKeywordArgument) pending_defaults.push_back(&p);
    scope->set(p.text, value);
  }
  if (takes_kwargs) {
    Value kwargs = Value::dict();
    kwargs.object = keywords;
    scope->set("kwargs", kwargs);
  } else if (keywords->size() > 0) {
    fail("macro " + name + " takes no keyword argument '" + keywords->entries()[0].first + "'");
  }
  if (takes_varargs) {
    Array rest;
    for (std::size_t i = parameters.size(); i < args.size(); ++i) rest.push_back(args[i]);
    scope->set("varargs", Value::list(std::move(rest)));
  } else if (args.size() > parameters.size()) {
    fail("macro " + name + " takes not more than " + std::to_string(parameters.size()) +
         " argument(s)");
  }
  for (const Node* p : pending_defaults) scope->set(p->text, evaluate(*p->a, scope));
}

void Evaluator::macro(const Node& node, const ScopePtr& scope) {
  const bool kwargs = body_mentions(node.list, node.body, "kwargs");
  const bool varargs = body_mentions(node.list, node.body, "varargs");
  // Macros see the caller's variables (the reference resolves names at the call site).
  scope->set(node.text, Value::callable([this, &node, kwargs, varargs](std::vector<Value>& args,
                                                                       const ScopePtr& caller) {
               auto frame = std::make_shared<Scope>(caller);
               bind_arguments("'" + node.text + "'", node.list, kwargs, varargs, args, frame);
               return Value::str(block(node.body, frame));
             }));
}

Value Evaluator::call_block(const Node& node, const ScopePtr& scope) {
  const bool kwargs = body_mentions(node.list, node.body, "kwargs");
  const bool varargs = body_mentions(node.list, node.body, "varargs");
  // A weak reference: a namespace holding caller() must not keep its own scope alive.
  std::weak_ptr<Scope> home = scope;
  Value caller = Value::callable(
      [this, &node, kwargs, varargs, home](std::vector<Value>& args, const ScopePtr&) {
        const ScopePtr parent = home.lock();
        if (!parent) fail("caller() used after its call block ended");
        auto frame = std::make_shared<Scope>(parent);
        bind_arguments("None", node.list, kwargs, varargs, args, frame);
        return Value::str(block(node.body, frame));
      });
  std::vector<Value> args = arguments(node.a->list, scope, true);
  const Value fn = evaluate(*node.a->a, scope);
  auto frame = std::make_shared<Scope>(scope);
  frame->set("caller", caller);
  return call_function(fn, args, frame);
}

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
      positional.push_back(evaluate(*arg, scope));
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
