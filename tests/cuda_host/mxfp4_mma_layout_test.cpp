// The tensor-core tile order of expert stacks (cuda/tiles/matrix_views.hpp, Mxfp4Stack): every
// code and scale of a random MXFP4 matrix is found where the layout comment says, and the
// padding is zero. Host code only: runs without a GPU.
#include "cuda/runtime/mxfp4_mma_layout.hpp"

#include <cstdint>
#include <random>
#include <vector>

#include "cuda/tiles/matrix_views.hpp"
#include "support/catch.hpp"

namespace {

using mimo::cuda::mxfp4_mma_code_bytes;
using mimo::cuda::mxfp4_mma_groups;
using mimo::cuda::mxfp4_mma_scale_bytes;

// The code of (r, c) read back from the tile order, as the expert kernels address it.
int tiled_code(const std::vector<std::uint8_t>& codes, int cols, int r, int c) {
  const int group = c / 128, b = (c % 128) / 32, q = (c % 32) / 8, i = c % 8;
  const std::size_t block = std::size_t(r / 16) * mxfp4_mma_groups(cols) + group;
  const int g = r % 8, h = (r % 16) / 8;
  const unsigned byte = codes[block * 1024 + 512 * h + 64 * g + 16 * q + 4 * b + i % 4];
  return i < 4 ? ((byte >> 7) << 3) | ((byte >> 1) & 7) : ((byte & 1) << 3) | ((byte >> 4) & 7);
}

int tiled_scale(const std::vector<std::uint8_t>& scales, int cols, int r, int block) {
  const std::size_t tile_block = std::size_t(r / 16) * mxfp4_mma_groups(cols) + block / 4;
  return scales[tile_block * 64 + 4 * (r % 16) + block % 4];
}

}  // namespace

TEST_CASE("MXFP4 expert codes and scales land in the tensor-core tile order", "[cuda_host]") {
  std::mt19937 rng(20261127);
  for (const int cols : {32, 96, 128, 160, 256, 4096}) {
    const int rows = 21;  // a full tile of 16 rows and a padded one
    const long long code_stride = cols / 2 + 16, scale_stride = cols / 32 + 3;  // strided source
    std::vector<std::uint8_t> codes(rows * code_stride), scales(rows * scale_stride);
    for (auto& b : codes) b = static_cast<std::uint8_t>(rng());
    for (auto& b : scales) b = static_cast<std::uint8_t>(rng());
    const mimo::cuda::Mxfp4MmaRows tiled = mimo::cuda::repack_mxfp4_for_mma(
        codes.data(), code_stride, scales.data(), scale_stride, rows, cols);
    INFO("cols " << cols);
    REQUIRE(tiled.codes.size() == std::size_t(mxfp4_mma_code_bytes(rows, cols)));
    REQUIRE(tiled.scales.size() == std::size_t(mxfp4_mma_scale_bytes(rows, cols)));
    int mismatches = 0, padding_nonzero = 0;
    const int padded_cols = mxfp4_mma_groups(cols) * 128, padded_rows = (rows + 15) / 16 * 16;
    for (int r = 0; r < padded_rows; ++r) {
      for (int c = 0; c < padded_cols; ++c) {
        const int got = tiled_code(tiled.codes, cols, r, c);
        if (c >= cols || r >= rows) {
          padding_nonzero += got != 0;
          continue;
        }
        const int want = (codes[r * code_stride + c / 2] >> (4 * (c % 2))) & 0xF;
        mismatches += got != want;
      }
      for (int block = 0; block < padded_cols / 32; ++block) {
        const int got = tiled_scale(tiled.scales, cols, r, block);
        if (block >= cols / 32 || r >= rows) {
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
