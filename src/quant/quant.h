// quant — owns the offline model tools: quantising a float GGUF model to a file type with
// llama.cpp's per-tensor type policy (streamed to disk, rows quantised in parallel),
// synthesising random-weight models with the exact shapes of real ones (for benchmarks), and
// the measurements `inhouse bench` reports besides speed (memory bandwidth, bytes a decode step
// reads, peak resident memory).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"

namespace inhouse::quant {

using gguf::TensorType;

// Bad input for a tool: unknown type or shape, an input that cannot be quantised, an
// unwritable destination. what() says which.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- file types and the tensor type policy ---------------------------------------------------

// What a whole file is quantised to, as llama.cpp's ftypes. Q4_K_M / Q5_K_M are mixes: Q4_K /
// Q5_K with Q6_K for the tensors that lose most (see choose_type).
enum class FileType { F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q6_K, Q4_K_M, Q5_K_M };

// Case-insensitive "q4_k_m", "Q8_0", ...; nullopt for an unknown name.
std::optional<FileType> parse_file_type(std::string_view name);
const char* file_type_name(FileType t);  // "Q4_K_M"
std::string file_type_names();           // "F32, F16, ..." for error messages
uint32_t llama_ftype(FileType t);        // the general.file_type value llama.cpp writes

// What the policy needs to know about the model being quantised.
struct ModelFacts {
  int64_t n_layer = 0;
  int64_t n_expert = 0;      // 0 for dense models
  bool has_output = true;    // false: output is tied to token_embd, which then counts as output
};
ModelFacts model_facts(const gguf::GgufFile& file);

// Whether a tensor is quantised at all: weights of 2+ dimensions, except the MoE router
// (ffn_gate_inp), which stays as it is. Norms and biases (1-D) keep their type.
bool is_quantizable(const std::string& name, const std::vector<int64_t>& shape);

// The type llama.cpp's llama_tensor_get_type (no imatrix, default options) gives a quantisable
// tensor under file type ft:
//   - output.weight (or token_embd.weight when tied): Q6_K, unless the file type is Q8_0 (or a
//     float type); Q8_0 when its rows are not a multiple of 256;
//   - Q4_K_M / Q5_K_M: attn_v.weight and ffn_down* of the "use more bits" layers (the first and
//     last eighth, and every third in between) get Q6_K; with exactly 8 experts attn_output gets
//     Q5_K and attn_v Q8_0;
//   - everything else: the file type's base type (Q4_K for Q4_K_M);
//   - a row length that is not a multiple of the chosen block size falls back: Q4_K -> Q5_0,
//     Q5_K -> Q5_1, Q6_K -> Q8_0, then F16 if even that does not fit.
TensorType choose_type(FileType ft, const std::string& name, const std::vector<int64_t>& shape,
                       const ModelFacts& facts);

// ---- quantising a file -----------------------------------------------------------------------

struct Progress {
  size_t index = 0, count = 0;  // tensor index (0-based) of count
  std::string name;
  TensorType from = TensorType::F32, to = TensorType::F32;
  uint64_t bytes_in = 0, bytes_out = 0;
};
using ProgressFn = std::function<void(const Progress&)>;

struct QuantizeOptions {
  int threads = 0;        // <= 0: hardware concurrency
  ProgressFn progress;    // called before each tensor is written (optional)
};

struct QuantizeResult {
  uint64_t bytes_in = 0, bytes_out = 0;
  std::vector<std::pair<TensorType, int>> type_counts;  // tensors written per type
};

// Reads `in` (F32/F16/BF16 weights), writes `out` with every quantisable tensor converted as
// choose_type says and everything else copied, metadata copied with general.file_type and
// general.quantization_version set. Streams through a temporary file renamed into place: on
// any error nothing is left at `out`. Throws Error (or gguf::Error for a malformed input).
QuantizeResult quantize_file(const std::string& in, const std::string& out, FileType ft,
                             const QuantizeOptions& options = {});

// ---- synthetic models ------------------------------------------------------------------------

// Shapes `inhouse synth --shape` knows: "r1-distill-qwen-1.5b" (qwen2), "v2-lite" (deepseek2
// MoE, DeepSeek-V2-Lite-like), "tiny-qwen2" and "tiny-deepseek2" (for tests).
std::vector<std::string> shape_names();
std::string shape_arch(const std::string& shape);  // throws Error for an unknown shape

struct SynthOptions {
  std::string arch;            // must match the shape's architecture (empty: the shape's)
  std::string shape;
  FileType type = FileType::Q8_0;
  uint64_t seed = 1;
  int threads = 0;
  ProgressFn progress;
};

// Writes a model with random weights (~N(0, 0.02), norms 1) of the shape's exact tensor shapes
// and real hyper-parameter keys plus a minimal SPM vocabulary, deterministic for a seed, each
// tensor quantised row by row in parallel and streamed to `out`. Returns the file size.
uint64_t synthesize(const std::string& out, const SynthOptions& options);

// ---- bench measurements ----------------------------------------------------------------------

// Median GB/s (1e9 bytes/s) of `passes` reads of a buffer of `bytes` by `threads` threads.
double measure_read_bandwidth(uint64_t bytes, int threads, int passes = 5);

// Bytes of weights one decode step reads: every tensor in full except token_embd.weight (one
// row) and stacked MoE experts (*_exps, only n_expert_used of n_expert), plus, when output is
// tied, token_embd in full.
uint64_t decode_weight_bytes(const gguf::GgufFile& file);

// Peak resident set size of this process (VmHWM), bytes; 0 when unknown.
uint64_t peak_rss_bytes();
// Resets the peak to the current resident set size (Linux /proc/self/clear_refs "5"), so a
// measurement's own buffer can be left out of it; false when the kernel does not support it.
bool reset_peak_rss();
// Current resident set size (VmRSS), bytes; 0 when unknown.
uint64_t current_rss_bytes();

}  // namespace inhouse::quant
