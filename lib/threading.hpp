// The only code that touches threads: convkit's worker pool, and the OpenMP settings that OpenBLAS's OpenMP build
// follows. Every parallel loop of the library goes through parallel_for, and every BLAS call states how many threads
// it may use through BlasThreads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace convkit::detail {

// A non-owning reference to a callable: unlike std::function it never allocates, which matters for calls that take
// well under a microsecond. The callable must outlive the reference (a lambda passed straight to parallel_for does).
template <typename Signature>
class FunctionRef;

template <typename Result, typename... Args>
class FunctionRef<Result(Args...)> {
 public:
  template <typename Callable, typename = std::enable_if_t<!std::is_same_v<std::decay_t<Callable>, FunctionRef>>>
  FunctionRef(Callable&& callable)  // NOLINT: implicit by design, like std::function
      : object_(const_cast<void*>(static_cast<const void*>(&callable))),
        call_([](void* object, Args... args) -> Result {
          return (*static_cast<std::remove_reference_t<Callable>*>(object))(std::forward<Args>(args)...);
        }) {}

  Result operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  Result (*call_)(void*, Args...);
};

// The processors this process may run on: its affinity mask (taskset, cgroups' cpusets) when first asked, at least 1.
int processors_available();

// The threads a plan uses when none are asked for: OMP_NUM_THREADS when the user set it (its first value), else
// processors_available(). Not omp_get_max_threads() of the calling thread, which another library in the process
// may have lowered for its own reasons (importing PyTorch sets it to 1 in some configurations), silently making
// every call single-threaded.
int default_thread_count();

// The threads a plan may use when `requested` are asked for: at least 1, and no more than processors_available()
// or OMP_THREAD_LIMIT when set. More threads than processors only take turns on them.
int usable_threads(int requested);

// The threads a loop over `flops` of work should use: one below the size at which a parallel region pays for
// itself, else `threads`. Opening an OpenMP region costs a few microseconds, what the library's loops need for
// ~2e5 FLOPs. Decided with bench_conv, 1 thread against 2 in the same run: the lesson's shapes (192 and 108 FLOPs)
// lost time to a region, while small_3x3_c8 (1.2e6 FLOPs) gained from the second thread (docs/tuning-log.md). The
// exact cut between them is an estimate.
int threads_worth_using(double flops, int threads);

// The number of workers parallel_for(threads, count, ...) uses at most: min(threads, count), at least 1.
int team_size(int threads, std::int64_t count);

// A caller's thread pool (convkit::ThreadPool, C: convkit_thread_pool): parallel_for(context, n, task, argument) calls
// task(argument, i) once for every i < n, on up to `width` threads at once, and returns when all have returned.
struct CallerPool {
  void* context;
  void (*parallel_for)(void* context, std::size_t task_count, void (*task)(void* argument, std::size_t index),
                       void* argument);
  int width;
};

// While one lives, every parallel_for of this thread runs through `pool` (null: convkit's own workers): its team,
// at most min(threads, width), is that many tasks of the pool, task w being worker w, which then shares out the
// units as convkit's own workers do. A parallel_for inside a task's units runs on that task's thread. Nothing is
// started, and no OpenMP region is opened: BLAS calls inside the tasks run single-threaded.
class UsingCallerPool {
 public:
  explicit UsingCallerPool(const CallerPool* pool);
  ~UsingCallerPool();
  UsingCallerPool(const UsingCallerPool&) = delete;
  UsingCallerPool& operator=(const UsingCallerPool&) = delete;

 private:
  const CallerPool* previous_;
};

// Every worker of parallel_for (the calling thread included) computes with subnormals flushed to zero and restores
// its floating-point state afterwards (floating_point.hpp).

// Calls body(begin, end, worker) on disjoint ranges covering [0, count), on at most team_size(threads, count)
// workers; worker < team_size identifies per-worker scratch, and no two calls running at once share a worker index.
// Each worker starts on its contiguous share of the static split and takes it in chunks; a worker that runs dry takes
// over the rest of another's share, so the call ends when the work is done, not when every thread has arrived: a
// partner that has not woken or was descheduled by another process costs the caller at most the chunk it holds.
// Chunks end on multiples of `grain` where they can (units that share a staged input). Each unit of work is done the
// same way whatever the split, so results never depend on the thread count or on who ran what. Runs through the
// caller's pool while one is in use on this thread (UsingCallerPool); otherwise on convkit's own workers, except on
// the calling thread when one worker suffices, inside another parallel_for's body, inside an active OpenMP parallel
// region (the host's team already has the cores), when another thread's call holds the workers, in a process
// fork()ed after convkit started threads, and always in a build without OpenMP (CONVKIT_OPENMP=OFF), which starts no
// thread of its own. An exception thrown by any body is rethrown here after all units are done.
void parallel_for(int threads, std::int64_t count,
                  FunctionRef<void(std::int64_t begin, std::int64_t end, int worker)> body, std::int64_t grain = 1);

// Each worker's scratch in one workspace, on 4 KiB pages of its own. With slices back to back, im2col_gemm on
// mobilenetv2_dw (NCHW, 2 threads, 29 KiB buffers) left the first worker waiting a third of its time for the second,
// whose every line of work ran nearly twice as slow as at one thread; gaps of 1 KiB between the slices helped a
// little, gaps of 4 KiB and more fully (docs/tuning-log.md). The likely cause: a core's hardware prefetchers run
// ahead of a stream up to the end of its page, so the first worker kept pulling the second one's first lines, which
// each of the second one's writes then had to take back. One worker needs no separation and gets exactly its slice.
class WorkerSlices {
 public:
  WorkerSlices() = default;
  WorkerSlices(std::size_t slice_bytes, int workers);

  // The workspace the slices need, given one aligned to 64 bytes.
  std::size_t workspace_bytes() const { return slice_bytes_ == 0 ? 0 : stride_ * workers_ + alignment_slack_; }
  // Worker `worker`'s slice of slice_bytes, 64-byte aligned (workspace is); null when slice_bytes is 0.
  void* slice(void* workspace, int worker) const;

 private:
  std::size_t slice_bytes_ = 0, stride_ = 0, alignment_slack_ = 0;
  std::size_t workers_ = 0;
};

// OpenBLAS's OpenMP build sizes its parallel region from omp_get_max_threads() of the calling thread and runs
// single-threaded inside an active parallel region. Holding a BlasThreads(n) therefore caps the BLAS calls this
// thread makes to n threads; the previous setting comes back when it goes out of scope.
class BlasThreads {
 public:
  explicit BlasThreads(int threads);
  ~BlasThreads();
  BlasThreads(const BlasThreads&) = delete;
  BlasThreads& operator=(const BlasThreads&) = delete;

 private:
  int previous_;
};

}  // namespace convkit::detail
