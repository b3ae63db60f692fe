// The worker pool behind every parallel loop (lib/threading.hpp): each unit runs exactly once, on a worker index no
// other body running at the same time holds; a job ends when its work is done, so a partner that is slow to start or
// stalls costs the caller only the chunk it holds; errors, nested calls and calls from many threads at once.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "error.hpp"
#include "std_thread_pool.hpp"
#include "threading.hpp"

namespace {

using convkit::detail::parallel_for;

// Runs one job and checks that every unit ran once, within [0, count), on a worker index below the team's size that
// no other body held at the same time.
void check_job(int threads, std::int64_t count, std::int64_t grain) {
  std::vector<std::atomic<int>> visits(static_cast<std::size_t>(count));
  std::vector<std::atomic<int>> in_use(static_cast<std::size_t>(threads));
  std::atomic<int> bad_worker{0}, shared_worker{0};
  parallel_for(
      threads, count,
      [&](std::int64_t begin, std::int64_t end, int worker) {
        if (worker < 0 || worker >= threads || begin < 0 || end > count || begin >= end) {
          bad_worker.fetch_add(1);
          return;
        }
        if (in_use[static_cast<std::size_t>(worker)].fetch_add(1) != 0) shared_worker.fetch_add(1);
        for (std::int64_t unit = begin; unit < end; ++unit) {
          visits[static_cast<std::size_t>(unit)].fetch_add(1);
          if (unit % 7 == 0) std::this_thread::yield();  // uneven units, so that workers run dry and steal
        }
        in_use[static_cast<std::size_t>(worker)].fetch_sub(1);
      },
      grain);
  CHECK(bad_worker.load() == 0);
  CHECK(shared_worker.load() == 0);
  int wrong = 0;
  for (const auto& v : visits) wrong += v.load() != 1;
  CHECK(wrong == 0);
}

}  // namespace

TEST_CASE("every unit runs exactly once, on a worker index of its own, for any count, team and grain") {
  for (const int threads : {1, 2, 3, 4})
    for (const std::int64_t count : {1, 2, 3, 5, 8, 17, 64, 1000, 4097})
      for (const std::int64_t grain : {1, 3, 8, 100}) {
        CAPTURE(threads);
        CAPTURE(count);
        CAPTURE(grain);
        check_job(threads, count, grain);
      }
}

TEST_CASE("a job ends when its work is done: the caller takes over a stalled partner's share") {
  // Worker 1 stalls in its first chunk until every other unit is computed. With a barrier at the end of the job that
  // would still end (the partner arrives after its release), but only work claiming lets the caller compute the rest
  // of the partner's share meanwhile: without it the partner would wait for units nobody computes.
  constexpr std::int64_t kCount = 64;
  std::atomic<std::int64_t> done_by_caller{0}, held{0};
  std::atomic<int> partner_calls{0};
  const auto started = std::chrono::steady_clock::now();
  const auto waited_too_long = [&] { return std::chrono::steady_clock::now() - started > std::chrono::seconds(20); };
  parallel_for(2, kCount, [&](std::int64_t begin, std::int64_t end, int worker) {
    if (worker == 0) {
      done_by_caller.fetch_add(end - begin);
      return;
    }
    if (partner_calls.fetch_add(1) != 0) return;
    held.store(end - begin);
    while (done_by_caller.load() + held.load() != kCount && !waited_too_long())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  CHECK(done_by_caller.load() + held.load() == kCount);
  CHECK(partner_calls.load() <= 1);  // the partner never came back for more: the caller had taken it all
  CHECK_FALSE(waited_too_long());
}

TEST_CASE("an exception from a body reaches the caller after the other units ran") {
  std::atomic<std::int64_t> ran{0};
  CHECK_THROWS_WITH_AS(parallel_for(2, 100,
                                    [&](std::int64_t begin, std::int64_t end, int) {
                                      for (std::int64_t unit = begin; unit < end; ++unit) {
                                        if (unit == 37) throw std::runtime_error("unit 37");
                                        ran.fetch_add(1);
                                      }
                                    }),
                       "unit 37", std::runtime_error);
  // The chunk holding unit 37 stopped there; every other chunk ran whole.
  CHECK(ran.load() >= 37);
  CHECK(ran.load() < 100);
  check_job(2, 100, 1);  // the pool serves the next job
}

TEST_CASE("a parallel_for inside a body runs on that body's thread") {
  std::atomic<int> inner_workers_above_zero{0};
  std::atomic<std::int64_t> inner_units{0};
  parallel_for(2, 8, [&](std::int64_t begin, std::int64_t end, int) {
    for (std::int64_t unit = begin; unit < end; ++unit)
      parallel_for(2, 16, [&](std::int64_t b, std::int64_t e, int worker) {
        if (worker != 0) inner_workers_above_zero.fetch_add(1);
        inner_units.fetch_add(e - b);
      });
  });
  CHECK(inner_workers_above_zero.load() == 0);
  CHECK(inner_units.load() == 8 * 16);
}

TEST_CASE("calls from many threads at once each get every unit once") {
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        const std::int64_t count = 1 + (round * 13 + t * 7) % 97;
        std::vector<std::atomic<int>> visits(static_cast<std::size_t>(count));
        parallel_for(2, count, [&](std::int64_t begin, std::int64_t end, int worker) {
          if (worker < 0 || worker > 1) failures.fetch_add(1);
          for (std::int64_t unit = begin; unit < end; ++unit) visits[static_cast<std::size_t>(unit)].fetch_add(1);
        });
        for (const auto& v : visits)
          if (v.load() != 1) failures.fetch_add(1);
      }
    });
  for (std::thread& caller : callers) caller.join();
  CHECK(failures.load() == 0);
}

// ---- The caller's thread pool (UsingCallerPool): task w is worker w, whatever order or thread runs the tasks ----

namespace {

using convkit::detail::CallerPool;
using convkit::detail::UsingCallerPool;

// Runs the tasks on the calling thread, last first: every task but the last finds its share already taken.
void reverse_serial(void*, std::size_t count, void (*task)(void*, std::size_t), void* argument) {
  for (std::size_t i = count; i-- > 0;) task(argument, i);
}

// Runs the tasks on threads of their own, each started in reverse order and joined.
void thread_per_task(void*, std::size_t count, void (*task)(void*, std::size_t), void* argument) {
  std::vector<std::thread> threads;
  for (std::size_t i = count; i-- > 0;) threads.emplace_back([=] { task(argument, i); });
  for (std::thread& thread : threads) thread.join();
}

// Returns without running task 1: a pool that breaks the contract.
void skips_a_task(void*, std::size_t count, void (*task)(void*, std::size_t), void* argument) {
  for (std::size_t i = 0; i < count; ++i)
    if (i != 1) task(argument, i);
}

}  // namespace

TEST_CASE("on a caller's pool every unit runs exactly once, on a worker index of its own, whatever the pool") {
  convkit_examples::StdThreadPool std_pool(4);
  const convkit::ThreadPool std_handle = std_pool.handle();
  const CallerPool pools[] = {{nullptr, reverse_serial, 4},
                              {nullptr, thread_per_task, 4},
                              {std_handle.context, std_handle.parallel_for, std_handle.width}};
  for (const CallerPool& pool : pools) {
    const UsingCallerPool using_pool(&pool);
    for (const int threads : {1, 2, 3, 4, 8})
      for (const std::int64_t count : {1, 2, 3, 5, 17, 1000})
        for (const std::int64_t grain : {1, 3, 100}) {
          CAPTURE(threads);
          CAPTURE(count);
          CAPTURE(grain);
          check_job(std::min(threads, pool.width), count, grain);
        }
  }
}

TEST_CASE("on a caller's pool a job uses min(threads, width) tasks, and nested loops stay on their task's thread") {
  std::atomic<std::size_t> largest_count{0};
  struct Probe {
    std::atomic<std::size_t>* largest;
  } probe{&largest_count};
  const CallerPool pool{&probe,
                        [](void* context, std::size_t count, void (*task)(void*, std::size_t), void* argument) {
                          std::atomic<std::size_t>& largest = *static_cast<Probe*>(context)->largest;
                          if (count > largest.load()) largest.store(count);
                          thread_per_task(nullptr, count, task, argument);
                        },
                        3};
  const UsingCallerPool using_pool(&pool);
  std::atomic<int> inner_workers_above_zero{0};
  parallel_for(8, 64, [&](std::int64_t begin, std::int64_t end, int) {
    for (std::int64_t unit = begin; unit < end; ++unit)
      parallel_for(2, 16, [&](std::int64_t, std::int64_t, int worker) {
        if (worker != 0) inner_workers_above_zero.fetch_add(1);
      });
  });
  CHECK(largest_count.load() == 3);
  CHECK(inner_workers_above_zero.load() == 0);
}

TEST_CASE("on a caller's pool an exception reaches the caller, and a pool that skips a task is an error") {
  const CallerPool threads_pool{nullptr, thread_per_task, 2};
  {
    const UsingCallerPool using_pool(&threads_pool);
    CHECK_THROWS_WITH_AS(parallel_for(2, 100,
                                      [&](std::int64_t begin, std::int64_t end, int) {
                                        for (std::int64_t unit = begin; unit < end; ++unit)
                                          if (unit == 37) throw std::runtime_error("unit 37");
                                      }),
                         "unit 37", std::runtime_error);
  }
  // A pool that returns without running any task: the job's units are not done, and the run says so.
  const CallerPool runs_nothing{nullptr, [](void*, std::size_t, void (*)(void*, std::size_t), void*) {}, 2};
  const UsingCallerPool using_pool(&runs_nothing);
  CHECK_THROWS_WITH_AS(parallel_for(2, 10, [](std::int64_t, std::int64_t, int) {}),
                       doctest::Contains("returned from parallel_for before running all"), convkit::Error);
  // One that skips a task still gets every unit computed: the tasks that run take the skipped one's share.
  const CallerPool skipping{nullptr, skips_a_task, 2};
  const UsingCallerPool using_skipping(&skipping);
  check_job(2, 100, 1);
}
