// mimo-server's JSON response formats on the demo model: json_object and json_schema answers
// parse (and validate), streamed deltas add up to the same document, and a schema outside the
// supported subset is refused before generation naming its path.
#include <nlohmann/json.hpp>

#include "mimo/model.hpp"
#include "server/api_error.hpp"
#include "server/generation.hpp"
#include "support/catch.hpp"

using namespace mimo::server;

namespace {

const std::string kDemo = std::string(MIMO_SOURCE_DIR) + "/models/demo/mixed";

ServedModel& served() {
  static ServedModel model = [] {
    mimo::ModelOptions options;
    options.device = mimo::Device::kCpu;
    options.max_context = 1024;
    options.num_threads = 2;
    ServedModel::Options served_options;
    served_options.name = "demo";
    return ServedModel(mimo::Model::load(kDemo, options), mimo::Tokenizer::from_model_dir(kDemo),
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

}  // namespace

TEST_CASE("json format: json_object answers parse as objects") {
  for (const auto& [temperature, seed] :
       std::vector<std::pair<float, std::uint64_t>>{{0.0f, 0}, {1.0f, 1}, {1.0f, 2}}) {
    INFO("temperature " << temperature << " seed " << seed);
    const auto [text, outcome] = run(json_chat(ResponseFormat::kJsonObject, temperature, seed));
    INFO(text);
    CHECK(outcome.finish_reason == "stop");
    REQUIRE(nlohmann::json::accept(text));
    CHECK(nlohmann::json::parse(text).is_object());
  }
}

TEST_CASE("json format: json_schema answers validate against the schema") {
  GenerationRequest r = json_chat(ResponseFormat::kJsonSchema, 0.8f, 3);
  r.json_schema = R"({"type": "object", "properties": {"id": {"type": "integer"},
      "tags": {"type": "array", "items": {"enum": ["a", "b"]}}},
      "required": ["id", "tags"], "additionalProperties": false})";
  const auto [text, outcome] = run(r);
  INFO(text);
  REQUIRE(nlohmann::json::accept(text));
  const nlohmann::json v = nlohmann::json::parse(text);
  CHECK(v.size() == 2);
  CHECK(v.at("id").is_number_integer());
  for (const auto& tag : v.at("tags")) CHECK((tag == "a" || tag == "b"));
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
