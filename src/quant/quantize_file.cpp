// quant/quantize_file.cpp — file types, llama.cpp's tensor type policy, and quantising a whole
// GGUF file: metadata copied, each tensor streamed to disk as it is converted.
#include <algorithm>
#include <cctype>
#include <map>

#include "quant/quant.h"
#include "quant/quant_internal.h"

namespace inhouse::quant {
namespace {

struct FileTypeInfo {
  FileType type;
  const char* name;
  TensorType base;
  uint32_t llama_ftype;  // llama.cpp's LLAMA_FTYPE_MOSTLY_* value
};

constexpr FileTypeInfo kFileTypes[] = {
    {FileType::F32, "F32", TensorType::F32, 0},       {FileType::F16, "F16", TensorType::F16, 1},
    {FileType::BF16, "BF16", TensorType::BF16, 32},   {FileType::Q8_0, "Q8_0", TensorType::Q8_0, 7},
    {FileType::Q4_0, "Q4_0", TensorType::Q4_0, 2},    {FileType::Q4_1, "Q4_1", TensorType::Q4_1, 3},
    {FileType::Q5_0, "Q5_0", TensorType::Q5_0, 8},    {FileType::Q6_K, "Q6_K", TensorType::Q6_K, 18},
    {FileType::Q4_K_M, "Q4_K_M", TensorType::Q4_K, 15}, {FileType::Q5_K_M, "Q5_K_M", TensorType::Q5_K, 17},
};

const FileTypeInfo& info(FileType t) {
  for (const FileTypeInfo& i : kFileTypes)
    if (i.type == t) return i;
  throw Error("unknown file type");
}

bool is_float(TensorType t) {
  return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// "blk.N." -> N; -1 for tensors outside the layers.
int64_t layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  int64_t n = 0;
  size_t i = 4;
  if (i >= name.size() || !std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i) n = n * 10 + (name[i] - '0');
  return n;
}

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third between.
bool use_more_bits(int64_t layer, int64_t n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

uint32_t block_of(TensorType t) { return gguf::type_traits(t)->block_size; }

// A type whose blocks fit rows of n elements: llama.cpp's fallbacks for k-quants, then F16.
TensorType fit_row(TensorType t, int64_t n) {
  if (n % block_of(t) == 0) return t;
  switch (t) {
    case TensorType::Q4_K: t = TensorType::Q5_0; break;
    case TensorType::Q5_K: t = TensorType::Q5_1; break;
    case TensorType::Q6_K: t = TensorType::Q8_0; break;
    default: break;
  }
  return n % block_of(t) == 0 ? t : TensorType::F16;
}

}  // namespace

std::optional<FileType> parse_file_type(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
  for (const FileTypeInfo& i : kFileTypes)
    if (upper == i.name) return i.type;
  return std::nullopt;
}

const char* file_type_name(FileType t) { return info(t).name; }

std::string file_type_names() {
  std::string s;
  for (const FileTypeInfo& i : kFileTypes) s += std::string(s.empty() ? "" : ", ") + i.name;
  return s;
}

uint32_t llama_ftype(FileType t) { return info(t).llama_ftype; }

ModelFacts model_facts(const gguf::GgufFile& file) {
  const std::string arch = file.architecture();
  ModelFacts f;
  try {
    f.n_layer = file.get_int(arch + ".block_count").value_or(0);
    f.n_expert = file.get_int(arch + ".expert_count").value_or(0);
  } catch (const gguf::Error& e) {
    throw Error(std::string("model keys: ") + e.what());
  }
  f.has_output = file.find_tensor("output.weight") != nullptr;
  return f;
}

bool is_quantizable(const std::string& name, const std::vector<int64_t>& shape) {
  if (shape.size() < 2) return false;
  if (name.size() < 6 || name.compare(name.size() - 6, 6, "weight") != 0) return false;
  return !contains(name, "ffn_gate_inp.weight");
}

TensorType choose_type(FileType ft, const std::string& name, const std::vector<int64_t>& shape,
                       const ModelFacts& facts) {
  const TensorType base = info(ft).base;
  if (is_float(base)) return base;
  const bool mix = ft == FileType::Q4_K_M || ft == FileType::Q5_K_M;
  const int64_t n_cols = shape.empty() ? 0 : shape[0];
  const bool is_output = name == "output.weight" || (!facts.has_output && name == "token_embd.weight");
  TensorType t = base;
  if (is_output) {
    if (n_cols % 256 != 0) t = TensorType::Q8_0;
    else if (t != TensorType::Q8_0) t = TensorType::Q6_K;
  } else if (mix) {
    const int64_t layer = layer_of(name);
    const bool more_bits = layer >= 0 && use_more_bits(layer, facts.n_layer);
    if (contains(name, "attn_v.weight")) {
      if (more_bits) t = TensorType::Q6_K;
      if (facts.n_expert == 8) t = TensorType::Q8_0;
    } else if (contains(name, "ffn_down")) {
      if (more_bits) t = TensorType::Q6_K;
    } else if (contains(name, "attn_output.weight")) {
      if (facts.n_expert == 8) t = TensorType::Q5_K;
    }
  }
  return fit_row(t, n_cols);
}

void stream_rows(tensor::ThreadPool& pool, TensorType type, int64_t n_cols, int64_t n_rows,
                 const RowSource& source, const gguf::GgufWriter::ByteSink& sink) {
  const size_t row_bytes = tensor::row_bytes(type, n_cols);
  const int64_t rows_per_chunk =
      std::max<int64_t>(pool.size(), int64_t((4u << 20) / std::max<size_t>(row_bytes, 1)));
  std::vector<uint8_t> chunk(row_bytes * size_t(std::min(rows_per_chunk, n_rows)));
  for (int64_t first = 0; first < n_rows; first += rows_per_chunk) {
    const int64_t rows = std::min(rows_per_chunk, n_rows - first);
    pool.parallel_for(rows, [&](int64_t begin, int64_t end) {
      std::vector<float> row(static_cast<size_t>(n_cols));
      for (int64_t r = begin; r < end; ++r) {
        source(first + r, row.data());
        tensor::quantize_row(type, row.data(), chunk.data() + size_t(r) * row_bytes, n_cols);
      }
    });
    sink(chunk.data(), size_t(rows) * row_bytes);
  }
}

QuantizeResult quantize_file(const std::string& in, const std::string& out, FileType ft,
                             const QuantizeOptions& options) {
  const gguf::GgufFile file = gguf::GgufFile::open(in);
  const ModelFacts facts = model_facts(file);

  // Decide every tensor's type first, so bad input fails before anything is written.
  std::vector<TensorType> targets;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (!is_quantizable(t.name, t.shape)) {
      targets.push_back(t.type);
      continue;
    }
    if (!is_float(t.type))
      throw Error(in + ": tensor '" + t.name + "' is already quantised (" + gguf::tensor_type_name(t.type) +
                  "); quantize needs a model with F32, F16 or BF16 weights");
    targets.push_back(choose_type(ft, t.name, t.shape, facts));
  }

  gguf::GgufWriter writer(uint32_t(file.alignment()));
  writer.copy_metadata(file);
  writer.set_u32("general.file_type", llama_ftype(ft));
  writer.set_u32("general.quantization_version", 2);

  tensor::ThreadPool pool(options.threads);
  QuantizeResult result;
  std::map<TensorType, int> counts;
  const size_t count = file.tensors().size();
  for (size_t i = 0; i < count; ++i) {
    const gguf::TensorInfo& t = file.tensors()[i];
    const TensorType to = targets[i];
    const uint64_t bytes_out = *gguf::tensor_bytes(to, t.n_elements);
    result.bytes_in += t.n_bytes;
    result.bytes_out += bytes_out;
    ++counts[to];
    auto report = [&options, i, count, &t, to, bytes_out] {
      if (options.progress) options.progress({i, count, t.name, t.type, to, t.n_bytes, bytes_out});
    };
    if (to == t.type) {
      writer.add_tensor(t.name, to, t.shape, [&t, report](const gguf::GgufWriter::ByteSink& sink) {
        report();
        sink(t.data, t.n_bytes);
      });
      continue;
    }
    const int64_t n_cols = t.shape[0];
    const size_t src_row_bytes = tensor::row_bytes(t.type, n_cols);
    writer.add_tensor(t.name, to, t.shape, [&, report, to, n_cols, src_row_bytes](const gguf::GgufWriter::ByteSink& sink) {
      report();
      stream_rows(pool, to, n_cols, n_rows_of(t.shape),
                  [&t, n_cols, src_row_bytes](int64_t r, float* row) {
                    tensor::dequantize_row(t.type, t.data + size_t(r) * src_row_bytes, row, n_cols);
                  },
                  sink);
    });
  }
  writer.write(out);
  for (const auto& [type, n] : counts) result.type_counts.push_back({type, n});
  return result;
}

}  // namespace inhouse::quant
