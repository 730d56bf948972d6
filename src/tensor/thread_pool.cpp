// tensor/thread_pool.cpp — owns the worker threads kernels are split across. A job is one
// function over [0, n) cut into contiguous chunks that the caller and the workers take from a
// shared counter (the caller works instead of waiting idle). Workers spin briefly on the job
// counter before sleeping on a condition variable, so back-to-back jobs (a decode step runs
// hundreds) skip the futex round trip; on an oversubscribed machine the spin ends quickly and
// they sleep.
#include <algorithm>

#include "tensor/tensor.h"

namespace inhouse::tensor {

namespace {
// About 30-100 µs of polling (a pause is 10-140 cycles depending on the CPU): longer than the
// gap between the jobs of one forward pass, short enough not to steal a core for long.
constexpr int kSpinIterations = 2000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls until done() or the spin budget runs out; true when done() became true.
template <class Done>
bool spin_until(Done done) {
  for (int i = 0; i < kSpinIterations; ++i) {
    if (done()) return true;
    cpu_relax();
  }
  return done();
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::run_chunks(const std::function<void(int64_t, int64_t)>& fn, int64_t n,
                            int64_t grain) {
  for (;;) {
    const int64_t begin = next_.fetch_add(grain, std::memory_order_relaxed);
    if (begin >= n) return;
    fn(begin, std::min(n, begin + grain));
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    const auto has_news = [&] { return stop_ || generation_ != seen; };
    if (!spin_until(has_news)) {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, has_news);
    }
    if (stop_) return;
    std::function<void(int64_t, int64_t)> const* job;
    int64_t n, grain;
    {
      std::lock_guard lock(mutex_);  // job_ and friends were written under it
      seen = generation_;
      job = job_;
      n = job_n_;
      grain = job_grain_;
    }
    run_chunks(*job, n, grain);
    if (pending_.fetch_sub(1) == 1) {
      std::lock_guard lock(mutex_);  // the caller checks pending_ under it before sleeping
      done_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                              int64_t grain) {
  if (n <= 0) return;
  if (grain <= 0) grain = (n + size() - 1) / size();
  if (workers_.empty() || grain >= n) {  // one chunk: not worth waking anyone
    fn(0, n);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    job_ = &fn;
    job_n_ = n;
    job_grain_ = grain;
    next_.store(0, std::memory_order_relaxed);
    pending_ = int(workers_.size());
    ++generation_;
  }
  wake_.notify_all();
  run_chunks(fn, n, grain);
  const auto all_done = [&] { return pending_ == 0; };
  if (!spin_until(all_done)) {
    std::unique_lock lock(mutex_);
    done_.wait(lock, all_done);
  }
  std::lock_guard lock(mutex_);
  job_ = nullptr;
}

}  // namespace inhouse::tensor
