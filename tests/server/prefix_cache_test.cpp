// mimo-server's prefix cache (examples/server/prefix_cache.hpp) on the demo model: the longest
// common prefix wins, short ones are not reused, one token is always left to prefill, take-over
// versus fork, LRU eviction; and a served two-turn conversation whose second turn reuses the
// first one's session gives the same greedy (and seeded sampled) answer as without the cache.
#include "server/prefix_cache.hpp"

#include <memory>
#include <numeric>

#include "mimo/model.hpp"
#include "server/generation.hpp"
#include "support/catch.hpp"
#include "support/demo_model.hpp"

using namespace mimo::server;

namespace {

std::shared_ptr<const mimo::Model> demo_model() {
  return mimo::testing::cpu_demo_model(256);
}

std::vector<std::int32_t> tokens(std::int32_t first, int n) {
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

std::vector<std::int32_t> concat(std::vector<std::int32_t> a, const std::vector<std::int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::unique_ptr<mimo::Session> prefilled(const std::vector<std::int32_t>& context) {
  auto session = demo_model()->new_session();
  session->prefill(context);
  return session;
}

}  // namespace

TEST_CASE("prefix cache: common_prefix counts the shared start") {
  CHECK(common_prefix({1, 2, 3}, {1, 2, 4}) == 2);
  CHECK(common_prefix({1, 2}, {1, 2, 3}) == 2);
  CHECK(common_prefix({}, {1}) == 0);
  CHECK(common_prefix({5}, {1}) == 0);
}

TEST_CASE("prefix cache: the longest shared prefix wins, short ones are not reused") {
  PrefixCache cache(4, 16);
  const auto base = tokens(10, 20);
  CHECK(cache.put(prefilled(concat(base, tokens(100, 5)))) == nullptr);            // shares 20
  CHECK(cache.put(prefilled(concat(tokens(10, 24), tokens(200, 3)))) == nullptr);  // shares 24
  CHECK(cache.put(prefilled(tokens(10, 10))) == nullptr);  // shares 10: under the minimum
  const auto prompt = concat(tokens(10, 24), tokens(300, 4));

  PrefixCache::Hit hit = cache.find(prompt, false);  // a fork: the entry stays
  REQUIRE(hit.session);
  CHECK(hit.reused == 24);
  CHECK(hit.session->position() == 24);
  CHECK(hit.session->tokens() == tokens(10, 24));
  CHECK(cache.size() == 3);

  hit = cache.find(prompt, true);  // taken over: the entry leaves
  REQUIRE(hit.session);
  CHECK(hit.reused == 24);
  CHECK(cache.size() == 2);
  hit = cache.find(prompt, true);
  REQUIRE(hit.session);
  CHECK(hit.reused == 20);
  CHECK(cache.find(prompt, true).session == nullptr);  // only the 10-token one is left
  CHECK(cache.find(tokens(500, 30), false).session == nullptr);
}

TEST_CASE("prefix cache: one prompt token is always left to prefill") {
  PrefixCache cache(2, 4);
  cache.put(prefilled(tokens(10, 30)));
  PrefixCache::Hit hit = cache.find(tokens(10, 20), false);  // the prompt is all cached
  REQUIRE(hit.session);
  CHECK(hit.reused == 19);
  CHECK(hit.session->tokens() == tokens(10, 19));
}

TEST_CASE("prefix cache: least recently used entries are dropped past the capacity") {
  PrefixCache off(0);
  auto session = prefilled(tokens(10, 20));
  mimo::Session* raw = session.get();
  CHECK(off.put(std::move(session)).get() == raw);  // capacity 0 keeps nothing
  CHECK(off.size() == 0);

  PrefixCache cache(2, 16);
  auto a = prefilled(tokens(10, 20));
  mimo::Session* first = a.get();
  cache.put(std::move(a));
  cache.put(prefilled(tokens(40, 20)));
  CHECK(cache.find(tokens(10, 21), false).session);  // a fork of the first: now most recent
  auto dropped = cache.put(prefilled(tokens(70, 20)));
  REQUIRE(dropped);
  CHECK(dropped.get() != first);
  CHECK(dropped->tokens() == tokens(40, 20));
  CHECK(cache.size() == 2);
}

TEST_CASE("prefix cache: a reused conversation gives the greedy answer of a fresh one") {
  auto answer = [](ServedModel& served, const GenerationRequest& request,
                   std::int64_t* cached = nullptr) {
    StepScheduler scheduler(1, 1);
    auto ticket = scheduler.admit();
    REQUIRE(ticket->wait_for_slot());
    std::string text;
    const GenerationOutcome outcome =
        generate(served, *ticket, request, build_prompt(served, request), [&](GenerationDelta&& d) {
          text += d.content;
          return true;
        });
    if (cached) *cached = outcome.cached_tokens;
    return text;
  };
  for (const bool speculative : {false, true}) {
    ServedModel::Options options;
    options.name = "demo";
    if (speculative) options.drafter_dir = mimo::testing::demo_dir("drafter");
    auto tokenizer = mimo::Tokenizer::from_model_dir(mimo::testing::demo_dir("mixed"));
    options.prefix_cache = 4;
    ServedModel cached(demo_model(), tokenizer, options);
    options.prefix_cache = 0;
    ServedModel plain(demo_model(), tokenizer, options);

    GenerationRequest request;
    request.endpoint = Endpoint::kCompletion;
    request.model = "demo";
    request.max_tokens = 12;
    request.sampling.temperature = 0;
    request.sampling.repetition_penalty = 1.3f;  // the penalty window must see the whole prompt
    request.prompt_text = "def fibonacci(n):\n    if n < 2:\n        return n\n";
    const std::string first = answer(cached, request);
    CHECK(first == answer(plain, request));
    request.prompt_text += first + "\ndef factorial(n):\n";
    std::int64_t reused = 0;
    const std::string second = answer(cached, request, &reused);
    CHECK(reused > 16);
    CHECK(second == answer(plain, request));
    CHECK(cached.prefix_cache().size() == (speculative ? 2 : 1));

    // Sampled with a seed: the same answer as without the cache. With a drafter the draws go
    // through its drafts, which a reused prefix would change, so such requests do not reuse.
    request.sampling.temperature = 0.9f;
    request.sampling.seed = 7;
    request.seed_given = true;
    const std::string sampled = answer(cached, request, &reused);
    CHECK((reused > 16) == !speculative);
    CHECK(sampled == answer(plain, request));
  }
}
