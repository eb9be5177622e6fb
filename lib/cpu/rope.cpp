// RoPE. Reference semantics (transformers, float32): inv_freq = 1.0 / (theta ** (arange(0, d, 2)
// .float() / d)); freqs = position.float() * inv_freq (one float32 product); emb = cat(freqs,
// freqs); cos/sin of emb in float32; q' = q * cos + rotate_half(q) * sin.
#include "cpu/rope.hpp"

#include <cmath>

#include "model/rope_table.hpp"

namespace mimo::cpu {

Rope::Rope(int frequency_dim, double theta)
    : rotary_dim_(model::rope_rotary_dim(frequency_dim)),
      inv_freq_(model::rope_inv_freq(frequency_dim, theta)) {}

void Rope::apply(float* x, int n_heads, int head_dim, long long pos) const {
  const int half = rotary_dim_ / 2;
  std::vector<float> cos_v(half), sin_v(half);
  for (int i = 0; i < half; ++i) {
    const float angle = static_cast<float>(pos) * inv_freq_[i];
    // cos/sin of the float32 angle, correctly rounded to float32 like torch's float kernels.
    cos_v[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
    sin_v[i] = static_cast<float>(std::sin(static_cast<double>(angle)));
  }
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<long long>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      // rotate_half(v) = cat(-v[half:], v[:half])
      v[i] = a * cos_v[i] - b * sin_v[i];
      v[i + half] = b * cos_v[i] + a * sin_v[i];
    }
  }
}

}  // namespace mimo::cpu
