// The global functions and constants of a render (see install_globals in evaluator.hpp).
#include <fmt/format.h>

#include <cmath>
#include <ctime>

#include "jinja/evaluator.hpp"
#include "jinja/failure.hpp"

namespace mimo::jinja {

namespace {

using Args = std::vector<Value>;

// namespace(mapping or pairs, key=value...).
Value make_namespace(Args& args, std::vector<std::shared_ptr<Object>>& namespaces) {
  Value kwargs;
  if (!args.empty() && args.back().is(Kind::kKwargs)) {
    kwargs = args.back();
    args.pop_back();
  }
  if (args.size() > 1) {
    fail("namespace expected at most 1 argument, got " + std::to_string(args.size()));
  }
  Value ns = Value::dict(Kind::kNamespace);
  if (args.size() == 1) {
    const Value& source = args[0];
    if (source.is_mapping()) {
      for (const auto& [key, value] : source.object->entries()) ns.object->set(key, value);
    } else if (source.is(Kind::kArray)) {
      for (const Value& pair : *source.array) {
        if (!pair.is(Kind::kArray) || pair.array->size() != 2) {
          fail("namespace expected an object or an iterable of [key, value] pairs");
        }
        if (!(*pair.array)[0].is(Kind::kString)) fail("namespace keys must be strings");
        ns.object->set((*pair.array)[0].string, (*pair.array)[1]);
      }
    } else {
      fail(std::string("'") + type_name(source.kind) + "' object is not iterable");
    }
  }
  if (kwargs.is(Kind::kKwargs)) {
    for (const auto& [key, value] : kwargs.object->entries()) ns.object->set(key, value);
  }
  namespaces.push_back(ns.object);
  return ns;
}

// range(stop) / range(start, stop[, step]), bounded by max_array_items.
Value range(const Args& args, const Limits& limits) {
  std::vector<double> n;
  for (const Value& a : args) {
    if (a.is(Kind::kKwargs)) fail("range() takes no keyword arguments");
    if (!a.is_number())
      fail(std::string("range() arguments must be numbers, got ") + type_name(a.kind));
    n.push_back(a.number);
  }
  if (n.empty() || n.size() > 3) fail("range() takes 1 to 3 arguments");
  const double start = n.size() == 1 ? 0 : n[0];
  const double stop = n.size() == 1 ? n[0] : n[1];
  const double step = n.size() == 3 ? n[2] : 1;
  if (step == 0) fail("range() step must not be zero");
  Array items;
  for (double i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (items.size() >= limits.max_array_items) {
      throw Failure(FailureKind::kLimit,
                    "range() longer than " + std::to_string(limits.max_array_items) + " items");
    }
    const bool integral = std::floor(i) == i;
    items.push_back(integral ? Value::integer(i) : Value::floating(i));
  }
  return Value::list(std::move(items));
}

// strftime_now(format): local time; %Y %m %d %b %B %H %M %% as the reference supports.
Value strftime_now(const Args& args, std::optional<std::int64_t> fixed) {
  if (args.empty() || !args[0].is(Kind::kString)) fail("strftime_now() expects a format string");
  static const char* const kMonths[] = {"January",   "February", "March",    "April",
                                        "May",       "June",     "July",     "August",
                                        "September", "October",  "November", "December"};
  const std::time_t now = fixed ? static_cast<std::time_t>(*fixed) : std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  const auto pad2 = [](int v) { return fmt::format("{:02}", v); };
  const std::string& format = args[0].string;
  std::string out;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 >= format.size()) {
      out += format[i];
      continue;
    }
    const char c = format[i + 1];
    const std::string month = kMonths[local.tm_mon];
    switch (c) {
      case 'Y':
        out += std::to_string(local.tm_year + 1900);
        break;
      case 'm':
        out += pad2(local.tm_mon + 1);
        break;
      case 'd':
        out += pad2(local.tm_mday);
        break;
      case 'b':
        out += month.substr(0, 3);
        break;
      case 'B':
        out += month;
        break;
      case 'H':
        out += pad2(local.tm_hour);
        break;
      case 'M':
        out += pad2(local.tm_min);
        break;
      case '%':
        out += '%';
        break;
      default:
        out += format.substr(i, 2);
        break;
    }
    ++i;
  }
  return Value::str(out);
}

}  // namespace

void install_globals(Scope& scope, const Limits& limits,
                     std::vector<std::shared_ptr<Object>>& namespaces,
                     std::optional<std::int64_t> now) {
  for (const char* name : {"true", "True"}) scope.set(name, Value::from_bool(true));
  for (const char* name : {"false", "False"}) scope.set(name, Value::from_bool(false));
  for (const char* name : {"none", "None"}) scope.set(name, Value::null());
  scope.set("namespace", Value::callable([&namespaces](Args& args, const ScopePtr&) {
              return make_namespace(args, namespaces);
            }));
  scope.set("raise_exception", Value::callable([](Args& args, const ScopePtr&) -> Value {
              throw Failure(FailureKind::kRaised, args.empty() ? "" : to_display(args[0]));
            }));
  scope.set("range", Value::callable(
                         [&limits](Args& args, const ScopePtr&) { return range(args, limits); }));
  scope.set("strftime_now", Value::callable([now](Args& args, const ScopePtr&) {
              return strftime_now(args, now);
            }));
}

}  // namespace mimo::jinja
