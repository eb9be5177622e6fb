// mimo-server's JSON response formats on the demo model: json_object and json_schema answers
// parse (and validate), streamed deltas add up to the same document, and a schema outside the
// supported subset is refused before generation naming its path.
#include <nlohmann/json.hpp>

#include "mimo/model.hpp"
#include "server/api_error.hpp"
#include "server/generation.hpp"
#include "support/catch.hpp"
#include "support/demo_model.hpp"

using namespace mimo::server;

namespace {

const std::string kDemo = mimo::testing::demo_dir("mixed");

ServedModel& served() {
  static ServedModel model = [] {
    ServedModel::Options served_options;
    served_options.name = "demo";
    return ServedModel(mimo::testing::cpu_demo_model(1024), mimo::Tokenizer::from_model_dir(kDemo),
                       served_options);
  }();
  return model;
}

GenerationRequest json_chat(ResponseFormat format, float temperature, std::uint64_t seed) {
  GenerationRequest r;
  r.model = "demo";
  r.messages = {{"user", "Describe the settings as JSON.", {}}};
  r.response_format = format;
  r.max_tokens = 600;
  r.sampling.temperature = temperature;
  r.sampling.seed = seed;
  r.seed_given = true;
  return r;
}

std::pair<std::string, GenerationOutcome> run(const GenerationRequest& request) {
  StepScheduler scheduler(1, 1);
  auto ticket = scheduler.admit();
  REQUIRE(ticket->wait_for_slot());
  std::string text;
  GenerationOutcome outcome = generate(served(), *ticket, request, build_prompt(served(), request),
                                       [&](GenerationDelta&& d) {
                                         text += d.content;
                                         return true;
                                       });
  return {text, outcome};
}

// A "stop" answer is one document of the grammar; a "length" one (the demo model may go on inside
// a string) is a prefix of one. Returns the parsed document, null when cut.
nlohmann::json check_answer(const mimo::JsonGrammar& grammar, const std::string& text,
                            const GenerationOutcome& outcome) {
  INFO(text);
  CHECK(grammar.accepted_prefix(text) == text.size());
  if (outcome.finish_reason != "stop") {
    CHECK(outcome.finish_reason == "length");
    return nullptr;
  }
  REQUIRE(grammar.accepts(text));
  REQUIRE(nlohmann::json::accept(text));
  return nlohmann::json::parse(text);
}

}  // namespace

TEST_CASE("json format: json_object answers parse as objects") {
  const mimo::JsonGrammar grammar = mimo::JsonGrammar::object();
  const auto [text, outcome] = run(json_chat(ResponseFormat::kJsonObject, 0, 0));
  CHECK(outcome.finish_reason == "stop");
  CHECK(check_answer(grammar, text, outcome).is_object());
  for (const std::uint64_t seed : {1u, 2u, 3u}) {
    INFO("seed " << seed);
    const auto [sampled, sampled_outcome] = run(json_chat(ResponseFormat::kJsonObject, 0.7f, seed));
    const nlohmann::json v = check_answer(grammar, sampled, sampled_outcome);
    CHECK((v.is_null() || v.is_object()));
  }
}

TEST_CASE("json format: json_schema answers validate against the schema") {
  GenerationRequest r = json_chat(ResponseFormat::kJsonSchema, 0, 0);
  // Every value is bounded: the answer always ends.
  r.json_schema = R"({"type": "object", "properties": {"on": {"type": "boolean"},
      "tags": {"enum": ["a", "b"]}}, "required": ["on", "tags"], "additionalProperties": false})";
  for (const std::uint64_t seed : {0u, 3u}) {
    r.sampling.temperature = seed == 0 ? 0.0f : 1.0f;
    r.sampling.seed = seed;
    const auto [text, outcome] = run(r);
    CHECK(outcome.finish_reason == "stop");
    const nlohmann::json v = check_answer(mimo::JsonGrammar::schema(r.json_schema), text, outcome);
    CHECK(v.size() == 2);
    CHECK(v.at("on").is_boolean());
    CHECK((v.at("tags") == "a" || v.at("tags") == "b"));
  }
}

TEST_CASE("json format: a schema outside the subset is refused naming its path") {
  GenerationRequest r = json_chat(ResponseFormat::kJsonSchema, 0, 0);
  r.json_schema = R"({"type": "object", "properties": {"when": {"type": "string",
      "format": "date-time"}}})";
  try {
    build_prompt(served(), r);
    FAIL("accepted");
  } catch (const ApiError& e) {
    CHECK(e.status == 400);
    CHECK(e.param == "response_format.json_schema.schema");
    CHECK(std::string(e.what()).find("#/properties/when") != std::string::npos);
    CHECK(std::string(e.what()).find("'format'") != std::string::npos);
  }
  CHECK_FALSE(response_grammar(json_chat(ResponseFormat::kText, 0, 0)).has_value());
}
