// Pearson chi-square tests shared by the statistical tests: goodness of fit of observed counts
// to exact probabilities, homogeneity of two samples, and the p = 0.001 critical values.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>

namespace mimo_test {

struct ChiSquare {
  double statistic = 0;
  int dof = 0;
};

// Counts of `n` draws against `probabilities` (outcome -> probability; an outcome is a token or
// a tuple of them). Bins expecting fewer than 5 draws are merged into one, as the chi-square
// approximation needs; a draw of an outcome absent from `probabilities` (probability 0) lands
// in that merged bin.
template <typename Outcome>
ChiSquare goodness_of_fit(const std::map<Outcome, double>& probabilities,
                          const std::map<Outcome, int>& counts, int n) {
  ChiSquare out;
  double merged_expected = 0, merged_observed = 0;
  int bins = 0;
  for (const auto& [token, count] : counts) {
    if (probabilities.find(token) == probabilities.end()) merged_observed += count;
  }
  for (const auto& [token, prob] : probabilities) {
    const double expected = prob * n;
    const auto it = counts.find(token);
    const double observed = it == counts.end() ? 0 : it->second;
    if (expected < 5) {
      merged_expected += expected;
      merged_observed += observed;
      continue;
    }
    out.statistic += (observed - expected) * (observed - expected) / expected;
    ++bins;
  }
  if (merged_expected > 0 || merged_observed > 0) {
    const double diff = merged_observed - merged_expected;
    out.statistic += diff * diff / std::max(merged_expected, 1e-9);
    ++bins;
  }
  out.dof = bins - 1;
  return out;
}

// Whether two samples come from one distribution: the 2 x bins contingency table, bins whose
// pooled count is below 10 merged into one.
inline ChiSquare homogeneity(const std::map<std::int32_t, int>& a,
                             const std::map<std::int32_t, int>& b) {
  double na = 0, nb = 0;
  std::set<std::int32_t> tokens;
  for (const auto& [t, c] : a) na += c, tokens.insert(t);
  for (const auto& [t, c] : b) nb += c, tokens.insert(t);
  auto count = [](const std::map<std::int32_t, int>& m, std::int32_t t) {
    const auto it = m.find(t);
    return it == m.end() ? 0.0 : static_cast<double>(it->second);
  };
  ChiSquare out;
  double small_a = 0, small_b = 0;
  int bins = 0;
  auto add_bin = [&](double oa, double ob) {
    const double pooled = (oa + ob) / (na + nb);
    const double ea = pooled * na, eb = pooled * nb;
    out.statistic += (oa - ea) * (oa - ea) / ea + (ob - eb) * (ob - eb) / eb;
    ++bins;
  };
  for (std::int32_t t : tokens) {
    const double oa = count(a, t), ob = count(b, t);
    if (oa + ob < 10) {
      small_a += oa, small_b += ob;
    } else {
      add_bin(oa, ob);
    }
  }
  if (small_a + small_b > 0) add_bin(small_a, small_b);
  out.dof = bins - 1;
  return out;
}

// The chi-square distribution's 0.999 quantile: a table to 20 degrees of freedom, then the
// Wilson-Hilferty approximation (within 1 % there, on the conservative side).
inline double critical_p001(int dof) {
  static const double table[] = {0,      10.828, 13.816, 16.266, 18.467, 20.515, 22.458,
                                 24.322, 26.124, 27.877, 29.588, 31.264, 32.909, 34.528,
                                 36.123, 37.697, 39.252, 40.790, 42.312, 43.820, 45.315};
  if (dof <= 20) return table[std::max(dof, 0)];
  const double k = dof, z = 3.0902;  // the standard normal's 0.999 quantile
  const double c = 1.0 - 2.0 / (9.0 * k) + z * std::sqrt(2.0 / (9.0 * k));
  return k * c * c * c;
}

}  // namespace mimo_test
