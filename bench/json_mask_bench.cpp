// JsonConstraint token-mask time on a synthetic 150k-token vocabulary shaped like a byte-level
// BPE one (single bytes, words with and without a leading space, digits, punctuation and
// indentation runs, whole and cut CJK characters), in the states generation meets: before the
// object, inside a string value (the string-safe shortcut), at a value's start, inside a number,
// inside a schema's key (the names trie), and inside a cut UTF-8 character.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "mimo/json_constraint.hpp"

namespace {

constexpr std::size_t kVocab = 150000;

std::vector<std::string> synthetic_vocabulary() {
  std::mt19937 rng(2024);
  std::set<std::string> seen;
  std::vector<std::string> out;
  auto add = [&](std::string s) {
    if (!s.empty() && seen.insert(s).second) out.push_back(std::move(s));
  };
  for (int b = 0; b < 256; ++b) add(std::string(1, static_cast<char>(b)));  // ids = bytes
  const std::vector<std::string> punctuation = {
      "\":",      "\",", "\"}",   "{\"",    "},",   "}\n",   "\n",   "\n\n", "  ", "    ",
      "        ", "\t",  "\":\"", "\", \"", "[\"",  "\"]",   "],",   "();",  "):", "->",
      "==",       "//",  "/*",    "\\n",    "\\\"", "\\u",   "': '", ", ",   ". ", "...",
      "!=",       "+=",  "true",  "false",  "null", " true", " null"};
  for (const auto& p : punctuation) add(p);
  const std::string cjk_leads = "\xe4\xe5\xe6\xe7\xe8\xe9";
  while (out.size() < kVocab) {
    const int kind = static_cast<int>(rng() % 100);
    std::string s;
    if (kind < 55) {  // " word"
      s = " ";
      for (int i = 0, n = 2 + static_cast<int>(rng() % 9); i < n; ++i) s += char('a' + rng() % 26);
    } else if (kind < 75) {  // "Word" / "word"
      s += char((rng() % 2 ? 'A' : 'a') + rng() % 26);
      for (int i = 0, n = 1 + static_cast<int>(rng() % 8); i < n; ++i) s += char('a' + rng() % 26);
    } else if (kind < 80) {  // digits
      for (int i = 0, n = 1 + static_cast<int>(rng() % 3); i < n; ++i) s += char('0' + rng() % 10);
    } else if (kind < 85) {  // punctuation runs
      for (int i = 0, n = 1 + static_cast<int>(rng() % 3); i < n; ++i) {
        s += punctuation[rng() % punctuation.size()];
      }
    } else if (kind < 95) {  // whole CJK characters
      for (int i = 0, n = 1 + static_cast<int>(rng() % 3); i < n; ++i) {
        s += cjk_leads[rng() % cjk_leads.size()];
        s += char(0x80 + rng() % 64);
        s += char(0x80 + rng() % 64);
      }
    } else {  // a cut character: lead byte (+ one continuation)
      s += cjk_leads[rng() % cjk_leads.size()];
      if (rng() % 2) s += char(0x80 + rng() % 64);
    }
    add(std::move(s));
  }
  return out;
}

const std::shared_ptr<const mimo::TokenVocabulary>& vocabulary() {
  static const auto v = mimo::TokenVocabulary::from_bytes(synthetic_vocabulary());
  return v;
}

// Masks after `prefix` (fed one byte token at a time: ids 0-255 are the bytes).
void mask_after(benchmark::State& state, const mimo::JsonGrammar& grammar,
                const std::string& prefix) {
  mimo::JsonConstraint constraint(grammar, vocabulary());
  for (char c : prefix) constraint.accept(static_cast<unsigned char>(c));
  std::vector<std::uint8_t> allowed(kVocab);
  std::size_t count = 0;
  for (auto _ : state) {
    std::fill(allowed.begin(), allowed.end(), 0);
    constraint.allowed_tokens(allowed);
    benchmark::DoNotOptimize(allowed.data());
  }
  for (std::uint8_t a : allowed) count += a;
  state.counters["allowed"] = static_cast<double>(count);
}

const mimo::JsonGrammar& object_grammar() {
  static const mimo::JsonGrammar g = mimo::JsonGrammar::object();
  return g;
}

void BM_JsonMaskStart(benchmark::State& s) {
  mask_after(s, object_grammar(), "");
}
void BM_JsonMaskInString(benchmark::State& s) {
  mask_after(s, object_grammar(), "{\"text\": \"some words");
}
void BM_JsonMaskValueStart(benchmark::State& s) {
  mask_after(s, object_grammar(), "{\"a\":");
}
void BM_JsonMaskInNumber(benchmark::State& s) {
  mask_after(s, object_grammar(), "{\"a\": 12");
}
void BM_JsonMaskInCutCharacter(benchmark::State& s) {
  mask_after(s, object_grammar(), "{\"a\": \"x\xe4");
}
void BM_JsonMaskSchemaKey(benchmark::State& s) {
  static const mimo::JsonGrammar g = mimo::JsonGrammar::schema(
      R"({"type": "object", "properties": {"name": {"type": "string"},
          "number": {"type": "integer"}, "notes": {"type": "string"}},
          "additionalProperties": false})");
  mask_after(s, g, "{\"n");
}

BENCHMARK(BM_JsonMaskStart)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JsonMaskInString)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JsonMaskValueStart)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JsonMaskInNumber)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JsonMaskInCutCharacter)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JsonMaskSchemaKey)->Unit(benchmark::kMicrosecond);

}  // namespace
