// jinja::Scope: a variable frame chained to its parent (a for loop, macro call or caller block
// opens one; if / set do not), as @huggingface/jinja's Environment.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "jinja/value.hpp"

namespace mimo::jinja {

class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent = nullptr) : parent_(std::move(parent)) {}

  // Undefined when no frame up the chain has the name.
  Value lookup(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent_.get()) {
      const auto it = s->variables_.find(name);
      if (it != s->variables_.end()) return it->second;
    }
    return Value::undefined();
  }
  void set(const std::string& name, Value value) { variables_[name] = std::move(value); }

 private:
  std::shared_ptr<Scope> parent_;
  std::unordered_map<std::string, Value> variables_;
};

}  // namespace mimo::jinja
