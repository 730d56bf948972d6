// tensor/matmul.cpp — owns weight-matrix × activation-batch products. Weights are read in place
// from the mapped file; the activations are converted once to the weight type's activation
// format, then output rows are split across the thread pool.
#include <algorithm>
#include <vector>

#include "tensor/kernels_internal.h"
#include "tensor/tensor.h"

namespace inhouse::tensor {

namespace {
KernelTuning tuning;
}  // namespace

const KernelTuning& kernel_tuning() { return tuning; }
void set_kernel_tuning(const KernelTuning& t) { tuning = t; }

Matrix Matrix::from(const gguf::TensorInfo& t) {
  check_supported(t.type, "tensor '" + t.name + "'");
  if (t.shape.empty() || t.shape.size() > 2)
    throw Error("tensor '" + t.name + "' has " + std::to_string(t.shape.size()) +
                " dimensions; a matrix needs 1 or 2");
  Matrix m;
  m.type = t.type;
  m.data = t.data;
  m.n_in = t.shape[0];
  m.n_out = t.shape.size() == 2 ? t.shape[1] : 1;
  try {
    m.row_bytes = tensor::row_bytes(t.type, m.n_in);
  } catch (const Error& e) {
    throw Error("tensor '" + t.name + "': " + e.what());
  }
  return m;
}

void matmul(const Matrix& w, const float* x, int64_t n_batch, float* y, ThreadPool& pool) {
  const ActFormat fmt = act_format(w.type);
  const size_t act_bytes = act_row_bytes(fmt, w.n_in);
  // Float weights read x directly; block weights need x quantised once per batch row.
  thread_local std::vector<uint8_t> scratch;
  const uint8_t* act = reinterpret_cast<const uint8_t*>(x);
  if (fmt != ActFormat::F32) {
    scratch.resize(act_bytes * size_t(n_batch));
    uint8_t* q = scratch.data();
    pool.parallel_for(n_batch, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        quantize_act_row(fmt, x + b * w.n_in, q + size_t(b) * act_bytes, w.n_in);
    });
    act = q;
  }
  // Output rows handed out in chunks (a multiple of the kernels' 16-row tile); the SIMD
  // kernels tile rows and batch inside a chunk.
  int64_t grain = 0;
  if (const int per_thread = tuning.chunks_per_thread; per_thread > 0)
    grain = std::max<int64_t>(16, (w.n_out / (int64_t(pool.size()) * per_thread) + 15) / 16 * 16);
  pool.parallel_for(w.n_out, [&](int64_t o0, int64_t o1) {
    simd::matmul_rows(w, o0, o1, act, act_bytes, n_batch, y);
  }, grain);
}

void matmul_ref(const Matrix& w, const float* x, int64_t n_batch, float* y) {
  for (int64_t o = 0; o < w.n_out; ++o)
    for (int64_t b = 0; b < n_batch; ++b)
      y[b * w.n_out + o] = float(vec_dot_ref(w.type, w.row(o), x + b * w.n_in, w.n_in));
}

}  // namespace inhouse::tensor
