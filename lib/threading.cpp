#include "threading.hpp"

#include <pthread.h>
#include <sched.h>

#if CONVKIT_HAVE_OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "arithmetic.hpp"
#include "error.hpp"
#include "floating_point.hpp"

namespace convkit::detail {
namespace {

// Set while a thread computes a parallel_for job's units: a parallel_for inside them runs on that thread.
thread_local bool inside_pool_job = false;

// The caller's pool this thread runs a plan on (UsingCallerPool), or null: convkit's own workers.
thread_local const CallerPool* current_caller_pool = nullptr;

#if CONVKIT_HAVE_OPENMP
// A fork()ed child inherits the worker pool's bookkeeping but not its threads: its next job would wait for threads
// that do not exist. So once convkit has started threads, a fork handler marks the child, and every call in that
// child runs on its calling thread.
std::atomic<bool> forked_after_teams{false};

void mark_forked_child() { forked_after_teams.store(true, std::memory_order_relaxed); }

void note_team_opened() {
  static std::once_flag registered;
  std::call_once(registered, [] { pthread_atfork(nullptr, nullptr, mark_forked_child); });
}

// Workers a job of convkit's own pool may use now: one inside another job's units, inside the host's active OpenMP
// parallel region (the host's team already occupies the cores) or in a child forked after convkit started threads;
// else what the plan was made with.
int team_limit_now(int threads) {
  if (inside_pool_job || forked_after_teams.load(std::memory_order_relaxed) || omp_in_parallel()) return 1;
  return threads;
}
#endif

// A positive integer environment value (the first of a comma-separated list, as OMP_NUM_THREADS allows), else 0.
int positive_environment_value(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr) return 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || (*end != '\0' && *end != ',') || value < 1) return 0;
  return static_cast<int>(std::min<long>(value, 1 << 20));
}

}  // namespace

int processors_available() {
  // Read once, as OpenMP runtimes do: the one-shot call on the lesson's shapes takes well under a microsecond, a
  // system call per call would be a good part of it.
  static const int processors = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }();
  return processors;
}

int default_thread_count() {
  const int requested = positive_environment_value("OMP_NUM_THREADS");
  return requested > 0 ? requested : processors_available();
}

int usable_threads(int requested) {
  int limit = processors_available();
  if (const int runtime_limit = positive_environment_value("OMP_THREAD_LIMIT")) limit = std::min(limit, runtime_limit);
  return std::max(1, std::min(requested, limit));
}

int threads_worth_using(double flops, int threads) { return flops < 2e5 ? 1 : threads; }

int team_size(int threads, std::int64_t count) {
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(std::max(threads, 1), count)));
}

namespace {

using Body = FunctionRef<void(std::int64_t begin, std::int64_t end, int worker)>;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins of a waiting thread before it yields its core: about a microsecond of pause instructions. A waiter yields
// rather than spins on, so that the thread it waits for gets the core when both share one.
constexpr int kSpinsBeforeYield = 64;

// A lock held for a few instructions (a range's two ends). A waiter yields after a short spin, so a holder that was
// descheduled inside gets its core back.
class RangeLock {
 public:
  void lock() {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire);) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < kSpinsBeforeYield) {
          cpu_relax();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

// What a worker may still take of one job: the units [begin, end) of its share, or of what it stole. A slot belongs
// to one job at a time: a claim made with another job's generation finds nothing.
struct alignas(64) WorkerSlot {
  RangeLock lock;
  std::uint64_t generation = 0;
  std::int64_t begin = 0, end = 0;
};

struct Chunk {
  std::int64_t begin = 0, end = 0;
};

// The units of one job shared out among its workers, whoever runs them: convkit's own threads or the tasks of a
// caller's pool. Each worker starts on its contiguous share (so a quiet machine runs exactly the static split), takes
// it in halving chunks, and when it runs dry steals the upper half of the fullest share still open. The job ends
// when its units are done, never when every worker has arrived: a worker that starts late, or never, finds its share
// taken.
class Shares {
 public:
  Shares(WorkerSlot* slots, int capacity) : slots_(slots), capacity_(capacity) {}

  // Opens job `generation` of `count` units over `team` workers (team <= capacity).
  void open(std::uint64_t generation, int team, std::int64_t count, std::int64_t grain, const Body* body) {
    generation_ = generation;
    team_ = team;
    grain_ = grain;
    body_ = body;
    error_ = nullptr;
    remaining_.store(count, std::memory_order_relaxed);
    for (int w = 0; w < team; ++w) {
      WorkerSlot& slot = slots_[w];
      const std::lock_guard<RangeLock> range(slot.lock);
      slot.generation = generation;
      slot.begin = count * w / team;
      slot.end = count * (w + 1) / team;
    }
  }

  // Takes chunks of the worker's own share, then steals, until no unit of job `generation` is left to take. `body`
  // is the job's (a worker copies it while the job is open). Computes with subnormals flushed, and a parallel_for
  // inside the units runs on this thread.
  void work(int worker, std::uint64_t generation, int team, std::int64_t grain, Body body) {
    const FlushSubnormals flush;
    const bool was_inside = inside_pool_job;
    inside_pool_job = true;
    for (;;) {
      Chunk chunk;
      if (take_own(worker, generation, grain, chunk)) {
        run_chunk(worker, body, chunk);
      } else if (!steal(worker, generation, team, grain)) {
        break;
      }
    }
    inside_pool_job = was_inside;
  }

  std::int64_t remaining() const { return remaining_.load(std::memory_order_acquire); }
  int capacity() const { return capacity_; }
  std::uint64_t generation() const { return generation_; }
  int team() const { return team_; }
  std::int64_t grain() const { return grain_; }
  const Body* body() const { return body_; }
  void close() { body_ = nullptr; }

  // The first exception a body threw in this job, cleared.
  std::exception_ptr take_error() {
    const std::lock_guard<std::mutex> guard(error_lock_);
    std::exception_ptr error = error_;
    error_ = nullptr;
    return error;
  }

 private:
  // The next chunk of the worker's share: half of what is left, ending on a multiple of the grain (units that share
  // a staged input, so that a chunk rarely stages one twice).
  bool take_own(int worker, std::uint64_t generation, std::int64_t grain, Chunk& chunk) {
    WorkerSlot& slot = slots_[worker];
    const std::lock_guard<RangeLock> range(slot.lock);
    if (slot.generation != generation || slot.begin >= slot.end) return false;
    const std::int64_t half = (slot.end - slot.begin + 1) / 2;
    chunk.begin = slot.begin;
    chunk.end = std::min(slot.end, round_up(slot.begin + half, grain));
    slot.begin = chunk.end;
    return true;
  }

  // Moves the upper half (from a multiple of the grain) of the largest share still open to the worker's own slot.
  bool steal(int worker, std::uint64_t generation, int team, std::int64_t grain) {
    for (;;) {
      int victim = -1;
      std::int64_t largest = 0;
      for (int v = 0; v < team; ++v) {
        if (v == worker) continue;
        WorkerSlot& slot = slots_[v];
        const std::lock_guard<RangeLock> range(slot.lock);
        if (slot.generation == generation && slot.end - slot.begin > largest) {
          largest = slot.end - slot.begin;
          victim = v;
        }
      }
      if (victim < 0) return false;
      Chunk stolen;
      {
        WorkerSlot& slot = slots_[victim];
        const std::lock_guard<RangeLock> range(slot.lock);
        if (slot.generation != generation || slot.begin >= slot.end) continue;  // taken meanwhile: look again
        std::int64_t from = (slot.end - (slot.end - slot.begin) / 2) / grain * grain;
        if (from <= slot.begin || from >= slot.end) from = slot.begin;
        stolen = {from, slot.end};
        slot.end = from;
      }
      WorkerSlot& own = slots_[worker];
      const std::lock_guard<RangeLock> range(own.lock);
      own.begin = stolen.begin;
      own.end = stolen.end;
      return true;
    }
  }

  void run_chunk(int worker, Body body, Chunk chunk) {
    try {
      body(chunk.begin, chunk.end, worker);
    } catch (...) {
      const std::lock_guard<std::mutex> guard(error_lock_);
      if (!error_) error_ = std::current_exception();
    }
    remaining_.fetch_sub(chunk.end - chunk.begin, std::memory_order_acq_rel);
  }

  WorkerSlot* const slots_;
  const int capacity_;
  std::atomic<std::int64_t> remaining_{0};  // units of the job not yet computed
  // Written by open() before the job is published (under the pool's lock or before the caller's pool starts).
  std::uint64_t generation_ = 0;
  int team_ = 0;
  std::int64_t grain_ = 1;
  const Body* body_ = nullptr;  // null once the job has ended
  std::mutex error_lock_;
  std::exception_ptr error_;
};

#if CONVKIT_HAVE_OPENMP
// convkit's own workers: threads that wait between jobs and run the Shares of one job at a time, the caller being
// worker 0: if a partner has not woken yet, or was descheduled by another process, the caller takes its units, and
// waits only for the chunks partners are computing. With a barrier (OpenMP's region end) a 2-thread call on a shared
// core waited for the partner's next time slice, once per barrier (docs/performance.md, shared cores). Built with
// OpenMP only: the build without it (CONVKIT_OPENMP=OFF) starts no thread of its own.
class WorkerPool {
 public:
  static WorkerPool& instance() {
    // Never destroyed: its threads wait for jobs until the process ends, and a convkit call made while static
    // objects are destroyed still finds it.
    static WorkerPool* const pool = new WorkerPool(processors_available());
    return *pool;
  }

  // Runs body over [0, count) on up to `team` workers, the calling thread included. False when another thread's job
  // holds the pool (the caller then runs alone: two jobs never share the cores' workers).
  bool try_run(int team, std::int64_t count, std::int64_t grain, Body body) {
    bool idle = false;
    if (!busy_.compare_exchange_strong(idle, true, std::memory_order_acquire)) return false;
    team = start_threads(std::min(team, shares_.capacity()));
    if (team <= 1) {
      busy_.store(false, std::memory_order_release);
      return false;
    }
    std::uint64_t generation = 0;
    {
      const std::lock_guard<std::mutex> guard(state_);
      generation = ++generation_value_;
      shares_.open(generation, team, count, grain, &body);
      generation_.store(generation, std::memory_order_release);
      if (sleepers_ > 0) wake_.notify_all();
    }
    shares_.work(0, generation, team, grain, body);
    // Only chunks that partners are computing are left. Spin for them: a yield here handed the core to the busy
    // process beside us for its whole time slice (2 threads then ran no faster than 1, docs/tuning-log.md). Yield
    // only after a while, when the partner may be waiting for this very core.
    const auto waiting_since = std::chrono::steady_clock::now();
    for (int spins = 1; shares_.remaining() > 0; ++spins) {
      cpu_relax();
      if (spins % kSpinsPerClockRead == 0 && std::chrono::steady_clock::now() - waiting_since > kSpinningForPartners)
        std::this_thread::yield();
    }
    {
      const std::lock_guard<std::mutex> guard(state_);
      shares_.close();
    }
    const std::exception_ptr error = shares_.take_error();
    busy_.store(false, std::memory_order_release);
    if (error) std::rethrow_exception(error);
    return true;
  }

 private:
  explicit WorkerPool(int slots) : slots_(static_cast<std::size_t>(slots)), shares_(slots_.data(), slots) {}

  // Starts threads up to a team of `team` (the caller is the first) and answers the team there are threads for.
  int start_threads(int team) {
    const std::lock_guard<std::mutex> guard(state_);
    try {
      while (static_cast<int>(threads_started_) + 1 < team) {
        const int index = static_cast<int>(threads_started_) + 1;
        std::thread(&WorkerPool::wait_for_jobs, this, index).detach();
        ++threads_started_;
        note_team_opened();
      }
    } catch (const std::system_error&) {
      // The system would start no more threads: run with those there are.
    }
    return std::min(team, static_cast<int>(threads_started_) + 1);
  }

  void wait_for_jobs(int index) {
    pthread_setname_np(pthread_self(), "convkit-worker");  // what a profiler or `top -H` shows
    // Work done here that calls BLAS must not open a second level of threads.
    omp_set_num_threads(1);
    std::uint64_t seen = 0;
    for (;;) {
      // Between the jobs of a network's layers a worker spins for a while, then sleeps until the next job.
      const auto idle_since = std::chrono::steady_clock::now();
      for (int spins = 1; generation_.load(std::memory_order_acquire) == seen; ++spins) {
        cpu_relax();
        if (spins % kSpinsPerClockRead == 0 && std::chrono::steady_clock::now() - idle_since > kSpinningBetweenJobs)
          break;
      }
      int team = 0;
      std::int64_t grain = 1;
      std::optional<Body> body;  // refers to the caller's callable, which outlives the job
      {
        std::unique_lock<std::mutex> guard(state_);
        if (generation_value_ == seen) {
          ++sleepers_;
          wake_.wait(guard, [&] { return generation_value_ != seen; });
          --sleepers_;
        }
        seen = generation_value_;
        if (shares_.body() == nullptr || index >= shares_.team()) continue;
        team = shares_.team();
        grain = shares_.grain();
        body = *shares_.body();  // copied while the job is open: the body is in the caller's frame
      }
      shares_.work(index, seen, team, grain, *body);
    }
  }

  // How long a worker spins between jobs before it sleeps. With another process busy on the cores, a worker that
  // slept sooner, or that yielded its core while it waited, came to each job late, after the caller had done the work
  // alone: 2 threads then ran no faster than 1 on half of the suite's layers (docs/tuning-log.md). libgomp's default
  // spin is of the same order.
  static constexpr auto kSpinningBetweenJobs = std::chrono::milliseconds(2);
  static constexpr auto kSpinningForPartners = std::chrono::milliseconds(1);
  static constexpr int kSpinsPerClockRead = 64;

  std::vector<WorkerSlot> slots_;
  Shares shares_;
  std::atomic<bool> busy_{false};             // a job holds the pool
  std::atomic<std::uint64_t> generation_{0};  // the newest job, for spinning workers
  std::mutex state_;                          // guards the fields below and the opening and closing of shares_
  std::condition_variable wake_;
  std::uint64_t generation_value_ = 0;
  int sleepers_ = 0;
  std::size_t threads_started_ = 0;
};
#endif

// One job run by the tasks of a caller's pool: task w is worker w, so each worker index is held by one task, and
// tasks run in any order, on any threads, or all on one thread give the same units the same way.
struct CallerJob {
  Shares* shares;
  Body body;
};

// Up to this many workers' slots live on the stack, so a run on a caller's pool allocates nothing.
constexpr int kInlineCallerSlots = 16;

void run_caller_task(void* argument, std::size_t task) {
  CallerJob& job = *static_cast<CallerJob*>(argument);
  Shares& shares = *job.shares;
  if (task >= static_cast<std::size_t>(shares.team())) return;
  shares.work(static_cast<int>(task), shares.generation(), shares.team(), shares.grain(), job.body);
}

void run_on_caller_pool(const CallerPool& pool, int team, std::int64_t count, std::int64_t grain, Body body) {
  WorkerSlot inline_slots[kInlineCallerSlots];
  std::unique_ptr<WorkerSlot[]> heap_slots;
  WorkerSlot* slots = inline_slots;
  if (team > kInlineCallerSlots) {
    heap_slots = std::make_unique<WorkerSlot[]>(static_cast<std::size_t>(team));
    slots = heap_slots.get();
  }
  Shares shares(slots, team);
  shares.open(1, team, count, grain, &body);
  CallerJob job{&shares, body};
  pool.parallel_for(pool.context, static_cast<std::size_t>(team), run_caller_task, &job);
  if (const std::exception_ptr error = shares.take_error()) std::rethrow_exception(error);
  if (shares.remaining() != 0)
    fail(Status::InternalError, "the caller's thread pool returned from parallel_for before running all ", team,
         " tasks");
}

}  // namespace

UsingCallerPool::UsingCallerPool(const CallerPool* pool) : previous_(current_caller_pool) {
  current_caller_pool = pool;
}

UsingCallerPool::~UsingCallerPool() { current_caller_pool = previous_; }

void parallel_for(int threads, std::int64_t count, FunctionRef<void(std::int64_t, std::int64_t, int)> body,
                  std::int64_t grain) {
  if (count <= 0) return;
  grain = std::max<std::int64_t>(grain, 1);
  if (const CallerPool* pool = current_caller_pool; pool != nullptr && !inside_pool_job) {
    const int team = team_size(std::min(threads, pool->width), count);
    if (team > 1) {
      const BlasThreads single(1);
      run_on_caller_pool(*pool, team, count, grain, body);
      return;
    }
  } else {
#if CONVKIT_HAVE_OPENMP
    const int team = team_size(team_limit_now(threads), count);
    if (team > 1) {
      const BlasThreads single(1);  // the caller is worker 0: its BLAS calls stay on its thread
      if (WorkerPool::instance().try_run(team, count, grain, body)) return;
    }
#endif
  }
  const FlushSubnormals flush;
  body(0, count, 0);
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

#if CONVKIT_HAVE_OPENMP
BlasThreads::BlasThreads(int threads) : previous_(omp_get_max_threads()) { omp_set_num_threads(std::max(threads, 1)); }
BlasThreads::~BlasThreads() { omp_set_num_threads(previous_); }
#else
// Without OpenMP convkit links OpenBLAS's serial build (cmake/convkitDependencies.cmake): every call is
// single-threaded.
BlasThreads::BlasThreads(int) : previous_(1) {}
BlasThreads::~BlasThreads() = default;
#endif

}  // namespace convkit::detail
