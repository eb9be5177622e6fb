// Shared attention pieces (attention_pieces.hpp).
#include "cpu/attention_pieces.hpp"

namespace mimo::cpu {

void add_weighted(bool use_avx2, float weight, const float* value, float* out, int n) {
  if (use_avx2) {
    avx2::axpy(weight, value, out, n);
  } else {
    axpy(weight, value, out, n);
  }
}

}  // namespace mimo::cpu
