// AVX2 row decoders (weight_rows_avx2.hpp). Only these functions carry the avx2 target: the rest
// of the library stays baseline x86-64 and calls them after available() said yes.
#include "cpu/weight_rows_avx2.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "cpu/weight_rows.hpp"
#include "quant/codecs.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MIMO_AVX2_ROWS 1
#endif

namespace mimo::cpu::avx2 {

bool enabled() {
  static const bool yes = [] {
    const char* env = std::getenv("MIMO_CPU_AVX2");
    return available() && !(env != nullptr && std::string_view(env) == "0");
  }();
  return yes;
}

#if MIMO_AVX2_ROWS

bool available() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}

namespace {

constexpr unsigned kDenormalsAreZero = 0x0040;  // MXCSR.DAZ

void decode_fp8_scalar(const std::uint8_t* row, std::int64_t begin, std::int64_t end, float scale,
                       float* out) {
  for (std::int64_t c = begin; c < end; ++c) out[c] = quant::kFp8E4M3Values[row[c]] * scale;
}

// Eight E4M3 codes as floats. The 7 magnitude bits shifted to sit under the float32 exponent's
// low bits make a float 2^-120 times the code's value (subnormal codes land on float32
// subnormals with the same mantissa), so one exact multiply by 2^120 rebuilds it; the sign bit
// moves over. NaN codes (0x7F, 0xFF) are the caller's to handle.
__attribute__((target("avx2"))) __m256 fp8_e4m3_values(__m256i codes) {
  const __m256i magnitude = _mm256_and_si256(codes, _mm256_set1_epi32(0x7F));
  const __m256 value = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(magnitude, 20)),
                                     _mm256_set1_ps(0x1p120f));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(codes, _mm256_set1_epi32(0x80)), 24);
  return _mm256_xor_ps(value, _mm256_castsi256_ps(sign));
}

}  // namespace

__attribute__((target("avx2"))) void decode_fp8_block(const model::LinearWeight& w,
                                                      std::int64_t stored_row,
                                                      const std::uint8_t* row, float* out) {
  const std::int64_t scale_row = (stored_row / w.block_rows) * w.scale_cols;
  const bool exact_subnormals = (_mm_getcsr() & kDenormalsAreZero) == 0;
  for (std::int64_t c0 = 0; c0 < w.cols; c0 += w.block_cols) {
    const float scale = fp8_block_scale(w, scale_row + c0 / w.block_cols);
    const std::int64_t c1 = std::min<std::int64_t>(w.cols, c0 + w.block_cols);
    std::int64_t c = c0;
    if (exact_subnormals) {
      const __m256 scales = _mm256_set1_ps(scale);
      for (; c + 8 <= c1; c += 8) {
        std::int64_t eight;
        std::memcpy(&eight, row + c, sizeof eight);
        const __m256i codes = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(eight));
        const __m256i nan = _mm256_cmpeq_epi32(_mm256_and_si256(codes, _mm256_set1_epi32(0x7F)),
                                               _mm256_set1_epi32(0x7F));
        if (!_mm256_testz_si256(nan, nan)) {
          decode_fp8_scalar(row, c, c + 8, scale, out);
          continue;
        }
        _mm256_storeu_ps(out + c, _mm256_mul_ps(fp8_e4m3_values(codes), scales));
      }
    }
    decode_fp8_scalar(row, c, c1, scale, out);
  }
}

__attribute__((target("avx2"))) void decode_bf16(const std::uint8_t* row, std::int64_t cols,
                                                 float* out) {
  std::int64_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * c));
    const __m256i bits = _mm256_slli_epi32(_mm256_cvtepu16_epi32(halves), 16);
    _mm256_storeu_ps(out + c, _mm256_castsi256_ps(bits));
  }
  for (; c < cols; ++c) {
    std::uint16_t half;
    std::memcpy(&half, row + 2 * c, sizeof half);
    out[c] = quant::bf16_value(half);
  }
}

__attribute__((target("avx2"))) void decode_mxfp4(const model::LinearWeight& w,
                                                  std::int64_t stored_row, const std::uint8_t* row,
                                                  float* out) {
  const std::uint8_t* scales = w.scales + stored_row * w.scale_cols;
  // E2M1 magnitudes by the code's low three bits; bit 3 is the sign (code 8 is -0).
  const __m256 magnitudes = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);
  const __m128i low_nibbles = _mm_set1_epi8(0x0F);
  for (std::int64_t c0 = 0; c0 < w.cols; c0 += w.block_cols) {
    const float scale = quant::e8m0_value(scales[c0 / w.block_cols]);
    const __m256 scales8 = _mm256_set1_ps(scale);
    const std::int64_t c1 = std::min<std::int64_t>(w.cols, c0 + w.block_cols);
    std::int64_t c = c0;
    for (; c + 8 <= c1; c += 8) {  // c0 and the group size are even: whole bytes
      std::uint32_t four;
      std::memcpy(&four, row + c / 2, sizeof four);
      const __m128i bytes = _mm_cvtsi32_si128(static_cast<int>(four));
      const __m128i low = _mm_and_si128(bytes, low_nibbles);
      const __m128i high = _mm_and_si128(_mm_srli_epi16(bytes, 4), low_nibbles);
      // Low nibble first: value c is byte c/2's low nibble, value c+1 its high one.
      const __m256i codes = _mm256_cvtepu8_epi32(_mm_unpacklo_epi8(low, high));
      const __m256 magnitude = _mm256_permutevar8x32_ps(magnitudes, codes);
      const __m256i sign = _mm256_slli_epi32(_mm256_srli_epi32(codes, 3), 31);
      const __m256 value = _mm256_xor_ps(magnitude, _mm256_castsi256_ps(sign));
      _mm256_storeu_ps(out + c, _mm256_mul_ps(value, scales8));
    }
    for (; c < c1; c += 2) {
      const std::uint8_t b = row[c / 2];
      out[c] = quant::kFp4E2M1Values[b & 0xF] * scale;
      out[c + 1] = quant::kFp4E2M1Values[b >> 4] * scale;
    }
  }
}

#else  // not x86-64 with GCC / Clang: never available

bool available() {
  return false;
}
void decode_fp8_block(const model::LinearWeight&, std::int64_t, const std::uint8_t*, float*) {}
void decode_bf16(const std::uint8_t*, std::int64_t, float*) {}
void decode_mxfp4(const model::LinearWeight&, std::int64_t, const std::uint8_t*, float*) {}

#endif

}  // namespace mimo::cpu::avx2
