// Host-side repacking of MXFP4 weights (row-major codes, two a byte, low nibble = even column;
// row-major E8M0 scales, one per 32 columns) into the tensor-core tile order of Mxfp4Stack
// (cuda/tiles/matrix_views.hpp). Pure byte shuffling, so the expert kernels read with one
// 16-byte load per lane what one mma fragment needs.
#pragma once

#include <cstdint>
#include <vector>

namespace mimo::cuda {

struct Mxfp4MmaRows {
  std::vector<std::uint8_t> codes;   // mxfp4_mma_code_bytes(rows, cols)
  std::vector<std::uint8_t> scales;  // mxfp4_mma_scale_bytes(rows, cols)
};

// codes: rows rows of `code_stride` bytes (cols / 2 used); scales: rows rows of `scale_stride`
// bytes (cols / 32 used). cols % 32 == 0.
Mxfp4MmaRows repack_mxfp4_for_mma(const std::uint8_t* codes, long long code_stride,
                                  const std::uint8_t* scales, long long scale_stride, int rows,
                                  int cols);

}  // namespace mimo::cuda
