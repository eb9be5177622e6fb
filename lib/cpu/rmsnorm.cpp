// RMSNorm kernel.
#include "cpu/rmsnorm.hpp"

#include <cmath>

#include "cpu/dot.hpp"

namespace mimo::cpu {

void rmsnorm(const float* x, const float* weight, int n_tokens, std::int64_t dim, double eps,
             float* out) {
  for (int t = 0; t < n_tokens; ++t) {
    const float* xt = x + t * dim;
    float* yt = out + t * dim;
    const float mean_square = sum_of_squares(xt, dim) / static_cast<float>(dim);
    // torch.rsqrt on float32; eps is the config's double, added in float32 as torch does.
    const float inv_rms = 1.0f / std::sqrt(mean_square + static_cast<float>(eps));
    for (std::int64_t i = 0; i < dim; ++i) yt[i] = weight[i] * (xt[i] * inv_rms);
  }
}

}  // namespace mimo::cpu
