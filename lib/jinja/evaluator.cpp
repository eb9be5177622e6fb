// Statements of the template evaluator, and the dispatch over node kinds (see evaluator.hpp).
#include "jinja/evaluator.hpp"

#include "jinja/failure.hpp"

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

Value Evaluator::evaluate(const Node& node, const ScopePtr& scope, bool allow_bare) {
  count_step(node.position);
  try {
    Value v = evaluate_node(node, scope);
    if (v.bare && !allow_bare) fail("used the first / last item of an empty list");
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
      for (const NodePtr& item : node.list) items.push_back(evaluate(*item, scope, true));
      Value list = Value::list(std::move(items));
      list.tuple = node.kind == NodeKind::kTuple;
      return list;
    }
    case NodeKind::kDict: {
      Value out = Value::dict();
      for (std::size_t i = 0; i < node.list.size(); ++i) {
        const Value key = evaluate(*node.list[i], scope);
        if (!key.is(Kind::kString)) {
          fail(std::string("object keys must be strings: got ") + type_name(key.kind));
        }
        out.object->set(key.string, evaluate(*node.list2[i], scope, true));
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
  Value rhs = node.b ? evaluate(*node.b, scope, true) : Value::str(block(node.body, scope));
  rhs.bare = false;
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
    // The reference unpacks lists only, not tuples.
    if (!item.is(Kind::kArray) || item.tuple) {
      fail(std::string("cannot unpack ") + (item.tuple ? "TupleValue" : type_name(item.kind)));
    }
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
  std::shared_ptr<Object> keywords = new_object();
  if (!args.empty() && args.back().is(Kind::kKwargs)) {
    for (const auto& [key, value] : args.back().object->entries()) keywords->set(key, value);
    args.pop_back();
  }
  std::vector<const Node*> pending_defaults;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const Node& p = *parameters[i];
    Value value;
    bool given = i < args.size() && !args[i].bare;
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

}  // namespace mimo::jinja
