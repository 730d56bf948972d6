// libFuzzer target for the GGUF reader. Any input must parse or throw gguf::Error; a file
// that parses must survive a full walk and a write/re-read round trip through GgufWriter.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

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
    if (g.metadata().size() != f.metadata().size() || g.tensors().size() != f.tensors().size()) std::abort();
    (void)sum;
  } catch (const Error&) {
  }
  return 0;
}
