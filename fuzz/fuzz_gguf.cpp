// libFuzzer target for the GGUF reader. Any input must parse or throw gguf::Error; a file
// that parses must survive a full walk and a write/re-read round trip through GgufWriter
// that keeps every key (general.alignment is the writer's own: it is written only when it
// is not the default 32), every value and every tensor byte.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "gguf/gguf.h"

using namespace inhouse::gguf;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    GgufFile f = GgufFile::parse(data, size);
    size_t sum = 0;
    for (const KeyValue& kv : f.metadata()) sum += kv.value.to_string().size();
    GgufWriter w(uint32_t(f.alignment()));
    w.copy_metadata(f);
    uint64_t total = 0;
    for (const TensorInfo& t : f.tensors()) {
      total += t.n_bytes;
      if (total > (64u << 20)) return 0;  // keep copies small
      if (t.n_bytes) sum += t.data[t.n_bytes - 1];
      w.add_tensor(t.name, t.type, t.shape, t.data, t.n_bytes);
    }
    std::vector<uint8_t> bytes = w.to_bytes();
    GgufFile g = GgufFile::parse(bytes.data(), bytes.size());
    for (const KeyValue& kv : f.metadata()) {
      if (kv.key == "general.alignment") continue;
      const Value* v = g.find(kv.key);
      if (!v || v->to_string(1u << 30) != kv.value.to_string(1u << 30)) std::abort();
    }
    for (const KeyValue& kv : g.metadata())
      if (kv.key != "general.alignment" && !f.find(kv.key)) std::abort();
    if (g.alignment() != f.alignment() || g.tensors().size() != f.tensors().size()) std::abort();
    for (size_t i = 0; i < f.tensors().size(); ++i) {
      const TensorInfo& a = f.tensors()[i];
      const TensorInfo& b = g.tensors()[i];
      if (a.name != b.name || a.type != b.type || a.shape != b.shape || a.n_bytes != b.n_bytes ||
          (a.n_bytes && std::memcmp(a.data, b.data, a.n_bytes) != 0))
        std::abort();
    }
    (void)sum;
  } catch (const Error&) {
  }
  return 0;
}
