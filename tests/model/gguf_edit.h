// Test helpers for load errors: copies of a GGUF file with keys or tensors dropped or replaced,
// and the message loading such a copy fails with.
#pragma once

#include <exception>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "model/model.h"

namespace inhouse::model::testing {

// A copy of `src` without the keys/tensors in `drop`, after `edit` (which may add or replace).
inline std::vector<uint8_t> rebuild(const gguf::GgufFile& src, const std::set<std::string>& drop,
                                    const std::function<void(gguf::GgufWriter&)>& edit = {}) {
  gguf::GgufWriter w(uint32_t(src.alignment()));
  for (const gguf::KeyValue& kv : src.metadata())
    if (!drop.count(kv.key) && kv.key != "general.alignment") w.set(kv.key, kv.value);
  for (const gguf::TensorInfo& t : src.tensors())
    if (!drop.count(t.name)) w.add_tensor(t.name, t.type, t.shape, t.data, t.n_bytes);
  if (edit) edit(w);
  return w.to_bytes();
}

// The message Model::load gives for a file's bytes, or "no error".
inline std::string load_error(const std::vector<uint8_t>& bytes) {
  try {
    Model::load(gguf::GgufFile::parse(bytes.data(), bytes.size()), {.threads = 1});
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace inhouse::model::testing
