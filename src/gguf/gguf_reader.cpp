// GGUF reader: maps the file and validates every field before it is used. Limits protect
// against hostile files: counts are checked against the bytes that remain, so a corrupt
// header can never cause a huge allocation or a read past the end.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "gguf/gguf.h"

namespace inhouse::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kMaxDims = 4;           // GGML_MAX_DIMS
constexpr uint32_t kMaxArrayDepth = 8;
constexpr uint64_t kMaxAlignment = 1u << 20;

class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size) : base_(base), size_(size) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view read_string(const char* what) {
    uint64_t at = pos_;
    uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      throw Error(std::string(what) + ": string length " + std::to_string(len) +
                      " runs past the end of the file", at);
    std::string_view s(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return s;
  }
  void need(uint64_t n, const char* what) const {
    if (n > remaining())
      throw Error(std::string("unexpected end of file while reading ") + what, pos_);
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

// Smallest number of bytes one element of type t can take (for sanity-checking counts).
uint64_t min_value_bytes(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: return 8;
    case ValueType::ARRAY: return 12;
  }
  return 1;
}

bool valid_value_type(uint32_t t) { return t <= uint32_t(ValueType::FLOAT64); }

Value read_value(Cursor& c, ValueType type, uint32_t depth) {
  switch (type) {
    case ValueType::UINT8: return Value::from_uint(type, c.read<uint8_t>("uint8 value"));
    case ValueType::INT8: return Value::from_int(type, c.read<int8_t>("int8 value"));
    case ValueType::UINT16: return Value::from_uint(type, c.read<uint16_t>("uint16 value"));
    case ValueType::INT16: return Value::from_int(type, c.read<int16_t>("int16 value"));
    case ValueType::UINT32: return Value::from_uint(type, c.read<uint32_t>("uint32 value"));
    case ValueType::INT32: return Value::from_int(type, c.read<int32_t>("int32 value"));
    case ValueType::UINT64: return Value::from_uint(type, c.read<uint64_t>("uint64 value"));
    case ValueType::INT64: return Value::from_int(type, c.read<int64_t>("int64 value"));
    case ValueType::FLOAT32: return Value::from_float(type, c.read<float>("float32 value"));
    case ValueType::FLOAT64: return Value::from_float(type, c.read<double>("float64 value"));
    case ValueType::BOOL: {
      uint64_t at = c.pos();
      uint8_t b = c.read<uint8_t>("bool value");
      if (b > 1) throw Error("bool value is " + std::to_string(b) + ", not 0 or 1", at);
      return Value::from_bool(b != 0);
    }
    case ValueType::STRING: return Value::from_string_view(c.read_string("string value"));
    case ValueType::ARRAY: {
      uint64_t at = c.pos();
      if (depth >= kMaxArrayDepth) throw Error("arrays nested too deeply", at);
      uint32_t et = c.read<uint32_t>("array element type");
      if (!valid_value_type(et)) throw Error("unknown array element type " + std::to_string(et), at);
      uint64_t n = c.read<uint64_t>("array length");
      if (n > c.remaining() / min_value_bytes(ValueType(et)))
        throw Error("array length " + std::to_string(n) + " runs past the end of the file", at + 4);
      std::vector<Value> items;
      items.reserve(n);
      for (uint64_t i = 0; i < n; ++i) items.push_back(read_value(c, ValueType(et), depth + 1));
      return Value::array(ValueType(et), std::move(items));
    }
  }
  throw Error("unknown value type " + std::to_string(uint32_t(type)), c.pos());
}

}  // namespace

GgufFile::GgufFile(GgufFile&& o) noexcept { *this = std::move(o); }

GgufFile& GgufFile::operator=(GgufFile&& o) noexcept {
  if (this != &o) {
    if (map_) munmap(map_, size_);
    path_ = std::move(o.path_);
    base_ = o.base_;
    size_ = o.size_;
    map_ = o.map_;
    version_ = o.version_;
    alignment_ = o.alignment_;
    data_offset_ = o.data_offset_;
    kv_ = std::move(o.kv_);
    tensors_ = std::move(o.tensors_);
    o.map_ = nullptr;
    o.base_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

GgufFile::~GgufFile() {
  if (map_) munmap(map_, size_);
}

GgufFile GgufFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st{};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + " is not a regular file");
  }
  GgufFile f;
  f.path_ = path;
  f.size_ = uint64_t(st.st_size);
  if (f.size_ == 0) {
    ::close(fd);
    throw Error(path + ": empty file, not a GGUF model", 0);
  }
  void* m = mmap(nullptr, f.size_, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw Error("cannot map " + path + ": " + std::strerror(errno));
  f.map_ = m;
  f.base_ = static_cast<const uint8_t*>(m);
  try {
    f.parse_all();
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());  // offset already in the message
  }
  return f;
}

GgufFile GgufFile::parse(const uint8_t* data, size_t size) {
  GgufFile f;
  f.path_ = "<memory>";
  f.base_ = data;
  f.size_ = size;
  f.parse_all();
  return f;
}

void GgufFile::parse_all() {
  Cursor c(base_, size_);
  uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) throw Error("not a GGUF file (bad magic)", 0);
  version_ = c.read<uint32_t>("version");
  if (version_ == 1) throw Error("GGUF version 1 is obsolete and not supported; convert the file", 4);
  if (version_ != 2 && version_ != 3)
    throw Error("unsupported GGUF version " + std::to_string(version_) + " (supported: 2, 3)", 4);
  uint64_t n_tensors = c.read<uint64_t>("tensor count");
  uint64_t n_kv = c.read<uint64_t>("metadata count");
  // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info 8+4+8+4+8.
  if (n_kv > c.remaining() / 13) throw Error("metadata count " + std::to_string(n_kv) + " is larger than the file allows", 16);
  if (n_tensors > c.remaining() / 32) throw Error("tensor count " + std::to_string(n_tensors) + " is larger than the file allows", 8);

  std::unordered_set<std::string_view> keys;
  kv_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    uint64_t at = c.pos();
    std::string_view key = c.read_string("metadata key");
    if (key.empty()) throw Error("empty metadata key", at);
    if (!keys.insert(key).second) throw Error("duplicate metadata key '" + std::string(key) + "'", at);
    uint64_t type_at = c.pos();
    uint32_t t = c.read<uint32_t>("metadata value type");
    if (!valid_value_type(t))
      throw Error("metadata key '" + std::string(key) + "' has unknown value type " + std::to_string(t), type_at);
    kv_.push_back({std::string(key), read_value(c, ValueType(t), 0)});
  }

  if (const Value* a = find("general.alignment")) {
    if (a->type() != ValueType::UINT32) throw Error("general.alignment must be a uint32");
    uint64_t al = a->as_uint();
    if (al == 0 || (al & (al - 1)) != 0 || al > kMaxAlignment)
      throw Error("general.alignment " + std::to_string(al) + " is not a power of two up to 1 MiB");
    alignment_ = al;
  }

  std::unordered_set<std::string_view> names;
  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    uint64_t at = c.pos();
    TensorInfo ti;
    std::string_view name = c.read_string("tensor name");
    ti.name = std::string(name);
    if (name.empty()) throw Error("empty tensor name", at);
    uint32_t n_dims = c.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      throw Error("tensor '" + ti.name + "' has " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)", at);
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim_at = c.pos();
      int64_t ne = c.read<int64_t>("tensor dimension");
      if (ne < 0) throw Error("tensor '" + ti.name + "' has a negative dimension", dim_at);
      if (__builtin_mul_overflow(n_el, uint64_t(ne), &n_el) || n_el > uint64_t(INT64_MAX))
        throw Error("tensor '" + ti.name + "' has too many elements", dim_at);
      ti.shape.push_back(ne);
    }
    uint64_t type_at = c.pos();
    uint32_t type = c.read<uint32_t>("tensor type");
    ti.type = TensorType(type);
    const TypeTraits* tr = type_traits(ti.type);
    if (!tr) throw Error("tensor '" + ti.name + "' has unknown type id " + std::to_string(type), type_at);
    if (uint64_t(ti.shape[0]) % tr->block_size != 0)
      throw Error("tensor '" + ti.name + "' row length " + std::to_string(ti.shape[0]) +
                      " is not a multiple of the " + tr->name + " block size " + std::to_string(tr->block_size), type_at);
    ti.n_elements = n_el;
    if (auto b = tensor_bytes(ti.type, n_el)) ti.n_bytes = *b;
    else throw Error("tensor '" + ti.name + "' size overflows", type_at);
    uint64_t off_at = c.pos();
    ti.offset = c.read<uint64_t>("tensor data offset");
    if (ti.offset % alignment_ != 0)
      throw Error("tensor '" + ti.name + "' data offset " + std::to_string(ti.offset) +
                      " is not a multiple of the alignment " + std::to_string(alignment_), off_at);
    if (!names.insert(name).second) throw Error("duplicate tensor name '" + ti.name + "'", at);
    tensors_.push_back(std::move(ti));
  }

  // The data section starts at the next multiple of the alignment.
  uint64_t pos = c.pos();
  data_offset_ = (pos + alignment_ - 1) / alignment_ * alignment_;
  if (n_tensors > 0 && data_offset_ > size_)
    throw Error("tensor data section starts past the end of the file", pos);
  for (TensorInfo& ti : tensors_) {
    uint64_t start = 0, end = 0;
    if (__builtin_add_overflow(data_offset_, ti.offset, &start) ||
        __builtin_add_overflow(start, ti.n_bytes, &end) || end > size_)
      throw Error("tensor '" + ti.name + "' data (" + std::to_string(ti.n_bytes) + " bytes at offset " +
                      std::to_string(ti.offset) + ") runs past the end of the file (" +
                      std::to_string(size_) + " bytes)");
    ti.data = base_ + start;
  }
}

const Value* GgufFile::find(std::string_view key) const {
  for (const KeyValue& kv : kv_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

namespace {
template <typename F>
auto typed(const GgufFile& f, std::string_view key, F get) -> std::optional<decltype(get(*f.find(key)))> {
  const Value* v = f.find(key);
  if (!v) return std::nullopt;
  try {
    return get(*v);
  } catch (const Error& e) {
    throw Error("metadata key '" + std::string(key) + "': " + e.what());
  }
}
}  // namespace

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
  return typed(*this, key, [](const Value& v) { return v.as_string(); });
}
std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  return typed(*this, key, [](const Value& v) { return v.as_int(); });
}
std::optional<double> GgufFile::get_float(std::string_view key) const {
  return typed(*this, key, [](const Value& v) { return v.as_float(); });
}
std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  return typed(*this, key, [](const Value& v) { return v.as_bool(); });
}
const std::vector<Value>* GgufFile::get_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return nullptr;
  if (v->type() != ValueType::ARRAY) throw Error("metadata key '" + std::string(key) + "' is not an array");
  return &v->items();
}

std::string GgufFile::architecture() const {
  auto a = get_string("general.architecture");
  return a ? std::string(*a) : std::string();
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const TensorInfo& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace inhouse::gguf
