// What an inference engine relies on: a run with a caller workspace allocates nothing, any workspace alignment
// works, no thread keeps a core busy after a call returns, "same" padding as TensorFlow and ONNX compute it, and
// the version. This binary replaces the global operator new to count allocations, so it has a file of its own.
#include <convkit/convkit.h>
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <convkit/convkit.hpp>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "conv_tester.hpp"

namespace {

// Allocations made through operator new while counting is on, from any thread (the library's workers included).
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void* counted(std::size_t size, std::size_t alignment) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  void* p = alignment <= alignof(std::max_align_t)
                ? std::malloc(size)
                : std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t size) { return counted(size, 0); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  return counted(size, static_cast<std::size_t>(alignment));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using convkit::Algorithm;
using convkit::Layout;

namespace {

struct Case {
  const char* name;
  convkit::Conv2dDesc desc;
  Algorithm algorithm;
};

convkit::Conv2dDesc make_desc(std::int64_t channels, std::int64_t out_channels, std::int64_t groups, std::int64_t size,
                              std::int64_t kernel, Layout layout) {
  convkit::Conv2dDesc d = convkit_test::square_desc(channels, out_channels, groups, size, kernel, layout);
  d.batch = 2;
  return d;
}

std::vector<Case> every_path() {
  std::vector<Case> cases;
  for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
    cases.push_back({"im2col_gemm", make_desc(8, 12, 1, 20, 3, layout), Algorithm::Im2colGemm});
    cases.push_back({"gemm_1x1", make_desc(16, 8, 1, 12, 1, layout), Algorithm::Gemm1x1});
    cases.push_back({"direct staged", make_desc(4, 6, 1, 24, 3, layout), Algorithm::Direct});
    cases.push_back({"direct depthwise", make_desc(24, 24, 24, 20, 3, layout), Algorithm::Direct});
    cases.push_back({"direct depthwise x2", make_desc(24, 48, 24, 20, 3, layout), Algorithm::Direct});
    cases.push_back({"direct scalar", make_desc(2, 3, 1, 3, 2, layout), Algorithm::Direct});
    cases.push_back({"reference", make_desc(3, 4, 1, 6, 3, layout), Algorithm::Reference});
  }
  return cases;
}

}  // namespace

// Under AddressSanitizer its own operator new replaces this file's counting one.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif

TEST_CASE("a run with a caller workspace allocates nothing, at any alignment, on every path" *
          doctest::skip(kAddressSanitizer)) {
  for (const Case& c : every_path()) {
    for (int threads : {1, 2}) {
      CAPTURE(c.name);
      CAPTURE(static_cast<int>(c.desc.layout));
      CAPTURE(threads);
      const auto sizes = convkit::tensor_sizes(c.desc);
      const auto x = convkit_test::random_floats(static_cast<size_t>(sizes.input), 1);
      const auto w = convkit_test::random_floats(static_cast<size_t>(sizes.weights), 2);
      convkit::Options options;
      options.algorithm = c.algorithm;
      options.threads = threads;
      const convkit::Plan plan(c.desc, w.data(), nullptr, options);
      std::vector<float> expected(static_cast<size_t>(sizes.output)), got(expected.size());
      convkit::conv2d(c.desc, x.data(), w.data(), nullptr, expected.data(), options);
      std::vector<unsigned char> workspace(plan.workspace_size() + 64);
      plan.run(x.data(), got.data(), workspace.data(), plan.workspace_size());  // warm: OpenMP builds its team once
      for (std::size_t offset : {0, 1, 4, 13, 63}) {
        std::fill(got.begin(), got.end(), -1.0f);
        allocations = 0;
        counting = true;
        plan.run(x.data(), got.data(), workspace.data() + offset, plan.workspace_size());
        counting = false;
        CHECK(allocations == 0);
        CHECK(got == expected);
      }
      if (plan.workspace_size() > 8192) {  // the counter counts: without a workspace, a large one is allocated
        allocations = 0;
        counting = true;
        plan.run(x.data(), got.data());
        counting = false;
        CHECK(allocations > 0);
      }
    }
  }
}

TEST_CASE("no thread keeps a core busy after a call returns") {
  // An engine runs its own work between convolutions: idle library threads must sleep, not spin. The call uses
  // two threads; then the process sleeps and must use little CPU time meanwhile (a spinning worker would use all of
  // it). convkit's pool spins for a moment after a job, then sleeps, whatever OMP_WAIT_POLICY says.
  const auto d = make_desc(32, 32, 1, 48, 3, Layout::NCHW);
  const auto sizes = convkit::tensor_sizes(d);
  const auto x = convkit_test::random_floats(static_cast<size_t>(sizes.input), 3);
  const auto w = convkit_test::random_floats(static_cast<size_t>(sizes.weights), 4);
  std::vector<float> y(static_cast<size_t>(sizes.output));
  const auto cpu_seconds = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  };
  for (Algorithm algorithm : {Algorithm::Direct, Algorithm::Im2colGemm}) {
    CAPTURE(convkit::algorithm_name(algorithm));
    convkit::Options options;
    options.algorithm = algorithm;
    options.threads = 2;
    convkit::conv2d(d, x.data(), w.data(), nullptr, y.data(), options);
    const double before = cpu_seconds();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const double busy = cpu_seconds() - before;
    std::printf("%s: %.1f ms of CPU time in the 500 ms after a two-thread call\n", convkit::algorithm_name(algorithm),
                busy * 1e3);
    CHECK(busy < 0.05);
  }
}

TEST_CASE("same padding: TensorFlow's and ONNX's pads, and an output of ceil(input / stride)") {
  // Known values: TensorFlow pads 6 by 0 before and 1 after for kernel 3, stride 2; ONNX SAME_LOWER mirrors it.
  CHECK(convkit::same_padding(6, 3, 2, 1).begin == 0);
  CHECK(convkit::same_padding(6, 3, 2, 1).end == 1);
  CHECK(convkit::same_padding(6, 3, 2, 1, convkit::SamePadding::Lower).begin == 1);
  CHECK(convkit::same_padding(5, 3, 2, 1).begin == 1);
  CHECK(convkit::same_padding(5, 3, 2, 1).end == 1);
  CHECK(convkit::same_padding(7, 3, 1, 2).begin == 2);    // dilated: the kernel spans 5
  CHECK(convkit::same_padding(224, 7, 2, 1).begin == 2);  // ResNet's stem: 2 before, 3 after
  CHECK(convkit::same_padding(224, 7, 2, 1).end == 3);
  CHECK(convkit::same_padding(9, 1, 4, 1).end == 0);  // never negative
  for (std::int64_t in = 1; in <= 17; ++in)
    for (std::int64_t k = 1; k <= 7; ++k)
      for (std::int64_t s = 1; s <= 4; ++s)
        for (std::int64_t dil = 1; dil <= 3; ++dil)
          for (auto mode : {convkit::SamePadding::Upper, convkit::SamePadding::Lower}) {
            const convkit::Padding p = convkit::same_padding(in, k, s, dil, mode);
            REQUIRE(p.begin >= 0);
            REQUIRE(p.end - p.begin ==
                    (mode == convkit::SamePadding::Upper ? (p.begin + p.end) % 2 : -((p.begin + p.end) % 2)));
            convkit::Conv2dDesc d;
            d.batch = d.in_channels = d.out_channels = 1;
            d.in_height = in;
            d.in_width = in + 3;
            d.kernel_height = d.kernel_width = k;
            d.stride_height = d.stride_width = s;
            d.dilation_height = d.dilation_width = dil;
            convkit::set_same_padding(d, mode);
            REQUIRE(d.pad_top == p.begin);
            REQUIRE(d.pad_bottom == p.end);
            const convkit::OutputSize out = convkit::output_size(d);
            REQUIRE(out.height == (in + s - 1) / s);
            REQUIRE(out.width == (in + 3 + s - 1) / s);
          }
  // And the convolution with those pads against the oracle, both layouts.
  for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
    const convkit::Padding rows = convkit::same_padding(11, 4, 3, 1), columns = convkit::same_padding(8, 4, 3, 1);
    convkit_test::ConvTester()
        .channels(3, 5)
        .input(11, 8)
        .kernel(4, 4)
        .stride(3, 3)
        .padding(rows.begin, columns.begin, rows.end, columns.end)
        .layout(layout)
        .test_all();
  }
  CHECK_THROWS_WITH_AS(convkit::same_padding(5, 0, 1, 1), "kernel_size = 0 must be >= 1", convkit::Error);
  CHECK_THROWS_AS(convkit::same_padding(std::int64_t{1} << 62, std::int64_t{1} << 40, 1, std::int64_t{1} << 30),
                  convkit::Error);
  convkit::Conv2dDesc unchanged;
  unchanged.in_height = 0;
  unchanged.pad_top = 7;
  CHECK_THROWS_AS(convkit::set_same_padding(unchanged), convkit::Error);
  CHECK(unchanged.pad_top == 7);
}

TEST_CASE("the version at run time is the header's") {
  const std::string expected = std::to_string(CONVKIT_VERSION_MAJOR) + "." + std::to_string(CONVKIT_VERSION_MINOR) +
                               "." + std::to_string(CONVKIT_VERSION_PATCH);
  CHECK(convkit::version() == expected);
  CHECK(std::string(convkit_version()) == expected);
}
