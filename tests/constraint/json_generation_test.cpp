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
  options.max_tokens = 700;
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

nlohmann::json parse_object(const Answer& answer) {
  INFO(answer.text);
  REQUIRE(nlohmann::json::accept(answer.text));
  nlohmann::json value = nlohmann::json::parse(answer.text);
  CHECK(value.is_object());
  return value;
}

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
  parse_object(greedy);
  CHECK(greedy.reason != mimo::StopReason::kMaxTokens);
  for (const float temperature : {0.7f, 1.0f, 1.3f}) {
    for (const std::uint64_t seed : {1u, 2u, 3u}) {
      INFO("temperature " << temperature << " seed " << seed);
      parse_object(generate(grammar, sampling(temperature, seed)));
    }
  }
}

TEST_CASE("json_object: with ignore_eos a complete object ends generation itself",
          "[constraint][generate]") {
  const Answer answer = generate(mimo::JsonGrammar::object(), sampling(0.8f, 5), nullptr, true);
  CHECK(answer.reason == mimo::StopReason::kConstraintComplete);
  parse_object(answer);
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
  for (const std::uint64_t seed : {0u, 11u, 12u}) {
    INFO("seed " << seed);
    const nlohmann::json v = parse_object(generate(grammar, sampling(seed == 0 ? 0 : 0.9f, seed)));
    REQUIRE(v.contains("name"));
    CHECK(v["name"].is_string());
    REQUIRE(v.contains("size"));
    CHECK(v["size"].is_number_integer());
    REQUIRE(v.contains("mode"));
    CHECK((v["mode"] == "fast" || v["mode"] == "slow"));
    for (const auto& [key, value] : v.items()) {
      CHECK((key == "name" || key == "size" || key == "mode" || key == "flags"));
      if (key == "flags") {
        REQUIRE(value.is_array());
        for (const auto& flag : value) CHECK(flag.is_boolean());
      }
    }
  }
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
  for (const std::uint64_t seed : {4u, 5u}) {
    parse_object(generate(grammar, sampling(0.9f, seed), dflash));
    parse_object(generate(grammar, sampling(0.9f, seed), mimo::make_ngram_speculator(2, 4)));
  }
  const Answer ended = generate(grammar, sampling(0.8f, 5), dflash, true);
  CHECK(ended.reason == mimo::StopReason::kConstraintComplete);
  parse_object(ended);
}
