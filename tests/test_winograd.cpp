// Winograd: its accuracy contract (the error bound stated in docs/algorithms.md, measured here on the suite's 3x3
// layers), when auto may use it, and the shapes it must decline. The oracle sweeps of test_sweep.cpp run it on every
// feature.
#include <convkit/convkit.h>
#include <doctest/doctest.h>

#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "conv_tester.hpp"
#include "layer_suite.hpp"

using convkit::Algorithm;
using convkit::Layout;
using convkit::MathMode;
using convkit_test::ConvTester;

namespace {

// Forces the tile size of the plans made while it lives (lib/algorithm_winograd.cpp reads it at plan creation), then
// restores what the environment said (ctest sets it for some runs).
class ForcedTile {
 public:
  explicit ForcedTile(int tile) {
    const char* previous = std::getenv(kName);
    had_previous_ = previous != nullptr;
    if (had_previous_) previous_ = previous;
    setenv(kName, std::to_string(tile).c_str(), 1);
  }
  ~ForcedTile() {
    if (had_previous_)
      setenv(kName, previous_.c_str(), 1);
    else
      unsetenv(kName);
  }
  ForcedTile(const ForcedTile&) = delete;
  ForcedTile& operator=(const ForcedTile&) = delete;

 private:
  static constexpr const char* kName = "CONVKIT_WINOGRAD_TILE";
  bool had_previous_ = false;
  std::string previous_;
};

bool is_winograd_layer(const convkit::Conv2dDesc& d) {
  return d.kernel_height == 3 && d.kernel_width == 3 && d.stride_height == 1 && d.stride_width == 1 &&
         d.dilation_height == 1 && d.dilation_width == 1 && d.in_channels / d.groups >= 16 &&
         d.out_channels / d.groups >= 16;
}

// The largest |got - oracle| / (|bias| + sum |products|) over a sample of outputs (every fourth one near the
// borders), for uniform random data in [-1, 1]; for Winograd the scale is that of the output's tile
// (winograd_magnitude, as its bound is stated).
double normalized_error(const convkit::Conv2dDesc& d, Algorithm algorithm, std::int64_t samples) {
  const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
  const std::vector<float> x = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 11);
  const std::vector<float> w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 12);
  const std::vector<float> b = convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), 13);
  std::vector<float> y(static_cast<std::size_t>(sizes.output));
  convkit::Options options;
  options.algorithm = algorithm;
  convkit::conv2d(d, x.data(), w.data(), b.data(), y.data(), options);
  const convkit::OutputSize out = convkit::output_size(d);
  std::mt19937_64 pick(7);
  double worst = 0;
  for (std::int64_t s = 0; s < samples; ++s) {
    const std::int64_t n = static_cast<std::int64_t>(pick() % static_cast<std::uint64_t>(d.batch));
    const std::int64_t o = static_cast<std::int64_t>(pick() % static_cast<std::uint64_t>(d.out_channels));
    std::int64_t yy = static_cast<std::int64_t>(pick() % static_cast<std::uint64_t>(out.height));
    std::int64_t xx = static_cast<std::int64_t>(pick() % static_cast<std::uint64_t>(out.width));
    if (s % 4 == 0) yy = s % 8 == 0 ? 0 : out.height - 1;
    const convkit_test::OracleValue want = convkit_test::oracle_at(d, x.data(), w.data(), b.data(), n, o, yy, xx);
    const double got = y[static_cast<std::size_t>(
        convkit_test::tensor_offset(d.layout, d.out_channels, out.height, out.width, n, o, yy, xx))];
    const double scale = algorithm == Algorithm::Winograd
                             ? convkit_test::winograd_magnitude(d, x.data(), w.data(), b.data(), n, o, yy, xx)
                             : want.magnitude;
    worst = std::max(worst, std::fabs(got - want.value) / scale);
  }
  return worst;
}

}  // namespace

TEST_CASE("winograd stays within its stated error bound on the suite's 3x3 layers, both tile sizes") {
  int layers = 0;
  for (const convkit_bench::Layer& layer : convkit_bench::load_layer_suite(CONVKIT_LAYER_SUITE)) {
    if (!is_winograd_layer(layer.desc)) continue;
    ++layers;
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      const convkit::Conv2dDesc d = layer.with_layout(layout).desc;
      const double strict = normalized_error(d, Algorithm::Im2colGemm, 2000);
      for (int tile : {2, 4}) {
        const ForcedTile forced(tile);
        const double error = normalized_error(d, Algorithm::Winograd, 2000);
        const double bound = convkit_test::winograd_error_bound(tile);
        MESSAGE(layer.name, layout == Layout::NCHW ? " NCHW" : " NHWC", " F(", tile, "x", tile, ",3x3): error ", error,
                " (bound ", bound, "; im2col_gemm ", strict, ")");
        CHECK(error <= bound);
      }
    }
  }
  CHECK(layers >= 6);
}

TEST_CASE("winograd against the oracle: tile sizes, paddings, groups, channels around the vector width, threads") {
  for (int tile : {2, 4}) {
    const ForcedTile forced(tile);
    for (Layout layout : {Layout::NCHW, Layout::NHWC})
      for (convkit::WeightsLayout weights : {convkit::WeightsLayout::OIHW, convkit::WeightsLayout::OHWI}) {
        // Output sizes that are and are not multiples of the tile, down to a single pixel.
        for (std::int64_t size : {1, 3, 4, 5, 8, 9, 13})
          ConvTester()
              .batch(2)
              .channels(16, 17)
              .input(size + 2, size + 3)
              .layout(layout)
              .weights_layout(weights)
              .bias(true)
              .test(Algorithm::Winograd);
        for (std::int64_t channels : {15, 16, 17, 31, 32, 33})
          ConvTester()
              .channels(channels, 48 - channels)
              .input(10, 9)
              .padding(1, 1, 1, 1)
              .layout(layout)
              .weights_layout(weights)
              .activation(convkit::Activation::Relu)
              .test(Algorithm::Winograd);
      }
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      // Padding: none, "same", asymmetric, and wider than the kernel (whole tiles of zeros).
      for (std::int64_t pad : {0, 1, 2, 4})
        ConvTester()
            .channels(16, 16)
            .input(9, 11)
            .padding(pad, pad / 2, (pad + 1) % 3, pad)
            .layout(layout)
            .bias(true)
            .test(Algorithm::Winograd);
      ConvTester()
          .batch(3)
          .channels(32, 48)
          .groups(2)
          .input(12, 12)
          .padding(1, 1, 1, 1)
          .layout(layout)
          .bias(true)
          .activation(convkit::Activation::Clamp, -0.3f, 0.3f)
          .test(Algorithm::Winograd);
      ConvTester().channels(20, 20).groups(5).input(7, 7).padding(1, 1, 1, 1).layout(layout).test(Algorithm::Winograd);
      for (int threads : {1, 2, 3, 5})
        ConvTester()
            .batch(2)
            .channels(24, 40)
            .input(15, 17)
            .padding(1, 1, 1, 1)
            .layout(layout)
            .threads(threads)
            .through_plan(true)
            .test(Algorithm::Winograd);
    }
  }
}

TEST_CASE("auto uses winograd only in the fast math mode, and not on small images of many channels") {
  // Where convkit's GEMM kernels multiply (AVX2, AVX-512), with the points' weights packed once, F(2x2) pays on
  // small images too; OpenBLAS, which packs them on every call, does not.
  const std::string isa = convkit::simd_isa();
  const bool convkit_gemm = isa == "avx2+fma" || isa == "avx512f";
  for (const convkit_bench::Layer& layer : convkit_bench::load_layer_suite(CONVKIT_LAYER_SUITE)) {
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      const convkit::Conv2dDesc d = layer.with_layout(layout).desc;
      INFO(layer.name);
      convkit::Options strict, fast;
      fast.math_mode = MathMode::Fast;
      CHECK(convkit::chosen_algorithm(d, strict) != Algorithm::Winograd);
      const Algorithm chosen = convkit::chosen_algorithm(d, fast);
      // resnet50_res5_3x3's 7x7 output at 512 channels gives F(2x2) blocks of 16 tiles, too short for OpenBLAS
      // (lib/algorithm_winograd.cpp, winograd_auto_declines): the strict GEMM path is faster there.
      if (is_winograd_layer(d) && (layer.name != "resnet50_res5_3x3" || convkit_gemm)) {
        CHECK(chosen == Algorithm::Winograd);
      } else {
        CHECK(chosen == convkit::chosen_algorithm(d, strict));  // the fast mode changes nothing else
      }
    }
  }
  // And auto's results in the fast mode are held to Winograd's bound.
  ConvTester tester;
  tester.channels(32, 32).input(20, 20).padding(1, 1, 1, 1).bias(true);
  convkit::Options fast;
  fast.math_mode = MathMode::Fast;
  CHECK(convkit::chosen_algorithm(tester.desc(), fast) == Algorithm::Winograd);
  // The tuning variables do not steer auto: forced blocks of 3 tiles (a ctest variant) leave this choice as it is.
  ConvTester small_image;
  small_image.channels(256, 256).input(8, 8).padding(1, 1, 1, 1);  // 16 F(2x2) tiles in one block
  CHECK((convkit::chosen_algorithm(small_image.desc(), fast) == Algorithm::Winograd) == convkit_gemm);
  small_image.batch(2);  // 32 tiles in one block
  CHECK(convkit::chosen_algorithm(small_image.desc(), fast) == Algorithm::Winograd);
}

TEST_CASE("winograd declines what it cannot compute, by name and through the C API") {
  convkit_conv2d_desc d;
  convkit_conv2d_desc_init(&d);
  d.batch = 1;
  d.in_channels = d.out_channels = 16;
  d.in_height = d.in_width = 12;
  d.kernel_height = d.kernel_width = 3;
  convkit_options options;
  convkit_options_init(&options);
  options.algorithm = CONVKIT_ALGORITHM_WINOGRAD;
  convkit_algorithm chosen = CONVKIT_ALGORITHM_AUTO;
  REQUIRE(convkit_conv2d_algorithm(&d, &options, &chosen) == CONVKIT_STATUS_OK);
  CHECK(chosen == CONVKIT_ALGORITHM_WINOGRAD);
  CHECK(std::string(convkit_algorithm_name(CONVKIT_ALGORITHM_WINOGRAD)) == "winograd");

  struct Case {
    const char* what;
    void (*change)(convkit_conv2d_desc&);
    const char* reason;
  };
  const Case cases[] = {
      {"5x5", [](convkit_conv2d_desc& c) { c.kernel_height = c.kernel_width = 5; }, "3x3 kernel"},
      {"3x1", [](convkit_conv2d_desc& c) { c.kernel_width = 1; }, "3x3 kernel"},
      {"stride 2", [](convkit_conv2d_desc& c) { c.stride_width = 2; }, "stride 1"},
      {"dilation 2", [](convkit_conv2d_desc& c) { c.dilation_height = 2; }, "dilation 1"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    convkit_conv2d_desc changed = d;
    c.change(changed);
    CHECK(convkit_conv2d_algorithm(&changed, &options, &chosen) == CONVKIT_STATUS_UNSUPPORTED);
    CHECK(std::string(convkit_last_error()).find(c.reason) != std::string::npos);
    convkit_plan* plan = nullptr;
    CHECK(convkit_plan_create(&changed, std::vector<float>(16 * 16 * 25).data(), nullptr, &options, &plan) ==
          CONVKIT_STATUS_UNSUPPORTED);
    CHECK(plan == nullptr);
  }
}

TEST_CASE("winograd: the same bits for every thread count, and at most 2 MiB of workspace per thread") {
  // 2 x 30x30 (2 blocks of tiles): the team shares each block; 4 x 56x56 (10 blocks): at 2 threads each worker runs
  // whole blocks of its own, at 3 and 4 the team shares them again, or, with convkit's GEMM kernels, cuts the tiles
  // into 12 and 16 blocks to run blocks of its own; 1 x 54x54 (3 blocks, 196 tiles): likewise into 8 blocks at 2
  // threads.
  for (const std::int64_t size : {30, 56, 54})
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      CAPTURE(size);
      convkit::Conv2dDesc d;
      d.batch = size == 30 ? 2 : size == 56 ? 4 : 1;
      d.in_channels = 48;
      d.out_channels = 40;
      d.in_height = d.in_width = size;
      d.kernel_height = d.kernel_width = 3;
      d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 1;
      d.layout = layout;
      const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
      const std::vector<float> x = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 21);
      const std::vector<float> w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 22);
      std::vector<float> first(static_cast<std::size_t>(sizes.output)), other(first.size());
      for (int threads : {1, 2, 3, 4}) {
        convkit::Options options;
        options.algorithm = Algorithm::Winograd;
        options.threads = threads;
        convkit::conv2d(d, x.data(), w.data(), nullptr, threads == 1 ? first.data() : other.data(), options);
        if (threads > 1) CHECK_MESSAGE(other == first, "threads=", threads);
      }
    }
  for (const convkit_bench::Layer& layer : convkit_bench::load_layer_suite(CONVKIT_LAYER_SUITE)) {
    if (!is_winograd_layer(layer.desc)) continue;
    for (Layout layout : {Layout::NCHW, Layout::NHWC})
      for (int threads : {1, 2}) {
        convkit::Options options;
        options.algorithm = Algorithm::Winograd;
        options.threads = threads;
        const convkit::Conv2dDesc d = layer.with_layout(layout).desc;
        const std::vector<float> w(static_cast<std::size_t>(convkit::tensor_sizes(d).weights), 0.5f);
        const convkit::Plan plan(d, w.data(), nullptr, options);
        INFO(layer.name, " threads=", threads);
        CHECK(plan.workspace_size() <= (std::size_t{2} << 20) * static_cast<std::size_t>(threads));
      }
  }
}
