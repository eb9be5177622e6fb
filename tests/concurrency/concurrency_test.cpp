// What the headers promise about threads, exercised with real threads on the tiny-bf16 fixture:
// several Sessions on one Model run at once (model.hpp), cancel() reaches one session from
// another thread while others run on (session.hpp), and one Tokenizer serves several threads
// (tokenizer.hpp). Results must equal the single-threaded ones exactly. scripts/tsan.sh builds
// this suite with ThreadSanitizer, which turns any data race on these paths into a failure.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "mimo/error.hpp"
#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "mimo/tokenizer.hpp"
#include "support/catch.hpp"

namespace {

const std::string kModel = std::string(MIMO_TEST_DATA_DIR) + "/models/tiny-bf16";
constexpr int kThreads = 4;

std::shared_ptr<const mimo::Model> load(int pool_threads) {
  mimo::ModelOptions options;
  options.device = mimo::Device::kCpu;
  options.num_threads = pool_threads;
  options.max_context = 512;
  options.max_step_tokens = 8;
  return mimo::Model::load(kModel, options);
}

std::vector<std::int32_t> prompt_of(int which, std::size_t length) {
  std::vector<std::int32_t> prompt(length);
  for (std::size_t i = 0; i < length; ++i) {
    prompt[i] = static_cast<std::int32_t>((i * 37 + 11 + 53 * which) % 256);
  }
  return prompt;
}

// One session's work: a prefill, a greedy generation, a seeded sampled one on a fork, a rewind
// and a score - every public path that runs the model.
struct Transcript {
  std::vector<std::int32_t> greedy, sampled;
  std::vector<float> scored;
  bool operator==(const Transcript&) const = default;
};

Transcript converse(const mimo::Model& model, int which) {
  Transcript out;
  auto session = model.new_session();
  mimo::GenerateOptions options;
  options.max_tokens = 6;
  options.ignore_eos = true;
  mimo::Sampler greedy(mimo::SamplerConfig{});
  out.greedy = session->generate(prompt_of(which, 20), greedy, options).tokens;

  auto fork = session->fork();
  mimo::SamplerConfig sampled_config;
  sampled_config.temperature = 0.9f;
  sampled_config.seed = 1000 + which;
  mimo::Sampler sampler(sampled_config);
  out.sampled = fork->generate({}, sampler, options).tokens;

  session->rewind(3);
  out.scored = session->score({7, 8, 9});
  return out;
}

}  // namespace

TEST_CASE("sessions on one model run concurrently with the single-threaded results",
          "[concurrency]") {
  // Each model's worker pool is shared by its sessions: two pool threads plus the callers.
  auto model = load(2);
  std::vector<Transcript> expected;
  for (int i = 0; i < kThreads; ++i) expected.push_back(converse(*model, i));
  REQUIRE(expected[0].greedy.size() == 6);
  REQUIRE(expected[0].greedy != expected[1].greedy);

  std::vector<Transcript> seen(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      try {
        seen[i] = converse(*model, i);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < kThreads; ++i) {
    INFO("session " << i);
    CHECK(errors[i].empty());
    CHECK(seen[i] == expected[i]);
  }
}

TEST_CASE("cancel() from another thread stops one session while the others run on",
          "[concurrency]") {
  auto model = load(2);
  const auto short_prompt = prompt_of(1, 16);
  auto reference = model->new_session();
  reference->prefill(short_prompt);
  const std::vector<float> expected = reference->logits();

  // The victim generates until cancelled; the bystander prefills meanwhile. The victim's third
  // token waits for the cancel, so it lands while generate() is in progress whatever the timing.
  auto victim = model->new_session();
  std::atomic<int> victim_tokens{0};
  std::atomic<bool> victim_done{false}, cancel_sent{false};
  mimo::StopReason victim_reason = mimo::StopReason::kMaxTokens;
  std::string victim_error;
  std::thread victim_thread([&] {
    struct Finished {
      std::atomic<bool>& flag;
      ~Finished() { flag = true; }
    } finished{victim_done};
    mimo::Sampler sampler(mimo::SamplerConfig{});
    mimo::GenerateOptions options;
    options.max_tokens = 400;
    options.ignore_eos = true;
    try {
      victim_reason = victim
                          ->generate(prompt_of(2, 8), sampler, options,
                                     [&](const auto&) {
                                       if (++victim_tokens == 3) {
                                         while (!cancel_sent) std::this_thread::yield();
                                       }
                                       return true;
                                     })
                          .reason;
    } catch (const std::exception& e) {
      victim_error = e.what();
    }
  });
  std::vector<float> bystander_logits;
  std::thread bystander_thread([&] {
    auto bystander = model->new_session();
    bystander->prefill(short_prompt);
    bystander_logits = bystander->logits();
  });
  while (victim_tokens < 3 && !victim_done) std::this_thread::yield();
  victim->cancel();
  cancel_sent = true;
  victim_thread.join();
  bystander_thread.join();

  CHECK(victim_error.empty());
  CHECK(victim_reason == mimo::StopReason::kCancelled);
  CHECK(victim_tokens == 3);
  CHECK(bystander_logits == expected);
  // The cancelled session carries on.
  mimo::Sampler sampler(mimo::SamplerConfig{});
  mimo::GenerateOptions two;
  two.max_tokens = 2;
  two.ignore_eos = true;
  CHECK(victim->generate({}, sampler, two).tokens.size() == 2);
}

TEST_CASE("cancel() hammered from another thread while prefills run and end", "[concurrency]") {
  // Cancels arriving at every moment - before, during and after each prefill - must leave
  // each call either complete or cancelled with the context unchanged, never in between.
  auto model = load(1);
  const auto prompt = prompt_of(3, 24);
  auto reference = model->new_session();
  reference->prefill(prompt);
  const std::vector<float> expected = reference->logits();

  auto session = model->new_session();
  std::atomic<bool> done{false};
  std::thread canceller([&] {
    for (int k = 0; !done; ++k) {
      session->cancel();
      std::this_thread::sleep_for(std::chrono::microseconds(50 * (k % 40)));
    }
  });
  int completed = 0, cancelled = 0;
  for (int round = 0; round < 20; ++round) {
    try {
      session->prefill(prompt);
      ++completed;
      CHECK(session->position() == static_cast<std::int64_t>(prompt.size()));
      CHECK(session->logits() == expected);
    } catch (const mimo::Error& e) {
      REQUIRE(e.code() == mimo::ErrorCode::kCancelled);
      ++cancelled;
      CHECK(session->position() == 0);
    }
    session->reset();
  }
  done = true;
  canceller.join();
  CHECK(completed + cancelled == 20);
}

TEST_CASE("one tokenizer encodes and decodes on several threads at once", "[concurrency]") {
  const mimo::Tokenizer tokenizer =
      mimo::Tokenizer::from_model_dir(std::string(MIMO_TEST_DATA_DIR) + "/tokenizers/tiny");
  std::vector<std::string> texts;
  for (int i = 0; i < kThreads; ++i) {
    texts.push_back("Hello world " + std::to_string(i) + " <|im_start|>user\n naïve café " +
                    std::string(static_cast<std::size_t>(i) * 7, 'x'));
  }
  std::vector<std::vector<mimo::TokenId>> expected;
  std::vector<std::string> decoded;
  for (const auto& text : texts) {
    expected.push_back(tokenizer.encode(text));
    decoded.push_back(tokenizer.decode(expected.back()));
  }

  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      const mimo::Tokenizer copy = tokenizer;  // copies share the loaded vocabulary
      for (int round = 0; round < 50; ++round) {
        const int which = (i + round) % kThreads;
        const auto ids = copy.encode(texts[which]);
        if (ids != expected[which] || copy.decode(ids) != decoded[which]) ++mismatches[i];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < kThreads; ++i) CHECK(mismatches[i] == 0);
}
