// Under load and faults: many plans from many threads at once, allocation failure under a memory limit, bitwise
// determinism, NaN and infinity reaching exactly the outputs that depend on them, and the error bound on large
// reductions. CI also runs these under AddressSanitizer + UndefinedBehaviorSanitizer and ThreadSanitizer
// (scripts/sanitize.sh).
#include <convkit/convkit.h>
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "conv_tester.hpp"

using convkit::Algorithm;
using convkit::Layout;

namespace {

int environment_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && std::atoi(value) > 0 ? std::atoi(value) : fallback;
}

convkit::Conv2dDesc make_desc(std::int64_t n, std::int64_t ci, std::int64_t hw, std::int64_t co, std::int64_t k,
                              std::int64_t stride, std::int64_t groups, Layout layout) {
  convkit::Conv2dDesc d;
  d.batch = n;
  d.in_channels = ci;
  d.out_channels = co;
  d.in_height = d.in_width = hw;
  d.kernel_height = d.kernel_width = k;
  d.stride_height = d.stride_width = stride;
  d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = k / 2;
  d.groups = groups;
  d.layout = layout;
  return d;
}

// Resident memory of this process in bytes (Linux).
std::size_t resident_bytes() {
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) return 0;
  unsigned long pages = 0, resident = 0;
  const int read = std::fscanf(file, "%lu %lu", &pages, &resident);
  std::fclose(file);
  return read == 2 ? resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

struct PreparedPlan {
  convkit::Conv2dDesc desc;
  std::vector<float> input, expected;
  std::unique_ptr<convkit::Plan> plan;
};

}  // namespace

TEST_CASE("stress: many plans run from many threads at once, every result checked, memory flat") {
  // CONVKIT_STRESS_SECONDS (default 3) and CONVKIT_STRESS_PLAN_THREADS (default 2: plans of 1 and 2 threads;
  // ThreadSanitizer runs use 1, so that all the parallelism is std::thread's, which it understands).
  const int seconds = environment_int("CONVKIT_STRESS_SECONDS", 3);
  const int plan_threads = environment_int("CONVKIT_STRESS_PLAN_THREADS", 2);
  const int callers = 8;
  std::vector<PreparedPlan> plans;
  const Algorithm algorithms[] = {Algorithm::Auto, Algorithm::Im2colGemm, Algorithm::Direct, Algorithm::Winograd,
                                  Algorithm::Reference};
  int index = 0;
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (Algorithm algorithm : algorithms) {
      PreparedPlan p;
      p.desc = algorithm == Algorithm::Direct && index % 2 == 0 ? make_desc(1, 16, 14, 16, 3, 1, 16, layout)
                                                                : make_desc(2, 16 + index, 12, 24, 3, 1, 1, layout);
      const convkit::TensorSizes sizes = convkit::tensor_sizes(p.desc);
      p.input = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 100 + index);
      const auto weights = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 200 + index);
      const auto bias = convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), 300 + index);
      convkit::Options options;
      options.algorithm = algorithm;
      options.threads = 1 + index % plan_threads;
      options.activation = index % 3 == 0 ? convkit::Activation::Relu : convkit::Activation::None;
      p.plan = std::make_unique<convkit::Plan>(p.desc, weights.data(), bias.data(), options);
      p.expected.resize(static_cast<std::size_t>(sizes.output));
      p.plan->run(p.input.data(), p.expected.data());
      plans.push_back(std::move(p));
      ++index;
    }
  // One plan also gets a 1x1 shape (gemm_1x1).
  {
    PreparedPlan p;
    p.desc = make_desc(2, 32, 9, 16, 1, 1, 1, Layout::NHWC);
    const convkit::TensorSizes sizes = convkit::tensor_sizes(p.desc);
    p.input = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 400);
    const auto weights = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 401);
    convkit::Options options;
    options.algorithm = Algorithm::Gemm1x1;
    p.plan = std::make_unique<convkit::Plan>(p.desc, weights.data(), nullptr, options);
    p.expected.resize(static_cast<std::size_t>(sizes.output));
    p.plan->run(p.input.data(), p.expected.data());
    plans.push_back(std::move(p));
  }

  std::atomic<long> calls{0}, mismatches{0};
  std::atomic<std::size_t> resident_after_warmup{0};
  const auto start = std::chrono::steady_clock::now();
  const auto warmup_end = start + std::chrono::milliseconds(250 * seconds);
  const auto end = start + std::chrono::seconds(seconds);
  std::vector<std::thread> threads;
  for (int caller = 0; caller < callers; ++caller) {
    threads.emplace_back([&, caller] {
      std::mt19937 pick(static_cast<std::uint32_t>(caller));
      std::vector<float> output;
      std::vector<unsigned char> workspace;
      bool warm = false;
      while (std::chrono::steady_clock::now() < end) {
        const PreparedPlan& p = plans[pick() % plans.size()];
        output.assign(p.expected.size(), std::nanf(""));
        // Half the calls bring a workspace, half let the run provide its own.
        if (pick() % 2 == 0) {
          workspace.resize(p.plan->workspace_size());
          p.plan->run(p.input.data(), output.data(), workspace.data(), workspace.size());
        } else {
          p.plan->run(p.input.data(), output.data());
        }
        if (output != p.expected) ++mismatches;
        ++calls;
        if (!warm && caller == 0 && std::chrono::steady_clock::now() > warmup_end) {
          warm = true;
          resident_after_warmup = resident_bytes();
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::size_t resident_end = resident_bytes();
  MESSAGE("stress: ", calls.load(), " calls of ", plans.size(), " plans from ", callers, " threads in ", seconds,
          " s; resident memory ", resident_after_warmup.load() / 1024, " KiB after the warm-up, ", resident_end / 1024,
          " KiB at the end");
  CHECK(mismatches == 0);
  CHECK(calls > callers);
  // The same plans, the same buffers: nothing may accumulate. 16 MiB of slack for the allocator's caches.
  // (AddressSanitizer holds freed memory in quarantine, so there the leak checker stands in for this check.)
#if !defined(__SANITIZE_ADDRESS__)
  if (resident_after_warmup > 0) CHECK(resident_end <= resident_after_warmup + (std::size_t{16} << 20));
#endif
}

TEST_CASE("the same bits from run to run and for every thread count, on every algorithm") {
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (Algorithm algorithm : {Algorithm::Reference, Algorithm::Im2colGemm, Algorithm::Gemm1x1, Algorithm::Direct,
                                Algorithm::Winograd, Algorithm::ImplicitGemm}) {
      const convkit::Conv2dDesc d = make_desc(2, 24, 17, 20, algorithm == Algorithm::Gemm1x1 ? 1 : 3, 1, 1, layout);
      const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
      const auto x = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 31);
      const auto w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 32);
      const auto b = convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), 33);
      std::vector<float> first;
      const std::string algorithm_name = convkit::algorithm_name(algorithm);
      CAPTURE(algorithm_name);
      for (int threads : {1, 1, 2, 3, 4, 2}) {  // 1 twice: run to run
        convkit::Options options;
        options.algorithm = algorithm;
        options.threads = threads;
        std::vector<float> out(static_cast<std::size_t>(sizes.output));
        convkit::conv2d(d, x.data(), w.data(), b.data(), out.data(), options);
        if (first.empty()) {
          first = out;
        } else {
          CHECK_MESSAGE(out == first, "threads=", threads);
        }
      }
    }
}

TEST_CASE("NaN and infinity reach exactly the outputs that depend on them, on every path") {
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (Algorithm algorithm : {Algorithm::Reference, Algorithm::Im2colGemm, Algorithm::Gemm1x1, Algorithm::Direct,
                                Algorithm::Winograd, Algorithm::ImplicitGemm}) {
      const bool one_by_one = algorithm == Algorithm::Gemm1x1;
      convkit::Conv2dDesc d = make_desc(2, 16, 13, 18, one_by_one ? 1 : 3, 1, 2, layout);
      if (algorithm == Algorithm::Direct) d.stride_height = 2;  // and a strided shape on the direct path
      const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
      const convkit::OutputSize out = convkit::output_size(d);
      const auto w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 42);
      const auto b = convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), 43);
      const auto clean = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 41);
      // NaN at (image 1, channel 3, 5, 6) and +inf at (image 0, channel 12, 0, 12): a corner, in the other group.
      struct Special {
        std::int64_t n, c, y, x;
        float value;
      };
      const Special specials[] = {{1, 3, 5, 6, std::nanf("")}, {0, 12, 0, 12, INFINITY}};
      auto dirty = clean;
      for (const Special& s : specials)
        dirty[static_cast<std::size_t>(
            convkit_test::tensor_offset(layout, d.in_channels, d.in_height, d.in_width, s.n, s.c, s.y, s.x))] = s.value;
      convkit::Options options;
      options.algorithm = algorithm;
      std::vector<float> want(static_cast<std::size_t>(sizes.output)), got(want.size());
      convkit::conv2d(d, clean.data(), w.data(), b.data(), want.data(), options);
      convkit::conv2d(d, dirty.data(), w.data(), b.data(), got.data(), options);
      const std::string algorithm_name = convkit::algorithm_name(algorithm);
      CAPTURE(algorithm_name);
      CAPTURE(layout == Layout::NCHW ? "NCHW" : "NHWC");
      const std::int64_t group_out = d.out_channels / d.groups, group_in = d.in_channels / d.groups;
      std::int64_t wrong = 0;
      for (std::int64_t n = 0; n < d.batch; ++n)
        for (std::int64_t o = 0; o < d.out_channels; ++o)
          for (std::int64_t y = 0; y < out.height; ++y)
            for (std::int64_t x = 0; x < out.width; ++x) {
              // Depends: a tap of this output reads the special pixel; near: Winograd's tiles may mix it in.
              bool depends = false, near = false;
              for (const Special& s : specials) {
                if (s.n != n || s.c / group_in != o / group_out) continue;
                const std::int64_t i = s.y + d.pad_top - y * d.stride_height;
                const std::int64_t j = s.x + d.pad_left - x * d.stride_width;
                depends = depends || (i >= 0 && i < d.kernel_height && j >= 0 && j < d.kernel_width);
                near = near || (std::llabs(i) <= d.kernel_height + convkit_test::kWinogradReach &&
                                std::llabs(j) <= d.kernel_width + convkit_test::kWinogradReach);
              }
              const std::size_t k = static_cast<std::size_t>(
                  convkit_test::tensor_offset(layout, d.out_channels, out.height, out.width, n, o, y, x));
              if (depends) {
                if (std::isfinite(got[k])) ++wrong;
              } else if (algorithm == Algorithm::Winograd && near) {
                // A whole tile may turn NaN: documented (docs/algorithms.md, "Winograd's error").
              } else if (!(got[k] == want[k])) {
                ++wrong;
              }
            }
      CHECK(wrong == 0);
    }
}

TEST_CASE("the error bound holds on reductions of tens of thousands of products") {
  struct Case {
    Algorithm algorithm;
    std::int64_t in_channels, kernel;
  };
  const Case cases[] = {{Algorithm::Im2colGemm, 4096, 3},
                        {Algorithm::Direct, 4096, 3},
                        {Algorithm::Reference, 4096, 3},
                        {Algorithm::Gemm1x1, 32768, 1},
                        {Algorithm::Winograd, 4096, 3}};
  for (const Case& c : cases)
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      const convkit::Conv2dDesc d = make_desc(1, c.in_channels, 6, 4, c.kernel, 1, 1, layout);
      const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
      const convkit::OutputSize out = convkit::output_size(d);
      // Positive data: no cancellation, so the error is measured against the full size of the sum.
      const auto x = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 51, 0.0f, 1.0f);
      const auto w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 52, 0.0f, 1.0f);
      std::vector<float> y(static_cast<std::size_t>(sizes.output));
      convkit::Options options;
      options.algorithm = c.algorithm;
      convkit::conv2d(d, x.data(), w.data(), nullptr, y.data(), options);
      double worst = 0;
      for (std::int64_t o = 0; o < d.out_channels; ++o)
        for (std::int64_t yy = 0; yy < out.height; ++yy)
          for (std::int64_t xx = 0; xx < out.width; ++xx) {
            const auto want = convkit_test::oracle_at(d, x.data(), w.data(), nullptr, 0, o, yy, xx);
            const double scale = c.algorithm == Algorithm::Winograd
                                     ? convkit_test::winograd_magnitude(d, x.data(), w.data(), nullptr, 0, o, yy, xx)
                                     : want.magnitude;
            const double got = y[static_cast<std::size_t>(
                convkit_test::tensor_offset(layout, d.out_channels, out.height, out.width, 0, o, yy, xx))];
            worst = std::max(worst, std::fabs(got - want.value) / scale);
          }
      const double bound = c.algorithm == Algorithm::Winograd ? convkit_test::winograd_error_bound(4) : 1e-4;
      MESSAGE(std::string(convkit::algorithm_name(c.algorithm)), layout == Layout::NCHW ? " NCHW" : " NHWC",
              ", reduction ", c.in_channels * c.kernel * c.kernel, ": error ", worst, " of the magnitude (bound ",
              bound, ")");
      CHECK(worst <= bound);
    }
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// AddressSanitizer and ThreadSanitizer reserve terabytes of address space, so a limit on it cannot be tested there.
TEST_CASE("under a memory limit, a plan too big for it answers out-of-memory, and the process goes on") {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child: 512 MiB more address space than it has now, then a 2.4 GB plan, then a small call.
    std::size_t size_pages = 0;
    if (std::FILE* file = std::fopen("/proc/self/statm", "r")) {
      unsigned long pages = 0;
      if (std::fscanf(file, "%lu", &pages) == 1) size_pages = pages;
      std::fclose(file);
    }
    const rlim_t limit =
        static_cast<rlim_t>(size_pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE))) + (rlim_t{512} << 20);
    const rlimit rl{limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0) std::_Exit(10);
    convkit_conv2d_desc d;
    convkit_conv2d_desc_init(&d);
    d.batch = 1;
    d.in_channels = d.out_channels = 8192;
    d.in_height = d.in_width = 3;
    d.kernel_height = d.kernel_width = 3;
    convkit_options options;
    convkit_options_init(&options);
    options.threads = 1;  // a forked child must not start OpenMP threads
    options.algorithm = CONVKIT_ALGORITHM_IM2COL_GEMM;
    convkit_plan* plan = nullptr;
    // The weights themselves: 2.4 GB would not fit either; a plan only needs them readable, so map them lazily.
    const float* weights =
        static_cast<const float*>(static_cast<const void*>(&d));  // never read: allocation fails first
    const convkit_status status = convkit_plan_create(&d, weights, nullptr, &options, &plan);
    if (status != CONVKIT_STATUS_OUT_OF_MEMORY || plan != nullptr) std::_Exit(11);
    if (std::string(convkit_last_error()).find("out of memory") == std::string::npos) std::_Exit(12);
    // The process goes on: a small convolution still works.
    d.in_channels = d.out_channels = 2;
    std::vector<float> x(18, 1.0f), w(72, 1.0f), y(2, 0.0f);
    if (convkit_conv2d(&d, x.data(), w.data(), nullptr, y.data(), &options) != CONVKIT_STATUS_OK) std::_Exit(13);
    if (y[0] != 18.0f || y[1] != 18.0f) std::_Exit(14);
    std::_Exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK_MESSAGE(WEXITSTATUS(status) == 0, "child exit code ", WEXITSTATUS(status),
                " (11: not out-of-memory, 12: no message, 13-14: the next call failed)");
}
#endif

TEST_CASE("a non-finite weight makes every output of its channel non-finite, padding included, on every path") {
  // The rule: padding is a zero multiplied like any input, and 0 * NaN and 0 * inf are NaN, so a NaN or infinite
  // weight reaches every output of its output channel, even where its tap falls on the padding; other channels
  // keep their values. The weight chosen is tap (0, 0), which lies on the padding for the first row and column.
  struct Shape {
    const char* name;
    std::int64_t in_channels, out_channels, groups, size, kernel, stride;
  };
  const Shape shapes[] = {{"3x3 on 8 channels", 8, 6, 1, 9, 3, 1},
                          {"depthwise 3x3", 16, 16, 16, 11, 3, 1},
                          {"depthwise 3x3 stride 2", 16, 16, 16, 11, 3, 2},
                          {"depthwise 5x5, channel multiplier 2", 8, 16, 8, 9, 5, 1},
                          {"narrow output", 4, 5, 1, 3, 3, 1},
                          {"1x1 padded", 8, 6, 1, 7, 1, 1},
                          {"3x3 on 32 channels", 32, 24, 1, 10, 3, 1}};
  for (const Shape& shape : shapes)
    for (Layout layout : {Layout::NCHW, Layout::NHWC})
      for (Algorithm algorithm : {Algorithm::Auto, Algorithm::Reference, Algorithm::Im2colGemm, Algorithm::Gemm1x1,
                                  Algorithm::Direct, Algorithm::Winograd, Algorithm::ImplicitGemm})
        for (float special : {std::nanf(""), INFINITY, -INFINITY}) {
          convkit::Conv2dDesc d = make_desc(2, shape.in_channels, shape.size, shape.out_channels, shape.kernel,
                                            shape.stride, shape.groups, layout);
          if (shape.kernel == 1) d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 1;
          convkit::Options options;
          options.algorithm = algorithm;
          options.math_mode = algorithm == Algorithm::Winograd ? convkit::MathMode::Fast : convkit::MathMode::Strict;
          if (convkit::algorithm_name(algorithm) != std::string("auto")) {
            try {
              convkit::chosen_algorithm(d, options);
            } catch (const convkit::Error&) {
              continue;  // declined: gemm_1x1 on a 3x3 kernel, Winograd off 3x3
            }
          }
          const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
          const convkit::OutputSize out = convkit::output_size(d);
          const auto x = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 61);
          auto w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 62);
          const std::int64_t channel = 1, reduction = sizes.weights / d.out_channels;
          w[static_cast<std::size_t>(channel * reduction)] = special;  // tap (0, 0) of input channel 0 in either layout
          std::vector<float> y(static_cast<std::size_t>(sizes.output));
          const Algorithm ran = convkit::conv2d(d, x.data(), w.data(), nullptr, y.data(), options);
          CAPTURE(shape.name);
          CAPTURE(layout == Layout::NCHW ? "NCHW" : "NHWC");
          CAPTURE(convkit::algorithm_name(ran));
          CAPTURE(special);
          std::int64_t finite_in_channel = 0, nonfinite_elsewhere = 0;
          for (std::int64_t n = 0; n < d.batch; ++n)
            for (std::int64_t o = 0; o < d.out_channels; ++o)
              for (std::int64_t yy = 0; yy < out.height; ++yy)
                for (std::int64_t xx = 0; xx < out.width; ++xx) {
                  const float v = y[static_cast<std::size_t>(
                      convkit_test::tensor_offset(layout, d.out_channels, out.height, out.width, n, o, yy, xx))];
                  if (o == channel && std::isfinite(v)) ++finite_in_channel;
                  if (o != channel && !std::isfinite(v)) ++nonfinite_elsewhere;
                }
          CHECK(finite_in_channel == 0);
          CHECK(nonfinite_elsewhere == 0);
        }
}

TEST_CASE("auto runs a one-channel NHWC layer as an ordinary convolution, not as depthwise") {
  // groups == in_channels == 1 is no depthwise layer: the depthwise kernel vectorises along the input channels and
  // would fill one lane of each vector. Grayscale and spectrogram first layers have this shape.
  for (std::int64_t out_channels : {32, 64}) {
    convkit::Conv2dDesc d = make_desc(1, 1, 224, out_channels, 3, 1, 1, Layout::NHWC);
    CAPTURE(out_channels);
    const Algorithm chosen = convkit::chosen_algorithm(d);
    CHECK((chosen == Algorithm::Im2colGemm || chosen == Algorithm::ImplicitGemm));
    d.layout = Layout::NCHW;
    CHECK(convkit::chosen_algorithm(d) != Algorithm::Reference);
  }
}
