#include "threading.hpp"

#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>

#include "floating_point.hpp"

namespace convkit::detail {
namespace {

// libgomp keeps the threads of a team alive between regions, and a fork()ed child inherits the bookkeeping of that
// pool but not its threads: the child's next team waits forever for threads that do not exist. So once convkit has
// opened a team, a fork handler marks the child, and every call in that child runs on its calling thread.
std::atomic<bool> forked_after_teams{false};

void mark_forked_child() { forked_after_teams.store(true, std::memory_order_relaxed); }

void note_team_opened() {
  static std::once_flag registered;
  std::call_once(registered, [] { pthread_atfork(nullptr, nullptr, mark_forked_child); });
}

// Threads a region may open now: one inside the host's active parallel region (the host's team already occupies
// the cores, and with nesting enabled each of its threads would start a team of its own) or in a child forked after
// convkit opened teams; else what the plan was made with.
int team_limit_now(int threads) {
  if (forked_after_teams.load(std::memory_order_relaxed) || omp_in_parallel()) return 1;
  return threads;
}

}  // namespace

int default_thread_count() { return std::max(1, omp_get_max_threads()); }

int usable_threads(int requested) {
  const int processors = std::max(1, omp_get_num_procs());
  const int runtime_limit = std::max(1, omp_get_thread_limit());
  return std::max(1, std::min({requested, processors, runtime_limit}));
}

int threads_worth_using(double flops, int threads) { return flops < 2e5 ? 1 : threads; }

int team_size(int threads, std::int64_t count) {
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(std::max(threads, 1), count)));
}

void parallel_for(int threads, std::int64_t count,
                  FunctionRef<void(std::int64_t begin, std::int64_t end, int worker)> body) {
  if (count <= 0) return;
  const int team = team_size(team_limit_now(threads), count);
  if (team == 1) {
    const FlushSubnormals flush;
    body(0, count, 0);
    return;
  }
  note_team_opened();
  std::exception_ptr error;
  std::mutex error_mutex;
#pragma omp parallel num_threads(team)
  {
    // The team may be smaller than asked (nested regions, OMP_THREAD_LIMIT): split by its real size.
    const std::int64_t size = omp_get_num_threads();
    const std::int64_t rank = omp_get_thread_num();
    const std::int64_t begin = count * rank / size;
    const std::int64_t end = count * (rank + 1) / size;
    // A worker that calls BLAS must not start a second level of threads under this one.
    omp_set_num_threads(1);
    const FlushSubnormals flush;
    try {
      if (begin < end) body(begin, end, static_cast<int>(rank));
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

void parallel_team(int threads, FunctionRef<void(int worker, int team)> body) {
  const int team = team_size(team_limit_now(threads), threads);
  if (team == 1) {
    const FlushSubnormals flush;
    body(0, 1);
    return;
  }
  note_team_opened();
#pragma omp parallel num_threads(team)
  {
    omp_set_num_threads(1);
    const FlushSubnormals flush;
    body(omp_get_thread_num(), omp_get_num_threads());
  }
}

void team_barrier() {
#pragma omp barrier
}

namespace {
constexpr std::size_t kPageBytes = 4096;
constexpr std::size_t kSliceAlignment = 64;
std::size_t round_up_bytes(std::size_t n, std::size_t multiple) { return (n + multiple - 1) / multiple * multiple; }
}  // namespace

WorkerSlices::WorkerSlices(std::size_t slice_bytes, int workers)
    : slice_bytes_(slice_bytes), workers_(static_cast<std::size_t>(std::max(workers, 1))) {
  if (slice_bytes_ == 0) return;
  if (workers_ == 1) {
    stride_ = round_up_bytes(slice_bytes_, kSliceAlignment);
    return;
  }
  stride_ = round_up_bytes(slice_bytes_, kPageBytes);
  alignment_slack_ = kPageBytes - kSliceAlignment;  // from a 64-byte aligned workspace to the next page
}

void* WorkerSlices::slice(void* workspace, int worker) const {
  if (slice_bytes_ == 0) return nullptr;
  auto address = reinterpret_cast<std::uintptr_t>(workspace);
  if (workers_ > 1) address = round_up_bytes(address, kPageBytes);
  return reinterpret_cast<void*>(address + stride_ * static_cast<std::size_t>(worker));
}

BlasThreads::BlasThreads(int threads) : previous_(omp_get_max_threads()) { omp_set_num_threads(std::max(threads, 1)); }

BlasThreads::~BlasThreads() { omp_set_num_threads(previous_); }

}  // namespace convkit::detail
