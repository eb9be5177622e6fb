// Session::generate under a JsonConstraint on the demo model (a small Python model with its own
// tokenizer): greedy and sampled answers, plain and speculative, parse as JSON objects, and a
// schema's answers validate against it.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mimo/json_constraint.hpp"
#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"
#include "mimo/tokenizer.hpp"
#include "support/catch.hpp"

namespace {

const std::string kDemo = std::string(MIMO_SOURCE_DIR) + "/models/demo/mixed";
const std::string kDrafter = std::string(MIMO_SOURCE_DIR) + "/models/demo/drafter";

struct Demo {
  std::shared_ptr<const mimo::Model> model;
  mimo::Tokenizer tokenizer;
  std::shared_ptr<const mimo::TokenVocabulary> vocabulary;
};

const Demo& demo() {
  static const Demo d = [] {
    mimo::ModelOptions options;
    options.device = mimo::Device::kCpu;
    options.max_context = 1024;
    options.num_threads = 2;
    auto model = mimo::Model::load(kDemo, options);
    mimo::Tokenizer tokenizer = mimo::Tokenizer::from_model_dir(kDemo);
    auto vocabulary = mimo::TokenVocabulary::from_tokenizer(tokenizer);
    return Demo{model, tokenizer, vocabulary};
  }();
  return d;
}

struct Answer {
  std::string text;
  mimo::StopReason reason;
  std::vector<std::int32_t> tokens;
};

Answer generate(const mimo::JsonGrammar& grammar, const mimo::SamplerConfig& config,
                std::shared_ptr<mimo::Speculator> speculator = nullptr, bool ignore_eos = false) {
  const Demo& d = demo();
  auto session = d.model->new_session();
  auto constraint = std::make_shared<mimo::JsonConstraint>(grammar, d.vocabulary);
  mimo::GenerateOptions options;
  options.max_tokens = 300;
  options.constraint = constraint;
  options.speculator = std::move(speculator);
  options.ignore_eos = ignore_eos;
  mimo::Sampler sampler(config);
  const auto prompt = d.tokenizer.encode("# settings as JSON\nconfig = ", false);
  mimo::GenerateResult result = session->generate(prompt, sampler, options);
  std::vector<std::int32_t> content = result.tokens;
  if (result.reason == mimo::StopReason::kStopToken) content.pop_back();
  Answer answer{d.tokenizer.decode(content), result.reason, result.tokens};
  CHECK(answer.text == constraint->text());
  return answer;
}

bool finished(const Answer& answer) {
  return answer.reason == mimo::StopReason::kStopToken ||
         answer.reason == mimo::StopReason::kConstraintComplete;
}

// A finished answer parses as an object; an answer cut by max_tokens (the demo model may go on
// inside a string or an open object) is still a prefix of a valid document.
nlohmann::json check_answer(const mimo::JsonGrammar& grammar, const Answer& answer) {
  INFO(answer.text);
  CHECK(grammar.accepted_prefix(answer.text) == answer.text.size());
  if (!finished(answer)) return nullptr;
  CHECK(grammar.accepts(answer.text));
  REQUIRE(nlohmann::json::accept(answer.text));
  nlohmann::json value = nlohmann::json::parse(answer.text);
  CHECK(value.is_object());
  return value;
}

// An object whose every value is bounded: with the whitespace limit, every answer ends.
const char* kBoundedSchema = R"({"type": "object",
    "properties": {"on": {"type": "boolean"}, "level": {"enum": [1, 2, 3]}, "none": {"type": "null"}},
    "required": ["on", "level"], "additionalProperties": false})";

mimo::SamplerConfig sampling(float temperature, std::uint64_t seed) {
  mimo::SamplerConfig config;
  config.temperature = temperature;
  config.seed = seed;
  config.top_p = temperature > 1.0f ? 0.95f : 1.0f;
  return config;
}

}  // namespace

TEST_CASE("json_object: greedy and sampled answers of the demo model parse as objects",
          "[constraint][generate]") {
  const mimo::JsonGrammar grammar = mimo::JsonGrammar::object();
  const Answer greedy = generate(grammar, sampling(0, 0));
  check_answer(grammar, greedy);
  CHECK(finished(greedy));
  int done = 0;
  for (const float temperature : {0.7f, 1.0f, 1.3f}) {
    for (const std::uint64_t seed : {1u, 2u, 3u}) {
      INFO("temperature " << temperature << " seed " << seed);
      const Answer answer = generate(grammar, sampling(temperature, seed));
      check_answer(grammar, answer);
      done += finished(answer) ? 1 : 0;
    }
  }
  CHECK(done >= 6);  // the demo model closes its objects most of the time
}

TEST_CASE("json_schema: with ignore_eos a complete document ends generation itself",
          "[constraint][generate]") {
  const mimo::JsonGrammar grammar = mimo::JsonGrammar::schema(kBoundedSchema);
  for (const std::uint64_t seed : {0u, 5u, 6u}) {
    INFO("seed " << seed);
    const Answer answer = generate(grammar, sampling(seed == 0 ? 0 : 1.0f, seed), nullptr, true);
    CHECK(answer.reason == mimo::StopReason::kConstraintComplete);
    const nlohmann::json v = check_answer(grammar, answer);
    CHECK(v.at("on").is_boolean());
    CHECK((v.at("level") == 1 || v.at("level") == 2 || v.at("level") == 3));
  }
}

TEST_CASE("json_schema: answers of the demo model validate against the schema",
          "[constraint][generate]") {
  const mimo::JsonGrammar grammar = mimo::JsonGrammar::schema(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string"},
      "size": {"type": "integer"},
      "mode": {"enum": ["fast", "slow"]},
      "flags": {"type": "array", "items": {"type": "boolean"}}
    },
    "required": ["name", "size", "mode"],
    "additionalProperties": false})");
  int done = 0;
  for (const std::uint64_t seed : {0u, 11u, 12u, 13u}) {
    INFO("seed " << seed);
    const Answer answer = generate(grammar, sampling(seed == 0 ? 0 : 0.9f, seed));
    const nlohmann::json v = check_answer(grammar, answer);
    if (v.is_null()) continue;
    ++done;
    CHECK(v.at("name").is_string());
    CHECK(v.at("size").is_number_integer());
    CHECK((v.at("mode") == "fast" || v.at("mode") == "slow"));
    for (const auto& [key, value] : v.items()) {
      CHECK((key == "name" || key == "size" || key == "mode" || key == "flags"));
      if (key == "flags") {
        REQUIRE(value.is_array());
        for (const auto& flag : value) CHECK(flag.is_boolean());
      }
    }
  }
  CHECK(done >= 2);
}

TEST_CASE("json constraint with speculative decoding: greedy equals plain, sampled parses",
          "[constraint][generate][spec]") {
  const mimo::JsonGrammar grammar = mimo::JsonGrammar::object();
  const Answer plain = generate(grammar, sampling(0, 0));
  const Answer ngram = generate(grammar, sampling(0, 0), mimo::make_ngram_speculator(3, 5));
  CHECK(ngram.tokens == plain.tokens);
  CHECK(ngram.reason == plain.reason);
  auto dflash = mimo::make_dflash_speculator(*demo().model, kDrafter);
  const Answer drafted = generate(grammar, sampling(0, 0), dflash);
  CHECK(drafted.tokens == plain.tokens);
  // Sampled answers may run into max_tokens (the tiny model can ramble); which do depends on
  // the drafter's proposals, so several seeds, and at least half must finish.
  int done = 0;
  for (const std::uint64_t seed : {4u, 5u, 6u, 7u}) {
    for (auto speculator : {dflash, mimo::make_ngram_speculator(2, 4)}) {
      const Answer answer = generate(grammar, sampling(0.9f, seed), speculator);
      check_answer(grammar, answer);
      done += finished(answer) ? 1 : 0;
    }
  }
  CHECK(done >= 4);
  const mimo::JsonGrammar bounded = mimo::JsonGrammar::schema(kBoundedSchema);
  const Answer plain_bounded = generate(bounded, sampling(0, 0), nullptr, true);
  const Answer ended = generate(bounded, sampling(0, 0), dflash, true);
  CHECK(ended.reason == mimo::StopReason::kConstraintComplete);
  CHECK(ended.tokens == plain_bounded.tokens);
  check_answer(bounded, generate(bounded, sampling(1.0f, 9), dflash, true));
}
