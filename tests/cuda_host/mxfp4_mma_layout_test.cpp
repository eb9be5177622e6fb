// The tensor-core tile order of expert stacks (cuda/tiles/matrix_views.hpp, Mxfp4Stack): every
// code and scale of a random MXFP4 matrix is found where the layout comment says, and the
// padding is zero. Host code only: runs without a GPU.
#include <cstdint>
#include <random>
#include <vector>

#include "cuda/launch/mxfp4_mma_layout.hpp"
#include "cuda/tiles/matrix_views.hpp"
#include "support/catch.hpp"

namespace {

using mimo::cuda::mxfp4_mma_row_bytes;
using mimo::cuda::mxfp4_mma_scale_row_bytes;

// The code of (r, c) read back from the tile order, as the expert kernels address it.
int tiled_code(const std::vector<std::uint8_t>& codes, int cols, int r, int c) {
  const int group = c / 128, b = (c % 128) / 32, q = (c % 32) / 8, i = c % 8;
  const std::size_t word_at = std::size_t(r) * mxfp4_mma_row_bytes(cols) + group * 64 + 16 * q + 4 * b;
  const unsigned byte = codes[word_at + i % 4];
  return i < 4 ? ((byte >> 7) << 3) | ((byte >> 1) & 7) : ((byte & 1) << 3) | ((byte >> 4) & 7);
}

}  // namespace

TEST_CASE("MXFP4 expert codes and scales land in the tensor-core tile order", "[cuda_host]") {
  std::mt19937 rng(20261127);
  for (const int cols : {32, 96, 128, 160, 256, 4096}) {
    const int rows = 7;
    const long long code_stride = cols / 2 + 16, scale_stride = cols / 32 + 3;  // strided source
    std::vector<std::uint8_t> codes(rows * code_stride), scales(rows * scale_stride);
    for (auto& b : codes) b = static_cast<std::uint8_t>(rng());
    for (auto& b : scales) b = static_cast<std::uint8_t>(rng());
    const mimo::cuda::Mxfp4MmaRows tiled = mimo::cuda::repack_mxfp4_for_mma(
        codes.data(), code_stride, scales.data(), scale_stride, rows, cols);
    INFO("cols " << cols);
    REQUIRE(tiled.codes.size() == std::size_t(rows) * mxfp4_mma_row_bytes(cols));
    REQUIRE(tiled.scales.size() == std::size_t(rows) * mxfp4_mma_scale_row_bytes(cols));
    int mismatches = 0, padding_nonzero = 0;
    const int padded_cols = mxfp4_mma_row_bytes(cols) * 2;
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < padded_cols; ++c) {
        const int got = tiled_code(tiled.codes, cols, r, c);
        if (c >= cols) {
          padding_nonzero += got != 0;
          continue;
        }
        const int want = (codes[r * code_stride + c / 2] >> (4 * (c % 2))) & 0xF;
        mismatches += got != want;
      }
      for (int block = 0; block < padded_cols / 32; ++block) {
        const std::uint8_t got = tiled.scales[r * mxfp4_mma_scale_row_bytes(cols) + block];
        if (block >= cols / 32) {
          padding_nonzero += got != 0;
        } else {
          mismatches += got != scales[r * scale_stride + block];
        }
      }
    }
    CHECK(mismatches == 0);
    CHECK(padding_nonzero == 0);
  }
}
