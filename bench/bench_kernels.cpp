// bench_kernels — tensor kernels at the DeepSeek-R1-Distill-Qwen-1.5B layer shapes (hidden 1536,
// KV 256, FFN 8960, vocab 151936), 2 threads:
//   BM_ReadBandwidth   the machine's 2-thread read roofline: a sum over a 1 GiB buffer.
//   BM_MatVec          decode (n_batch 1); bytes_per_second counts weight bytes streamed. The
//                      weights are copied until the set exceeds 1 GiB and the copies are cycled,
//                      so they come from DRAM as in a real forward pass, not from cache.
//   BM_KernelL2        one thread on an L2-resident matrix, rates from CPU time: the kernels'
//                      compute ceiling, robust to a loaded machine.
//   BM_FloatOp         silu / softmax / rms_norm / dot_f32 rows; items_per_second = elements.
//   BM_AttentionGroup  one decode step's attention for one GQA group (6 query heads, head
//                      dim 128) over N cached f16 rows from DRAM, one thread; a 1.5B decode
//                      step runs 56.
//   BM_Prefill         512 activation rows; items_per_second = rows (tokens) per second, the
//                      FLOPS counter = 2 * n_in * n_out * 512 per iteration.
// Each runs with the best SIMD target, AVX2 (where the best is wider) and SCALAR (the portable
// scalar kernels) for ratios.
// Run: build/bench/bench_kernels --benchmark_repetitions=3 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace {

using inhouse::tensor::Matrix;
using inhouse::tensor::TensorType;
using inhouse::tensor::ThreadPool;
namespace tensor = inhouse::tensor;

constexpr size_t kRotationBytes = size_t(1) << 30;

ThreadPool& pool() {
  static ThreadPool p(2);
  return p;
}

// Random quants with small finite block scales (random bytes could be NaN there).
std::vector<uint8_t> random_matrix(TensorType t, int64_t n_in, int64_t n_out) {
  const size_t rb = tensor::row_bytes(t, n_in);
  std::vector<uint8_t> data(rb * size_t(n_out));
  std::mt19937_64 rng(42);
  for (size_t i = 0; i + 8 <= data.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(&data[i], &v, 8);
  }
  const size_t block = inhouse::gguf::type_traits(t)->type_size;
  const uint16_t scale = tensor::fp32_to_fp16(0.01f);
  // Offset of the f16 scale(s) inside a block: Q6_K keeps d at the end.
  const size_t d_off = t == TensorType::Q6_K ? 208 : 0;
  const bool has_min = t == TensorType::Q4_K || t == TensorType::Q5_K || t == TensorType::Q4_1 ||
                       t == TensorType::Q5_1;
  for (size_t off = 0; off < data.size(); off += block) {
    std::memcpy(&data[off + d_off], &scale, 2);
    if (has_min) std::memcpy(&data[off + 2], &scale, 2);
  }
  return data;
}

struct Shape {
  const char* name;
  int64_t n_in, n_out;
};
constexpr Shape kShapes[] = {
    {"attn_q_o_1536x1536", 1536, 1536}, {"attn_kv_1536x256", 1536, 256},
    {"ffn_up_1536x8960", 1536, 8960},   {"ffn_down_8960x1536", 8960, 1536},
    {"output_1536x151936", 1536, 151936},
};
constexpr TensorType kTypes[] = {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K,
                                 TensorType::Q6_K};

void BM_ReadBandwidth(benchmark::State& state) {
  std::vector<uint64_t> buf(kRotationBytes / 8, 1);
  std::vector<uint64_t> sums(2);
  for (auto _ : state) {
    pool().parallel_for(2, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const size_t half = buf.size() / 2;
        const uint64_t* p = buf.data() + size_t(c) * half;
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i < half; i += 4) s0 += p[i], s1 += p[i + 1], s2 += p[i + 2], s3 += p[i + 3];
        sums[size_t(c)] = s0 + s1 + s2 + s3;
      }
    });
    benchmark::DoNotOptimize(sums);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kRotationBytes));
}
BENCHMARK(BM_ReadBandwidth)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MatVec(benchmark::State& state, TensorType t, Shape s, std::string target) {
  tensor::set_simd_target(target);
  const auto one = random_matrix(t, s.n_in, s.n_out);
  const size_t copies = std::max<size_t>(1, kRotationBytes / one.size() + 1);
  std::vector<uint8_t> all(one.size() * copies);
  for (size_t c = 0; c < copies; ++c) std::memcpy(all.data() + c * one.size(), one.data(), one.size());
  std::vector<float> x(size_t(s.n_in), 0.5f), y(size_t(s.n_out));
  size_t c = 0;
  for (auto _ : state) {
    const Matrix w{t, all.data() + c * one.size(), s.n_in, s.n_out, tensor::row_bytes(t, s.n_in)};
    tensor::matmul(w, x.data(), 1, y.data(), pool());
    benchmark::DoNotOptimize(y.data());
    c = (c + 1) % copies;
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(one.size()));
  state.SetLabel(tensor::simd_target());
  tensor::set_simd_target("");
}

void BM_Prefill(benchmark::State& state, TensorType t, Shape s, std::string target) {
  tensor::set_simd_target(target);
  constexpr int64_t kRows = 512;
  const auto data = random_matrix(t, s.n_in, s.n_out);
  const Matrix w{t, data.data(), s.n_in, s.n_out, tensor::row_bytes(t, s.n_in)};
  std::vector<float> x(size_t(s.n_in * kRows)), y(size_t(s.n_out * kRows));
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  for (float& v : x) v = dist(rng);
  for (auto _ : state) {
    tensor::matmul(w, x.data(), kRows, y.data(), pool());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * kRows);
  state.counters["FLOPS"] = benchmark::Counter(double(state.iterations()) * 2.0 * double(s.n_in) *
                                                   double(s.n_out) * double(kRows),
                                               benchmark::Counter::kIsRate);
  state.SetLabel(tensor::simd_target());
  tensor::set_simd_target("");
}

// Kernel compute throughput: one thread, a 1536x256 matrix that stays in L2, rates from CPU
// time. Above the DRAM roofline means decode is memory-bound; useful on a loaded machine.
void BM_KernelL2(benchmark::State& state, TensorType t, std::string target) {
  tensor::set_simd_target(target);
  static ThreadPool one(1);
  const Shape s{"l2", 1536, 256};
  const auto data = random_matrix(t, s.n_in, s.n_out);
  const Matrix w{t, data.data(), s.n_in, s.n_out, tensor::row_bytes(t, s.n_in)};
  std::vector<float> x(static_cast<size_t>(s.n_in), 0.5f), y(static_cast<size_t>(s.n_out));
  for (auto _ : state) {
    tensor::matmul(w, x.data(), 1, y.data(), one);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
  state.SetLabel(tensor::simd_target());
  tensor::set_simd_target("");
}

// Float row operations of one decode step's layer at the 1.5B shapes (silu over the FFN width,
// rms_norm over the hidden size, softmax over a 4096-position score row).
void BM_FloatOp(benchmark::State& state, std::string op, std::string target) {
  tensor::set_simd_target(target);
  const int64_t n = op == "silu_8960" ? 8960 : op == "softmax_4096" ? 4096 : 1536;
  std::vector<float> x(static_cast<size_t>(n)), w(static_cast<size_t>(n), 1.0f), y(x.size());
  std::mt19937 rng(3);
  std::normal_distribution<float> dist;
  for (float& v : x) v = dist(rng);
  for (auto _ : state) {
    if (op == "silu_8960") {
      y = x;
      tensor::silu(y.data(), n);
    } else if (op == "softmax_4096") {
      y = x;
      tensor::softmax(y.data(), n);
    } else if (op == "rms_norm_1536") {
      tensor::rms_norm(x.data(), w.data(), y.data(), n, 1e-6f);
    } else {
      benchmark::DoNotOptimize(tensor::dot_f32(x.data(), w.data(), n));
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * n);
  state.SetLabel(tensor::simd_target());
  tensor::set_simd_target("");
}

// One GQA group of a decode step at context depth n_kv: 6 query heads over one KV head's f16
// rows (head dim 128, the head's positions contiguous as in the 1.5B model's KvCache), one
// thread. items = cached rows. The caches are copied until the set exceeds 256 MiB and cycled,
// so rows come from DRAM as in a decode step (each layer's cache is read once per token).
void BM_AttentionGroup(benchmark::State& state, std::string target) {
  tensor::set_simd_target(target);
  constexpr int64_t kHeads = 6, kDim = 128;
  const int64_t n_kv = state.range(0);
  std::mt19937 rng(5);
  std::normal_distribution<float> dist;
  const size_t elements = size_t(n_kv * kDim);
  const size_t copies = std::max<size_t>(1, (size_t(256) << 20) / (2 * elements * sizeof(uint16_t)));
  std::vector<uint16_t> k(elements * copies), v(k.size());
  for (size_t i = 0; i < elements; ++i) k[i] = tensor::fp32_to_fp16(dist(rng)), v[i] = tensor::fp32_to_fp16(dist(rng));
  for (size_t c = 1; c < copies; ++c) {
    std::copy_n(k.begin(), elements, k.begin() + long(c * elements));
    std::copy_n(v.begin(), elements, v.begin() + long(c * elements));
  }
  std::vector<float> q(size_t(kHeads * kDim)), out(q.size());
  for (float& x : q) x = dist(rng);
  std::vector<float> scratch(size_t(kHeads * tensor::attention_scratch_floats(n_kv, kDim)));
  size_t c = 0;
  for (auto _ : state) {
    const size_t off = c++ % copies * elements;
    tensor::cached_attention_heads(TensorType::F16, q.data(), kDim, kHeads, k.data() + off, kDim, v.data() + off,
                                   kDim, n_kv, kDim, kDim, 0.088f, out.data(), kDim, scratch.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * n_kv);
  state.SetLabel(tensor::simd_target());
  tensor::set_simd_target("");
}

int register_all() {
  const std::string best = tensor::simd_targets().front();
  for (const std::string& target : {best, std::string("SCALAR")})
    for (const char* op : {"silu_8960", "softmax_4096", "rms_norm_1536", "dot_f32_1536"})
      benchmark::RegisterBenchmark(("BM_FloatOp/" + std::string(op) + "/" + target).c_str(),
                                   BM_FloatOp, std::string(op), target)
          ->Unit(benchmark::kMicrosecond)->UseRealTime();
  for (const std::string& target : {best, std::string("SCALAR")})
    benchmark::RegisterBenchmark(("BM_AttentionGroup/" + target).c_str(), BM_AttentionGroup, target)
        ->Arg(512)->Arg(2048)->Arg(8192)->Unit(benchmark::kMicrosecond);
  // AVX2 (256-bit kernels) as well where the best target is wider, for A/B ratios.
  std::vector<std::string> targets = {best, "SCALAR"};
  const auto all = tensor::simd_targets();
  if (best != "AVX2" && std::find(all.begin(), all.end(), "AVX2") != all.end())
    targets.insert(targets.begin() + 1, "AVX2");
  for (const std::string& target : targets)
    for (TensorType t : kTypes)
      benchmark::RegisterBenchmark(
          ("BM_KernelL2/" + std::string(inhouse::gguf::tensor_type_name(t)) + "/" + target).c_str(),
          BM_KernelL2, t, target)->Unit(benchmark::kMicrosecond);
  for (const std::string& target : targets) {
    for (TensorType t : kTypes) {
      const std::string type = inhouse::gguf::tensor_type_name(t);
      for (const Shape& s : kShapes) {
        benchmark::RegisterBenchmark(("BM_MatVec/" + type + "/" + s.name + "/" + target).c_str(),
                                     BM_MatVec, t, s, target)
            ->Unit(benchmark::kMicrosecond)->UseRealTime();
        if (s.n_out > 10000) continue;  // the vocab projection runs for one row in prefill
        benchmark::RegisterBenchmark(("BM_Prefill/" + type + "/" + s.name + "/" + target).c_str(),
                                     BM_Prefill, t, s, target)
            ->Unit(benchmark::kMillisecond)->UseRealTime();
      }
    }
  }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
