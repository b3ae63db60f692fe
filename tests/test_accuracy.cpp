// The rounding error of long reductions: on convolutions whose reduction K = Ci * Kh * Kw runs to thousands of
// products, every strict path must stay as close to the exact result as OpenBLAS's cblas_sgemm on the same product.
// OpenBLAS sums each block of its reduction (GEMM_Q products) in registers from zero and adds the block to C; a path
// that carries one running sum through the whole reduction adds each product to a sum that has grown K/Q times
// larger, and loses that many more of its low bits.
//
// Data in [0, 1): every product is positive, so the exact result is far from zero and the relative error is
// well-conditioned. The figures are printed (MESSAGE) so that the test's output gives them:
//   build/release/tests/test_accuracy --success
#include <cblas.h>
#include <doctest/doctest.h>

#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "oracle.hpp"

namespace {

using convkit::Algorithm;
using convkit::Layout;

struct Shape {
  const char* name;
  std::int64_t channels, kernel, size, out_channels;  // square kernels and images, padded to keep the size
};

// Small images: a few outputs per channel are enough for the largest error, and keep the test fast under ASan.
// Images of 8 x 8 give the direct path's vector kernels, narrower ones its scalar path (outputs under half a vector
// wide). The last shape's 8 output channels are too few for the GEMM kernels' NHWC tile: OpenBLAS multiplies there.
constexpr Shape kShapes[] = {
    {"3x3 over 256 channels, 8x8", 256, 3, 8, 32},    {"3x3 over 512 channels, 6x6", 512, 3, 6, 32},
    {"1x1 over 2048 channels, 8x8", 2048, 1, 8, 32},  {"1x1 over 32768 channels, 8x8", 32768, 1, 8, 32},
    {"1x1 over 32768 channels, 4x4", 32768, 1, 4, 8},
};

// How much larger than OpenBLAS's error a path's may be.
constexpr double kAllowedRatio = 1.5;

convkit::Conv2dDesc desc_of(const Shape& s, Layout layout) {
  convkit::Conv2dDesc d;
  d.batch = 1;
  d.in_channels = s.channels;
  d.out_channels = s.out_channels;
  d.in_height = d.in_width = s.size;
  d.kernel_height = d.kernel_width = s.kernel;
  d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = s.kernel / 2;
  d.layout = layout;
  d.weights_layout = layout == Layout::NHWC ? convkit::WeightsLayout::OHWI : convkit::WeightsLayout::OIHW;
  return d;
}

struct Case {
  convkit::Conv2dDesc desc;
  std::vector<float> input, weights, bias;
  std::vector<double> exact;  // by output offset, bias included
};

Case make_case(const Shape& s, Layout layout) {
  Case c;
  c.desc = desc_of(s, layout);
  const convkit::Conv2dDesc& d = c.desc;
  const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
  c.input = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), convkit_test::kSeed, 0.0f, 1.0f);
  c.weights = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), convkit_test::kSeed + 1, 0.0f, 1.0f);
  c.bias = convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), convkit_test::kSeed + 2, 0.0f, 1.0f);
  c.exact.resize(static_cast<std::size_t>(sizes.output));
  const convkit_test::OutputShape out = convkit_test::oracle_output_shape(d);
  for (std::int64_t o = 0; o < d.out_channels; ++o)
    for (std::int64_t y = 0; y < out.height; ++y)
      for (std::int64_t x = 0; x < out.width; ++x)
        c.exact[static_cast<std::size_t>(
            convkit_test::tensor_offset(layout, d.out_channels, out.height, out.width, 0, o, y, x))] =
            convkit_test::oracle_at(d, c.input.data(), c.weights.data(), c.bias.data(), 0, o, y, x).value;
  return c;
}

double largest_relative_error(const std::vector<float>& got, const std::vector<double>& exact) {
  double largest = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double error = std::fabs(static_cast<double>(got[i]) - exact[i]) / std::fabs(exact[i]);
    if (!(error <= largest)) largest = error;  // a NaN stays
  }
  return largest;
}

// OpenBLAS on the product the convolution is, unfolded here in the weights' reduction order: C seeded with the bias
// and beta = 1, as convkit's BLAS path calls it. NCHW: out[Co x P] = W[Co x K] * columns[K x P]; NHWC:
// out[P x Co] = rows[P x K] * W[Co x K]^T.
std::vector<float> openblas_output(const Case& c) {
  const convkit::Conv2dDesc& d = c.desc;
  const convkit_test::OutputShape out = convkit_test::oracle_output_shape(d);
  const std::int64_t pixels = out.height * out.width, k = d.in_channels * d.kernel_height * d.kernel_width;
  const std::int64_t co = d.out_channels;
  const bool nchw = d.layout == Layout::NCHW;
  std::vector<float> unfolded(static_cast<std::size_t>(pixels * k), 0.0f);
  for (std::int64_t y = 0; y < out.height; ++y)
    for (std::int64_t x = 0; x < out.width; ++x)
      for (std::int64_t ch = 0; ch < d.in_channels; ++ch)
        for (std::int64_t i = 0; i < d.kernel_height; ++i)
          for (std::int64_t j = 0; j < d.kernel_width; ++j) {
            const std::int64_t h = y + i - d.pad_top, w = x + j - d.pad_left;
            if (h < 0 || h >= d.in_height || w < 0 || w >= d.in_width) continue;
            // The reduction index of (ch, i, j) is where weight (0, ch, i, j) lies.
            const std::int64_t p = convkit_test::weights_offset(d, 0, ch, i, j), pixel = y * out.width + x;
            unfolded[static_cast<std::size_t>(nchw ? p * pixels + pixel : pixel * k + p)] =
                c.input[static_cast<std::size_t>(
                    convkit_test::tensor_offset(d.layout, d.in_channels, d.in_height, d.in_width, 0, ch, h, w))];
          }
  std::vector<float> result(static_cast<std::size_t>(pixels * co));
  for (std::int64_t o = 0; o < co; ++o)
    for (std::int64_t pixel = 0; pixel < pixels; ++pixel)
      result[static_cast<std::size_t>(nchw ? o * pixels + pixel : pixel * co + o)] =
          c.bias[static_cast<std::size_t>(o)];
  const int m = static_cast<int>(nchw ? co : pixels), n = static_cast<int>(nchw ? pixels : co),
            kk = static_cast<int>(k);
  if (nchw) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, kk, 1.0f, c.weights.data(), kk, unfolded.data(), n,
                1.0f, result.data(), n);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, kk, 1.0f, unfolded.data(), kk, c.weights.data(), kk,
                1.0f, result.data(), n);
  }
  return result;
}

}  // namespace

TEST_CASE("long reductions: every strict path's error within 1.5x OpenBLAS's sgemm") {
  for (const Shape& s : kShapes) {
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      const Case c = make_case(s, layout);
      const std::int64_t k = s.channels * s.kernel * s.kernel;
      const std::string layout_name = layout == Layout::NCHW ? "NCHW" : "NHWC";
      const double blas_error = largest_relative_error(openblas_output(c), c.exact);
      REQUIRE(blas_error > 0);
      std::vector<Algorithm> paths{Algorithm::Im2colGemm, Algorithm::Direct, Algorithm::Auto};
      if (s.kernel == 1) paths.push_back(Algorithm::Gemm1x1);
      const std::string isa = convkit::simd_isa();
      if (isa == "avx2+fma" || isa == "avx512f") paths.push_back(Algorithm::ImplicitGemm);
      for (Algorithm algorithm : paths) {
        std::vector<float> output(c.exact.size());
        convkit::Options options;
        options.algorithm = algorithm;
        const Algorithm ran =
            convkit::conv2d(c.desc, c.input.data(), c.weights.data(), c.bias.data(), output.data(), options);
        const double error = largest_relative_error(output, c.exact);
        const std::string name = s.name, path = convkit::algorithm_name(algorithm),
                          ran_name = convkit::algorithm_name(ran);
        MESSAGE(name, " (K = ", k, ") ", layout_name, " ", path, " (ran ", ran_name, "): max relative error ", error,
                ", OpenBLAS ", blas_error, ", ratio ", error / blas_error);
        CAPTURE(name);
        CAPTURE(layout_name);
        CAPTURE(path);
        CHECK(error <= kAllowedRatio * blas_error);
      }
    }
  }
}
