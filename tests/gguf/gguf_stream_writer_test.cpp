// GgufWriter's streaming path: tensors produced piecewise at write time give the same bytes as
// copied ones, sizes are checked, and a failed write leaves nothing behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "gguf/gguf.h"

namespace inhouse::gguf {
namespace {

namespace fs = std::filesystem;

std::vector<float> ramp(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = float(i) * 0.5f - 3.0f;
  return v;
}

// Sends `data` in pieces of `piece` bytes.
GgufWriter::TensorProducer in_pieces(const std::vector<float>& data, size_t piece) {
  return [&data, piece](const GgufWriter::ByteSink& sink) {
    const auto* p = reinterpret_cast<const uint8_t*>(data.data());
    const size_t n = data.size() * sizeof(float);
    for (size_t i = 0; i < n; i += piece) sink(p + i, std::min(piece, n - i));
  };
}

fs::path temp_path(const std::string& name) { return fs::temp_directory_path() / ("inhouse_stream_" + name); }

TEST(GgufStreamWriter, SameBytesAsCopiedTensors) {
  const std::vector<float> a = ramp(3 * 5), b = ramp(7);  // 60 and 28 bytes: both need padding
  for (uint32_t alignment : {32u, 64u}) {
    GgufWriter copied(alignment), streamed(alignment);
    for (GgufWriter* w : {&copied, &streamed}) w->set_string("general.architecture", "llama");
    copied.add_tensor("a", TensorType::F32, {3, 5}, a.data(), a.size() * 4);
    copied.add_tensor("b", TensorType::F32, {7}, b.data(), b.size() * 4);
    streamed.add_tensor("a", TensorType::F32, {3, 5}, in_pieces(a, 7));
    streamed.add_tensor("b", TensorType::F32, {7}, in_pieces(b, 28));
    EXPECT_EQ(copied.to_bytes(), streamed.to_bytes()) << "alignment " << alignment;
  }
}

TEST(GgufStreamWriter, WritesAFileThatReadsBack) {
  const std::vector<float> a = ramp(64 * 3);
  GgufWriter w(64);
  w.set_string("general.architecture", "llama");
  w.add_tensor("a", TensorType::F32, {64, 3}, in_pieces(a, 100));
  w.add_tensor("b", TensorType::F32, {64}, a.data(), 64 * 4);
  const fs::path path = temp_path("readback.gguf");
  w.write(path.string());
  const GgufFile f = GgufFile::open(path.string());
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.alignment(), 64u);
  const TensorInfo* t = f.find_tensor("a");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->offset % 64, 0u);
  EXPECT_EQ(std::memcmp(t->data, a.data(), a.size() * 4), 0);
  EXPECT_EQ(f.find_tensor("b")->offset % 64, 0u);
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
  fs::remove(path);
}

TEST(GgufStreamWriter, WrongByteCountIsAnErrorAndLeavesNoFile) {
  const std::vector<float> a = ramp(16);
  const fs::path path = temp_path("short.gguf");
  fs::remove(path);
  {
    GgufWriter w;
    w.add_tensor("a", TensorType::F32, {32}, in_pieces(a, 16));  // 64 of 128 bytes
    EXPECT_THROW(w.write(path.string()), Error);
  }
  {
    GgufWriter w;
    w.add_tensor("a", TensorType::F32, {8}, in_pieces(a, 16));  // 64 bytes for 32
    EXPECT_THROW(w.to_bytes(), Error);
    EXPECT_THROW(w.write(path.string()), Error);
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
}

TEST(GgufStreamWriter, ThrowingProducerLeavesNoFileAndKeepsAnOldOne) {
  const fs::path path = temp_path("throws.gguf");
  {
    GgufWriter ok;
    ok.set_string("general.architecture", "old");
    ok.write(path.string());
  }
  GgufWriter w;
  w.add_tensor("a", TensorType::F32, {4}, [](const GgufWriter::ByteSink&) { throw std::runtime_error("boom"); });
  EXPECT_THROW(w.write(path.string()), std::runtime_error);
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
  EXPECT_EQ(GgufFile::open(path.string()).architecture(), "old");  // untouched
  fs::remove(path);
}

TEST(GgufStreamWriter, RejectsBadTensorsUpFront) {
  GgufWriter w;
  EXPECT_THROW(w.add_tensor("a", TensorType::F32, {4}, GgufWriter::TensorProducer{}), Error);
  EXPECT_THROW(w.add_tensor("q", TensorType::Q8_0, {33}, [](const GgufWriter::ByteSink&) {}), Error);
  w.add_tensor("a", TensorType::F32, {4}, [](const GgufWriter::ByteSink&) {});
  EXPECT_THROW(w.add_tensor("a", TensorType::F32, {4}, [](const GgufWriter::ByteSink&) {}), Error);
}

TEST(GgufStreamWriter, UnwritableDestinationIsAClearError) {
  GgufWriter w;
  try {
    w.write("/nonexistent-dir/out.gguf");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create /nonexistent-dir/out.gguf.tmp"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace inhouse::gguf
