// The shared executor envelope and the plan cache: chunk boundaries and undo of run_chunks,
// chunk shapes, and ProgramCache planning each step shape once.
#include "exec/step_envelope.hpp"

#include <stdexcept>
#include <vector>

#include "cpu/random_model.hpp"
#include "program/program_cache.hpp"
#include "support/catch.hpp"

namespace mimo::exec {
namespace {

TEST_CASE("run_chunks cuts a step into chunks and undoes a failed one") {
  std::vector<std::vector<std::int64_t>> seen;
  int undone = 0;
  run_chunks(
      13, 5,
      [&](std::int64_t begin, int n, bool last) {
        seen.push_back({begin, n, last});
      },
      [&] { ++undone; });
  CHECK(seen == std::vector<std::vector<std::int64_t>>{{0, 5, 0}, {5, 5, 0}, {10, 3, 1}});
  CHECK(undone == 0);

  int chunks = 0;
  CHECK_THROWS_AS(run_chunks(
                      13, 5,
                      [&](std::int64_t, int, bool) {
                        if (++chunks == 2) throw std::runtime_error("chunk 2 fails");
                      },
                      [&] { ++undone; }),
                  std::runtime_error);
  CHECK(chunks == 2);
  CHECK(undone == 1);
}

TEST_CASE("chunk shapes ask for logits only where the step returns them") {
  StepOptions options;
  options.hidden_taps = {1, 3};
  const program::StepShape middle = chunk_shape(options, 8, false);
  CHECK(middle.tokens == 8);
  CHECK_FALSE(middle.logits);
  CHECK(middle.taps == options.hidden_taps);
  CHECK(chunk_shape(options, 3, true).logits);
  options.all_logits = true;
  CHECK(chunk_shape(options, 8, false).logits);
  CHECK(chunk_shape(options, 8, false, 2).sample_mode == 2);
}

TEST_CASE("ProgramCache plans each step shape once") {
  const auto m = cpu::testing::make_random_model(3);
  program::ProgramCache cache(m->config);
  program::StepShape decode, verify;
  verify.tokens = 8;
  verify.all_logits = true;
  const program::StepProgram& a = cache.get(decode);
  const program::StepProgram& b = cache.get(verify);
  CHECK(&cache.get(decode) == &a);
  CHECK(&cache.get(verify) == &b);
  CHECK(cache.size() == 2u);
  CHECK(b.shape == verify);

  program::ProgramCache parallel(m->config, 2);
  const program::StepProgram& p = parallel.get(decode);
  CHECK(p.ranks == 2);
  CHECK(p.ops.size() > a.ops.size());  // the collectives
}

}  // namespace
}  // namespace mimo::exec
