// gguf — owns the GGUF model file format: reading (mmap, zero-copy, every field validated),
// writing (aligned metadata + tensors), the tensor type table (block sizes and byte sizes).
// Nothing here knows about models or tokenizers; they ask for keys and tensors by name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace inhouse::gguf {

// A malformed or unreadable file. what() names the problem and, when known, the byte offset.
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, std::optional<uint64_t> offset = std::nullopt);
  std::optional<uint64_t> offset() const { return offset_; }

 private:
  std::optional<uint64_t> offset_;
};

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* value_type_name(ValueType t);

// ggml tensor type ids as stored in GGUF.
enum class TensorType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35,
};

struct TypeTraits {
  const char* name;     // "q4_K"
  uint32_t block_size;  // elements per block
  uint32_t type_size;   // bytes per block
};
// nullptr for ids this build does not know (the reader rejects those tensors).
const TypeTraits* type_traits(TensorType t);
const char* tensor_type_name(TensorType t);  // "unknown" for unknown ids
// Bytes for n_elements of type t; nullopt when n is not a whole number of blocks or overflows.
std::optional<uint64_t> tensor_bytes(TensorType t, uint64_t n_elements);

// One metadata value. Strings view the mapped file (valid while the GgufFile lives) or own
// their bytes (values built for the writer). Numeric arrays are widened to int64/uint64/double.
class Value {
 public:
  Value() = default;
  static Value from_uint(ValueType t, uint64_t v);
  static Value from_int(ValueType t, int64_t v);
  static Value from_float(ValueType t, double v);
  static Value from_bool(bool v);
  static Value from_string(std::string v);
  static Value from_string_view(std::string_view v);  // caller keeps the bytes alive
  static Value array(ValueType element_type, std::vector<Value> items);

  ValueType type() const { return type_; }
  ValueType element_type() const { return element_type_; }  // for ARRAY
  bool is_integer() const;
  bool is_float() const { return type_ == ValueType::FLOAT32 || type_ == ValueType::FLOAT64; }

  // Conversions; throw Error when the stored type does not fit.
  int64_t as_int() const;
  uint64_t as_uint() const;
  double as_float() const;  // integers convert too
  bool as_bool() const;
  std::string_view as_string() const;
  const std::vector<Value>& items() const;  // ARRAY
  size_t size() const;  // items of an ARRAY, else 0

  std::string to_string(size_t max_items = 8) const;  // human readable, arrays abbreviated

 private:
  // 40 bytes: a tokenizer's vocabulary and merges are arrays of ~150k values each, so the
  // size of one value is most of a loaded file's metadata memory.
  struct Heap;  // owned string bytes or array items, shared by copies (values never change)
  ValueType type_ = ValueType::UINT8;
  ValueType element_type_ = ValueType::UINT8;
  union {
    uint64_t u_ = 0;  // integers and bools, as their 64-bit pattern (i_ is the same bits)
    int64_t i_;
    double f_;
    struct { const char* data; size_t size; } str_;  // STRING (a string_view's parts)
  };
  std::shared_ptr<const Heap> heap_;
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ggml order: shape[0] is the contiguous (row) dimension
  TensorType type = TensorType::F32;
  uint64_t offset = 0;         // relative to the data section
  uint64_t n_bytes = 0;
  uint64_t n_elements = 0;
  const uint8_t* data = nullptr;  // points into the mapped file
};

// A read-only view of a GGUF v2/v3 file. Opening validates everything; afterwards every
// accessor is safe. The mapping (or borrowed buffer) lives as long as the object.
class GgufFile {
 public:
  // Maps `path` read-only. Throws Error.
  static GgufFile open(const std::string& path);
  // Parses a caller-owned buffer without copying (fuzzing, tests). Throws Error.
  static GgufFile parse(const uint8_t* data, size_t size);

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return size_; }
  const std::string& path() const { return path_; }

  const std::vector<KeyValue>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;
  // Typed look-ups: nullopt when absent; Error when present with the wrong type.
  std::optional<std::string_view> get_string(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  const std::vector<Value>* get_array(std::string_view key) const;
  // "general.architecture", empty when absent.
  std::string architecture() const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

 private:
  GgufFile() = default;
  void parse_all();

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  void* map_ = nullptr;  // non-null when we own an mmap
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
};

// Builds a GGUF v3 file: metadata in insertion order, tensors aligned to `alignment`.
class GgufWriter {
 public:
  explicit GgufWriter(uint32_t alignment = 32);

  void set(const std::string& key, Value value);  // replaces an existing key
  void set_string(const std::string& key, std::string v) { set(key, Value::from_string(std::move(v))); }
  void set_u32(const std::string& key, uint32_t v) { set(key, Value::from_uint(ValueType::UINT32, v)); }
  void set_i32(const std::string& key, int32_t v) { set(key, Value::from_int(ValueType::INT32, v)); }
  void set_f32(const std::string& key, float v) { set(key, Value::from_float(ValueType::FLOAT32, v)); }
  void set_bool(const std::string& key, bool v) { set(key, Value::from_bool(v)); }
  // Copies every key of `file` except general.alignment (the writer sets its own).
  void copy_metadata(const GgufFile& file);

  // `data` must hold exactly tensor_bytes(type, product(shape)) bytes; it is copied.
  void add_tensor(const std::string& name, TensorType type, const std::vector<int64_t>& shape,
                  const void* data, size_t n_bytes);

  // Streaming: the tensor's bytes are produced only when the file is written, in tensor order,
  // so a multi-GB output never sits in memory. `produce` passes them to the sink in as many
  // pieces as it likes; the total must be exactly tensor_bytes(type, product(shape)) (Error
  // otherwise). Whatever `produce` reads must outlive write() / to_bytes().
  using ByteSink = std::function<void(const void* data, size_t n_bytes)>;
  using TensorProducer = std::function<void(const ByteSink& sink)>;
  void add_tensor(const std::string& name, TensorType type, const std::vector<int64_t>& shape,
                  TensorProducer produce);

  // Writes to a temporary file (path + ".tmp") and renames it into place, so a crash or an
  // error (a throwing producer, a full disk) never leaves a partial file at `path`.
  void write(const std::string& path) const;
  std::vector<uint8_t> to_bytes() const;

 private:
  struct PendingTensor {
    std::string name;
    TensorType type;
    std::vector<int64_t> shape;
    uint64_t n_bytes = 0;
    std::vector<uint8_t> data;  // copied tensors
    TensorProducer produce;     // streamed tensors
  };
  uint64_t check_tensor(const std::string& name, TensorType type, const std::vector<int64_t>& shape) const;
  std::vector<uint8_t> header_bytes() const;  // everything before the data section, padded
  void write_data(const ByteSink& out) const;
  uint32_t alignment_;
  std::vector<KeyValue> kv_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace inhouse::gguf
