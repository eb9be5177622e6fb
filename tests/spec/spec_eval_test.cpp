// The held-out speculative evaluation (bench/spec_eval.hpp) on the demo model: two prompts, a
// few tokens, every row present and greedy DFlash / n-gram / lookup-first output equal to plain
// output.
#include "spec_eval.hpp"

#include <string>

#include "support/catch.hpp"

namespace {

std::string source_path(const std::string& relative) {
  return std::string(MIMO_SOURCE_DIR) + "/" + relative;
}

}  // namespace

TEST_CASE("spec eval: two held-out prompts on the demo model, lossless, eight rows") {
  mimo::bench::SpecEvalOptions options;
  options.model_dir = source_path("models/demo/mixed");
  options.drafter_dir = source_path("models/demo/drafter");
  options.prompts_dir = source_path("bench/spec_eval/prompts");
  options.num_threads = 2;
  options.tokens = 12;
  options.max_prompts = 2;
  const mimo::bench::SpecEvalReport report = mimo::bench::run_spec_eval(options);
  CHECK(report.lossless);
  CHECK(report.mismatches.empty());
  CHECK(report.prompts == 2);
  const char* modes[] = {"plain", "dflash", "ngram", "dflash+lookup"};
  REQUIRE(report.rows.size() == 8);
  for (std::size_t i = 0; i < report.rows.size(); ++i) {
    const auto& row = report.rows[i];
    CHECK(row.mode == modes[i % 4]);
    CHECK(row.greedy == (i < 4));
    CHECK(row.tokens == 2 * 11);  // decoded tokens: the first comes from the prefill
    CHECK(row.tokens_per_second > 0);
    if (row.mode == "plain") {
      CHECK(row.mean_acceptance == 0);
      CHECK(row.ratio_to_plain == 1.0);
    } else {
      CHECK(row.mean_acceptance >= 1.0);
      // The verify time's parts: the target's passes and the speculator's observe, inside it.
      CHECK(row.verify_pass_seconds > 0);
      CHECK(row.observe_seconds > 0);
      CHECK(row.verify_pass_seconds + row.observe_seconds <= row.verify_seconds);
    }
  }
  const std::string table = mimo::bench::format_spec_eval(report);
  CHECK(table.find("lossless: yes") != std::string::npos);
  CHECK(table.find("(pass/observe ms)") != std::string::npos);
  CHECK(table.find("dflash        t=0.7") != std::string::npos);
  CHECK(table.find("dflash+lookup t=0.7") != std::string::npos);
  // The lookup-first speculator says which sources it used.
  REQUIRE(report.summaries.size() == 1);
  CHECK(report.summaries[0].find("dflash+lookup: steps by source:") == 0);
  CHECK(table.find(report.summaries[0]) != std::string::npos);
}

TEST_CASE("spec eval: a directory without prompts is an error") {
  CHECK_THROWS(mimo::bench::list_prompt_files(source_path("bench/spec_eval")));
}
