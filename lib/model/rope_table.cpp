// rope_inv_freq: inv_freq = 1.0 / (theta ** (arange(0, d, 2).float() / d)), in float32.
#include "model/rope_table.hpp"

#include <cmath>

namespace mimo::model {

std::vector<float> rope_inv_freq(int d, double theta) {
  const int count = rope_rotary_dim(d) / 2;  // arange(0, d, 2) has ceil(d / 2) elements
  std::vector<float> inv_freq(count);
  const float base = static_cast<float>(theta);
  for (int i = 0; i < count; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(d);
    const float power = static_cast<float>(std::pow(static_cast<double>(base), exponent));
    inv_freq[i] = 1.0f / power;
  }
  return inv_freq;
}

}  // namespace mimo::model
