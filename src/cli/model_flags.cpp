// The flags every model-running command shares for the KV cache: --cache-type and --mla-cache.
#include "cli/commands.h"

namespace inhouse::cli {

void add_cache_flags(CLI::App* cmd, CacheFlags& flags) {
  cmd->add_option("--cache-type", flags.kv_type, "KV cache rows: f16 (llama.cpp's default) or f32 (exact, 2x memory)")
      ->check(CLI::IsMember({"f16", "f32"}))
      ->capture_default_str();
  cmd->add_option("--mla-cache", flags.mla_cache,
                  "deepseek2 cache layout: latent (compressed, ~71x smaller on V3), expanded (per-head K/V as "
                  "llama.cpp before MLA), auto (expanded while the whole cache is <= 256 MiB)")
      ->check(CLI::IsMember({"auto", "latent", "expanded"}))
      ->capture_default_str();
}

model::ModelOptions CacheFlags::options(int threads) const {
  return model::ModelOptions::from_names(threads, kv_type, mla_cache);
}

}  // namespace inhouse::cli
