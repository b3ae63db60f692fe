// Every algorithm against the oracle, over sweeps of every feature of the semantics.
#include <doctest/doctest.h>

#include <initializer_list>
#include <random>

#include "conv_tester.hpp"
#include "layer_suite.hpp"
#include "std_thread_pool.hpp"

using convkit::Activation;
using convkit::Algorithm;
using convkit::Layout;
using convkit::WeightsLayout;
using convkit_test::ConvTester;

namespace {

const Layout kLayouts[] = {Layout::NCHW, Layout::NHWC};
const WeightsLayout kWeightsLayouts[] = {WeightsLayout::OIHW, WeightsLayout::OHWI};

// NHWC depthwise with a channel multiplier (output channel g * m + k reads input channel g), at 1 and 2 threads.
void test_nhwc_multipliers(Algorithm algorithm, std::initializer_list<std::int64_t> channel_counts) {
  for (std::int64_t channels : channel_counts)
    for (std::int64_t multiplier : {2, 3})
      for (int threads : {1, 2})
        ConvTester()
            .batch(2)
            .channels(channels, channels * multiplier)
            .groups(channels)
            .input(5, 10)
            .kernel(3, 3)
            .stride(1, 2)
            .padding(1, 1, 1, 1)
            .layout(Layout::NHWC)
            .bias(true)
            .threads(threads)
            .activation(Activation::Relu)
            .test(algorithm);
}

}  // namespace

TEST_CASE("kernel sizes 1 to 7, square and rectangular, both layouts and weight layouts") {
  for (Layout layout : kLayouts)
    for (WeightsLayout weights : kWeightsLayouts)
      for (std::int64_t kh = 1; kh <= 7; ++kh)
        for (std::int64_t kw : {std::int64_t{1}, kh, std::int64_t{8} - kh})
          ConvTester()
              .batch(2)
              .channels(3, 5)
              .input(9, 10)
              .kernel(kh, kw)
              .layout(layout)
              .weights_layout(weights)
              .test_all();
}

TEST_CASE("strides, dilations and asymmetric padding") {
  for (Layout layout : kLayouts)
    for (std::int64_t sh : {1, 2, 3})
      for (std::int64_t sw : {1, 2, 4})
        for (std::int64_t d : {1, 2})
          ConvTester()
              .channels(4, 3)
              .input(11, 13)
              .kernel(3, 2)
              .stride(sh, sw)
              .dilation(d, 3 - d)
              .padding(2, 0, 1, 3)
              .layout(layout)
              .test_all();
  // 1x1 kernels: strided and padded shapes are gathered before the product.
  for (Layout layout : kLayouts)
    for (std::int64_t s : {1, 2, 3})
      for (std::int64_t pad : {0, 1})
        ConvTester()
            .batch(2)
            .channels(6, 4)
            .input(7, 5)
            .kernel(1, 1)
            .stride(s, s)
            .padding(pad, 0, 0, pad)
            .layout(layout)
            .test_all();
  // Padding larger than the kernel: whole output rows see only zeros (and the bias).
  ConvTester().channels(2, 2).input(3, 3).kernel(2, 2).padding(3, 3, 3, 3).bias(true).test_all();
}

TEST_CASE("groups, depthwise and depthwise with a channel multiplier") {
  for (Layout layout : kLayouts) {
    ConvTester()
        .batch(2)
        .channels(6, 9)
        .groups(3)
        .input(8, 8)
        .kernel(3, 3)
        .padding(1, 1, 1, 1)
        .layout(layout)
        .test_all();
    ConvTester().channels(16, 16).groups(16).input(9, 7).kernel(3, 3).padding(1, 1, 1, 1).layout(layout).test_all();
    ConvTester()
        .channels(8, 24)
        .groups(8)
        .input(10, 10)
        .kernel(5, 5)
        .stride(2, 2)
        .padding(2, 2, 2, 2)
        .layout(layout)
        .weights_layout(WeightsLayout::OHWI)
        .test_all();
    ConvTester().channels(12, 8).groups(4).input(6, 6).kernel(1, 1).layout(layout).test_all();
  }
}

TEST_CASE("bias and the activations") {
  for (Layout layout : kLayouts)
    for (bool bias : {false, true}) {
      ConvTester()
          .channels(5, 7)
          .input(6, 6)
          .kernel(3, 3)
          .bias(bias)
          .activation(Activation::Relu)
          .layout(layout)
          .test_all();
      ConvTester()
          .channels(5, 7)
          .input(6, 6)
          .kernel(3, 3)
          .bias(bias)
          .activation(Activation::Clamp, -0.3f, 0.4f)
          .layout(layout)
          .test_all();
      ConvTester()
          .channels(5, 7)
          .input(6, 6)
          .kernel(1, 1)
          .bias(bias)
          .activation(Activation::Clamp, 0.1f, 0.1f)
          .layout(layout)
          .test_all();
    }
}

TEST_CASE("thread counts, including more threads than units of work") {
  for (Layout layout : kLayouts)
    for (int threads : {1, 2, 3, 7}) {
      ConvTester()
          .batch(3)
          .channels(4, 6)
          .input(9, 9)
          .kernel(3, 3)
          .padding(1, 1, 1, 1)
          .threads(threads)
          .layout(layout)
          .test_all();
      ConvTester()
          .batch(1)
          .channels(8, 8)
          .groups(8)
          .input(5, 5)
          .kernel(3, 3)
          .threads(threads)
          .layout(layout)
          .test_all();
      ConvTester().batch(2).channels(16, 8).input(4, 4).kernel(1, 1).threads(threads).layout(layout).test_all();
    }
}

TEST_CASE("results do not depend on the thread count") {
  // Not a tolerance check: the same algorithm on the same data gives the same bits for every thread count.
  for (Algorithm algorithm : {Algorithm::Reference, Algorithm::Im2colGemm})
    for (Layout layout : kLayouts) {
      convkit::Conv2dDesc d;
      d.batch = 3;
      d.in_channels = 8;
      d.out_channels = 12;
      d.groups = 2;
      d.in_height = d.in_width = 10;
      d.kernel_height = d.kernel_width = 3;
      d.layout = layout;
      const auto sizes = convkit::tensor_sizes(d);
      const auto x = convkit_test::random_floats(static_cast<size_t>(sizes.input), 5);
      const auto w = convkit_test::random_floats(static_cast<size_t>(sizes.weights), 6);
      std::vector<float> first(static_cast<size_t>(sizes.output)), other(first.size());
      convkit::Options options;
      options.algorithm = algorithm;
      options.threads = 1;
      convkit::conv2d(d, x.data(), w.data(), nullptr, first.data(), options);
      for (int threads : {2, 3, 6}) {
        options.threads = threads;
        convkit::conv2d(d, x.data(), w.data(), nullptr, other.data(), options);
        CHECK(first == other);
      }
    }
}

TEST_CASE("around the vector widths: output widths and channel counts 4, 8, 16 (32, 64) and one below and above") {
  // The direct kernels vectorise along the output width (4, 8 or 16 floats, four vectors a strip): every remainder
  // of a vector and of a strip must come out right, in both layouts and for strided rows.
  for (Layout layout : kLayouts)
    for (std::int64_t width : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 66})
      for (std::int64_t stride : {1, 2}) {
        const std::int64_t in_width = (width - 1) * stride + 3 - 2;  // 3 wide kernel, padding 1 each side
        ConvTester()
            .channels(3, 3)
            .groups(3)
            .input(4, in_width)
            .kernel(3, 3)
            .stride(stride, stride)
            .padding(1, 1, 1, 1)
            .layout(layout)
            .bias(true)
            .test(Algorithm::Direct);
        ConvTester()
            .channels(2, 5)
            .input(3, in_width)
            .kernel(3, 3)
            .stride(1, stride)
            .padding(1, 1, 1, 1)
            .layout(layout)
            .test(Algorithm::Direct);
      }
  for (Layout layout : kLayouts)
    for (std::int64_t channels : {3, 4, 5, 7, 8, 9, 15, 16, 17})
      for (std::int64_t multiplier : {1, 2}) {
        ConvTester()
            .batch(2)
            .channels(channels, channels * multiplier)
            .groups(channels)
            .input(6, 7)
            .kernel(3, 3)
            .padding(1, 1, 1, 1)
            .layout(layout)
            .bias(true)
            .activation(Activation::Relu)
            .test_all();
        ConvTester().channels(channels, 4).input(5, 9).kernel(2, 3).layout(layout).test_all();
      }
}

TEST_CASE(
    "GEMM kernels: output channels around the 12-row tile, pixels around the 32-column strip, reductions around the "
    "512 block") {
  // convkit's GEMM kernels (lib/kernels/gemm_ukernels.hpp) multiply in register tiles of 12 x 32 (AVX-512) or 6 x 16
  // (AVX2) over blocks of 512 reduction steps: every ragged tile, and a reduction carried across blocks, must come
  // out right, with the bias written first and the activation after.
  for (Layout layout : kLayouts) {
    // Tiles of 1 to 3 rows run wider, 8 / rows vectors (NCHW): 128, 64 and 48 pixels with AVX-512, 64, 32 and 24
    // with AVX2, whole ones first and the rest in ordinary strips.
    for (std::int64_t out_channels : {1, 2, 3, 5, 6, 7, 11, 12, 13, 14, 15, 16, 17, 25, 31, 32, 33, 48})
      for (std::int64_t pixels : {1, 6, 9, 12, 13, 16, 17, 25, 31, 32, 33, 47, 65, 127, 129}) {
        ConvTester()
            .channels(9, out_channels)
            .input(1, pixels)
            .kernel(1, 1)
            .layout(layout)
            .bias(true)
            .test(Algorithm::Gemm1x1);
        ConvTester()
            .batch(2)
            .channels(3, out_channels)
            .input(1, pixels + 2)
            .kernel(1, 3)
            .layout(layout)
            .activation(Activation::Relu)
            .test(Algorithm::Im2colGemm);
      }
    for (std::int64_t in_channels : {511, 512, 513, 1024, 1025, 1537})
      for (std::int64_t out_channels : {7, 12, 33})
        for (Algorithm algorithm : {Algorithm::Gemm1x1, Algorithm::Im2colGemm})
          for (bool bias : {false, true})  // without bias the first block starts from zero, with it from the bias
            ConvTester()
                .batch(2)
                .channels(in_channels, out_channels)
                .input(3, 11)
                .kernel(1, 1)
                .layout(layout)
                .bias(bias)
                .activation(Activation::Relu)
                .test(algorithm);
    for (std::int64_t in_channels : {56, 57, 114})  // 3x3 reductions of 504, 513 and 1026
      for (bool bias : {false, true})
        ConvTester()
            .channels(in_channels, 13)
            .input(6, 7)
            .kernel(3, 3)
            .padding(1, 1, 1, 1)
            .layout(layout)
            .bias(bias)
            .test(Algorithm::Im2colGemm);
  }
}

TEST_CASE(
    "im2col at column stride 2: bands of output rows, tiles starting and ending mid-row, rows too wide to stage") {
  // NCHW im2col stages the input rows of a band of output rows split into even and odd columns (lib/im2col.cpp): a
  // band is as many output rows as about 2048 staged floats hold, at least one, so these take several bands; a
  // kernel too tall for one output row's input rows to fit in 8192 falls back to the row-by-row unfolding. The
  // tiles, whose widths are not multiples of these output widths (and 7 pixels in the ctest variants), start and end
  // mid-row.
  struct Shape {
    std::int64_t out_height, out_width, kernel_height, kernel_width, stride_height, dilation_height, dilation_width;
  };
  const Shape shapes[] = {
      {21, 200, 3, 3, 2, 1, 1},  // 9 output rows a band
      {11, 150, 7, 5, 2, 3, 2},  // 19 input rows an output row, 4 output rows a band
      {12, 61, 3, 4, 1, 1, 3},   // row stride 1, odd dilation: taps alternate phases
      {9, 40, 4, 3, 3, 2, 1},    // row stride 3
      {5, 130, 9, 3, 2, 4, 1},   // 33 input rows of 288 floats exceed the buffer: the fallback
  };
  for (const Shape& s : shapes)
    for (std::int64_t pad : {0, 1, 3}) {
      const std::int64_t in_height =
          (s.out_height - 1) * s.stride_height + (s.kernel_height - 1) * s.dilation_height + 1 - 2 * pad;
      const std::int64_t in_width = (s.out_width - 1) * 2 + (s.kernel_width - 1) * s.dilation_width + 1 - pad;
      ConvTester()
          .channels(2, 3)
          .input(in_height, in_width)
          .kernel(s.kernel_height, s.kernel_width)
          .stride(s.stride_height, 2)
          .dilation(s.dilation_height, s.dilation_width)
          .padding(pad, pad, pad, 0)
          .bias(true)
          .test(Algorithm::Im2colGemm);
    }
}

TEST_CASE(
    "NHWC depthwise: channels around the vector, widths around the 10-, 8- and 4-pixel tiles, multipliers, every "
    "kernel form") {
  // The channel-vectorised kernel: full and partial channel blocks, rows in even tiles of 1-10 pixels (10 by two
  // vectors on AVX-512, the others by one), each inside or over the border columns (tested per column), the
  // unrolled 3- and 5-wide kernels at strides 1 and 2, 1-wide at strides 1 and 2, 7- and 9-wide at stride 1, 3-wide
  // dilated by 2 and 4, and the general loop otherwise.
  for (std::int64_t channels : {1, 3, 4, 5, 8, 15, 16, 17, 31, 32, 33, 47, 48, 49, 64, 65})
    for (WeightsLayout weights : kWeightsLayouts)
      ConvTester()
          .batch(2)
          .channels(channels, channels)
          .groups(channels)
          .input(5, 13)
          .kernel(3, 3)
          .padding(1, 1, 1, 1)
          .layout(Layout::NHWC)
          .weights_layout(weights)
          .bias(true)
          .test(Algorithm::Direct);
  for (std::int64_t width : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 21, 22, 25})
    for (std::int64_t k : {1, 3, 5, 7})
      for (std::int64_t stride : {1, 2, 3}) {
        const std::int64_t in_width = (width - 1) * stride + k - 2;
        if (in_width < 1) continue;
        ConvTester()
            .channels(49, 49)
            .groups(49)
            .input(std::max<std::int64_t>(4, k - 2), in_width)
            .kernel(k, k)
            .stride(stride, stride)
            .padding(1, 1, 1, 1)
            .layout(Layout::NHWC)
            .activation(Activation::Clamp, -0.2f, 0.3f)
            .test(Algorithm::Direct);
      }
  // The other unrolled forms: Kx1 kernels at strides 1-2, 1x9, and 3x3 dilated by 2 and 4, over widths around the
  // tiles with the border inside them; each in NCHW too, which runs them through the channels-last copy.
  const std::int64_t forms[][4] = {{3, 1, 1, 1}, {9, 1, 1, 1}, {5, 1, 2, 1}, {1, 9, 1, 1}, {3, 3, 1, 2}, {3, 3, 1, 4}};
  for (const auto& form : forms)
    for (std::int64_t width : {1, 4, 9, 10, 11, 19, 21, 25})
      for (Layout layout : {Layout::NHWC, Layout::NCHW}) {
        const std::int64_t kh = form[0], kw = form[1], stride = form[2], dilation = form[3];
        const std::int64_t pad_w = (kw - 1) * dilation / 2, pad_h = (kh - 1) * dilation / 2;
        const std::int64_t in_width = (width - 1) * stride + (kw - 1) * dilation + 1 - 2 * pad_w;
        if (in_width < 1) continue;
        ConvTester()
            .channels(37, 37)
            .groups(37)
            .input(7, in_width)
            .kernel(kh, kw)
            .stride(stride, stride)
            .dilation(dilation, dilation)
            .padding(pad_h, pad_w, pad_h, pad_w)
            .layout(layout)
            .bias(true)
            .activation(Activation::Relu)
            .test(Algorithm::Direct);
      }
  // A channel multiplier: each slice of it is computed into a scratch row and spread with stride `multiplier`.
  test_nhwc_multipliers(Algorithm::Direct, {1, 15, 16, 17});
  ConvTester()
      .channels(16, 16)
      .groups(16)
      .input(9, 11)
      .kernel(2, 4)
      .dilation(2, 3)
      .padding(0, 3, 2, 1)
      .layout(Layout::NHWC)
      .test(Algorithm::Direct);
  ConvTester()
      .channels(20, 20)
      .groups(20)
      .input(12, 12)
      .kernel(7, 7)
      .padding(3, 3, 3, 3)
      .layout(Layout::NHWC)
      .threads(3)
      .test(Algorithm::Direct);
  // Padding wider than the kernel: whole rows and columns see only the bias.
  ConvTester()
      .channels(5, 5)
      .groups(5)
      .input(3, 3)
      .kernel(3, 3)
      .padding(4, 4, 4, 4)
      .bias(true)
      .layout(Layout::NHWC)
      .test(Algorithm::Direct);
}

TEST_CASE(
    "NHWC groups of one channel on the GEMM path: channels around the 32-channel tile and the block, pixels around the "
    "4-pixel tile, multipliers, 1x1 in place") {
  // convkit's GEMM kernels multiply all the groups of a block at once, their channels in the vector lanes
  // (GemmUkernels::channelwise, lib/gemm_tiling.cpp): tiles of 4 pixels by 32 channels (AVX-512; 4 by 16 with AVX2),
  // blocks of 160 channels beyond 170 (3x3), partial channel and pixel tiles, and slices of a channel multiplier
  // stored with a stride. Under CONVKIT_GEMM_ENGINE=blas the same shapes go one group at a time through OpenBLAS.
  for (std::int64_t channels : {2, 15, 16, 17, 31, 32, 33, 63, 65, 171, 200})
    for (std::int64_t width : {1, 3, 4, 5, 9})
      ConvTester()
          .batch(2)
          .channels(channels, channels)
          .groups(channels)
          .input(2, width)
          .kernel(3, 3)
          .padding(1, 1, 1, 1)
          .layout(Layout::NHWC)
          .weights_layout(width % 2 == 0 ? WeightsLayout::OIHW : WeightsLayout::OHWI)
          .bias(width != 4)
          .activation(Activation::Clamp, -0.2f, 0.3f)
          .test(Algorithm::Im2colGemm);
  test_nhwc_multipliers(Algorithm::Im2colGemm, {1, 17, 33});
  ConvTester()
      .channels(40, 40)
      .groups(40)
      .input(9, 11)
      .kernel(2, 4)
      .dilation(2, 3)
      .padding(0, 3, 2, 1)
      .layout(Layout::NHWC)
      .test(Algorithm::Im2colGemm);
  // 1x1: gemm_1x1 reads the pixels in place, the batch as one matrix, unless strided or padded.
  for (std::int64_t channels : {5, 33})
    for (std::int64_t multiplier : {1, 2})
      for (std::int64_t stride : {1, 2}) {
        ConvTester()
            .batch(3)
            .channels(channels, channels * multiplier)
            .groups(channels)
            .input(3, 5)
            .kernel(1, 1)
            .stride(stride, stride)
            .layout(Layout::NHWC)
            .bias(true)
            .test(Algorithm::Gemm1x1);
        ConvTester()
            .batch(2)
            .channels(channels, channels * multiplier)
            .groups(channels)
            .input(3, 5)
            .kernel(1, 1)
            .stride(stride, stride)
            .padding(1, 0, 0, 1)
            .layout(Layout::NHWC)
            .test(Algorithm::Im2colGemm);
      }
}

TEST_CASE(
    "NCHW depthwise: widths around the vector, heights around the row blocks and bands, fixed and general kernels") {
  // Groups of one input channel run a kernel with the weights in registers: blocks of 8 rows (4 or 2 with fewer
  // registers) by one vector, the last vector of a row overlapping the one before it, rows staged in bands of 8
  // output rows. Heights cover a block, a band and their remainders. The forms cover, at row strides 1 and 2, the
  // fixed 3x3 and 5x5 kernels with any column stride and dilation, AVX-512's 3x3 kernels at column stride 1
  // (valignd) and 2 (unsplit rows, permutes), and the general loops (row dilation, row stride 3).
  struct Form {
    std::int64_t k, stride_h, stride_w, dilation_h, dilation_w;
  };
  for (const Form f :
       {Form{3, 1, 1, 1, 1}, Form{3, 2, 2, 1, 1}, Form{5, 1, 1, 1, 1}, Form{5, 2, 2, 1, 1}, Form{3, 1, 2, 1, 1},
        Form{3, 2, 1, 1, 1}, Form{3, 2, 1, 1, 2}, Form{3, 2, 2, 2, 1}, Form{3, 3, 1, 1, 1}})
    for (std::int64_t out_height : {1, 3, 4, 7, 8, 9, 17})
      for (std::int64_t out_width : {1, 5, 15, 16, 17, 33, 56}) {
        const std::int64_t pad = f.k / 2;
        const std::int64_t in_height = (out_height - 1) * f.stride_h + (f.k - 1) * f.dilation_h + 1 - 2 * pad;
        const std::int64_t in_width = (out_width - 1) * f.stride_w + (f.k - 1) * f.dilation_w + 1 - 2 * pad;
        if (in_height < 1 || in_width < 1) continue;
        CAPTURE(f.k);
        CAPTURE(f.stride_h);
        CAPTURE(f.stride_w);
        CAPTURE(f.dilation_h);
        CAPTURE(f.dilation_w);
        CAPTURE(out_height);
        CAPTURE(out_width);
        for (bool plan : {false, true})  // the plan runs in a caller workspace of NaNs
          ConvTester()
              .channels(3, 3)
              .groups(3)
              .input(in_height, in_width)
              .kernel(f.k, f.k)
              .stride(f.stride_h, f.stride_w)
              .dilation(f.dilation_h, f.dilation_w)
              .padding(pad, pad, pad, pad)
              .bias(true)
              .activation(Activation::Clamp, -0.3f, 0.4f)
              .through_plan(plan)
              .test(Algorithm::Direct);
      }
  // A channel multiplier, threads splitting the output channels of one group, and a batch.
  for (int threads : {1, 2, 3})
    ConvTester()
        .batch(2)
        .channels(2, 6)
        .groups(2)
        .input(19, 21)
        .kernel(3, 3)
        .padding(1, 1, 1, 1)
        .threads(threads)
        .bias(true)
        .activation(Activation::Relu)
        .test(Algorithm::Direct);
}

TEST_CASE(
    "NCHW depthwise in flat form: narrow outputs of every kernel shape, strides 1-2, bands of rows and multipliers") {
  // Outputs at most a vector wide run as one flat run per band of rows (DepthwisePlanesTask): rows running on into
  // the next, staged phase planes for a stride of 2, and tall images cut into bands (a 9-wide output of 600 rows is
  // two bands of a few hundred). Widths 1-16, odd and even, strides mixed, dilation and kernels up to 7x7.
  struct Form {
    std::int64_t kh, kw, stride_h, stride_w, dilation_h, dilation_w;
  };
  for (const Form f : {Form{3, 3, 1, 1, 1, 1}, Form{3, 3, 2, 2, 1, 1}, Form{5, 5, 1, 1, 1, 1}, Form{5, 5, 2, 2, 1, 1},
                       Form{7, 7, 1, 1, 1, 1}, Form{1, 9, 1, 1, 1, 1}, Form{3, 1, 2, 1, 1, 1}, Form{3, 3, 1, 2, 2, 1},
                       Form{3, 3, 2, 1, 1, 3}})
    for (std::int64_t out_height : {1, 2, 7, 600})
      for (std::int64_t out_width : {1, 2, 7, 9, 14, 16}) {
        const std::int64_t pad_h = f.kh / 2, pad_w = f.kw / 2;
        const std::int64_t in_height = (out_height - 1) * f.stride_h + (f.kh - 1) * f.dilation_h + 1 - 2 * pad_h;
        const std::int64_t in_width = (out_width - 1) * f.stride_w + (f.kw - 1) * f.dilation_w + 1 - 2 * pad_w;
        if (in_height < 1 || in_width < 1) continue;
        CAPTURE(f.kh);
        CAPTURE(f.kw);
        CAPTURE(f.stride_h);
        CAPTURE(f.stride_w);
        CAPTURE(out_height);
        CAPTURE(out_width);
        const std::int64_t multiplier = out_height == 600 ? 1 : 2;
        for (bool plan : {false, true})  // the plan runs in a caller workspace of NaNs
          ConvTester()
              .channels(3, 3 * multiplier)
              .groups(3)
              .input(in_height, in_width)
              .kernel(f.kh, f.kw)
              .stride(f.stride_h, f.stride_w)
              .dilation(f.dilation_h, f.dilation_w)
              .padding(pad_h, pad_w, pad_h + 1, pad_w)  // uneven: one more row at the bottom
              .bias(plan)
              .activation(Activation::Clamp, -0.3f, 0.4f)
              .through_plan(plan)
              .test(Algorithm::Direct);
      }
  // Planes of several images, split between threads.
  for (int threads : {1, 2, 3})
    ConvTester()
        .batch(3)
        .channels(5, 5)
        .groups(5)
        .input(7, 7)
        .kernel(3, 3)
        .padding(1, 1, 1, 1)
        .threads(threads)
        .bias(true)
        .activation(Activation::Relu)
        .test(Algorithm::Direct);
}

namespace {

// `shapes` random shapes over every feature, through conv2d and plans on convkit's own workers, or through plans on
// `pool` when given.
void random_sweep(int shapes, const convkit::ThreadPool* pool) {
  std::mt19937 rng(convkit_test::kSeed);
  const auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  for (int shape = 0; shape < shapes; ++shape) {
    const std::int64_t groups = pick(0, 3) == 0 ? pick(2, 6) : 1;
    const bool depthwise = groups > 1 && pick(0, 1) == 0;
    const std::int64_t group_in = depthwise ? 1 : pick(1, 6);
    const std::int64_t group_out = depthwise ? pick(1, 3) : pick(1, 6);
    const std::int64_t kh = pick(1, 7), kw = pick(0, 1) ? kh : pick(1, 7);
    const std::int64_t dh = pick(0, 4) == 0 ? pick(2, 3) : 1, dw = pick(0, 4) == 0 ? pick(2, 3) : 1;
    const std::int64_t pt = pick(0, 3), pl = pick(0, 3), pb = pick(0, 3), pr = pick(0, 3);
    // Inputs at least as large as the dilated kernel minus the padding, so the output is never empty.
    const std::int64_t h = std::max<std::int64_t>(1, dh * (kh - 1) + 1 - pt - pb) + pick(0, 8);
    const std::int64_t w = std::max<std::int64_t>(1, dw * (kw - 1) + 1 - pl - pr) + pick(0, 8);
    ConvTester tester;
    tester.batch(pick(1, 3))
        .channels(group_in * groups, group_out * groups)
        .groups(groups)
        .input(h, w)
        .kernel(kh, kw)
        .stride(pick(1, 3), pick(1, 3))
        .dilation(dh, dw)
        .padding(pt, pl, pb, pr)
        .layout(pick(0, 1) ? Layout::NCHW : Layout::NHWC)
        .weights_layout(pick(0, 1) ? WeightsLayout::OIHW : WeightsLayout::OHWI)
        .bias(pick(0, 1) == 1)
        .threads(static_cast<int>(pick(0, 3)))
        .seed(convkit_test::kSeed + static_cast<std::uint32_t>(shape) * 7u);
    switch (pick(0, 2)) {
      case 1:
        tester.activation(Activation::Relu);
        break;
      case 2:
        tester.activation(Activation::Clamp, -0.25f, 0.75f);
        break;
      default:
        break;
    }
    if (pool != nullptr) tester.threads(2).on_pool(pool);
    tester.test_all();
  }
}

}  // namespace

TEST_CASE("a random sweep of 400 shapes over every feature") { random_sweep(400, nullptr); }

TEST_CASE("the random sweep's shapes on the caller's thread pool: two threads, and one running the tasks last first") {
  convkit_examples::StdThreadPool two(2);
  const convkit::ThreadPool threads = two.handle();
  random_sweep(150, &threads);
  convkit::ThreadPool reverse;
  reverse.width = 3;
  reverse.parallel_for = [](void*, std::size_t count, void (*task)(void*, std::size_t), void* argument) {
    for (std::size_t i = count; i-- > 0;) task(argument, i);
  };
  random_sweep(150, &reverse);
}

TEST_CASE("the layer suite's real shapes, sampled, in both layouts") {
  const auto layers = convkit_bench::load_layer_suite(CONVKIT_LAYER_SUITE);
  REQUIRE(layers.size() >= 18);
  for (const auto& layer : layers)
    for (Layout layout : kLayouts) {
      CAPTURE(layer.name);
      ConvTester tester;
      tester.desc(layer.with_layout(layout).desc).bias(true).activation(Activation::Relu).sample(1500);
      for (Algorithm algorithm : convkit_test::all_algorithms()) {
        // The reference is slow by design; on the big layers it is left to the smaller ones above.
        if (algorithm == Algorithm::Reference && layer.flops() > 5e8) continue;
        tester.test(algorithm);
      }
    }
}
