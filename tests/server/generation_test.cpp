// mimo-server's generation on the demo model (examples/server/generation.hpp): prompt limits,
// greedy output identical to plain Session::generate, stop strings across tokens, logprobs,
// cancellation by the client, and speculative decoding with its usage.
#include "server/generation.hpp"

#include <fstream>
#include <memory>
#include <sstream>

#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "server/api_error.hpp"
#include "support/catch.hpp"
#include "support/demo_model.hpp"

using namespace mimo::server;

namespace {

const std::string kDemo = mimo::testing::demo_dir("mixed");
const std::string kDrafter = mimo::testing::demo_dir("drafter");

std::shared_ptr<const mimo::Model> demo_model() {
  return mimo::testing::cpu_demo_model(256);
}

ServedModel::Options served_options(bool speculative) {
  ServedModel::Options options;
  options.name = "demo";
  options.slots = 1;
  if (speculative) options.drafter_dir = kDrafter;
  return options;
}

GenerationRequest completion(const std::string& prompt, int max_tokens) {
  GenerationRequest r;
  r.endpoint = Endpoint::kCompletion;
  r.model = "demo";
  r.prompt_text = prompt;
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  return r;
}

struct Run {
  std::string text;
  GenerationOutcome outcome;
  std::size_t logprob_entries = 0;
};

Run run(ServedModel& served, const GenerationRequest& request, int stop_after_deltas = -1) {
  StepScheduler scheduler(1, 1);
  auto ticket = scheduler.admit();
  REQUIRE(ticket->wait_for_slot());
  Run out;
  int deltas = 0;
  out.outcome =
      generate(served, *ticket, request, build_prompt(served, request), [&](GenerationDelta&& d) {
        out.text += d.content;
        out.logprob_entries += d.logprobs.size();
        return ++deltas != stop_after_deltas;
      });
  return out;
}

const std::string kPrompt = "import numpy as np\n\n\ndef ";

std::string tools_template() {
  std::ifstream in(std::string(MIMO_SOURCE_DIR) + "/tests/server/e2e/chatml_tools.jinja");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

GenerationRequest weather_chat(ToolChoice choice) {
  GenerationRequest r;
  r.model = "demo";
  r.messages = {{"user", "Weather in Paris?", {}}};
  r.tools_json = R"([{"type": "function", "function": {"name": "get_weather"}}])";
  r.tool_choice = choice;
  if (choice == ToolChoice::kFunction) r.tool_choice_name = "get_weather";
  r.max_tokens = 12;
  r.sampling.temperature = 0;
  return r;
}

}  // namespace

TEST_CASE("generation: prompts over the context are refused naming the limit") {
  ServedModel served(demo_model(), mimo::Tokenizer::from_model_dir(kDemo), served_options(false));
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += "x = 1\n";
  try {
    build_prompt(served, completion(long_prompt, 1));
    FAIL("accepted a prompt over the context");
  } catch (const ApiError& e) {
    CHECK(e.status == 400);
    CHECK(e.code == "context_length_exceeded");
    CHECK(std::string(e.what()).find("maximum context length is 256 tokens") != std::string::npos);
  }
  // Fits alone, not with max_tokens.
  CHECK_THROWS_AS(build_prompt(served, completion(kPrompt, 250)), ApiError);
  CHECK_FALSE(build_prompt(served, completion(kPrompt, 20)).empty());
  CHECK_THROWS_AS(build_prompt(served, completion("", 5)), ApiError);
}

TEST_CASE("generation: greedy text equals Session::generate, stop strings cut it") {
  ServedModel served(demo_model(), mimo::Tokenizer::from_model_dir(kDemo), served_options(false));
  GenerationRequest request = completion(kPrompt, 24);
  request.logprobs = true;
  const Run plain = run(served, request);
  CHECK(plain.outcome.finish_reason == "length");
  CHECK(plain.outcome.completion_tokens == 24);
  CHECK(plain.logprob_entries == 24);

  // The same tokens straight from the library.
  auto session = demo_model()->new_session();
  mimo::Sampler sampler(mimo::SamplerConfig{});
  mimo::GenerateOptions options;
  options.max_tokens = 24;
  options.stop_token_ids = served.stop_tokens();
  const auto& tokenizer = served.tokenizer();
  const auto reference = session->generate(tokenizer.encode(kPrompt), sampler, options);
  CHECK(plain.text == tokenizer.decode(reference.tokens, true));

  // A stop string made of the end of one token and the start of the next.
  REQUIRE(plain.text.size() > 12);
  const std::string stop = plain.text.substr(6, 5);
  request.stop = {stop};
  const Run stopped = run(served, request);
  CHECK(stopped.outcome.finish_reason == "stop");
  CHECK(stopped.text == plain.text.substr(0, plain.text.find(stop)));
  CHECK(stopped.outcome.completion_tokens < 24);
}

TEST_CASE("generation: a client that leaves stops the generation at that step") {
  ServedModel served(demo_model(), mimo::Tokenizer::from_model_dir(kDemo), served_options(false));
  const Run left = run(served, completion(kPrompt, 50), 3);
  CHECK(left.outcome.finish_reason == "cancelled");
  CHECK(left.outcome.completion_tokens == 3);
}

TEST_CASE("generation: speculative decoding gives the same greedy text, and its usage") {
  ServedModel plain(demo_model(), mimo::Tokenizer::from_model_dir(kDemo), served_options(false));
  ServedModel speculative(demo_model(), mimo::Tokenizer::from_model_dir(kDemo),
                          served_options(true));
  GenerationRequest request = completion(kPrompt, 40);
  request.logprobs = true;
  const Run a = run(plain, request);
  const Run b = run(speculative, request);
  CHECK(a.text == b.text);
  CHECK(b.logprob_entries == 40);
  CHECK(b.outcome.speculative);
  CHECK(b.outcome.speculation.steps > 0);
  CHECK(b.outcome.speculation.drafted_tokens > 0);
  CHECK(b.outcome.speculation.accepted_tokens <= b.outcome.speculation.drafted_tokens);
}

TEST_CASE("generation: a forced tool_choice opens the answer with the call block") {
  ServedModel::Options options = served_options(false);
  options.template_source = tools_template();
  ServedModel served(demo_model(), mimo::Tokenizer::from_model_dir(kDemo), options);
  REQUIRE(served.tool_format() == ToolCallFormat::kHermes);
  const auto& tokenizer = served.tokenizer();
  const std::string plain = tokenizer.decode(build_prompt(served, weather_chat(ToolChoice::kAuto)));
  const std::string named =
      tokenizer.decode(build_prompt(served, weather_chat(ToolChoice::kFunction)));
  CHECK(named == plain + "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": ");
  CHECK(tokenizer.decode(build_prompt(served, weather_chat(ToolChoice::kRequired))) ==
        plain + "<tool_call>\n{\"name\": \"");

  // The demo model writes Python, never a valid call: the answer is an error naming the cause.
  for (ToolChoice choice : {ToolChoice::kFunction, ToolChoice::kRequired}) {
    try {
      run(served, weather_chat(choice));
      FAIL("a forced tool_choice without a call was answered");
    } catch (const ApiError& e) {
      CHECK(e.status == 500);
      CHECK(e.code == "tool_call_missing");
      CHECK(e.param == "tool_choice");
      const std::string message = e.what();
      CHECK(message.find(choice == ToolChoice::kFunction ? "a call of 'get_weather'"
                                                         : "a tool call") != std::string::npos);
      CHECK(message.find("cut short") != std::string::npos);    // 12 tokens: length
      CHECK(message.find("<tool_call>") != std::string::npos);  // what it wrote, prefix included
    }
  }
}

TEST_CASE("generation: the chat template's clock can be fixed") {
  ServedModel::Options options = served_options(false);
  options.template_source =
      "{{ strftime_now('%d %B %Y') }}{% for m in messages %}{{ m.content }}{% endfor %}";
  options.template_now = 1625140800;  // 2021-07-01 12:00 UTC
  ServedModel served(demo_model(), mimo::Tokenizer::from_model_dir(kDemo), options);
  GenerationRequest r = weather_chat(ToolChoice::kAuto);
  r.tools_json.clear();
  const std::string prompt = served.tokenizer().decode(build_prompt(served, r));
  CHECK(prompt.find("July 2021Weather in Paris?") != std::string::npos);
}
