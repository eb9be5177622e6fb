// See expert_tables.hpp.
#include "cuda/runtime/expert_tables.hpp"

namespace mimo::cuda {
namespace {

template <class Matrix>
const Matrix* table_of(const ExpertTable& t) {
  return static_cast<const Matrix*>(t.table);
}

}  // namespace

void expert_table_rows(const ExpertTable& t, const float* x, const int* experts, int n, int top_k,
                       float* out, Stream s) {
  switch (t.format) {
    case MatrixFormat::kFp8:
      return expert_rows(table_of<Fp8Matrix>(t), t.rows, x, experts, n, top_k, out, s);
    case MatrixFormat::kMxfp4:
      return expert_rows(table_of<Mxfp4Matrix>(t), t.rows, x, experts, n, top_k, out, s);
    case MatrixFormat::kBf16:
      return expert_rows(table_of<Bf16Matrix>(t), t.rows, x, experts, n, top_k, out, s);
    case MatrixFormat::kF32:
      return expert_rows(table_of<F32Matrix>(t), t.rows, x, experts, n, top_k, out, s);
  }
}

void expert_table_down(const ExpertTable& t, const float* act, const int* experts,
                       const float* weights, int n, int top_k, float* y, Stream s) {
  switch (t.format) {
    case MatrixFormat::kFp8:
      return expert_down_rows(table_of<Fp8Matrix>(t), t.rows, t.cols, act, experts, weights, n,
                              top_k, y, s);
    case MatrixFormat::kMxfp4:
      return expert_down_rows(table_of<Mxfp4Matrix>(t), t.rows, t.cols, act, experts, weights, n,
                              top_k, y, s);
    case MatrixFormat::kBf16:
      return expert_down_rows(table_of<Bf16Matrix>(t), t.rows, t.cols, act, experts, weights, n,
                              top_k, y, s);
    case MatrixFormat::kF32:
      return expert_down_rows(table_of<F32Matrix>(t), t.rows, t.cols, act, experts, weights, n,
                              top_k, y, s);
  }
}

}  // namespace mimo::cuda
