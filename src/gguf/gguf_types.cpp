// Tensor type table and metadata Value helpers.
#include <cstring>
#include <sstream>

#include "gguf/gguf.h"

namespace inhouse::gguf {

Error::Error(const std::string& message, std::optional<uint64_t> offset)
    : std::runtime_error(offset ? message + " (at byte offset " + std::to_string(*offset) + ")"
                                : message),
      offset_(offset) {}

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UINT8: return "uint8";
    case ValueType::INT8: return "int8";
    case ValueType::UINT16: return "uint16";
    case ValueType::INT16: return "int16";
    case ValueType::UINT32: return "uint32";
    case ValueType::INT32: return "int32";
    case ValueType::FLOAT32: return "float32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "uint64";
    case ValueType::INT64: return "int64";
    case ValueType::FLOAT64: return "float64";
  }
  return "unknown";
}

const TypeTraits* type_traits(TensorType t) {
  // Block layouts from ggml: QK4_0 = QK8_0 = 32, QK_K = 256.
  static const TypeTraits kF32{"f32", 1, 4}, kF16{"f16", 1, 2}, kBF16{"bf16", 1, 2},
      kQ4_0{"q4_0", 32, 18}, kQ4_1{"q4_1", 32, 20}, kQ5_0{"q5_0", 32, 22}, kQ5_1{"q5_1", 32, 24},
      kQ8_0{"q8_0", 32, 34}, kQ8_1{"q8_1", 32, 36}, kQ2_K{"q2_K", 256, 84},
      kQ3_K{"q3_K", 256, 110}, kQ4_K{"q4_K", 256, 144}, kQ5_K{"q5_K", 256, 176},
      kQ6_K{"q6_K", 256, 210}, kQ8_K{"q8_K", 256, 292}, kI8{"i8", 1, 1}, kI16{"i16", 1, 2},
      kI32{"i32", 1, 4}, kI64{"i64", 1, 8}, kF64{"f64", 1, 8};
  switch (t) {
    case TensorType::F32: return &kF32;
    case TensorType::F16: return &kF16;
    case TensorType::BF16: return &kBF16;
    case TensorType::Q4_0: return &kQ4_0;
    case TensorType::Q4_1: return &kQ4_1;
    case TensorType::Q5_0: return &kQ5_0;
    case TensorType::Q5_1: return &kQ5_1;
    case TensorType::Q8_0: return &kQ8_0;
    case TensorType::Q8_1: return &kQ8_1;
    case TensorType::Q2_K: return &kQ2_K;
    case TensorType::Q3_K: return &kQ3_K;
    case TensorType::Q4_K: return &kQ4_K;
    case TensorType::Q5_K: return &kQ5_K;
    case TensorType::Q6_K: return &kQ6_K;
    case TensorType::Q8_K: return &kQ8_K;
    case TensorType::I8: return &kI8;
    case TensorType::I16: return &kI16;
    case TensorType::I32: return &kI32;
    case TensorType::I64: return &kI64;
    case TensorType::F64: return &kF64;
    default: return nullptr;
  }
}

const char* tensor_type_name(TensorType t) {
  const TypeTraits* tr = type_traits(t);
  return tr ? tr->name : "unknown";
}

std::optional<uint64_t> tensor_bytes(TensorType t, uint64_t n_elements) {
  const TypeTraits* tr = type_traits(t);
  if (!tr || n_elements % tr->block_size != 0) return std::nullopt;
  uint64_t blocks = n_elements / tr->block_size, bytes = 0;
  if (__builtin_mul_overflow(blocks, uint64_t(tr->type_size), &bytes)) return std::nullopt;
  return bytes;
}

struct Value::Heap {
  std::string text;
  std::vector<Value> items;
};

Value Value::from_uint(ValueType t, uint64_t v) {
  Value r;
  r.type_ = t;
  r.u_ = v;
  return r;
}
Value Value::from_int(ValueType t, int64_t v) {
  Value r;
  r.type_ = t;
  r.i_ = v;
  return r;
}
Value Value::from_float(ValueType t, double v) {
  Value r;
  r.type_ = t;
  r.f_ = v;
  return r;
}
Value Value::from_bool(bool v) { return from_uint(ValueType::BOOL, v ? 1 : 0); }
Value Value::from_string(std::string v) {
  Value r;
  r.type_ = ValueType::STRING;
  auto heap = std::make_shared<Heap>();
  heap->text = std::move(v);
  r.str_ = {heap->text.data(), heap->text.size()};
  r.heap_ = std::move(heap);
  return r;
}
Value Value::from_string_view(std::string_view v) {
  Value r;
  r.type_ = ValueType::STRING;
  r.str_ = {v.data(), v.size()};
  return r;
}
Value Value::array(ValueType element_type, std::vector<Value> items) {
  Value r;
  r.type_ = ValueType::ARRAY;
  r.element_type_ = element_type;
  if (!items.empty()) {
    auto heap = std::make_shared<Heap>();
    heap->items = std::move(items);
    r.heap_ = std::move(heap);
  }
  return r;
}

bool Value::is_integer() const {
  switch (type_) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

static bool is_signed(ValueType t) {
  return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 ||
         t == ValueType::INT64;
}

int64_t Value::as_int() const {
  if (type_ == ValueType::BOOL) return i_;
  if (!is_integer()) throw Error(std::string("expected an integer, found ") + value_type_name(type_));
  if (!is_signed(type_) && u_ > uint64_t(INT64_MAX)) throw Error("integer value out of range");
  return i_;
}
uint64_t Value::as_uint() const {
  if (!is_integer() && type_ != ValueType::BOOL)
    throw Error(std::string("expected an integer, found ") + value_type_name(type_));
  if (is_signed(type_) && i_ < 0) throw Error("negative value where an unsigned one is needed");
  return u_;
}
double Value::as_float() const {
  if (is_float()) return f_;
  if (is_integer()) return is_signed(type_) ? double(i_) : double(u_);
  throw Error(std::string("expected a number, found ") + value_type_name(type_));
}
bool Value::as_bool() const {
  if (type_ != ValueType::BOOL) throw Error(std::string("expected a bool, found ") + value_type_name(type_));
  return u_ != 0;
}
std::string_view Value::as_string() const {
  if (type_ != ValueType::STRING) throw Error(std::string("expected a string, found ") + value_type_name(type_));
  return {str_.data, str_.size};
}
const std::vector<Value>& Value::items() const {
  if (type_ != ValueType::ARRAY) throw Error(std::string("expected an array, found ") + value_type_name(type_));
  static const std::vector<Value> kNone;
  return heap_ ? heap_->items : kNone;
}
size_t Value::size() const { return type_ == ValueType::ARRAY && heap_ ? heap_->items.size() : 0; }
static_assert(sizeof(Value) == 40, "Value grew: vocabularies hold ~150k of them");

std::string Value::to_string(size_t max_items) const {
  std::ostringstream os;
  switch (type_) {
    case ValueType::STRING: {
      const std::string_view sv = as_string();
      os << '"' << sv.substr(0, 200) << (sv.size() > 200 ? "...\"" : "\"");
      break;
    }
    case ValueType::BOOL: os << (u_ ? "true" : "false"); break;
    case ValueType::FLOAT32: case ValueType::FLOAT64: os << f_; break;
    case ValueType::ARRAY: {
      const std::vector<Value>& items = this->items();
      os << "[" << value_type_name(element_type_) << " x " << items.size() << ": ";
      for (size_t i = 0; i < items.size() && i < max_items; ++i)
        os << (i ? ", " : "") << items[i].to_string(max_items);
      os << (items.size() > max_items ? ", ...]" : "]");
      break;
    }
    default:
      if (is_signed(type_)) os << i_; else os << u_;
  }
  return os.str();
}

}  // namespace inhouse::gguf
