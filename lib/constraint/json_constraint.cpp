// JsonGrammar and JsonConstraint: the public face of the JSON recognizer, and the token mask -
// a depth-first walk of the vocabulary trie that feeds each node's byte to a copy of the
// parent's recognizer and skips a whole subtree at the first refused byte.
#include "mimo/json_constraint.hpp"

#include <fmt/format.h>

#include "constraint/json_recognizer.hpp"
#include "constraint/token_trie.hpp"
#include "mimo/error.hpp"

namespace mimo {

struct JsonGrammar::Impl {
  constraint::CompiledSchema schema;
};

JsonGrammar::JsonGrammar(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

JsonGrammar JsonGrammar::object(const JsonGrammarOptions& options) {
  return JsonGrammar(std::make_shared<const Impl>(
      Impl{constraint::compile_object_mode(options.max_depth, options.max_whitespace)}));
}

JsonGrammar JsonGrammar::schema(std::string_view schema_json, const JsonGrammarOptions& options) {
  return JsonGrammar(std::make_shared<const Impl>(
      Impl{constraint::compile_schema(schema_json, options.max_depth, options.max_whitespace)}));
}

std::size_t JsonGrammar::accepted_prefix(std::string_view text) const {
  constraint::JsonRecognizer r(&impl_->schema);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!r.feed(static_cast<std::uint8_t>(text[i]))) return i;
  }
  return text.size();
}

bool JsonGrammar::accepts(std::string_view text) const {
  constraint::JsonRecognizer r(&impl_->schema);
  return r.feed(text) && r.complete();
}

namespace {

// Marks every token of `trie` whose bytes `start` accepts in full.
void walk(const constraint::TokenTrie& trie, const constraint::JsonRecognizer& start,
          std::vector<constraint::JsonRecognizer>& states, std::vector<std::uint8_t>& allowed) {
  if (trie.nodes.size() <= 1) return;
  states.resize(static_cast<std::size_t>(trie.max_depth) + 1, start);
  states[0] = start;
  const auto limit = static_cast<std::int32_t>(allowed.size());
  const auto n = static_cast<std::int32_t>(trie.nodes.size());
  for (std::int32_t i = 1; i < n;) {
    const constraint::TokenTrie::Node& node = trie.nodes[static_cast<std::size_t>(i)];
    constraint::JsonRecognizer& state = states[node.depth];
    state = states[node.depth - 1u];
    if (!state.feed(node.byte)) {
      i = node.end;
      continue;
    }
    for (std::int32_t k = node.tokens_begin; k < node.tokens_end; ++k) {
      const std::int32_t id = trie.token_ids[static_cast<std::size_t>(k)];
      if (id < limit) allowed[static_cast<std::size_t>(id)] = 1;
    }
    ++i;
  }
}

}  // namespace

struct JsonConstraint::State {
  explicit State(const constraint::CompiledSchema* schema) : recognizer(schema) {}
  constraint::JsonRecognizer recognizer;
  std::string text;
  std::vector<constraint::JsonRecognizer> walk_states;  // one per trie depth, reused
};

JsonConstraint::JsonConstraint(JsonGrammar grammar,
                               std::shared_ptr<const TokenVocabulary> vocabulary)
    : grammar_(std::move(grammar)), vocabulary_(std::move(vocabulary)) {
  if (!vocabulary_) throw Error(ErrorCode::kInvalidArgument, "JsonConstraint: no vocabulary");
  state_ = std::make_unique<State>(&grammar_.impl().schema);
}

JsonConstraint::~JsonConstraint() = default;

void JsonConstraint::allowed_tokens(std::vector<std::uint8_t>& allowed) {
  const TokenVocabulary::Impl& v = vocabulary_->impl();
  if (state_->recognizer.in_plain_string()) {
    // Every string-safe token keeps the recognizer in the same plain string state: take them
    // all, and walk only the rest.
    const std::size_t n = std::min(allowed.size(), v.string_safe.size());
    for (std::size_t id = 0; id < n; ++id) allowed[id] |= v.string_safe[id];
    walk(v.unsafe, state_->recognizer, state_->walk_states, allowed);
  } else {
    walk(v.all, state_->recognizer, state_->walk_states, allowed);
  }
}

void JsonConstraint::accept(std::int32_t token) {
  const TokenVocabulary::Impl& v = vocabulary_->impl();
  if (token < 0 || static_cast<std::size_t>(token) >= v.bytes.size() ||
      v.bytes[static_cast<std::size_t>(token)].empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("JsonConstraint::accept: token {} has no bytes in the vocabulary "
                            "(special or out of range) and cannot be part of the JSON text",
                            token));
  }
  const std::string& bytes = v.bytes[static_cast<std::size_t>(token)];
  constraint::JsonRecognizer next = state_->recognizer;
  if (!next.feed(bytes)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("JsonConstraint::accept: token {} ({:?}) does not continue the JSON "
                            "text after {} bytes",
                            token, bytes, state_->text.size()));
  }
  state_->recognizer = std::move(next);
  state_->text += bytes;
}

bool JsonConstraint::complete() const {
  return state_->recognizer.complete();
}

const std::string& JsonConstraint::text() const {
  return state_->text;
}

}  // namespace mimo
