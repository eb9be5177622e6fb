// The AVX2 row decoders give the same bits as the scalar ones: every BF16 pattern, every FP8 and
// FP4 code (NaNs, subnormals, -0 included), F32 and BF16 block scales from tiny to huge, E8M0
// scales over their whole range, row tails that are not a multiple of 8, and row slices.
#include "cpu/weight_rows_avx2.hpp"

#include <cstring>
#include <random>
#include <vector>

#include "cpu/dot.hpp"
#include "cpu/dot_avx2.hpp"
#include "cpu/weight_rows.hpp"
#include "quant/codecs.hpp"
#include "support/catch.hpp"

namespace {

using mimo::model::LinearWeight;
using mimo::model::WeightFormat;

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

std::uint16_t bf16_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return static_cast<std::uint16_t>(u >> 16);
}

}  // namespace

TEST_CASE("AVX2 FP8 block rows equal the E4M3 table times the block scale") {
  if (!mimo::cpu::avx2::available()) {
    WARN("this CPU has no AVX2: decode_row keeps the scalar table decoder, nothing else to check");
    return;
  }
  std::mt19937 rng(11);
  for (const auto scale_dtype : {mimo::io::DType::kF32, mimo::io::DType::kBF16}) {
    for (const std::int64_t cols : {8, 13, 128, 300, 1024}) {
      const std::int64_t rows = 260;  // three row blocks of 128
      const int block = 128;
      const std::int64_t scale_cols = (cols + block - 1) / block;
      std::vector<std::uint8_t> data(rows * cols);
      for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<std::uint8_t>(i * 7 + rng());
      // Scales from subnormal-producing to overflow-producing, and ordinary ones.
      const float picks[] = {1e-38f, 3e-30f, 1.0f / 448, 0.0123f, 1.0f, 7.5f, 1e30f, 2.5e35f};
      std::vector<std::uint8_t> scales((rows / block + 1) * scale_cols * 4);
      std::vector<float> scale_values((rows / block + 1) * scale_cols);
      for (std::size_t i = 0; i < scale_values.size(); ++i) {
        float s = picks[rng() % std::size(picks)];
        if (scale_dtype == mimo::io::DType::kBF16) {
          const std::uint16_t b = bf16_bits(s);
          std::memcpy(scales.data() + 2 * i, &b, 2);
          s = mimo::quant::bf16_value(b);
        } else {
          std::memcpy(scales.data() + 4 * i, &s, 4);
        }
        scale_values[i] = s;
      }
      LinearWeight w;
      w.name = "fp8";
      w.format = WeightFormat::kFp8Block;
      w.rows = rows - 5;
      w.row_offset = 5;  // a slice: the stored row picks the scale row
      w.cols = cols;
      w.data = data.data();
      w.row_stride_bytes = cols;
      w.scales = scales.data();
      w.scale_dtype = scale_dtype;
      w.scale_cols = scale_cols;
      w.block_rows = block;
      w.block_cols = block;
      for (std::int64_t r = 0; r < w.rows; ++r) {
        const std::int64_t stored = r + w.row_offset;
        std::vector<float> want(cols), got(cols, -1.0f);
        for (std::int64_t c = 0; c < cols; ++c) {
          want[c] = mimo::quant::kFp8E4M3Values[data[stored * cols + c]] *
                    scale_values[(stored / block) * scale_cols + c / block];
        }
        mimo::cpu::avx2::decode_fp8_block(w, stored, data.data() + stored * cols, got.data());
        INFO("cols " << cols << ", row " << r);
        REQUIRE(same_bits(got, want));
      }
    }
  }
}

TEST_CASE("AVX2 MXFP4 rows equal the E2M1 table times the E8M0 scale") {
  if (!mimo::cpu::avx2::available()) {
    WARN("this CPU has no AVX2: decode_row keeps the scalar table decoder, nothing else to check");
    return;
  }
  std::mt19937 rng(12);
  for (const std::int64_t cols : {2, 14, 32, 96, 200, 2048}) {
    const int group = 32;
    const std::int64_t rows = 64;
    const std::int64_t scale_cols = (cols + group - 1) / group;
    std::vector<std::uint8_t> data(rows * cols / 2), scales(rows * scale_cols);
    for (std::size_t i = 0; i < data.size(); ++i)
      data[i] = static_cast<std::uint8_t>(i * 13 + rng());
    // Every E8M0 byte: 0 (2^-127), the subnormal products, 127 (1), 254 (2^127), 255 (NaN).
    for (std::size_t i = 0; i < scales.size(); ++i)
      scales[i] = static_cast<std::uint8_t>(i * 37 + rng());
    LinearWeight w;
    w.name = "fp4";
    w.format = WeightFormat::kMxfp4;
    w.rows = rows;
    w.cols = cols;
    w.data = data.data();
    w.row_stride_bytes = cols / 2;
    w.scales = scales.data();
    w.scale_cols = scale_cols;
    w.block_cols = group;
    for (std::int64_t r = 0; r < rows; ++r) {
      std::vector<float> want(cols), got(cols, -1.0f);
      for (std::int64_t c = 0; c < cols; ++c) {
        const std::uint8_t b = data[r * (cols / 2) + c / 2];
        want[c] = mimo::quant::kFp4E2M1Values[c % 2 == 0 ? b & 0xF : b >> 4] *
                  mimo::quant::e8m0_value(scales[r * scale_cols + c / group]);
      }
      mimo::cpu::avx2::decode_mxfp4(w, r, data.data() + r * (cols / 2), got.data());
      INFO("cols " << cols << ", row " << r);
      REQUIRE(same_bits(got, want));
      // decode_row (which dispatches to it) agrees too.
      std::vector<float> row(cols);
      mimo::cpu::decode_row(w, r, row.data());
      REQUIRE(same_bits(row, want));
    }
  }
}

TEST_CASE("AVX2 dots4 equals four dot() calls bit for bit") {
  if (!mimo::cpu::avx2::available()) {
    WARN("this CPU has no AVX2: the linear keeps the SSE dots4, nothing else to check");
    return;
  }
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (const std::int64_t n : {1, 7, 8, 9, 96, 256, 1000}) {
    std::vector<std::vector<float>> a(4, std::vector<float>(n)), b(4, std::vector<float>(n));
    for (int j = 0; j < 4; ++j) {
      for (std::int64_t i = 0; i < n; ++i) {
        a[j][i] = normal(rng);
        b[j][i] = normal(rng) * (i % 5 == 0 ? 1e6f : 1.0f);  // large terms: order matters
      }
    }
    const float* pa[4] = {a[0].data(), a[1].data(), a[2].data(), a[3].data()};
    const float* pb[4] = {b[0].data(), b[1].data(), b[2].data(), b[3].data()};
    float got[4], sse[4];
    mimo::cpu::avx2::dots4(pa, pb, n, got);
    mimo::cpu::dots4(pa, pb, n, sse);
    for (int j = 0; j < 4; ++j) {
      INFO("n " << n << ", dot " << j);
      const float want = mimo::cpu::dot(pa[j], pb[j], n);
      CHECK(std::memcmp(&got[j], &want, sizeof want) == 0);
      CHECK(std::memcmp(&sse[j], &want, sizeof want) == 0);
    }
  }
}

TEST_CASE("AVX2 dots2x4 equals eight dot() calls bit for bit") {
  if (!mimo::cpu::avx2::available()) {
    WARN("this CPU has no AVX2: the linear keeps the SSE dots4, nothing else to check");
    return;
  }
  std::mt19937 rng(14);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<std::int64_t> lengths = {96, 256, 1000};
  for (std::int64_t n = 0; n <= 17; ++n) lengths.push_back(n);  // every tail, empty included
  for (const std::int64_t n : lengths) {
    std::vector<std::vector<float>> a(2, std::vector<float>(n)), b(4, std::vector<float>(n));
    for (auto& v : a) {
      for (float& f : v) f = normal(rng);
    }
    for (auto& v : b) {
      for (std::int64_t i = 0; i < n; ++i) v[i] = normal(rng) * (i % 5 == 0 ? 1e6f : 1.0f);
    }
    const float* pa[2] = {a[0].data(), a[1].data()};
    const float* pb[4] = {b[0].data(), b[1].data(), b[2].data(), b[3].data()};
    float got[8];
    mimo::cpu::avx2::dots2x4(pa, pb, n, got);
    for (int r = 0; r < 2; ++r) {
      for (int t = 0; t < 4; ++t) {
        INFO("n " << n << ", row " << r << ", token " << t);
        const float want = mimo::cpu::dot(pa[r], pb[t], n);
        CHECK(std::memcmp(&got[4 * r + t], &want, sizeof want) == 0);
      }
    }
  }
}

TEST_CASE("AVX2 axpy equals axpy() bit for bit") {
  if (!mimo::cpu::avx2::available()) {
    WARN("this CPU has no AVX2: attention keeps axpy(), nothing else to check");
    return;
  }
  std::mt19937 rng(15);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (std::int64_t n = 0; n <= 70; ++n) {
    std::vector<float> x(n), y(n);
    for (float& f : x) f = normal(rng);
    for (float& f : y) f = normal(rng) * 1e3f;
    const float alpha = normal(rng);
    std::vector<float> want = y;
    mimo::cpu::axpy(alpha, x.data(), want.data(), n);
    mimo::cpu::avx2::axpy(alpha, x.data(), y.data(), n);
    INFO("n " << n);
    CHECK(same_bits(y, want));  // (memcmp may not be handed the null data() of n = 0)
  }
}

TEST_CASE("AVX2 BF16 rows equal the widened values, every bit pattern") {
  if (!mimo::cpu::avx2::available()) {
    WARN("this CPU has no AVX2: decode_row keeps the scalar widening, nothing else to check");
    return;
  }
  // All 65536 patterns (NaNs, infinities, subnormals, -0) in rows of 13 and 8 values, tails
  // included.
  for (const std::int64_t cols : {13, 8, 1000}) {
    std::vector<std::uint8_t> row(2 * cols);
    std::vector<float> want(cols), got(cols);
    for (std::uint32_t first = 0; first < 65536; first += cols) {
      for (std::int64_t c = 0; c < cols; ++c) {
        const auto bits = static_cast<std::uint16_t>((first + c) & 0xFFFF);
        std::memcpy(row.data() + 2 * c, &bits, 2);
        want[c] = mimo::quant::bf16_value(bits);
      }
      mimo::cpu::avx2::decode_bf16(row.data(), cols, got.data());
      INFO("cols " << cols << ", first pattern " << first);
      REQUIRE(same_bits(got, want));
    }
  }
}
