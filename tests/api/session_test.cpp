// mimo::Model / mimo::Session through the public API on the HF-written tiny-bf16 fixture:
// incremental == one-shot, rewind, fork, cancellation, greedy == transformers, bad inputs.
#include "mimo/session.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "mimo/error.hpp"
#include "mimo/model.hpp"
#include "support/catch.hpp"

namespace {

const std::string kModel = std::string(MIMO_TEST_DATA_DIR) + "/models/tiny-bf16";

std::vector<std::int32_t> read_ids(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return {std::istream_iterator<std::int32_t>(in), std::istream_iterator<std::int32_t>()};
}

std::shared_ptr<const mimo::Model> load(
    std::int64_t max_context = 256,
    int prefill_chunk_tokens = mimo::ModelOptions{}.prefill_chunk_tokens) {
  mimo::ModelOptions options;
  options.device = mimo::Device::kCpu;
  options.max_context = max_context;
  options.max_step_tokens = 8;
  options.prefill_chunk_tokens = prefill_chunk_tokens;
  return mimo::Model::load(kModel, options);
}

float max_rel_diff(const float* a, const float* b, std::size_t n) {
  float worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::fabs(a[i] - b[i]) / (1e-4f + std::fabs(b[i])));
  }
  return worst;
}

std::vector<std::int32_t> greedy(mimo::Session& session, const std::vector<std::int32_t>& prompt,
                                 int n) {
  mimo::Sampler sampler(mimo::SamplerConfig{});
  mimo::GenerateOptions options;
  options.max_tokens = n;
  options.ignore_eos = true;
  return session.generate(prompt, sampler, options).tokens;
}

}  // namespace

TEST_CASE("token-by-token decode gives the logits of a one-shot prefill", "[api][session]") {
  auto model = load();
  const auto tokens = read_ids(kModel + "/reference/tokens_1.txt");
  const std::size_t vocab = static_cast<std::size_t>(model->summary().vocab_size);
  auto oneshot = model->new_session();
  const std::vector<float> all = oneshot->score(tokens);
  REQUIRE(all.size() == tokens.size() * vocab);

  auto incremental = model->new_session();
  incremental->prefill({tokens[0]});
  for (std::size_t t = 1; t < tokens.size(); ++t) {
    incremental->prefill({tokens[t]});
    const auto& row = incremental->logits();
    INFO("position " << t);
    CHECK(max_rel_diff(row.data(), all.data() + t * vocab, vocab) < 1e-3f);
  }
  CHECK(incremental->position() == static_cast<std::int64_t>(tokens.size()));
}

TEST_CASE("greedy generation through the API reproduces transformers", "[api][session]") {
  auto model = load();
  auto session = model->new_session();
  const auto prompt = read_ids(kModel + "/reference/greedy_prompt.txt");
  const auto expected = read_ids(kModel + "/reference/greedy_output.txt");
  CHECK(greedy(*session, prompt, static_cast<int>(expected.size())) == expected);
  CHECK(session->stats().prefill_tokens == static_cast<std::int64_t>(prompt.size()));
  CHECK(session->stats().decode_tokens == static_cast<std::int64_t>(expected.size()) - 1);
  CHECK(session->stats().decode_tokens_per_second() > 0);
  CHECK(session->stats().time_to_first_token_seconds > 0);
}

TEST_CASE("rewind then re-decode reproduces the original continuation", "[api][session]") {
  auto model = load();
  const auto prompt = read_ids(kModel + "/reference/greedy_prompt.txt");
  auto session = model->new_session();
  const auto first = greedy(*session, prompt, 20);
  for (int back : {1, 5, 7}) {
    session->rewind(back);
    CHECK(session->position() == static_cast<std::int64_t>(prompt.size() + first.size()) - back);
    const auto again = greedy(*session, {}, back);
    CHECK(std::vector<std::int32_t>(first.end() - back, first.end()) == again);
  }
  session->rewind(session->position() - 3);
  CHECK(session->position() == 3);
}

TEST_CASE("a fork continues independently of its parent", "[api][session]") {
  auto model = load();
  const auto prompt = read_ids(kModel + "/reference/greedy_prompt.txt");
  auto parent = model->new_session();
  parent->prefill(prompt);
  auto child = parent->fork();
  const auto from_child = greedy(*child, {}, 10);
  CHECK(parent->position() == static_cast<std::int64_t>(prompt.size()));
  const auto from_parent = greedy(*parent, {}, 10);
  CHECK(from_parent == from_child);
  // Diverge the child; the parent's next tokens must not change.
  auto other = parent->fork();
  greedy(*child, {7, 8, 9}, 5);
  CHECK(greedy(*parent, {}, 6) == greedy(*other, {}, 6));
}

TEST_CASE("cancel() interrupts prefill and leaves the session usable", "[api][session]") {
  auto model = load(4096);
  const auto prompt = read_ids(kModel + "/reference/greedy_prompt.txt");
  auto reference = model->new_session();
  reference->prefill(prompt);
  const std::vector<float> expected = reference->logits();

  auto session = model->new_session();
  // From another thread, while a long prefill runs (a cancel while idle does nothing:
  // hostile_session_test.cpp).
  std::vector<std::int32_t> long_prompt(3000);
  for (std::size_t i = 0; i < long_prompt.size(); ++i) long_prompt[i] = (i * 37 + 11) % 256;
  std::atomic<bool> started{false};
  std::thread canceller([&] {
    while (!started) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    session->cancel();
  });
  bool cancelled = false;
  try {
    started = true;
    session->prefill(long_prompt);
  } catch (const mimo::Error& e) {
    cancelled = e.code() == mimo::ErrorCode::kCancelled;
  }
  canceller.join();
  CHECK(cancelled);
  CHECK(session->position() == 0);

  session->prefill(prompt);
  CHECK(max_rel_diff(session->logits().data(), expected.data(), expected.size()) == 0.0f);
}

TEST_CASE("prompts run in prefill chunks of any size with the same results", "[api][session]") {
  // 300 tokens in chunks of 8 (the verify block), 64 and 256 (the default): the same logits bit
  // for bit (the CPU's arithmetic per token does not depend on the chunk), the same greedy
  // continuation, and a second prompt appended to the first alike.
  std::vector<std::int32_t> prompt(300), more(70);
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = (i * 37 + 11) % 256;
  for (std::size_t i = 0; i < more.size(); ++i) more[i] = (i * 53 + 2) % 256;
  std::vector<float> want_logits, want_more;
  std::vector<std::int32_t> want_tokens;
  for (int chunk : {8, 64, 256}) {
    INFO("prefill chunks of " << chunk);
    auto model = load(512, chunk);
    CHECK(model->options().prefill_chunk_tokens == chunk);
    auto session = model->new_session();
    session->prefill(prompt);
    const std::vector<float> logits = session->logits();
    session->prefill(more);
    const std::vector<float> logits_more = session->logits();
    const auto tokens = greedy(*session, {}, 10);
    CHECK(session->stats().prefill_tokens == 370);
    if (want_logits.empty()) {
      want_logits = logits;
      want_more = logits_more;
      want_tokens = tokens;
      continue;
    }
    CHECK(logits == want_logits);
    CHECK(logits_more == want_more);
    CHECK(tokens == want_tokens);
  }
}

TEST_CASE("ModelOptions' step sizes are checked naming the field", "[api][session]") {
  const auto message_of = [](auto&& set) -> std::string {
    mimo::ModelOptions options;
    options.device = mimo::Device::kCpu;
    set(options);
    try {
      mimo::Model::load(kModel, options);
    } catch (const mimo::Error& e) {
      CHECK(e.code() == mimo::ErrorCode::kInvalidArgument);
      return e.what();
    }
    return "loaded";
  };
  const auto contains = [](const std::string& text, const std::string& part) {
    INFO(text);
    return text.find(part) != std::string::npos;
  };
  CHECK(contains(message_of([](auto& o) { o.prefill_chunk_tokens = 0; }),
                 "ModelOptions.prefill_chunk_tokens"));
  CHECK(contains(message_of([](auto& o) { o.prefill_chunk_tokens = 70000; }),
                 "ModelOptions.prefill_chunk_tokens"));
  CHECK(
      contains(message_of([](auto& o) { o.max_step_tokens = 0; }), "ModelOptions.max_step_tokens"));
  CHECK(message_of([](auto& o) { o.prefill_chunk_tokens = 4; }) == "loaded");  // below the block
  // A negative or absurd thread count is refused, not read as "all cores" or started.
  CHECK(contains(message_of([](auto& o) { o.num_threads = -1; }), "ModelOptions.num_threads"));
  CHECK(contains(message_of([](auto& o) { o.num_threads = 100000; }), "got 100000"));
  CHECK(message_of([](auto& o) { o.num_threads = 2; }) == "loaded");
}

TEST_CASE("bad inputs give clear errors and leave the session unchanged", "[api][session]") {
  auto model = load(32);
  auto session = model->new_session();
  auto code_of = [](auto&& fn) {
    try {
      fn();
    } catch (const mimo::Error& e) {
      return e.code();
    }
    return mimo::ErrorCode::kInternal;
  };
  CHECK(code_of([&] { session->prefill({}); }) == mimo::ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { session->prefill({1, 256}); }) == mimo::ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { session->prefill({-1}); }) == mimo::ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { session->prefill(std::vector<std::int32_t>(33, 1)); }) ==
        mimo::ErrorCode::kOutOfRange);
  CHECK(session->position() == 0);
  CHECK(code_of([&] { session->logits(); }) == mimo::ErrorCode::kInvalidArgument);
  mimo::Sampler sampler(mimo::SamplerConfig{});
  CHECK(code_of([&] { session->generate({}, sampler); }) == mimo::ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { session->rewind(1); }) == mimo::ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { mimo::Model::load(std::string(MIMO_TEST_DATA_DIR) + "/no-such-model"); }) !=
        mimo::ErrorCode::kInternal);
}

TEST_CASE("generation stops at stop tokens, the callback and max_tokens", "[api][session]") {
  auto model = load();
  const auto prompt = read_ids(kModel + "/reference/greedy_prompt.txt");
  const auto expected = read_ids(kModel + "/reference/greedy_output.txt");
  mimo::Sampler sampler(mimo::SamplerConfig{});
  {
    auto session = model->new_session();
    mimo::GenerateOptions options;
    options.max_tokens = 24;
    options.stop_token_ids = {expected[4]};
    auto result = session->generate(prompt, sampler, options);
    CHECK(result.reason == mimo::StopReason::kStopToken);
    CHECK(result.tokens.back() == expected[4]);
    CHECK(result.tokens.size() <= 5);
  }
  {
    auto session = model->new_session();
    int seen = 0;
    auto result = session->generate(prompt, sampler, {},
                                    [&](const mimo::SampleResult&) { return ++seen < 3; });
    CHECK(result.reason == mimo::StopReason::kCallback);
    CHECK(result.tokens.size() == 3);
  }
  {
    auto session = model->new_session();
    mimo::GenerateOptions options;
    options.max_tokens = 4;
    options.ignore_eos = true;
    auto result = session->generate(prompt, sampler, options);
    CHECK(result.reason == mimo::StopReason::kMaxTokens);
    CHECK(result.tokens == std::vector<std::int32_t>(expected.begin(), expected.begin() + 4));
  }
}
