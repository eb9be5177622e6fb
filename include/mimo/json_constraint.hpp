// JSON constrained decoding: mimo::JsonGrammar (json_object mode, or a JSON Schema subset),
// mimo::TokenVocabulary (a tokenizer's token bytes as a trie, built once and shared) and
// mimo::JsonConstraint, the TokenConstraint that keeps Session::generate's output a document of
// the grammar. docs/sampling.md, "Constrained decoding", lists the grammar and the subset.
//
//   auto vocab = mimo::TokenVocabulary::from_tokenizer(tokenizer);   // once per tokenizer
//   mimo::GenerateOptions options;
//   options.constraint = std::make_shared<mimo::JsonConstraint>(mimo::JsonGrammar::object(),
//   vocab); session->generate(prompt, sampler, options);   // the text parses as one JSON object
//
// Thread safety: JsonGrammar and TokenVocabulary are immutable and may be shared by any number
// of threads; a JsonConstraint holds one output's state (one generate() at a time).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mimo/export.hpp"
#include "mimo/token_constraint.hpp"
#include "mimo/tokenizer.hpp"

namespace mimo {

struct JsonGrammarOptions {
  // Objects and arrays open at once (1 to 4096); a schema may nest at most this deep.
  int max_depth = 64;
  // Consecutive whitespace bytes allowed between tokens (0 to 4096), so a model cannot pad forever;
  // enough for a newline and a few levels of indentation.
  int max_whitespace = 16;
};

// What a JSON document must look like. RFC 8259 syntax always: strings are valid UTF-8 with
// paired \u surrogates, no raw control bytes; numbers as the RFC, below 10^308 (a double holds
// them); nothing after the top-level value (not even whitespace).
class MIMO_API JsonGrammar {
 public:
  // OpenAI's json_object: the top-level value is an object; anything inside.
  static JsonGrammar object(const JsonGrammarOptions& options = {});
  // OpenAI's json_schema: `schema_json` (a JSON Schema, the subset of docs/sampling.md: type,
  // properties, required, additionalProperties true / false, items, enum, const; annotations
  // such as title and description are ignored). Throws Error(kInvalidArgument) for malformed
  // JSON and for anything outside the subset, naming the schema path ("JSON schema at
  // #/properties/name: unsupported keyword 'minLength' ...").
  static JsonGrammar schema(std::string_view schema_json, const JsonGrammarOptions& options = {});

  // The length of the longest prefix of `text` the grammar accepts (text.size() when all of
  // it is a valid prefix), and whether all of `text` is a complete document.
  std::size_t accepted_prefix(std::string_view text) const;
  bool accepts(std::string_view text) const;

  struct Impl;  // internal to libmimo
  const Impl& impl() const { return *impl_; }

 private:
  explicit JsonGrammar(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// Each token's bytes arranged as a trie, with the tokens that can sit inside a JSON string
// whatever comes before them marked: what the masks are computed from.
class MIMO_API TokenVocabulary {
 public:
  // bytes[id]: what token `id` decodes to; empty = never allowed (special tokens).
  static std::shared_ptr<const TokenVocabulary> from_bytes(const std::vector<std::string>& bytes);
  // The tokenizer's token_bytes() of every id; special tokens are left out (never allowed: the
  // session allows the stop tokens itself once the document is complete).
  static std::shared_ptr<const TokenVocabulary> from_tokenizer(const Tokenizer& tokenizer);
  ~TokenVocabulary();

  std::size_t size() const;  // ids covered: bytes.size() / the tokenizer's vocab_size()

  struct Impl;  // internal to libmimo
  const Impl& impl() const { return *impl_; }
  explicit TokenVocabulary(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

class MIMO_API JsonConstraint : public TokenConstraint {
 public:
  JsonConstraint(JsonGrammar grammar, std::shared_ptr<const TokenVocabulary> vocabulary);
  ~JsonConstraint() override;

  // Tokens whose every byte the grammar accepts after the output so far (ids at or past the
  // vocabulary's size() are never allowed).
  void allowed_tokens(std::vector<std::uint8_t>& allowed) override;
  // Throws Error(kInvalidArgument) for a token the grammar refuses there (the state is kept).
  void accept(std::int32_t token) override;
  bool complete() const override;

  const std::string& text() const;  // the bytes accepted so far

 private:
  struct State;
  JsonGrammar grammar_;
  std::shared_ptr<const TokenVocabulary> vocabulary_;
  std::unique_ptr<State> state_;
};

}  // namespace mimo
