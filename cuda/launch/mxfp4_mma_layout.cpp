// Repacking into the Mxfp4Stack tile order: see mxfp4_mma_layout.hpp and matrix_views.hpp.
#include "cuda/launch/mxfp4_mma_layout.hpp"

#include <cstddef>

#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda {

Mxfp4MmaRows repack_mxfp4_for_mma(const std::uint8_t* codes, long long code_stride,
                                  const std::uint8_t* scales, long long scale_stride, int rows,
                                  int cols) {
  const int blocks = cols / 32;
  const std::size_t row_bytes = mxfp4_mma_row_bytes(cols);
  const std::size_t scale_row_bytes = mxfp4_mma_scale_row_bytes(cols);
  Mxfp4MmaRows out;
  out.codes.assign(row_bytes * rows, 0);
  out.scales.assign(scale_row_bytes * rows, 0);
  for (int r = 0; r < rows; ++r) {
    const std::uint8_t* src = codes + r * code_stride;
    std::uint8_t* dst = out.codes.data() + r * row_bytes;
    for (int block = 0; block < blocks; ++block) {
      const int group = block / 4, b = block % 4;
      for (int q = 0; q < 4; ++q) {
        std::uint8_t* at = dst + group * 64 + 16 * q + 4 * b;
        for (int i = 0; i < 8; ++i) {
          const int col = block * 32 + 8 * q + i;
          const unsigned code = (src[col / 2] >> (4 * (col % 2))) & 0xFu;
          const unsigned magnitude = code & 7u, sign = code >> 3;
          at[i % 4] |= static_cast<std::uint8_t>(i < 4 ? (magnitude << 1) | (sign << 7)
                                                       : (magnitude << 4) | sign);
        }
      }
      out.scales[r * scale_row_bytes + block] = scales[r * scale_stride + block];
    }
  }
  return out;
}

}  // namespace mimo::cuda
