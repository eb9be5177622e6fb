// mimo-bench's command line (bench/gpu_bench_args.hpp): the speculative options --spec-eval and
// --draft-projection, their requirements, and rejected numbers.
#include "gpu_bench_args.hpp"

#include <initializer_list>
#include <optional>
#include <vector>

#include "support/catch.hpp"

namespace {

std::optional<mimo::bench::Args> parse(std::initializer_list<const char*> words) {
  std::vector<const char*> argv{"mimo-bench"};
  argv.insert(argv.end(), words.begin(), words.end());
  return mimo::bench::try_parse_args(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("mimo-bench args: --spec-eval takes the prompts, the model, the drafter and --generate") {
  const auto a = parse({"--spec-eval", "bench/spec_eval/prompts", "-m", "models/demo/mixed",
                        "--draft", "models/demo/drafter", "--generate", "128"});
  REQUIRE(a);
  CHECK(a->spec_eval_dir == "bench/spec_eval/prompts");
  CHECK(a->model_dir == "models/demo/mixed");
  CHECK(a->draft_dir == "models/demo/drafter");
  CHECK(a->generate_tokens == 128);
  CHECK_FALSE(a->draft_projection);
  CHECK_FALSE(a->synthetic);
  CHECK_FALSE(a->argmax_drafts);
}

TEST_CASE("mimo-bench args: --most-drafts goes with --spec-eval only") {
  const auto a = parse({"--spec-eval", "p", "-m", "model", "--draft", "d", "--most-drafts"});
  REQUIRE(a);
  CHECK(a->most_drafts);
  CHECK_FALSE(a->argmax_drafts);
  CHECK_FALSE(parse({"-m", "model", "--draft", "d", "--most-drafts"}));
  const auto b =
      parse({"--spec-eval", "p", "-m", "model", "--draft", "d", "--lookup-drafts", "15"});
  REQUIRE(b);
  CHECK(b->lookup_drafts == 15);
  CHECK_FALSE(parse({"-m", "model", "--draft", "d", "--lookup-drafts", "15"}));
}

TEST_CASE("mimo-bench args: --argmax-drafts goes with --spec-eval only") {
  const auto a = parse({"--spec-eval", "p", "-m", "model", "--draft", "d", "--argmax-drafts"});
  REQUIRE(a);
  CHECK(a->argmax_drafts);
  CHECK_FALSE(parse({"-m", "model", "--draft", "d", "--argmax-drafts"}));
}

TEST_CASE("mimo-bench args: --spec-eval needs -m and --draft") {
  CHECK_FALSE(parse({"--spec-eval", "p", "-m", "model"}));
  CHECK_FALSE(parse({"--spec-eval", "p", "--synthetic", "--draft", "d"}));
  CHECK_FALSE(parse({"-m", "model", "--draft", "d", "--spec-eval"}));  // no directory
  CHECK_FALSE(parse({"--spec-eval", "p", "-m", "model", "--draft", "d", "--generate", "0"}));
}

TEST_CASE("mimo-bench args: --draft-projection goes with --synthetic only") {
  const auto a = parse({"--synthetic", "--draft-projection", "--steps", "7"});
  REQUIRE(a);
  CHECK(a->draft_projection);
  CHECK(a->synthetic);
  CHECK(a->steps == 7);
  CHECK(a->spec_eval_dir.empty());
  CHECK_FALSE(parse({"-m", "models/demo/mixed", "--draft-projection"}));
}

TEST_CASE("mimo-bench args: the defaults, and numbers that are not whole ints are rejected") {
  const auto a = parse({"--synthetic"});
  REQUIRE(a);
  CHECK(a->layers == 48);
  CHECK(a->verify == 8);
  CHECK(a->generate_tokens == 256);
  CHECK_FALSE(a->draft_projection);
  CHECK(a->spec_eval_dir.empty());
  CHECK_FALSE(parse({"--synthetic", "--steps", "many"}));
  CHECK_FALSE(parse({"--synthetic", "--steps", "12x"}));
  CHECK_FALSE(parse({"--synthetic", "--layers", "99999999999"}));
  CHECK_FALSE(parse({"--synthetic", "--prefill-chunk", "16,,64"}));
  const auto chunks = parse({"--synthetic", "--prefill-chunk", "16,64"});
  REQUIRE(chunks);
  CHECK(chunks->prefill_chunks == std::vector<int>{16, 64});
  CHECK_FALSE(parse({"--synthetic", "--frobnicate"}));
  CHECK_FALSE(parse({}));
}
