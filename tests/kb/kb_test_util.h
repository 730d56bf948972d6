// What the kb test files share: a temporary data directory removed afterwards, and unit vectors.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace inhouse::kb::test {

class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "inhouse-kb-test-XXXXXX").string();
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The i-th basis vector of dimension dim (i wraps around): distinct, L2-normalised embeddings.
inline std::vector<float> basis(int dim, int i) {
  std::vector<float> v(size_t(dim), 0.0f);
  v[size_t(i % dim)] = 1.0f;
  return v;
}

}  // namespace inhouse::kb::test
