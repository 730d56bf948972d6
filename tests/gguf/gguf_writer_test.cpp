// GgufWriter: what it writes reads back identically, aligned, through GgufFile.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "gguf/gguf.h"

namespace inhouse::gguf {
namespace {

GgufWriter sample_writer(uint32_t alignment) {
  GgufWriter w(alignment);
  w.set_string("general.architecture", "llama");
  w.set("u8", Value::from_uint(ValueType::UINT8, 200));
  w.set("i8", Value::from_int(ValueType::INT8, -100));
  w.set("u16", Value::from_uint(ValueType::UINT16, 60000));
  w.set("i16", Value::from_int(ValueType::INT16, -30000));
  w.set_u32("u32", 4000000000u);
  w.set_i32("i32", -2000000000);
  w.set("u64", Value::from_uint(ValueType::UINT64, UINT64_MAX));
  w.set("i64", Value::from_int(ValueType::INT64, INT64_MIN));
  w.set_f32("f32", 0.5f);
  w.set("f64", Value::from_float(ValueType::FLOAT64, 1e300));
  w.set_bool("flag", true);
  w.set("strs", Value::array(ValueType::STRING, {Value::from_string("a"), Value::from_string("你好"), Value::from_string("")}));
  w.set("ints", Value::array(ValueType::INT32, {Value::from_int(ValueType::INT32, -1), Value::from_int(ValueType::INT32, 7)}));
  w.set("nested", Value::array(ValueType::ARRAY, {Value::array(ValueType::FLOAT32, {Value::from_float(ValueType::FLOAT32, 2.0)})}));
  std::vector<float> a(3 * 5);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i) * 0.25f;
  w.add_tensor("a", TensorType::F32, {5, 3}, a.data(), a.size() * 4);
  std::vector<uint8_t> q(2 * 34, 7);  // two Q8_0 blocks
  w.add_tensor("q", TensorType::Q8_0, {64}, q.data(), q.size());
  std::vector<uint8_t> k(144, 3);  // one Q4_K block
  w.add_tensor("k", TensorType::Q4_K, {256, 1}, k.data(), k.size());
  return w;
}

void expect_sample(const GgufFile& f, uint64_t alignment) {
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), alignment);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.find("u8")->as_uint(), 200u);
  EXPECT_EQ(f.get_int("i8"), -100);
  EXPECT_EQ(f.find("u16")->as_uint(), 60000u);
  EXPECT_EQ(f.get_int("i16"), -30000);
  EXPECT_EQ(f.find("u32")->as_uint(), 4000000000u);
  EXPECT_EQ(f.get_int("i32"), -2000000000);
  EXPECT_EQ(f.find("u64")->as_uint(), UINT64_MAX);
  EXPECT_THROW(f.get_int("u64"), Error);  // does not fit int64
  EXPECT_EQ(f.get_int("i64"), INT64_MIN);
  EXPECT_EQ(f.get_float("f32"), 0.5);
  EXPECT_EQ(f.get_float("f64"), 1e300);
  EXPECT_EQ(f.get_bool("flag"), true);
  const auto* strs = f.get_array("strs");
  ASSERT_NE(strs, nullptr);
  ASSERT_EQ(strs->size(), 3u);
  EXPECT_EQ((*strs)[1].as_string(), "你好");
  EXPECT_EQ((*strs)[2].as_string(), "");
  EXPECT_EQ((*f.get_array("ints"))[0].as_int(), -1);
  EXPECT_EQ((*f.get_array("nested"))[0].items()[0].as_float(), 2.0);
  ASSERT_EQ(f.tensors().size(), 3u);
  const TensorInfo* a = f.find_tensor("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(reinterpret_cast<const float*>(a->data)[14], 3.5f);
  EXPECT_EQ(f.find_tensor("q")->n_bytes, 68u);
  EXPECT_EQ(f.find_tensor("q")->data[67], 7);
  EXPECT_EQ(f.find_tensor("k")->type, TensorType::Q4_K);
  for (const TensorInfo& t : f.tensors())
    EXPECT_EQ((f.data_offset() + t.offset) % alignment, 0u) << t.name;
}

TEST(GgufWriter, RoundTripsInMemory) {
  for (uint32_t alignment : {32u, 64u, 4096u}) {
    std::vector<uint8_t> bytes = sample_writer(alignment).to_bytes();
    GgufFile f = GgufFile::parse(bytes.data(), bytes.size());
    expect_sample(f, alignment);
  }
}

TEST(GgufWriter, RoundTripsThroughFileAndCopy) {
  std::string path = ::testing::TempDir() + "/roundtrip.gguf";
  sample_writer(32).write(path);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  GgufFile f = GgufFile::open(path);
  expect_sample(f, 32);

  // Copying metadata and tensors from a mapped file gives the same file again.
  GgufWriter copy;
  copy.copy_metadata(f);
  for (const TensorInfo& t : f.tensors()) copy.add_tensor(t.name, t.type, t.shape, t.data, t.n_bytes);
  std::vector<uint8_t> again = copy.to_bytes();
  GgufFile g = GgufFile::parse(again.data(), again.size());
  expect_sample(g, 32);
  std::remove(path.c_str());
}

// Found by fuzz_gguf: a file that states the default alignment (32) explicitly. The writer
// owns general.alignment and writes it only when it is not 32, so a copy keeps every other
// key and the same alignment, one key fewer.
TEST(GgufWriter, CopyOfAFileStatingTheDefaultAlignment) {
  GgufWriter w;
  w.set_u32("general.alignment", 32);
  w.set_string("general.name", "x");
  std::vector<uint8_t> bytes = w.to_bytes();
  GgufFile f = GgufFile::parse(bytes.data(), bytes.size());
  ASSERT_EQ(f.metadata().size(), 2u);
  GgufWriter copy(uint32_t(f.alignment()));
  copy.copy_metadata(f);
  std::vector<uint8_t> again = copy.to_bytes();
  GgufFile g = GgufFile::parse(again.data(), again.size());
  EXPECT_EQ(g.alignment(), 32u);
  EXPECT_EQ(g.metadata().size(), 1u);
  EXPECT_EQ(g.get_string("general.name"), "x");
}

TEST(GgufWriter, RejectsInconsistentTensors) {
  GgufWriter w;
  std::vector<uint8_t> data(1024);
  EXPECT_THROW(w.add_tensor("x", TensorType::F32, {4}, data.data(), 15), Error);
  EXPECT_THROW(w.add_tensor("x", TensorType::Q8_0, {31}, data.data(), 34), Error);
  EXPECT_THROW(w.add_tensor("", TensorType::F32, {4}, data.data(), 16), Error);
  EXPECT_THROW(w.add_tensor("x", TensorType::F32, {}, data.data(), 0), Error);
  EXPECT_THROW(w.add_tensor("x", TensorType::F32, {1, 1, 1, 1, 1}, data.data(), 4), Error);
  w.add_tensor("x", TensorType::F32, {4}, data.data(), 16);
  EXPECT_THROW(w.add_tensor("x", TensorType::F32, {4}, data.data(), 16), Error);
  EXPECT_THROW(GgufWriter(3), Error);
}

TEST(GgufWriter, SetReplacesExistingKey) {
  GgufWriter w;
  w.set_u32("k", 1);
  w.set_u32("k", 2);
  std::vector<uint8_t> bytes = w.to_bytes();
  GgufFile f = GgufFile::parse(bytes.data(), bytes.size());
  EXPECT_EQ(f.metadata().size(), 1u);
  EXPECT_EQ(f.get_int("k"), 2);
}

TEST(GgufTypes, BlockSizes) {
  EXPECT_EQ(tensor_bytes(TensorType::F32, 10), 40u);
  EXPECT_EQ(tensor_bytes(TensorType::BF16, 10), 20u);
  EXPECT_EQ(tensor_bytes(TensorType::Q4_0, 64), 36u);
  EXPECT_EQ(tensor_bytes(TensorType::Q8_0, 32), 34u);
  EXPECT_EQ(tensor_bytes(TensorType::Q4_K, 256), 144u);
  EXPECT_EQ(tensor_bytes(TensorType::Q5_K, 256), 176u);
  EXPECT_EQ(tensor_bytes(TensorType::Q6_K, 512), 420u);
  EXPECT_EQ(tensor_bytes(TensorType::Q6_K, 100), std::nullopt);
  EXPECT_EQ(tensor_bytes(TensorType(5), 32), std::nullopt);
  EXPECT_EQ(tensor_bytes(TensorType::F64, UINT64_MAX / 2), std::nullopt);
  EXPECT_STREQ(tensor_type_name(TensorType::Q4_K), "q4_K");
  EXPECT_STREQ(tensor_type_name(TensorType(99)), "unknown");
}

}  // namespace
}  // namespace inhouse::gguf
