// inhouse synth --shape NAME [--arch ARCH] [--type TYPE] [--seed N] OUT.gguf: writes a model
// with random weights and the exact shapes and hyper-parameters of a real one (e.g.
// DeepSeek-R1-Distill-Qwen-1.5B), for benchmarks: speed does not depend on weight values.
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "cli/commands.h"
#include "quant/quant.h"

namespace inhouse::cli {
namespace {

struct SynthOptions {
  std::string out, arch, shape, type = "Q8_0";
  uint64_t seed = 1;
  int threads = 0;
  bool quiet = false;
};

void run_synth(const SynthOptions& o) {
  const auto ft = quant::parse_file_type(o.type);
  if (!ft) throw std::runtime_error("unknown type '" + o.type + "' (known: " + quant::file_type_names() + ")");
  quant::SynthOptions so;
  so.arch = o.arch;
  so.shape = o.shape;
  so.type = *ft;
  so.seed = o.seed;
  so.threads = o.threads;
  if (!o.quiet) {
    so.progress = [](const quant::Progress& p) {
      std::fprintf(stderr, "[%4zu/%4zu] %-36s %-5s %9.2f MiB\n", p.index + 1, p.count, p.name.c_str(),
                   gguf::tensor_type_name(p.to), double(p.bytes_out) / (1 << 20));
    };
  }
  const uint64_t size = quant::synthesize(o.out, so);
  std::printf("wrote %s (%s %s, %s, seed %llu): %.2f MiB\n", o.out.c_str(), quant::shape_arch(o.shape).c_str(),
              o.shape.c_str(), quant::file_type_name(*ft), static_cast<unsigned long long>(o.seed),
              double(size) / (1 << 20));
}

}  // namespace

void register_synth(CLI::App& app) {
  auto o = std::make_shared<SynthOptions>();
  std::string shapes;
  for (const std::string& s : quant::shape_names()) shapes += (shapes.empty() ? "" : ", ") + s;
  auto* cmd = app.add_subcommand("synth", "Write a random-weight model with the exact shape of a real one");
  cmd->add_option("out", o->out, "Output GGUF file")->required();
  cmd->add_option("--shape", o->shape, "Model shape: " + shapes)->required();
  cmd->add_option("--arch", o->arch, "Architecture (checked against the shape's)");
  cmd->add_option("--type", o->type, "File type: " + quant::file_type_names() + " (default Q8_0)");
  cmd->add_option("--seed", o->seed, "Random seed (same seed, same file)");
  cmd->add_option("-t,--threads", o->threads, "Worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("-q,--quiet", o->quiet, "No per-tensor progress");
  cmd->callback([o] { run_synth(*o); });
}

}  // namespace inhouse::cli
