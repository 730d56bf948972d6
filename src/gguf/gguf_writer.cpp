// GGUF writer: v3 layout, metadata in insertion order, each tensor's data aligned.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

#include "gguf/gguf.h"

namespace inhouse::gguf {
namespace {

class Buffer {
 public:
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  void pad_to(uint64_t alignment) {
    while (bytes.size() % alignment) bytes.push_back(0);
  }
  std::vector<uint8_t> bytes;
};

void put_value(Buffer& b, const Value& v) {
  switch (v.type()) {
    case ValueType::UINT8: b.put<uint8_t>(uint8_t(v.as_uint())); break;
    case ValueType::INT8: b.put<int8_t>(int8_t(v.as_int())); break;
    case ValueType::UINT16: b.put<uint16_t>(uint16_t(v.as_uint())); break;
    case ValueType::INT16: b.put<int16_t>(int16_t(v.as_int())); break;
    case ValueType::UINT32: b.put<uint32_t>(uint32_t(v.as_uint())); break;
    case ValueType::INT32: b.put<int32_t>(int32_t(v.as_int())); break;
    case ValueType::UINT64: b.put<uint64_t>(v.as_uint()); break;
    case ValueType::INT64: b.put<int64_t>(v.as_int()); break;
    case ValueType::FLOAT32: b.put<float>(float(v.as_float())); break;
    case ValueType::FLOAT64: b.put<double>(v.as_float()); break;
    case ValueType::BOOL: b.put<uint8_t>(v.as_bool() ? 1 : 0); break;
    case ValueType::STRING: b.put_string(v.as_string()); break;
    case ValueType::ARRAY:
      b.put<uint32_t>(uint32_t(v.element_type()));
      b.put<uint64_t>(v.items().size());
      for (const Value& item : v.items()) {
        if (item.type() != v.element_type()) throw Error("array item type differs from the array's element type");
        put_value(b, item);
      }
      break;
  }
}

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw Error("alignment must be a power of two");
  if (alignment != 32) set_u32("general.alignment", alignment);
}

void GgufWriter::set(const std::string& key, Value value) {
  for (KeyValue& kv : kv_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  kv_.push_back({key, std::move(value)});
}

void GgufWriter::copy_metadata(const GgufFile& file) {
  // Values from a file view its mapping: copy strings so the writer owns its data.
  std::function<Value(const Value&)> own = [&](const Value& v) -> Value {
    if (v.type() == ValueType::STRING) return Value::from_string(std::string(v.as_string()));
    if (v.type() == ValueType::ARRAY) {
      std::vector<Value> items;
      items.reserve(v.items().size());
      for (const Value& item : v.items()) items.push_back(own(item));
      return Value::array(v.element_type(), std::move(items));
    }
    return v;
  };
  for (const KeyValue& kv : file.metadata())
    if (kv.key != "general.alignment") set(kv.key, own(kv.value));
}

uint64_t GgufWriter::check_tensor(const std::string& name, TensorType type,
                                  const std::vector<int64_t>& shape) const {
  if (name.empty()) throw Error("tensor name is empty");
  for (const PendingTensor& t : tensors_)
    if (t.name == name) throw Error("duplicate tensor name '" + name + "'");
  if (shape.empty() || shape.size() > 4) throw Error("tensor '" + name + "' needs 1 to 4 dimensions");
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, uint64_t(d), &n)) throw Error("tensor '" + name + "' has a bad shape");
  }
  auto expected = tensor_bytes(type, n);
  if (!expected) throw Error("tensor '" + name + "': shape does not fit type " + tensor_type_name(type));
  if (uint64_t(shape[0]) % type_traits(type)->block_size != 0)
    throw Error("tensor '" + name + "': row length is not a multiple of the block size");
  return *expected;
}

void GgufWriter::add_tensor(const std::string& name, TensorType type, const std::vector<int64_t>& shape,
                            const void* data, size_t n_bytes) {
  const uint64_t expected = check_tensor(name, type, shape);
  if (expected != n_bytes)
    throw Error("tensor '" + name + "': " + std::to_string(n_bytes) + " bytes given, " +
                std::to_string(expected) + " expected");
  const auto* p = static_cast<const uint8_t*>(data);
  tensors_.push_back({name, type, shape, expected, std::vector<uint8_t>(p, p + n_bytes), {}});
}

void GgufWriter::add_tensor(const std::string& name, TensorType type, const std::vector<int64_t>& shape,
                            TensorProducer produce) {
  if (!produce) throw Error("tensor '" + name + "' has no data producer");
  const uint64_t expected = check_tensor(name, type, shape);
  tensors_.push_back({name, type, shape, expected, {}, std::move(produce)});
}

std::vector<uint8_t> GgufWriter::header_bytes() const {
  Buffer b;
  b.put<uint32_t>(0x46554747);
  b.put<uint32_t>(3);
  b.put<uint64_t>(tensors_.size());
  b.put<uint64_t>(kv_.size());
  for (const KeyValue& kv : kv_) {
    b.put_string(kv.key);
    b.put<uint32_t>(uint32_t(kv.value.type()));
    put_value(b, kv.value);
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    b.put_string(t.name);
    b.put<uint32_t>(uint32_t(t.shape.size()));
    for (int64_t d : t.shape) b.put<int64_t>(d);
    b.put<uint32_t>(uint32_t(t.type));
    b.put<uint64_t>(offset);
    offset += (t.n_bytes + alignment_ - 1) / alignment_ * alignment_;
  }
  b.pad_to(alignment_);
  return b.bytes;
}

// Each tensor's bytes, checked against its size, then zeros up to the next alignment.
void GgufWriter::write_data(const ByteSink& out) const {
  static const uint8_t zeros[256] = {};
  for (const PendingTensor& t : tensors_) {
    uint64_t written = 0;
    if (t.produce) {
      t.produce([&](const void* data, size_t n) {
        if (written + n > t.n_bytes)
          throw Error("tensor '" + t.name + "': producer gave more than the " +
                      std::to_string(t.n_bytes) + " bytes expected");
        out(data, n);
        written += n;
      });
    } else {
      out(t.data.data(), t.data.size());
      written = t.data.size();
    }
    if (written != t.n_bytes)
      throw Error("tensor '" + t.name + "': producer gave " + std::to_string(written) + " bytes, " +
                  std::to_string(t.n_bytes) + " expected");
    for (uint64_t pad = (alignment_ - written % alignment_) % alignment_; pad > 0;) {
      const size_t chunk = size_t(std::min<uint64_t>(pad, sizeof zeros));
      out(zeros, chunk);
      pad -= chunk;
    }
  }
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> bytes = header_bytes();
  write_data([&](const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes.insert(bytes.end(), p, p + n);
  });
  return bytes;
}

void GgufWriter::write(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error("cannot create " + tmp + ": " + std::strerror(errno));
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);  // tensors arrive in small pieces
  auto put = [&](const void* data, size_t n) {
    if (n > 0 && std::fwrite(data, 1, n, f) != n)
      throw Error("cannot write " + tmp + ": " + std::strerror(errno));
  };
  try {
    const std::vector<uint8_t> header = header_bytes();
    put(header.data(), header.size());
    write_data(put);
    if (std::fflush(f) != 0) throw Error("cannot write " + tmp + ": " + std::strerror(errno));
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  if (std::fclose(f) != 0) {
    std::remove(tmp.c_str());
    throw Error("cannot write " + tmp + ": " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error("cannot rename " + tmp + " to " + path + ": " + reason);
  }
}

}  // namespace inhouse::gguf
