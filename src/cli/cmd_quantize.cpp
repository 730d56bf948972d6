// inhouse quantize IN.gguf OUT.gguf TYPE [--threads N] [--quiet]: converts a float (F32/F16/
// BF16) model to TYPE (Q8_0, Q4_0, Q4_K_M, Q6_K, ...) with llama.cpp's per-tensor type policy,
// streaming the output to disk. On any error nothing is left at OUT.
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "cli/commands.h"
#include "quant/quant.h"

namespace inhouse::cli {
namespace {

struct QuantizeOptions {
  std::string in, out, type;
  int threads = 0;
  bool quiet = false;
};

double mib(uint64_t bytes) { return double(bytes) / (1 << 20); }

void run_quantize(const QuantizeOptions& o) {
  const auto ft = quant::parse_file_type(o.type);
  if (!ft) throw std::runtime_error("unknown type '" + o.type + "' (known: " + quant::file_type_names() + ")");
  if (o.in == o.out) throw std::runtime_error("the output must be a different file from the input");
  quant::QuantizeOptions qo;
  qo.threads = o.threads;
  if (!o.quiet) {
    qo.progress = [](const quant::Progress& p) {
      std::fprintf(stderr, "[%4zu/%4zu] %-36s %-5s -> %-5s %9.2f MiB -> %9.2f MiB\n", p.index + 1, p.count,
                   p.name.c_str(), gguf::tensor_type_name(p.from), gguf::tensor_type_name(p.to),
                   mib(p.bytes_in), mib(p.bytes_out));
    };
  }
  const quant::QuantizeResult r = quant::quantize_file(o.in, o.out, *ft, qo);
  std::string types;
  for (const auto& [type, n] : r.type_counts)
    types += std::string(types.empty() ? "" : ", ") + gguf::tensor_type_name(type) + ": " + std::to_string(n);
  std::printf("wrote %s (%s): tensors %.2f MiB -> %.2f MiB; types {%s}\n", o.out.c_str(),
              quant::file_type_name(*ft), mib(r.bytes_in), mib(r.bytes_out), types.c_str());
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeOptions>();
  auto* cmd = app.add_subcommand("quantize", "Quantise a F32/F16/BF16 GGUF model (llama.cpp's type policy)");
  cmd->add_option("in", o->in, "Input GGUF model (F32, F16 or BF16 weights)")->required();
  cmd->add_option("out", o->out, "Output GGUF file")->required();
  cmd->add_option("type", o->type, "Target type: " + quant::file_type_names())->required();
  cmd->add_option("-t,--threads", o->threads, "Worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("-q,--quiet", o->quiet, "No per-tensor progress");
  cmd->callback([o] { run_quantize(*o); });
}

}  // namespace inhouse::cli
