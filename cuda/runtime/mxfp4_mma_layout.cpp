// Repacking into the Mxfp4Stack tile order: see mxfp4_mma_layout.hpp and matrix_views.hpp.
#include "cuda/runtime/mxfp4_mma_layout.hpp"

#include <cstddef>

#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda {

Mxfp4MmaRows repack_mxfp4_for_mma(const std::uint8_t* codes, long long code_stride,
                                  const std::uint8_t* scales, long long scale_stride, int rows,
                                  int cols) {
  const int blocks = cols / 32, groups = mxfp4_mma_groups(cols);
  Mxfp4MmaRows out;
  out.codes.assign(static_cast<std::size_t>(mxfp4_mma_code_bytes(rows, cols)), 0);
  out.scales.assign(static_cast<std::size_t>(mxfp4_mma_scale_bytes(rows, cols)), 0);
  for (int r = 0; r < rows; ++r) {
    const std::uint8_t* src = codes + r * code_stride;
    const int tile = r / 16, in_tile = r % 16;
    for (int block = 0; block < blocks; ++block) {
      const int group = block / 4, b = block % 4;
      const std::size_t tile_block = static_cast<std::size_t>(tile) * groups + group;
      for (int q = 0; q < 4; ++q) {
        std::uint8_t* at = out.codes.data() + tile_block * 1024 + 512 * (in_tile / 8) +
                           64 * (in_tile % 8) + 16 * q + 4 * b;
        for (int i = 0; i < 8; ++i) {
          const int col = block * 32 + 8 * q + i;
          const unsigned code = (src[col / 2] >> (4 * (col % 2))) & 0xFu;
          const unsigned magnitude = code & 7u, sign = code >> 3;
          at[i % 4] |= static_cast<std::uint8_t>(i < 4 ? (magnitude << 1) | (sign << 7)
                                                       : (magnitude << 4) | sign);
        }
      }
      out.scales[tile_block * 64 + 4 * in_tile + b] = scales[r * scale_stride + block];
    }
  }
  return out;
}

}  // namespace mimo::cuda
