// In-process collectives: the all-reduce sums in rank order (bit-exact against that order and
// close to a float64 sum), the all-gather lays ranks' columns side by side, and the distributed
// argmax equals the argmax of the gathered row, ties to the lowest id.
#include <random>

#include "exec/virtual_collectives.hpp"
#include "mimo/error.hpp"
#include "support/catch.hpp"

using namespace mimo::exec;

namespace {

std::vector<float> random_floats(std::mt19937_64& rng, std::size_t n) {
  std::uniform_real_distribution<float> d(-2.0f, 2.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng) + (d(rng) > 0 ? 0.01f : -0.01f);
  return v;
}

}  // namespace

TEST_CASE("all_reduce_sum adds the ranks in rank order", "[exec][collectives]") {
  std::mt19937_64 rng(7);
  for (int ranks : {1, 2, 3, 4, 8}) {
    std::vector<std::vector<float>> parts;
    for (int r = 0; r < ranks; ++r) parts.push_back(random_floats(rng, 257));
    std::vector<float> out(257);
    all_reduce_sum(parts, out.data(), 257);
    for (int i = 0; i < 257; ++i) {
      float ordered = parts[0][i];
      double exact = parts[0][i];
      for (int r = 1; r < ranks; ++r) {
        ordered += parts[r][i];
        exact += parts[r][i];
      }
      CHECK(out[i] == ordered);
      CHECK(std::abs(out[i] - exact) <= 1e-5 * ranks);
    }
  }
  std::vector<std::vector<float>> bad = {std::vector<float>(4), std::vector<float>(3)};
  std::vector<float> out(4);
  CHECK_THROWS_AS(all_reduce_sum(bad, out.data(), 4), mimo::Error);
}

TEST_CASE("all_gather_columns concatenates the ranks' columns per row", "[exec][collectives]") {
  std::mt19937_64 rng(11);
  const std::vector<std::int64_t> widths = {3, 1, 4};
  const std::int64_t rows = 5, total = 8;
  std::vector<std::vector<float>> pieces;
  for (std::int64_t w : widths) pieces.push_back(random_floats(rng, rows * w));
  std::vector<float> out(rows * total);
  all_gather_columns(pieces, widths, rows, out.data());
  for (std::int64_t row = 0; row < rows; ++row) {
    std::int64_t col = 0;
    for (std::size_t r = 0; r < widths.size(); ++r) {
      for (std::int64_t j = 0; j < widths[r]; ++j, ++col) {
        CHECK(out[row * total + col] == pieces[r][row * widths[r] + j]);
      }
    }
  }
  CHECK_THROWS_AS(all_gather_columns(pieces, std::vector<std::int64_t>{3, 1, 3}, rows, out.data()),
                  mimo::Error);
}

TEST_CASE("distributed argmax equals the argmax of the gathered logits", "[exec][collectives]") {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    const std::int64_t vocab = 97;
    std::vector<float> logits = random_floats(rng, vocab);
    if (trial % 5 == 0) logits[60] = logits[17] = 9.0f;  // a tie across two ranks
    const std::vector<std::int64_t> bounds = {0, 30, 31, 64, 97};
    std::vector<ArgmaxCandidate> candidates;
    for (std::size_t r = 0; r + 1 < bounds.size(); ++r) {
      candidates.push_back(
          local_argmax(logits.data() + bounds[r], bounds[r + 1] - bounds[r], bounds[r]));
    }
    std::int64_t best = 0;
    for (std::int64_t i = 1; i < vocab; ++i) {
      if (logits[i] > logits[best]) best = i;
    }
    const ArgmaxCandidate got = reduce_argmax(candidates);
    CHECK(got.index == best);
    CHECK(got.value == logits[best]);
    if (trial % 5 == 0) CHECK(got.index == 17);
  }
  // A rank with an empty slice contributes nothing.
  const std::vector<ArgmaxCandidate> some = {local_argmax(nullptr, 0, 0), {1.5f, 4}};
  CHECK(reduce_argmax(some).index == 4);
}
