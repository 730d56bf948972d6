// GgufFile: every malformed field gives gguf::Error (with its byte offset), never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "gguf/gguf.h"
#include "gguf_test_util.h"

namespace inhouse::gguf {
namespace {

using testing::RawGguf;

// A valid file: two metadata keys, one 4x2 f32 tensor.
RawGguf valid_file() {
  RawGguf g;
  g.header(3, 1, 2).kv_str("general.architecture", "llama").kv_u32("llama.block_count", 2);
  g.tensor("w", {4, 2}, 0, 0).pad(32);
  for (int i = 0; i < 8; ++i) g.put<float>(float(i));
  return g;
}

GgufFile parse(const RawGguf& g) { return GgufFile::parse(g.bytes.data(), g.bytes.size()); }

std::string error_of(const RawGguf& g) {
  try {
    parse(g);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(GgufReader, ParsesValidFile) {
  RawGguf g = valid_file();
  GgufFile f = parse(g);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.architecture(), "llama");
  EXPECT_EQ(f.get_int("llama.block_count"), 2);
  ASSERT_EQ(f.tensors().size(), 1u);
  const TensorInfo& t = f.tensors()[0];
  EXPECT_EQ(t.shape, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(t.n_elements, 8u);
  EXPECT_EQ(t.n_bytes, 32u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(reinterpret_cast<const float*>(t.data)[7], 7.0f);
  EXPECT_EQ(f.find_tensor("w"), &t);
  EXPECT_EQ(f.find_tensor("nope"), nullptr);
}

TEST(GgufReader, AcceptsVersion2) {
  RawGguf g = valid_file();
  g.bytes[4] = 2;
  EXPECT_EQ(parse(g).version(), 2u);
}

TEST(GgufReader, EveryTruncationIsAnError) {
  RawGguf g = valid_file();
  for (size_t n = 0; n < g.bytes.size(); ++n) {
    std::vector<uint8_t> prefix(g.bytes.begin(), g.bytes.begin() + long(n));
    EXPECT_THROW(GgufFile::parse(prefix.data(), prefix.size()), Error) << "prefix " << n;
  }
}

TEST(GgufReader, EverySingleByteCorruptionIsHandled) {
  // Flipping any byte must either still parse or throw Error: never crash or hang.
  RawGguf g = valid_file();
  for (size_t i = 0; i < g.bytes.size(); ++i) {
    for (uint8_t v : {uint8_t(0x00), uint8_t(0xff), uint8_t(0x80), uint8_t(g.bytes[i] ^ 1)}) {
      std::vector<uint8_t> b = g.bytes;
      b[i] = v;
      try {
        GgufFile::parse(b.data(), b.size());
      } catch (const Error&) {
      }
    }
  }
}

TEST(GgufReader, RejectsBadMagic) {
  RawGguf g = valid_file();
  g.bytes[0] = 'X';
  EXPECT_NE(error_of(g).find("not a GGUF file"), std::string::npos);
  EXPECT_NE(error_of(g).find("byte offset 0"), std::string::npos);
}

TEST(GgufReader, RejectsUnsupportedVersions) {
  RawGguf g = valid_file();
  g.bytes[4] = 1;
  EXPECT_NE(error_of(g).find("version 1"), std::string::npos);
  g.bytes[4] = 4;
  EXPECT_NE(error_of(g).find("unsupported GGUF version 4"), std::string::npos);
}

TEST(GgufReader, RejectsHugeCounts) {
  RawGguf g;
  g.header(3, 0, uint64_t(1) << 60);
  EXPECT_NE(error_of(g).find("metadata count"), std::string::npos);
  RawGguf t;
  t.header(3, uint64_t(1) << 60, 0);
  EXPECT_NE(error_of(t).find("tensor count"), std::string::npos);
}

TEST(GgufReader, RejectsStringRunningPastEnd) {
  RawGguf g;
  g.header(3, 0, 1).put<uint64_t>(uint64_t(1) << 40);
  g.zeros(16);
  std::string e = error_of(g);
  EXPECT_NE(e.find("string length"), std::string::npos) << e;
  EXPECT_NE(e.find("byte offset 24"), std::string::npos) << e;
}

TEST(GgufReader, RejectsHugeArray) {
  RawGguf g;
  g.header(3, 0, 1).str("a").put<uint32_t>(9).put<uint32_t>(4).put<uint64_t>(uint64_t(1) << 62);
  EXPECT_NE(error_of(g).find("array length"), std::string::npos);
}

TEST(GgufReader, RejectsDeeplyNestedArrays) {
  RawGguf g;
  g.header(3, 0, 1).str("a").put<uint32_t>(9);
  for (int i = 0; i < 20; ++i) g.put<uint32_t>(9).put<uint64_t>(1);
  g.put<uint32_t>(4).put<uint64_t>(0);
  EXPECT_NE(error_of(g).find("nested too deeply"), std::string::npos);
}

TEST(GgufReader, RejectsUnknownValueTypes) {
  RawGguf g;
  g.header(3, 0, 1).str("a").put<uint32_t>(13).put<uint32_t>(0);
  EXPECT_NE(error_of(g).find("unknown value type 13"), std::string::npos);
  RawGguf a;
  a.header(3, 0, 1).str("a").put<uint32_t>(9).put<uint32_t>(77).put<uint64_t>(0);
  EXPECT_NE(error_of(a).find("unknown array element type 77"), std::string::npos);
}

TEST(GgufReader, RejectsBadBool) {
  RawGguf g;
  g.header(3, 0, 1).str("b").put<uint32_t>(7).put<uint8_t>(2);
  EXPECT_NE(error_of(g).find("bool value is 2"), std::string::npos);
}

TEST(GgufReader, RejectsDuplicates) {
  RawGguf g;
  g.header(3, 0, 2).kv_u32("k", 1).kv_u32("k", 2);
  EXPECT_NE(error_of(g).find("duplicate metadata key 'k'"), std::string::npos);
  RawGguf t;
  t.header(3, 2, 0).tensor("w", {32}, 0, 0).tensor("w", {32}, 0, 128).pad(32).zeros(256);
  EXPECT_NE(error_of(t).find("duplicate tensor name 'w'"), std::string::npos);
}

TEST(GgufReader, RejectsBadAlignment) {
  for (uint32_t al : {0u, 3u, 48u, 1u << 24}) {
    RawGguf g;
    g.header(3, 0, 1).kv_u32("general.alignment", al);
    EXPECT_NE(error_of(g).find("general.alignment"), std::string::npos) << al;
  }
  RawGguf s;
  s.header(3, 0, 1).kv_str("general.alignment", "32");
  EXPECT_NE(error_of(s).find("must be a uint32"), std::string::npos);
}

TEST(GgufReader, HonoursCustomAlignment) {
  RawGguf g;
  g.header(3, 1, 1).kv_u32("general.alignment", 64).tensor("w", {16}, 0, 0).pad(64).zeros(64);
  GgufFile f = parse(g);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
}

TEST(GgufReader, RejectsBadTensorInfos) {
  auto tensor_error = [](const std::vector<int64_t>& dims, uint32_t type, uint64_t offset) {
    RawGguf g;
    g.header(3, 1, 0).tensor("w", dims, type, offset).pad(32).zeros(1024);
    return error_of(g);
  };
  EXPECT_NE(tensor_error({}, 0, 0).find("0 dimensions"), std::string::npos);
  EXPECT_NE(tensor_error({1, 1, 1, 1, 1}, 0, 0).find("5 dimensions"), std::string::npos);
  EXPECT_NE(tensor_error({-4}, 0, 0).find("negative dimension"), std::string::npos);
  EXPECT_NE(tensor_error({1 << 30, 1 << 30, 1 << 30}, 0, 0).find("too many elements"), std::string::npos);
  EXPECT_NE(tensor_error({32}, 5, 0).find("unknown type id 5"), std::string::npos);
  EXPECT_NE(tensor_error({33}, 8, 0).find("not a multiple of the q8_0 block size 32"), std::string::npos);
  EXPECT_NE(tensor_error({8}, 0, 16).find("not a multiple of the alignment"), std::string::npos);
  EXPECT_NE(tensor_error({1024}, 0, 0).find("runs past the end"), std::string::npos);
  EXPECT_NE(tensor_error({8}, 0, uint64_t(-32)).find("runs past the end"), std::string::npos);
}

TEST(GgufReader, TypedGettersCheckTypes) {
  RawGguf g = valid_file();
  GgufFile f = parse(g);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("missing"), std::nullopt);
  EXPECT_THROW(f.get_int("general.architecture"), Error);
  EXPECT_THROW(f.get_string("llama.block_count"), Error);
  EXPECT_THROW(f.get_array("llama.block_count"), Error);
  EXPECT_EQ(f.get_float("llama.block_count"), 2.0);
}

TEST(GgufReader, OpenReportsFileProblems) {
  EXPECT_THROW(GgufFile::open("/nonexistent/model.gguf"), Error);
  EXPECT_THROW(GgufFile::open("/tmp"), Error);
  std::string empty = ::testing::TempDir() + "/empty.gguf";
  std::ofstream(empty).close();
  EXPECT_THROW(GgufFile::open(empty), Error);
}

TEST(GgufReader, OpenMessageNamesFile) {
  std::string path = ::testing::TempDir() + "/bad.gguf";
  std::ofstream(path) << "GGUF but not really";
  try {
    GgufFile::open(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
}

// Every GGUF the project ships or the shared fixtures hold must open and be consistent.
TEST(GgufReader, OpensEveryFixtureFile) {
  std::vector<std::filesystem::path> files;
  for (const char* dir : {INHOUSE_TEST_DATA, INHOUSE_SHARED_FIXTURES}) {
    if (!std::filesystem::exists(dir)) continue;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
      if (e.path().extension() == ".gguf") files.push_back(e.path());
  }
  if (files.empty()) GTEST_SKIP() << "no fixture files";
  for (const auto& p : files) {
    GgufFile f = GgufFile::open(p.string());
    EXPECT_FALSE(f.architecture().empty()) << p;
    for (const TensorInfo& t : f.tensors()) {
      EXPECT_NE(t.data, nullptr) << p << " " << t.name;
      EXPECT_EQ(t.offset % f.alignment(), 0u) << p << " " << t.name;
    }
  }
}

}  // namespace
}  // namespace inhouse::gguf
