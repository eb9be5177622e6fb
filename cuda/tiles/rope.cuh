// Partial neox RoPE tile: rotates pair (i, i + rotary_dim/2) of one head by pos * inv_freq[i].
// The angle is one float32 product and cos/sin are taken in double and rounded to float, the
// same arithmetic as cpu::Rope (CUDA's double cos/sin may differ from glibc's in the last bit).
#pragma once

namespace mimo::cuda::tiles {

// (a, b) rotated by pos * inv_freq: a' = a cos - b sin, b' = b cos + a sin.
__device__ __forceinline__ void rope_rotate(float& a, float& b, float inv_freq, int pos) {
  const float angle = __fmul_rn(static_cast<float>(pos), inv_freq);
  const float c = static_cast<float>(cos(static_cast<double>(angle)));
  const float s = static_cast<float>(sin(static_cast<double>(angle)));
  // Unfused multiplies and adds, as the CPU computes them.
  const float rotated_a = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
  b = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
  a = rotated_a;
}

__device__ __forceinline__ void rope_pair_tile(float* head, int half, int i, float inv_freq,
                                               int pos) {
  float a = head[i], b = head[i + half];
  rope_rotate(a, b, inv_freq, pos);
  head[i] = a;
  head[i + half] = b;
}

}  // namespace mimo::cuda::tiles
