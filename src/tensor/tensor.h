// tensor — owns the numeric kernels the models run on: half-float conversions, dequantisation
// of GGUF block formats to float rows, dot products of quantised weight rows with activations,
// a matmul that reads weights straight from the mapped file (SIMD kernels with run-time
// dispatch, batch-invariant results), a small thread pool, and the float ops transformer layers
// need (norms, RoPE, softmax, activations, one attention head).
// Knows nothing about models: callers pass pointers, sizes and tensor types.
#pragma once

#include <atomic>
#include <bit>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gguf/gguf.h"

namespace inhouse::tensor {

using gguf::TensorType;

// A tensor this module cannot work with (unsupported type, row not a whole number of blocks).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- half floats -----------------------------------------------------------------------------

// Inline (and branch-free) so conversion loops vectorise: normal values are rebased by shifting
// the bits into a float and scaling the exponent; subnormals are rebuilt by subtracting a magic
// number.
inline float fp16_to_fp32(uint16_t h) {
  const uint32_t w = uint32_t(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;  // drops the sign
  const float normalized = std::bit_cast<float>((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  const float denormalized = std::bit_cast<float>((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t use_denormal = 0u - uint32_t(two_w < (1u << 27));  // all ones or zero
  const uint32_t bits = (std::bit_cast<uint32_t>(denormalized) & use_denormal) |
                        (std::bit_cast<uint32_t>(normalized) & ~use_denormal);
  return std::bit_cast<float>(sign | bits);
}
uint16_t fp32_to_fp16(float f);  // round to nearest even
inline float bf16_to_fp32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }
uint16_t fp32_to_bf16(float f);  // round to nearest even

// ---- tensor types ----------------------------------------------------------------------------

// f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K.
bool is_supported(TensorType t);
std::string supported_type_names();  // "f32, f16, ..." for error messages
// Throws Error "<what> has type X; supported types: ..." unless t is supported.
void check_supported(TensorType t, std::string_view what);
int64_t block_size(TensorType t);
// Bytes of one row of n elements; throws Error when n is not a multiple of the block size.
size_t row_bytes(TensorType t, int64_t n);

// ---- dequantisation --------------------------------------------------------------------------

// n elements (a whole number of blocks) of type t at src -> floats.
void dequantize_row(TensorType t, const void* src, float* dst, int64_t n);

// ---- dot products ----------------------------------------------------------------------------

// What a weight type is multiplied against, as ggml's vec_dot_type: float rows use the float
// activations as they are; block types use activations quantised to 8-bit blocks of the same
// size, so the inner loop is an integer dot product.
enum class ActFormat { F32, Q8_0, Q8_K };
ActFormat act_format(TensorType t);
size_t act_row_bytes(ActFormat f, int64_t n);
void quantize_act_row(ActFormat f, const float* x, void* dst, int64_t n);
void dequantize_act_row(ActFormat f, const void* src, float* dst, int64_t n);

// Weight row (n elements of type t) · activation row (n elements in act_format(t)).
float vec_dot(TensorType t, const void* row, const void* act, int64_t n);
// The portable scalar kernels the SIMD ones are tested against (same inputs as vec_dot).
float vec_dot_scalar(TensorType t, const void* row, const void* act, int64_t n);
// Reference: both sides dequantised to float, multiplied and summed in double.
double vec_dot_ref(TensorType t, const void* row, const float* x, int64_t n);

// Plain float helpers the kernels and ops share.
float dot_f32(const float* a, const float* b, int64_t n);
void axpy(float* y, const float* x, float a, int64_t n);  // y += a * x

// ---- SIMD dispatch ---------------------------------------------------------------------------

// vec_dot and matmul run kernels compiled for several instruction sets (AVX-512 with VNNI,
// AVX-512, AVX2, SSE4, NEON, portable 128-bit emulation); the best one this CPU runs is picked
// at first use. simd_targets() lists those compiled and runnable here, best first;
// set_simd_target forces one of them ("" restores the best). For tests and benchmarks only:
// not thread-safe; throws Error for a name not in simd_targets(). The environment variable
// INHOUSE_SIMD_TARGET=<name> forces one for a whole process (e.g. SCALAR for A/B runs).
std::vector<std::string> simd_targets();
std::string simd_target();  // the one in use
void set_simd_target(std::string_view name);

// Knobs of the decode path, for benchmarks that compare settings (bench_engine's
// BM_DecodeTuningAB alternates them token by token). The defaults are the measured best on
// the 2-core AVX-512 VM (docs/performance.md). Not thread-safe: set between forward passes.
struct KernelTuning {
  // Software prefetch: while a kernel call multiplies a tile of weight rows, each row asks for
  // the same place this many tiles further on, in the rows the next calls multiply (the
  // hardware prefetchers stop at each 4 KiB page of the mapped file; these requests cross
  // them, and the next tile is in cache when its call starts). 0 turns it off.
  int prefetch_tiles = 1;
  // matmul hands out output rows in about this many chunks per thread (at least 16 rows
  // each), so a descheduled thread delays a job by one chunk, not half of it. 0: one chunk
  // per thread.
  int chunks_per_thread = 16;
};
const KernelTuning& kernel_tuning();
void set_kernel_tuning(const KernelTuning& t);

// ---- threads ---------------------------------------------------------------------------------

// A fixed set of worker threads. parallel_for runs fn over [0, n) cut into contiguous chunks
// of `grain` items (the last may be shorter); the caller and the workers take chunks in order
// from a shared counter until none are left, so a thread that is slow or descheduled for a
// while (a busy VM) costs at most one chunk of waiting, not half the job. grain 0 cuts n into
// one chunk per thread; a pool of one thread runs fn(0, n) in one call. Returns when all
// chunks are done. Not re-entrant: one parallel_for at a time; fn must not call back into the
// pool and must not throw (an exception on a worker thread ends the program), so validate
// inputs before the parallel part. fn may be called several times per thread, with any
// chunks, in any order.
// Between jobs, workers (and the caller waiting for them) spin for a few microseconds before
// sleeping: a decode step runs hundreds of short jobs, and a futex wake-up costs more than one.
class ThreadPool {
 public:
  explicit ThreadPool(int n_threads = 1);  // n_threads <= 0: hardware concurrency
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn,
                    int64_t grain = 0);

 private:
  void worker_loop();
  void run_chunks(const std::function<void(int64_t, int64_t)>& fn, int64_t n, int64_t grain);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_grain_ = 0;
  std::atomic<int64_t> next_{0};         // first item of the next chunk to hand out
  std::atomic<uint64_t> generation_{0};  // bumped under mutex_ for each job
  std::atomic<int> pending_{0};          // workers still running the current job
  std::atomic<bool> stop_{false};
};

// ---- matmul ----------------------------------------------------------------------------------

// A 2-D weight viewed in place: n_out rows of n_in elements of `type`, rows row_bytes apart.
struct Matrix {
  TensorType type = TensorType::F32;
  const uint8_t* data = nullptr;
  int64_t n_in = 0;
  int64_t n_out = 0;
  size_t row_bytes = 0;

  // Views a GGUF tensor of shape [n_in, n_out] (ggml order). Throws Error for an unsupported
  // type or a row that is not a whole number of blocks.
  static Matrix from(const gguf::TensorInfo& t);
  const uint8_t* row(int64_t i) const { return data + size_t(i) * row_bytes; }
  void get_row(int64_t i, float* out) const { dequantize_row(type, row(i), out, n_in); }
};

// y[b * n_out + o] = W[o] · x[b * n_in ...] for b < n_batch. Rows are split across the pool.
void matmul(const Matrix& w, const float* x, int64_t n_batch, float* y, ThreadPool& pool);
// Reference: vec_dot_ref per row and batch item, single threaded.
void matmul_ref(const Matrix& w, const float* x, int64_t n_batch, float* y);

// ---- float ops -------------------------------------------------------------------------------

// out = x / rms(x) * weight (weight may be null). out may alias x.
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);
// out = (x - mean) / std * weight + bias (weight, bias may be null). out may alias x.
void layer_norm(const float* x, const float* weight, const float* bias, float* out, int64_t n,
                float eps);

// Normal: rotates adjacent pairs (x[2i], x[2i+1]) (original LLaMA). Neox: rotates
// (x[i], x[i + n_rot/2]) (GPT-NeoX, Qwen2).
enum class RopeStyle { Normal, Neox };
struct RopeParams {
  int64_t n_rot = 0;          // rotated dims per head (the rest pass through)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;    // linear position scaling (1 / factor)
  const float* freq_factors = nullptr;  // optional n_rot/2 divisors of each frequency
  RopeStyle style = RopeStyle::Normal;
};
// Rotates n_heads heads of head_dim floats, head_stride apart, for position pos, in place.
// Same as rope_yarn with ext_factor 0 and attn_factor 1 (one implementation, rope_yarn.cpp).
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t head_stride, int64_t pos,
          const RopeParams& p);

void softmax(float* x, int64_t n);  // in place, max-subtracted
void silu(float* x, int64_t n);     // x * sigmoid(x), in place
void gelu(float* x, int64_t n);     // tanh approximation (as ggml), in place
void mul(float* y, const float* x, int64_t n);  // y *= x elementwise
void add(float* y, const float* x, int64_t n);  // y += x elementwise

// One query head against n_kv cached positions: out = softmax(scale * q·K) · V.
// k rows are k_stride floats apart, v rows v_stride apart; scores needs n_kv floats.
void attention_head(const float* q, const float* k, int64_t k_stride, const float* v,
                    int64_t v_stride, int64_t n_kv, int64_t head_dim_k, int64_t head_dim_v,
                    float scale, float* out, float* scores);

}  // namespace inhouse::tensor

// ---- YaRN RoPE (rope_yarn.cpp) ---------------------------------------------------------------

namespace inhouse::tensor {

// RoPE with YaRN context extension, as ggml's rope with ext_factor/attn_factor/beta_*:
// pair i's angle blends interpolation (pos * freq_scale * base^(-2i/n_rot)) and extrapolation
// (the same without freq_scale) by a ramp over pairs [low, high] from yarn_corr_dims; cos/sin
// are scaled by attn_factor, times (1 + 0.1 ln(1/freq_scale)) when ext_factor != 0.
struct YarnParams {
  int64_t n_rot = 0;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;   // 1 / scaling factor
  float ext_factor = 0.0f;   // 0: no YaRN ramp (plain linear scaling); 1: full YaRN
  float attn_factor = 1.0f;  // magnitude on cos/sin
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  int64_t n_ctx_orig = 0;    // the context the model was trained with before extension
  const float* freq_factors = nullptr;  // optional n_rot/2 divisors of each frequency
  RopeStyle style = RopeStyle::Normal;
};
struct YarnCorrDims {
  float low = 0.0f, high = 0.0f;
};
YarnCorrDims yarn_corr_dims(int64_t n_rot, int64_t n_ctx_orig, float freq_base, float beta_fast,
                            float beta_slow);
// Rotates n_heads heads of head_dim floats, head_stride apart, for position pos, in place.
void rope_yarn(float* x, int64_t n_heads, int64_t head_dim, int64_t head_stride, int64_t pos,
               const YarnParams& p);

}  // namespace inhouse::tensor

// ---- attention over a KV cache (attention.cpp) ----------------------------------------------

namespace inhouse::tensor {

// A KV cache row type: F16 (llama.cpp's default, half the memory) or F32.
bool is_kv_type(TensorType t);
// n floats -> one cache row of type t (F16: round to nearest even).
void store_kv_row(TensorType t, const float* x, void* dst, int64_t n);

// One query head against n_kv cached positions, out = softmax(scale * q·K) · V (head_dim_v
// floats), rounded as ggml's non-flash attention: with F16 keys/values, q is rounded to f16 for
// the key dots and the probabilities are rounded to f16 for the value-weighted sum; sums and the
// softmax stay in f32. With F32 nothing is rounded. Key row i starts i * k_stride elements after
// k, value row i i * v_stride after v (keys and values may share rows, as MLA's latent does).
// scratch needs attention_scratch_floats(n_kv, head_dim_k) floats. Each call depends only on its
// own inputs, so results do not change with batching.
int64_t attention_scratch_floats(int64_t n_kv, int64_t head_dim_k);
void cached_attention_head(TensorType kv_type, const float* q, const void* k, int64_t k_stride,
                           const void* v, int64_t v_stride, int64_t n_kv, int64_t head_dim_k,
                           int64_t head_dim_v, float scale, float* out, float* scratch);

// n_heads query heads that read the same key/value rows (a grouped-query attention group, or
// every head over MLA's latent rows): head h's query starts h * q_stride floats after q, its
// output h * out_stride after out. Each cached row is loaded once for all of them instead of
// once per head (at long contexts the rows come from DRAM, not cache). Every head's result is
// bit-identical to cached_attention_head's. scratch needs
// n_heads * attention_scratch_floats(n_kv, head_dim_k) floats.
void cached_attention_heads(TensorType kv_type, const float* q, int64_t q_stride, int64_t n_heads,
                            const void* k, int64_t k_stride, const void* v, int64_t v_stride,
                            int64_t n_kv, int64_t head_dim_k, int64_t head_dim_v, float scale,
                            float* out, int64_t out_stride, float* scratch);

}  // namespace inhouse::tensor

// ---- weight quantisation (quantize.cpp; owned by the quantize/synth tools) -------------------

namespace inhouse::tensor {

// Types quantize_row can write: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K.
bool can_quantize(TensorType t);
// n floats -> n elements of type t at dst (row_bytes(t, n) bytes), block for block as ggml's
// reference quantisers write them. Throws Error for a type it cannot write or when n is not a
// multiple of the block size.
void quantize_row(TensorType t, const float* src, void* dst, int64_t n);

}  // namespace inhouse::tensor
