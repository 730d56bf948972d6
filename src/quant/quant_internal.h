// quant/quant_internal.h (internal) — what quantize_file and synthesize share: producing a
// tensor's bytes row by row, quantised in parallel, in order.
#pragma once

#include <functional>

#include "gguf/gguf.h"
#include "tensor/tensor.h"

namespace inhouse::quant {

// Row r (0 <= r < n_rows) as n_cols floats. Called from pool threads: must not throw.
using RowSource = std::function<void(int64_t row, float* out)>;

// Quantises n_rows rows of n_cols elements to `type` in chunks of a few MiB, the rows of a
// chunk split across the pool, and hands each chunk to `sink` in row order.
void stream_rows(tensor::ThreadPool& pool, TensorType type, int64_t n_cols, int64_t n_rows,
                 const RowSource& source, const gguf::GgufWriter::ByteSink& sink);

// Rows of a tensor viewed as a matrix: shape[0] elements each, the product of the rest rows.
inline int64_t n_rows_of(const std::vector<int64_t>& shape) {
  int64_t rows = 1;
  for (size_t i = 1; i < shape.size(); ++i) rows *= shape[i];
  return rows;
}

}  // namespace inhouse::quant
