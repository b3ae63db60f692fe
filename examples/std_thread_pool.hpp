// An engine's thread pool as convkit sees it: a parallel-for over task indices (convkit::ThreadPool, C:
// convkit_thread_pool). This one is plain std::thread, the calling thread taking part in every job like ONNX
// Runtime's and pthreadpool's callers do; an engine adapts its own pool the same way, in a few lines.
// Used by examples/engine_pool.cpp, the caller-pool tests and convkit_bench --pool.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <convkit/convkit.hpp>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace convkit_examples {

class StdThreadPool {
 public:
  // `width` threads run tasks at once: the caller of parallel_for and width - 1 threads of the pool's own.
  explicit StdThreadPool(int width) : width_(width < 1 ? 1 : width) {
    for (int t = 1; t < width_; ++t) threads_.emplace_back([this] { serve(); });
  }
  ~StdThreadPool() {
    {
      const std::lock_guard<std::mutex> guard(lock_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }
  StdThreadPool(const StdThreadPool&) = delete;
  StdThreadPool& operator=(const StdThreadPool&) = delete;

  // The handle a plan runs on: Plan::run_on(pool.handle(), ...).
  convkit::ThreadPool handle() {
    convkit::ThreadPool pool;
    pool.context = this;
    pool.parallel_for = &StdThreadPool::parallel_for;
    pool.width = width_;
    return pool;
  }

  int width() const { return width_; }

  // Calls task(argument, i) once for every i < count, on this thread and the pool's, and returns when all are done.
  // One job at a time: calls from several threads take turns.
  static void parallel_for(void* context, std::size_t count, void (*task)(void*, std::size_t), void* argument) {
    static_cast<StdThreadPool*>(context)->run(count, task, argument);
  }

 private:
  void run(std::size_t count, void (*task)(void*, std::size_t), void* argument) {
    const std::lock_guard<std::mutex> one_job(submit_);
    {
      const std::lock_guard<std::mutex> guard(lock_);
      task_ = task;
      argument_ = argument;
      count_ = count;
      next_.store(0);
      finished_ = 0;
      ++generation_;
      published_.store(generation_, std::memory_order_release);
    }
    wake_.notify_all();
    const std::size_t mine = take_tasks();
    std::unique_lock<std::mutex> guard(lock_);
    finished_ += mine;
    // Every task done, and no thread of the pool still looking at this job's fields.
    done_.wait(guard, [&] { return finished_ == count_ && active_ == 0; });
    task_ = nullptr;
  }

  // Runs tasks of the current job until none is left; answers how many this thread ran.
  std::size_t take_tasks() {
    std::size_t ran = 0;
    for (std::size_t i = next_.fetch_add(1); i < count_; i = next_.fetch_add(1)) {
      task_(argument_, i);
      ++ran;
    }
    return ran;
  }

  void serve() {
    std::uint64_t seen = 0;
    for (;;) {
      // Between jobs a thread spins for a while, keeping its core (the next layer's job usually comes within
      // microseconds, and a thread that yielded its core to another process would come to it late, leaving the
      // caller to do the work alone), then sleeps, leaving the core to other work.
      const auto idle_since = std::chrono::steady_clock::now();
      for (int spins = 1; published_.load(std::memory_order_acquire) == seen; ++spins) {
        if (spins % 64 == 0 && std::chrono::steady_clock::now() - idle_since > std::chrono::milliseconds(2)) break;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#else
        std::this_thread::yield();
#endif
      }
      {
        std::unique_lock<std::mutex> guard(lock_);
        wake_.wait(guard, [&] { return stopping_ || (generation_ != seen && task_ != nullptr); });
        if (stopping_) return;
        seen = generation_;
        ++active_;
      }
      const std::size_t ran = take_tasks();
      const std::lock_guard<std::mutex> guard(lock_);
      finished_ += ran;
      --active_;
      if (finished_ == count_ && active_ == 0) done_.notify_all();
    }
  }

  const int width_;
  std::vector<std::thread> threads_;
  std::mutex submit_;  // one job at a time
  std::mutex lock_;    // guards the job's fields below
  std::condition_variable wake_, done_;
  void (*task_)(void*, std::size_t) = nullptr;
  void* argument_ = nullptr;
  std::size_t count_ = 0, finished_ = 0;
  int active_ = 0;  // threads of the pool inside the current job
  std::atomic<std::size_t> next_{0};
  std::uint64_t generation_ = 0;
  std::atomic<std::uint64_t> published_{0};  // generation_, for spinning threads
  bool stopping_ = false;
};

}  // namespace convkit_examples
