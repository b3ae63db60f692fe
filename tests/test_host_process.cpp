// What a host process relies on beyond the results: any thread count is safe (capped, never fatal), a fork()ed child's
// calls return, a call from inside the host's own OpenMP parallel region adds no threads, and plans made and freed
// by the hundred thousand leave resident memory flat. Each probe fails on a hang (a timeout) or an exit rather than
// blocking the suite.
#include <convkit/convkit.h>
#include <dirent.h>
#include <doctest/doctest.h>
#include <omp.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <convkit/convkit.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "conv_tester.hpp"

using convkit::Algorithm;
using convkit::Layout;

namespace {

// Enough work (several MFLOP) that every algorithm really opens a team at two threads.
convkit::Conv2dDesc probe_desc(Layout layout, std::int64_t kernel = 3) {
  convkit::Conv2dDesc d;
  d.batch = 2;
  d.in_channels = 16;
  d.out_channels = 24;
  d.in_height = 20;
  d.in_width = 22;
  d.kernel_height = d.kernel_width = kernel;
  d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = kernel / 2;
  d.layout = layout;
  return d;
}

struct Tensors {
  std::vector<float> input, weights, bias;
  explicit Tensors(const convkit::Conv2dDesc& d) {
    const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
    input = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 71);
    weights = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 72);
    bias = convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), 73);
  }
};

std::vector<float> run(const convkit::Conv2dDesc& d, const Tensors& t, Algorithm algorithm, int threads,
                       convkit::MathMode math_mode = convkit::MathMode::Strict) {
  convkit::Options options;
  options.algorithm = algorithm;
  options.threads = threads;
  options.math_mode = math_mode;
  std::vector<float> out(static_cast<std::size_t>(convkit::tensor_sizes(d).output));
  convkit::conv2d(d, t.input.data(), t.weights.data(), t.bias.data(), out.data(), options);
  return out;
}

// Threads of this process now (libgomp keeps a team's threads alive between regions, so this also counts every
// thread a region started earlier and still parks).
int thread_count() {
  int count = 0;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (const dirent* entry = readdir(dir))
      if (entry->d_name[0] != '.') ++count;
    closedir(dir);
  }
  return count;
}

// Resident memory in bytes.
long resident_bytes() {
  long pages = 0, resident = 0;
  if (std::FILE* file = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(file, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(file);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

// Waits for the child at most `seconds`; a child still running then is killed and reported as hung (-1).
int wait_for(pid_t child, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    const pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  return -1;
}

const Algorithm kAlgorithms[] = {Algorithm::Reference, Algorithm::Im2colGemm, Algorithm::Gemm1x1,
                                 Algorithm::Direct,    Algorithm::Winograd,   Algorithm::ImplicitGemm};

}  // namespace

TEST_CASE(
    "any thread count up to INT32_MAX gives the one-thread result, on every algorithm, and never ends the process") {
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (Algorithm algorithm : kAlgorithms) {
      const convkit::Conv2dDesc d = probe_desc(layout, algorithm == Algorithm::Gemm1x1 ? 1 : 3);
      const Tensors t(d);
      const auto mode = algorithm == Algorithm::Winograd ? convkit::MathMode::Fast : convkit::MathMode::Strict;
      const std::vector<float> one = run(d, t, algorithm, 1, mode);
      for (int threads : {INT_MAX, INT_MAX - 1, 1 << 20, 4096, 3}) {
        CAPTURE(convkit::algorithm_name(algorithm));
        CAPTURE(threads);
        CHECK(run(d, t, algorithm, threads, mode) == one);
      }
      // The workspace a plan asks for is that of the threads it can run, not of the threads asked for.
      convkit::Options huge, usable;
      huge.algorithm = usable.algorithm = algorithm;
      huge.math_mode = usable.math_mode = mode;
      huge.threads = INT_MAX;
      usable.threads = omp_get_num_procs();
      CHECK(convkit::Plan(d, t.weights.data(), nullptr, huge).workspace_size() ==
            convkit::Plan(d, t.weights.data(), nullptr, usable).workspace_size());
    }
  // Through the C API too.
  const convkit::Conv2dDesc d = probe_desc(Layout::NCHW);
  const Tensors t(d);
  convkit_conv2d_desc cd;
  convkit_conv2d_desc_init(&cd);
  cd.batch = d.batch, cd.in_channels = d.in_channels, cd.out_channels = d.out_channels;
  cd.in_height = d.in_height, cd.in_width = d.in_width, cd.kernel_height = cd.kernel_width = 3;
  cd.pad_top = cd.pad_bottom = cd.pad_left = cd.pad_right = 1;
  convkit_options options;
  convkit_options_init(&options);
  options.threads = INT_MAX;
  options.algorithm = CONVKIT_ALGORITHM_WINOGRAD;
  options.math_mode = CONVKIT_MATH_FAST;
  std::vector<float> out(static_cast<std::size_t>(convkit::tensor_sizes(d).output));
  CHECK(convkit_conv2d(&cd, t.input.data(), t.weights.data(), t.bias.data(), out.data(), &options) ==
        CONVKIT_STATUS_OK);
  CHECK(out == run(d, t, Algorithm::Winograd, 1, convkit::MathMode::Fast));
}

TEST_CASE("a child fork()ed after multi-threaded calls runs its calls, multi- and single-threaded, to the same bits") {
  if (omp_get_num_procs() < 2) {
    MESSAGE("one processor: the parent cannot run a team, nothing to probe");
    return;
  }
  struct Probe {
    convkit::Conv2dDesc desc;
    Algorithm algorithm;
    convkit::MathMode mode;
  };
  const Probe probes[] = {{probe_desc(Layout::NCHW), Algorithm::Im2colGemm, convkit::MathMode::Strict},
                          {probe_desc(Layout::NHWC), Algorithm::Direct, convkit::MathMode::Strict},
                          {probe_desc(Layout::NCHW), Algorithm::Winograd, convkit::MathMode::Fast},
                          {probe_desc(Layout::NHWC), Algorithm::Auto, convkit::MathMode::Strict}};
  std::vector<std::vector<float>> parent;
  for (const Probe& p : probes) parent.push_back(run(p.desc, Tensors(p.desc), p.algorithm, 2, p.mode));
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int code = 0;
    for (std::size_t k = 0; k < std::size(probes) && code == 0; ++k) {
      const Probe& p = probes[k];
      const Tensors t(p.desc);
      for (int threads : {2, 0, 1}) {
        try {
          if (run(p.desc, t, p.algorithm, threads, p.mode) != parent[k]) code = 1;
        } catch (...) {
          code = 2;
        }
      }
    }
    std::_Exit(code);
  }
  const int code = wait_for(child, 60.0);
  CHECK_MESSAGE(code == 0, "child: ", code, " (-1: hung and killed after 60 s, 1: other bits, 2: an exception)");
  // The parent itself still runs teams.
  CHECK(run(probes[0].desc, Tensors(probes[0].desc), probes[0].algorithm, 2, probes[0].mode) == parent[0]);
}

TEST_CASE("a call from inside the host's OpenMP parallel region, nesting enabled, adds no threads") {
  const convkit::Conv2dDesc d = probe_desc(Layout::NCHW);
  const Tensors t(d);
  const std::vector<float> want = run(d, t, Algorithm::Im2colGemm, 1);
  const int host_threads = 2;
  const int previous_levels = omp_get_max_active_levels();
  omp_set_max_active_levels(4);
  // The host's own team first, so that its threads are counted before convkit runs.
#pragma omp parallel num_threads(host_threads)
  { (void)omp_get_thread_num(); }
  const int before = thread_count();
  std::vector<std::vector<float>> got(host_threads);
  for (int round = 0; round < 3; ++round) {
#pragma omp parallel num_threads(host_threads)
    {
      const int me = omp_get_thread_num();
      for (Algorithm algorithm : {Algorithm::Im2colGemm, Algorithm::Direct, Algorithm::Reference}) {
        std::vector<float> out = run(d, t, algorithm, 2);
        if (algorithm == Algorithm::Im2colGemm) got[static_cast<std::size_t>(me)] = std::move(out);
      }
    }
  }
  const int after = thread_count();
  omp_set_max_active_levels(previous_levels);
  for (const auto& out : got) CHECK(out == want);
  CHECK_MESSAGE(after == before, "threads before the calls: ", before, ", after: ", after);
}

TEST_CASE("100,000 plans made and destroyed leave resident memory flat") {
  convkit_conv2d_desc d;
  convkit_conv2d_desc_init(&d);
  d.batch = 1, d.in_channels = 2, d.out_channels = 2, d.in_height = d.in_width = 3;
  d.kernel_height = d.kernel_width = 2;
  const float weights[16] = {0, 1, 2, 3, 1, 2, 3, 4, 0, 1, 2, 3, 1, 2, 3, 4};
  const float input[18] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  float output[8];
  convkit::Conv2dDesc cpp_desc;
  cpp_desc.batch = 1, cpp_desc.in_channels = 2, cpp_desc.out_channels = 2, cpp_desc.in_height = cpp_desc.in_width = 3;
  cpp_desc.kernel_height = cpp_desc.kernel_width = 2;
  const auto cycle = [&](int count) {
    for (int k = 0; k < count; ++k) {
      convkit_plan* plan = nullptr;
      if (convkit_plan_create(&d, weights, nullptr, nullptr, &plan) != CONVKIT_STATUS_OK) return false;
      const bool ok = convkit_plan_run(plan, input, output, nullptr, 0) == CONVKIT_STATUS_OK;
      convkit_plan_destroy(plan);
      convkit::Plan made(cpp_desc, weights, nullptr);
      const convkit::Plan moved(std::move(made));
      if (!ok || moved.algorithm() == Algorithm::Auto || made.algorithm() != Algorithm::Auto) return false;
    }
    return true;
  };
  REQUIRE(cycle(10000));
  const long before = resident_bytes();
  REQUIRE(cycle(100000));
  const long after = resident_bytes();
  CHECK(output[0] == 56.0f);
  MESSAGE("resident memory after 10,000 plans: ", before / 1024, " KiB; after 100,000 more: ", after / 1024, " KiB");
#if !defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps freed memory in quarantine, so the check means something only without it.
  CHECK(after - before < (long{1} << 20));
#endif
}

TEST_CASE("the default thread count is the processors this process may use, or OMP_NUM_THREADS when the user set it") {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  const int processors = CPU_COUNT(&set);
  const char* given = std::getenv("OMP_NUM_THREADS");
  const std::string saved = given != nullptr ? given : "";
  unsetenv("OMP_NUM_THREADS");
  CHECK(convkit::default_threads() == processors);
  CHECK(convkit_default_threads() == processors);
  // Another library lowering this thread's OpenMP default (importing PyTorch can) changes nothing.
  const int previous = omp_get_max_threads();
  omp_set_num_threads(1);
  CHECK(convkit::default_threads() == processors);
  const convkit::Conv2dDesc d = probe_desc(Layout::NCHW);
  const Tensors t(d);
  CHECK(convkit::Plan(d, t.weights.data(), nullptr).threads() == processors);
  omp_set_num_threads(previous);
  // The user's setting, its first value as OpenMP reads a list, capped at the processors; a bad value is ignored.
  setenv("OMP_NUM_THREADS", "1", 1);
  CHECK(convkit::default_threads() == 1);
  CHECK(convkit::Plan(d, t.weights.data(), nullptr).threads() == 1);
  setenv("OMP_NUM_THREADS", "64,2", 1);
  CHECK(convkit::default_threads() == std::min(64, processors));
  setenv("OMP_NUM_THREADS", "many", 1);
  CHECK(convkit::default_threads() == processors);
  if (given != nullptr) {
    setenv("OMP_NUM_THREADS", saved.c_str(), 1);
  } else {
    unsetenv("OMP_NUM_THREADS");
  }
}
