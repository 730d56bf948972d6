// quant/measure.cpp — what `inhouse bench` measures besides speed: the machine's memory read
// bandwidth, the bytes one decode step must read, and the process's resident memory.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "quant/quant.h"

namespace inhouse::quant {
namespace {

// Sum of n words; the compiler vectorises it, so one thread reads as fast as it can.
uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < n; ++i) a += p[i];
  return a + b + c + d;
}

// Runs fn(thread_index) on `threads` threads (the caller is one of them) and waits.
template <typename Fn>
void run_threads(int threads, Fn fn) {
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back(fn, t);
  fn(0);
  for (std::thread& w : workers) w.join();
}

uint64_t status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t len = std::strlen(field);
  while (std::getline(in, line))
    if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':')
      return std::strtoull(line.c_str() + len + 1, nullptr, 10);
  return 0;
}

}  // namespace

double measure_read_bandwidth(uint64_t bytes, int threads, int passes) {
  threads = std::max(1, threads);
  passes = std::max(1, passes);
  const size_t n = size_t(bytes / 8);
  if (n == 0) throw Error("bandwidth buffer is empty");
  std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);
  const size_t per = (n + size_t(threads) - 1) / size_t(threads);
  // Written by the threads that will read it, so pages are faulted in (and NUMA-local).
  run_threads(threads, [&](int t) {
    const size_t b = std::min(n, per * size_t(t)), e = std::min(n, b + per);
    for (size_t i = b; i < e; ++i) buf[i] = i;
  });
  std::vector<double> gbs;
  std::vector<uint64_t> sums(static_cast<size_t>(threads));
  for (int p = 0; p < passes; ++p) {
    const auto start = std::chrono::steady_clock::now();
    run_threads(threads, [&](int t) {
      const size_t b = std::min(n, per * size_t(t)), e = std::min(n, b + per);
      sums[size_t(t)] += sum_words(buf.get() + b, e - b);
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    gbs.push_back(double(n * 8) / s / 1e9);
  }
  volatile uint64_t keep = 0;  // the sums must look used, or the reads could be dropped
  for (uint64_t s : sums) keep = keep + s;
  std::sort(gbs.begin(), gbs.end());
  return gbs[gbs.size() / 2];
}

uint64_t decode_weight_bytes(const gguf::GgufFile& file) {
  const std::string arch = file.architecture();
  const int64_t n_expert = file.get_int(arch + ".expert_count").value_or(0);
  const int64_t n_used = file.get_int(arch + ".expert_used_count").value_or(n_expert);
  const bool has_output = file.find_tensor("output.weight") != nullptr;
  uint64_t bytes = 0;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (t.name == "token_embd.weight") {
      const uint64_t rows = t.shape.size() >= 2 && t.shape[1] > 0 ? uint64_t(t.shape[1]) : 1;
      bytes += has_output ? t.n_bytes / rows : t.n_bytes;  // tied: it is the output matrix too
    } else if (n_expert > 0 && t.name.find("_exps.") != std::string::npos) {
      bytes += t.n_bytes / uint64_t(n_expert) * uint64_t(n_used);
    } else {
      bytes += t.n_bytes;
    }
  }
  return bytes;
}

uint64_t peak_rss_bytes() { return status_kib("VmHWM") * 1024; }
uint64_t current_rss_bytes() { return status_kib("VmRSS") * 1024; }

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return bool(out);
}

}  // namespace inhouse::quant
