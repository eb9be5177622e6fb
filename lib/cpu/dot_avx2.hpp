// The AVX2 form of dots4 (dot.hpp): dot()'s eight accumulators are one 256-bit register,
// multiplied and added (never fused: the function does not enable FMA) in the same order, so
// the bits are dot()'s. Chosen at run time where the CPU has AVX2 (linear.cpp).
#pragma once

#include <cstdint>

namespace mimo::cpu::avx2 {

// out[j] = dot(a[j], b[j], n) for j = 0..3, bit for bit. Needs avx2::available().
void dots4(const float* const* a, const float* const* b, std::int64_t n, float* out);

// out[4 * r + t] = dot(a[r], b[t], n) for two rows a[0..1] and four tokens b[0..3], bit for
// bit: each operand is loaded once per eight elements (dots4 loads a shared row four times), so
// a multi-token linear does about a third more multiply-adds a second. Needs avx2::available().
void dots2x4(const float* const* a, const float* const* b, std::int64_t n, float* out);

// y[i] += alpha * x[i] (multiplied, then added: axpy()'s bits), eight at a time.
void axpy(float alpha, const float* x, float* y, std::int64_t n);

}  // namespace mimo::cpu::avx2
