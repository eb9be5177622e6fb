// rope_inv_freq: inv_freq = 1.0 / (theta ** (arange(0, d, 2).float() / d)), in float32.
#include "model/rope_table.hpp"

#include <cmath>

namespace mimo::model {

std::vector<float> rope_inv_freq(int rotary_dim, double theta) {
  std::vector<float> inv_freq(rotary_dim / 2);
  const float base = static_cast<float>(theta);
  for (int i = 0; i < rotary_dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(rotary_dim);
    const float power = static_cast<float>(std::pow(static_cast<double>(base), exponent));
    inv_freq[i] = 1.0f / power;
  }
  return inv_freq;
}

}  // namespace mimo::model
