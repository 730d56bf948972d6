// tensor/thread_pool.cpp — owns the worker threads kernels are split across. Workers sleep on
// a condition variable between jobs; a job is one function over [0, n) cut into one contiguous
// chunk per thread, and the caller works on chunk 0 instead of waiting idle.
#include <algorithm>

#include "tensor/tensor.h"

namespace inhouse::tensor {

namespace {
// Chunk c of n split into `chunks` near-equal contiguous pieces.
std::pair<int64_t, int64_t> chunk_range(int64_t n, int chunks, int c) {
  return {n * c / chunks, n * (c + 1) / chunks};
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    const auto* job = job_;
    const int64_t n = job_n_;
    const int chunks = job_chunks_;
    lock.unlock();

    if (index < chunks) {
      auto [begin, end] = chunk_range(n, chunks, index);
      (*job)(begin, end);
    }

    lock.lock();
    if (--pending_ == 0) done_.notify_one();
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int chunks = int(std::min<int64_t>(n, size()));
  if (chunks == 1) {  // not worth waking anyone
    fn(0, n);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    job_ = &fn;
    job_n_ = n;
    job_chunks_ = chunks;
    pending_ = int(workers_.size());
    ++generation_;
  }
  wake_.notify_all();
  auto [begin, end] = chunk_range(n, chunks, 0);
  fn(begin, end);
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return pending_ == 0; });
  job_ = nullptr;
}

}  // namespace inhouse::tensor
