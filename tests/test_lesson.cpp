// The lesson's own numbers (Dive into Deep Learning, "Multiple Input and Multiple Output Channels"), exactly.
#include <convkit/convkit.h>
#include <doctest/doctest.h>

#include <vector>

#include "conv_tester.hpp"

namespace {

// X: two 3x3 channels, [[0..8]] and [[1..9]]; K: [[[0,1],[2,3]],[[1,2],[3,4]]].
const std::vector<float> kX = {0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9};
const std::vector<float> kK = {0, 1, 2, 3, 1, 2, 3, 4};

convkit_conv2d_desc lesson_desc(int64_t out_channels) {
  convkit_conv2d_desc d;
  convkit_conv2d_desc_init(&d);
  d.batch = 1;
  d.in_channels = 2;
  d.in_height = d.in_width = 3;
  d.out_channels = out_channels;
  d.kernel_height = d.kernel_width = 2;
  return d;
}

const convkit_algorithm kExactAlgorithms[] = {CONVKIT_ALGORITHM_AUTO, CONVKIT_ALGORITHM_REFERENCE,
                                              CONVKIT_ALGORITHM_IM2COL_GEMM, CONVKIT_ALGORITHM_DIRECT};

}  // namespace

TEST_CASE("corr2d_multi_in through the C API gives [[56,72],[104,120]] exactly") {
  const convkit_conv2d_desc d = lesson_desc(1);
  for (convkit_algorithm algorithm : kExactAlgorithms) {
    CAPTURE(convkit_algorithm_name(algorithm));
    convkit_options options;
    convkit_options_init(&options);
    options.algorithm = algorithm;
    std::vector<float> y(4, -1.0f);
    REQUIRE(convkit_conv2d(&d, kX.data(), kK.data(), nullptr, y.data(), &options) == CONVKIT_STATUS_OK);
    CHECK(y == std::vector<float>{56, 72, 104, 120});
  }
}

TEST_CASE("corr2d_multi_in_out with K, K+1, K+2 gives the three channels exactly, in both layouts") {
  std::vector<float> k3;
  for (int o = 0; o < 3; ++o)
    for (float v : kK) k3.push_back(v + static_cast<float>(o));
  const std::vector<float> expected_nchw = {56, 72, 104, 120, 76, 100, 148, 172, 96, 128, 192, 224};
  for (convkit_algorithm algorithm : kExactAlgorithms) {
    CAPTURE(convkit_algorithm_name(algorithm));
    convkit_options options;
    convkit_options_init(&options);
    options.algorithm = algorithm;
    convkit_conv2d_desc d = lesson_desc(3);
    std::vector<float> y(12, -1.0f);
    REQUIRE(convkit_conv2d(&d, kX.data(), k3.data(), nullptr, y.data(), &options) == CONVKIT_STATUS_OK);
    CHECK(y == expected_nchw);

    // The same tensors in NHWC / OHWI.
    d.layout = CONVKIT_LAYOUT_NHWC;
    d.weights_layout = CONVKIT_WEIGHTS_OHWI;
    std::vector<float> x_nhwc(18), k_ohwi(24), y_nhwc(12, -1.0f);
    for (int c = 0; c < 2; ++c)
      for (int p = 0; p < 9; ++p) x_nhwc[p * 2 + c] = kX[c * 9 + p];
    for (int o = 0; o < 3; ++o)
      for (int c = 0; c < 2; ++c)
        for (int t = 0; t < 4; ++t) k_ohwi[(o * 4 + t) * 2 + c] = k3[(o * 2 + c) * 4 + t];
    REQUIRE(convkit_conv2d(&d, x_nhwc.data(), k_ohwi.data(), nullptr, y_nhwc.data(), &options) == CONVKIT_STATUS_OK);
    for (int o = 0; o < 3; ++o)
      for (int p = 0; p < 4; ++p) CHECK(y_nhwc[p * 3 + o] == expected_nchw[o * 4 + p]);
  }
}

TEST_CASE("a 1x1 convolution is a matrix product: gemm_1x1 equals the reference and a plain product within 1e-6") {
  // The lesson's shape: X is 3 x 3 x 3, K is 2 x 3 x 1 x 1.
  const std::vector<float> x = convkit_test::random_floats(27, convkit_test::kSeed);
  const std::vector<float> k = convkit_test::random_floats(6, convkit_test::kSeed + 1);
  convkit_conv2d_desc d;
  convkit_conv2d_desc_init(&d);
  d.batch = 1;
  d.in_channels = 3;
  d.in_height = d.in_width = 3;
  d.out_channels = 2;
  d.kernel_height = d.kernel_width = 1;
  convkit_options options;
  convkit_options_init(&options);
  std::vector<float> y_1x1(18), y_reference(18);
  options.algorithm = CONVKIT_ALGORITHM_GEMM_1X1;
  REQUIRE(convkit_conv2d(&d, x.data(), k.data(), nullptr, y_1x1.data(), &options) == CONVKIT_STATUS_OK);
  options.algorithm = CONVKIT_ALGORITHM_REFERENCE;
  REQUIRE(convkit_conv2d(&d, x.data(), k.data(), nullptr, y_reference.data(), &options) == CONVKIT_STATUS_OK);
  for (int o = 0; o < 2; ++o) {
    for (int p = 0; p < 9; ++p) {
      // Y = K (2 x 3) * X (3 x 9): the fully connected layer applied at every pixel.
      double product = 0;
      for (int c = 0; c < 3; ++c) product += static_cast<double>(k[o * 3 + c]) * x[c * 9 + p];
      CHECK(std::fabs(y_1x1[o * 9 + p] - product) <= 1e-6);
      CHECK(std::fabs(y_1x1[o * 9 + p] - y_reference[o * 9 + p]) <= 1e-6);
    }
  }
}

TEST_CASE("two stacked convolutions equal one convolution of size k1 + k2 - 1") {
  // The lesson's exercise: conv(conv(X, A), B) = conv(X, A * B) where (A * B) is the full convolution of the kernels
  // summed over the middle channels.
  const int64_t ci = 2, cm = 3, co = 2, h = 9, w = 8, k1 = 3, k2 = 2, k = k1 + k2 - 1;
  const std::vector<float> x = convkit_test::random_floats(static_cast<size_t>(ci * h * w), 1);
  const std::vector<float> a = convkit_test::random_floats(static_cast<size_t>(cm * ci * k1 * k1), 2);
  const std::vector<float> b = convkit_test::random_floats(static_cast<size_t>(co * cm * k2 * k2), 3);
  std::vector<float> composed(static_cast<size_t>(co * ci * k * k), 0.0f);
  for (int64_t o = 0; o < co; ++o)
    for (int64_t m = 0; m < cm; ++m)
      for (int64_t c = 0; c < ci; ++c)
        for (int64_t i2 = 0; i2 < k2; ++i2)
          for (int64_t j2 = 0; j2 < k2; ++j2)
            for (int64_t i1 = 0; i1 < k1; ++i1)
              for (int64_t j1 = 0; j1 < k1; ++j1)
                composed[static_cast<size_t>(((o * ci + c) * k + i1 + i2) * k + j1 + j2)] +=
                    b[static_cast<size_t>(((o * cm + m) * k2 + i2) * k2 + j2)] *
                    a[static_cast<size_t>(((m * ci + c) * k1 + i1) * k1 + j1)];
  convkit::Conv2dDesc first;
  first.batch = 1;
  first.in_channels = ci;
  first.in_height = h;
  first.in_width = w;
  first.out_channels = cm;
  first.kernel_height = first.kernel_width = k1;
  convkit::Conv2dDesc second = first;
  second.in_channels = cm;
  second.in_height = h - k1 + 1;
  second.in_width = w - k1 + 1;
  second.out_channels = co;
  second.kernel_height = second.kernel_width = k2;
  convkit::Conv2dDesc single = first;
  single.out_channels = co;
  single.kernel_height = single.kernel_width = k;
  std::vector<float> middle(static_cast<size_t>(cm * second.in_height * second.in_width));
  std::vector<float> stacked(static_cast<size_t>(co * (h - k + 1) * (w - k + 1))), once(stacked.size());
  convkit::conv2d(first, x.data(), a.data(), nullptr, middle.data());
  convkit::conv2d(second, middle.data(), b.data(), nullptr, stacked.data());
  convkit::conv2d(single, x.data(), composed.data(), nullptr, once.data());
  for (size_t i = 0; i < once.size(); ++i) CHECK(std::fabs(stacked[i] - once[i]) <= 1e-4);
}
