// Every microkernel table on its own, for every ISA compiled in that this CPU runs, against naive loops and swept
// around its tile edges (issue 21, item 6): the GEMM kernels (packed_a, packed_b, channelwise) and the direct
// kernels (rows, stage_rows, depthwise_nhwc_rows, copy_taps). The whole convolutions reach them only on the shapes
// the driver happens to produce; here each edge is hit on purpose. The testers are in ukernel_tester.hpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <vector>

#include "accumulation.hpp"
#include "ukernel_tester.hpp"

using convkit::Activation;
using convkit::detail::DirectUkernels;
using convkit::detail::GemmUkernels;
using convkit_test::ChannelwiseTester;
using convkit_test::ConvShape;
using convkit_test::CopyTapsTester;
using convkit_test::DepthwiseNhwcTester;
using convkit_test::DirectRowsTester;
using convkit_test::GemmUkernelTester;
using convkit_test::StageRowsTester;

namespace {

using Packed = GemmUkernelTester::Packed;
const Activation kActivations[] = {Activation::None, Activation::Relu, Activation::Clamp};

bool cpu_runs_avx2_fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
// The AVX-512 files are built with -mavx512f -mavx2 -mfma (lib/CMakeLists.txt).
bool cpu_runs_avx512f() { return __builtin_cpu_supports("avx512f") && cpu_runs_avx2_fma(); }

// The tables this CPU runs; a MESSAGE for each it cannot.
std::vector<const DirectUkernels*> direct_tables() {
  std::vector<const DirectUkernels*> tables{&convkit::detail::direct_ukernels_sse2()};
  const auto add = [&](bool runs, const char* name, const DirectUkernels& (*table)()) {
    if (runs) {
      tables.push_back(&table());
    } else {
      MESSAGE("skipped: this CPU does not run the ", name, " direct microkernels");
    }
  };
  add(__builtin_cpu_supports("sse4.2"), "sse4.2", convkit::detail::direct_ukernels_sse4_2);
  add(cpu_runs_avx2_fma(), "avx2+fma", convkit::detail::direct_ukernels_avx2_fma);
  add(cpu_runs_avx512f(), "avx512f", convkit::detail::direct_ukernels_avx512f);
  return tables;
}

std::vector<const GemmUkernels*> gemm_tables() {
  std::vector<const GemmUkernels*> tables;
  if (cpu_runs_avx2_fma()) {
    tables.push_back(&convkit::detail::gemm_ukernels_avx2_fma());
  } else {
    MESSAGE("skipped: this CPU does not run the avx2+fma GEMM microkernels");
  }
  if (cpu_runs_avx512f()) {
    tables.push_back(&convkit::detail::gemm_ukernels_avx512f());
  } else {
    MESSAGE("skipped: this CPU does not run the avx512f GEMM microkernels");
  }
  return tables;
}

// Positive, distinct values of a list, in order.
std::vector<std::int64_t> sizes(std::initializer_list<std::int64_t> values) {
  std::vector<std::int64_t> out;
  for (std::int64_t v : values)
    if (v > 0 && std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  return out;
}

// The GEMM tables' vector width: strip_columns is two vectors (gemm_ukernels_impl.hpp, make_gemm_ukernels).
std::int64_t gemm_vector(const GemmUkernels& t) { return t.strip_columns / 2; }

// Rows of the GEMM register tile, and the few-row tiles of packed_a (1-3 rows, widened to ceil(8 / rows) vectors).
std::vector<std::int64_t> gemm_rows(const GemmUkernels& t) {
  const std::int64_t r = t.panel_rows;
  return sizes({1, 2, 3, 4, r - 1, r, r + 1, 2 * r + 1});
}

// Columns around the vector, the strip, and the few-row tiles' widths (8, 4 and 3 vectors).
std::vector<std::int64_t> gemm_columns(const GemmUkernels& t) {
  const std::int64_t w = gemm_vector(t), s = t.strip_columns;
  return sizes({1, 2, w - 1, w, w + 1, s - 1, s, s + 1, s + w + 1, 3 * w, 3 * w + 1, 4 * w + 1, 8 * w - 1, 8 * w,
                8 * w + 1, 8 * w + s + w + 3});
}

}  // namespace

TEST_CASE("gemm ukernels: m and n around the register tile, the strip and the few-row tiles") {
  for (const GemmUkernels* table : gemm_tables())
    for (Packed packed : {Packed::A, Packed::B})
      for (std::int64_t m : gemm_rows(*table))
        for (std::int64_t n : gemm_columns(*table)) GemmUkernelTester().m(m).n(n).k(3).test(*table, packed);
}

TEST_CASE("gemm ukernels: k around the reduction block (448), each block summed from zero") {
  for (const GemmUkernels* table : gemm_tables()) {
    const std::int64_t r = table->panel_rows, w = gemm_vector(*table), s = table->strip_columns;
    const std::pair<std::int64_t, std::int64_t> shapes[] = {
        {1, 8 * w + w + 1}, {3, 3 * w + 1}, {r, s}, {r + 1, s + w + 1}};
    for (Packed packed : {Packed::A, Packed::B})
      for (auto [m, n] : shapes)
        for (std::int64_t k : {1, 2, 447, 448, 449, 896, 897, 1000})
          // Relu after the last block only: an intermediate sum clipped at zero would show.
          GemmUkernelTester().m(m).n(n).k(k).activation(Activation::Relu).test(*table, packed);
  }
}

TEST_CASE("gemm ukernels: n across the column chunks of a block of B beyond kGemmLargeBlockBytes") {
  using convkit::detail::kGemmChunkColumns;
  using convkit::detail::kGemmLargeBlockBytes;
  using convkit::detail::kReductionBlock;
  for (const GemmUkernels* table : gemm_tables()) {
    const std::int64_t r = table->panel_rows, w = gemm_vector(*table), c = kGemmChunkColumns;
    // The fewest columns whose full block of the reduction exceeds the bound, and a whole number of chunks above it.
    const std::int64_t block = kReductionBlock, least = kGemmLargeBlockBytes / (block * 4) + 1;
    const std::int64_t whole = (least + c - 1) / c * c;
    for (Packed packed : {Packed::A, Packed::B})
      for (std::int64_t m : {r, r + 1, r + 3, 2 * r + 2})  // r: one row tile, never chunked; then 1-3 rows left
        for (std::int64_t n : sizes({least - 1, least, whole, whole + 1, whole + w + 1, whole + c - 1}))
          for (std::int64_t k : {block, block + 1, 2 * block + 4})  // the short last block is run whole
            GemmUkernelTester()
                .m(m)
                .n(n)
                .k(k)
                .bias(true)
                .activation(Activation::Relu)
                .ldc_extra(3)
                .test(*table, packed);
  }
}

TEST_CASE("gemm ukernels: strided rows (leading dimensions beyond the width)") {
  for (const GemmUkernels* table : gemm_tables()) {
    const std::int64_t r = table->panel_rows, w = gemm_vector(*table), s = table->strip_columns;
    for (Packed packed : {Packed::A, Packed::B})
      for (std::int64_t m : {std::int64_t{2}, r + 1})
        for (std::int64_t n : {w + 1, s + 3, 8 * w + 5})
          for (std::int64_t k : {5, 449})
            for (std::int64_t ld_extra : {std::int64_t{1}, w, std::int64_t{17}})
              for (std::int64_t ldc_extra : {0, 1, 5})
                GemmUkernelTester().m(m).n(n).k(k).ld_extra(ld_extra).ldc_extra(ldc_extra).test(*table, packed);
  }
}

TEST_CASE("gemm ukernels: with and without bias, each activation") {
  for (const GemmUkernels* table : gemm_tables()) {
    const std::int64_t r = table->panel_rows, w = gemm_vector(*table), s = table->strip_columns;
    const std::int64_t shapes[][3] = {{1, 1, 1}, {2, 8 * w + 1, 7}, {r + 1, s + w + 1, 449}, {r, 3 * s, 20}};
    for (Packed packed : {Packed::A, Packed::B})
      for (const auto& shape : shapes)
        for (bool bias : {false, true})
          for (Activation activation : kActivations)
            GemmUkernelTester()
                .m(shape[0])
                .n(shape[1])
                .k(shape[2])
                .ldc_extra(2)
                .bias(bias)
                .activation(activation)
                .test(*table, packed);
  }
}

TEST_CASE("gemm ukernels: channelwise around its pixel and channel tiles") {
  for (const GemmUkernels* table : gemm_tables()) {
    const std::int64_t w = gemm_vector(*table), c = table->channelwise_tile, p = table->channelwise_pixels;
    for (std::int64_t pixels : sizes({1, 2, p - 1, p, p + 1, 2 * p + 1}))
      for (std::int64_t channels : sizes({1, 2, w - 1, w, w + 1, c - 1, c, c + 1, 2 * c + 3}))
        for (std::int64_t taps : {1, 9}) ChannelwiseTester().pixels(pixels).channels(channels).taps(taps).test(*table);
    // Strided pixels, slices of a channel multiplier, 5x5 taps, bias and activations.
    for (std::int64_t channels : sizes({1, w + 1, c, 2 * c + 3}))
      for (std::int64_t stride : {1, 2, 3})
        for (bool bias : {false, true})
          for (Activation activation : kActivations)
            ChannelwiseTester()
                .pixels(p + 1)
                .channels(channels)
                .taps(25)
                .lda_extra(3)
                .channel_stride(stride)
                .bias(bias)
                .activation(activation)
                .test(*table);
  }
}

TEST_CASE("direct ukernels: stage_rows copies per its contract (bitwise)") {
  for (const DirectUkernels* table : direct_tables()) {
    const std::int64_t v = table->vector_floats;
    for (std::int64_t width : sizes({1, 2, 3, v - 1, v, v + 1, 2 * v + 1, 4 * v + 3, 56, 57, 112}))
      for (std::int64_t stride : {1, 2})
        for (std::int64_t pad : {0, 1, 2, 3}) {
          // The driver's lengths (algorithm_direct.cpp: whole vectors covering the output and the kernel's reach)
          // for kernels 1, 3 and 5 wide with that padding on both sides, and lengths that are not whole vectors.
          std::vector<std::int64_t> lengths;
          for (std::int64_t kw : {1, 3, 5}) {
            const std::int64_t out = (width + 2 * pad - kw) / stride + 1;
            if (out <= 0) continue;
            const auto round = [v](std::int64_t x) { return (x + v - 1) / v * v; };
            lengths.push_back(round(round(out) + (kw - 1) / stride));
          }
          for (std::int64_t l : {std::int64_t{1}, v - 1, v + 1, 3 * v + 2}) lengths.push_back(l);
          for (std::int64_t length : lengths) {
            if (length <= 0) continue;
            for (std::int64_t rows : {1, 3})
              StageRowsTester()
                  .rows(rows)
                  .width(width)
                  .source_extra(rows == 1 ? 0 : 5)
                  .pad_left(pad)
                  .stride(stride)
                  .length(length)
                  .test(*table);
          }
        }
  }
}

TEST_CASE("direct ukernels: copy_taps copies per its contract (bitwise)") {
  for (const DirectUkernels* table : direct_tables()) {
    const std::int64_t v = table->vector_floats;
    for (std::int64_t count : sizes({1, 2, v - 1, v, v + 1, 2 * v + 1, 4 * v, 57}))
      for (std::int64_t ld_extra : {0, 3}) {
        const std::int64_t row_floats = (count + 2 + v - 1) / v * v;  // phases of a stride-2 staged row
        CopyTapsTester().offsets({0}).count(count).ld_extra(ld_extra).test(*table);
        CopyTapsTester().offsets({0, 1, 2, 3, 4}).count(count).ld_extra(ld_extra).test(*table);
        CopyTapsTester().offsets({0, row_floats, 1}).count(count).ld_extra(ld_extra).test(*table);
        CopyTapsTester().offsets({3, 2 * row_floats + 1, row_floats}).count(count).ld_extra(ld_extra).test(*table);
      }
  }
}

TEST_CASE("direct ukernels: transpose, where an ISA has one, moves every element and nothing else (bitwise)") {
  // Rows and columns around the 16 x 16 register block, leading dimensions beyond them; the target starts out NaN so
  // that an element left unwritten fails, and its padding between rows must stay NaN.
  for (const DirectUkernels* table : direct_tables()) {
    if (table->transpose == nullptr) continue;
    CAPTURE(table->isa);
    for (std::int64_t rows : {1, 3, 15, 16, 17, 32, 33})
      for (std::int64_t columns : {1, 2, 7, 16, 17, 49}) {
        CAPTURE(rows);
        CAPTURE(columns);
        const std::int64_t source_ld = columns + 3, target_ld = rows + 5;
        std::vector<float> source(static_cast<std::size_t>(rows * source_ld));
        for (std::size_t k = 0; k < source.size(); ++k) source[k] = static_cast<float>(k) * 0.5f - 7.0f;
        std::vector<float> target(static_cast<std::size_t>(columns * target_ld), std::nanf(""));
        table->transpose(source.data(), source_ld, rows, columns, target.data(), target_ld);
        std::int64_t wrong = 0, touched = 0;
        for (std::int64_t j = 0; j < columns; ++j)
          for (std::int64_t k = 0; k < target_ld; ++k) {
            const float got = target[static_cast<std::size_t>(j * target_ld + k)];
            if (k < rows && got != source[static_cast<std::size_t>(k * source_ld + j)]) ++wrong;
            if (k >= rows && !std::isnan(got)) ++touched;
          }
        CHECK(wrong == 0);
        CHECK(touched == 0);
      }
  }
}

TEST_CASE("direct ukernels: depthwise_nhwc_rows over channels around the vector, 3x3 and 5x5, strides 1-2") {
  for (const DirectUkernels* table : direct_tables()) {
    const std::int64_t v = table->vector_floats;
    for (std::int64_t channels : sizes({1, v - 1, v, v + 1, 2 * v, 2 * v + 3, 4 * v + 1}))
      for (std::int64_t k : {3, 5})
        for (std::int64_t stride : {1, 2})
          // Output widths from 1 or 2 up to 27: the interior tiles of 10 (AVX-512) or 8, 4 and 1 pixels.
          for (std::int64_t in_width : {3, 27}) {
            ConvShape s;
            s.channels = channels, s.in_height = 5, s.in_width = in_width, s.kernel_height = s.kernel_width = k;
            s.stride_height = s.stride_width = stride, s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = k / 2;
            DepthwiseNhwcTester().shape(s).test(*table);
          }
  }
}

TEST_CASE("direct ukernels: depthwise_nhwc_rows with other kernels, dilation, padding, strides and row ranges") {
  for (const DirectUkernels* table : direct_tables()) {
    const std::int64_t v = table->vector_floats;
    // {kh, kw, sh, sw, dh, dw, pad top, left, bottom, right}
    const std::int64_t shapes[][10] = {
        {1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, {2, 2, 1, 1, 1, 1, 0, 0, 1, 1}, {1, 7, 1, 1, 1, 1, 0, 3, 0, 3},
        {7, 1, 1, 2, 1, 1, 3, 0, 3, 0}, {4, 3, 2, 1, 1, 1, 1, 1, 2, 1}, {3, 3, 1, 1, 2, 2, 2, 2, 2, 2},
        {3, 3, 2, 2, 1, 3, 1, 3, 1, 3}, {5, 5, 1, 2, 2, 1, 4, 2, 4, 2}, {3, 5, 2, 1, 1, 1, 0, 0, 0, 0},
        {3, 3, 1, 1, 1, 1, 3, 4, 2, 5},  // padding beyond the kernel: outputs with no tap inside the input
        {3, 3, 2, 2, 1, 1, 0, 1, 1, 0}, {1, 9, 1, 1, 1, 1, 0, 4, 0, 4}, {3, 1, 2, 2, 1, 1, 1, 0, 1, 0},
        {3, 3, 1, 1, 4, 4, 4, 4, 4, 4}};
    for (const auto& d : shapes)
      for (std::int64_t channels : sizes({3, v + 1}))
        for (std::int64_t in_width : {4, 23}) {
          ConvShape s;
          s.channels = channels, s.in_height = 6, s.in_width = in_width;
          s.kernel_height = d[0], s.kernel_width = d[1], s.stride_height = d[2], s.stride_width = d[3];
          s.dilation_height = d[4], s.dilation_width = d[5];
          s.pad_top = d[6], s.pad_left = d[7], s.pad_bottom = d[8], s.pad_right = d[9];
          if (s.out_height() <= 0 || s.out_width() <= 0) continue;
          DepthwiseNhwcTester().shape(s).test(*table);
        }
    // Row ranges (one row at a time, as with a channel multiplier; a middle band), strided pixels, bias and
    // activations.
    ConvShape s;
    s.channels = 2 * v + 3, s.in_height = 9, s.in_width = 26, s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
    for (std::int64_t y = 0; y < 9; y += 4) DepthwiseNhwcTester().shape(s).rows(y, y + 1).test(*table);
    DepthwiseNhwcTester().shape(s).rows(3, 7).pixel_extra(5).test(*table);
    for (bool bias : {false, true})
      for (Activation activation : kActivations)
        DepthwiseNhwcTester().shape(s).rows(2, 5).bias(bias).activation(activation).test(*table);
  }
}

TEST_CASE("direct ukernels: rows over output widths around the vector and the 4-vector strip, rows around the blocks") {
  for (const DirectUkernels* table : direct_tables()) {
    const std::int64_t v = table->vector_floats;
    for (std::int64_t k : {3, 5})
      for (std::int64_t channels : {1, 3})
        for (std::int64_t out_width : sizes({1, v - 1, v, v + 1, 4 * v - 1, 4 * v, 4 * v + 1, 5 * v + 3}))
          for (std::int64_t out_height : {1, 2, 3, 4, 5, 9}) {
            if (k == 5 && (out_height == 2 || out_height == 4)) continue;  // fewer for the larger kernel
            ConvShape s;
            s.channels = channels, s.in_height = out_height, s.in_width = out_width;
            s.kernel_height = s.kernel_width = k, s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = k / 2;
            DirectRowsTester().shape(s).test(*table);
          }
  }
}

TEST_CASE("direct ukernels: rows with other kernels, strides, dilation, padding, layouts and row ranges") {
  for (const DirectUkernels* table : direct_tables()) {
    const std::int64_t v = table->vector_floats;
    // {kh, kw, sh, sw, dh, dw, pad top, left, bottom, right}
    const std::int64_t shapes[][10] = {{1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, {3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
                                       {3, 3, 1, 2, 1, 1, 1, 1, 1, 1}, {3, 3, 2, 1, 1, 1, 1, 1, 1, 1},
                                       {5, 5, 2, 2, 1, 1, 2, 2, 2, 2}, {5, 5, 1, 2, 1, 1, 2, 1, 2, 3},
                                       {2, 3, 1, 1, 1, 1, 0, 1, 1, 1}, {7, 1, 1, 1, 1, 1, 3, 0, 3, 0},
                                       {1, 7, 2, 1, 1, 1, 0, 3, 0, 3}, {4, 4, 1, 1, 1, 1, 2, 2, 1, 1},
                                       {3, 3, 1, 1, 2, 2, 2, 2, 2, 2}, {3, 3, 1, 2, 1, 3, 1, 3, 1, 3},
                                       {3, 3, 2, 2, 2, 2, 0, 0, 0, 0}, {3, 3, 3, 3, 1, 1, 0, 0, 0, 0},
                                       {3, 3, 1, 1, 1, 1, 3, 4, 2, 5}};  // padding beyond the kernel
    for (const auto& d : shapes)
      for (std::int64_t channels : {1, 2, 3})
        for (std::int64_t in_width : {std::int64_t{5}, 4 * v + 7}) {
          ConvShape s;
          s.channels = channels, s.in_height = 10, s.in_width = in_width;
          s.kernel_height = d[0], s.kernel_width = d[1], s.stride_height = d[2], s.stride_width = d[3];
          s.dilation_height = d[4], s.dilation_width = d[5];
          s.pad_top = d[6], s.pad_left = d[7], s.pad_bottom = d[8], s.pad_right = d[9];
          if (s.out_height() <= 0 || s.out_width() <= 0) continue;
          DirectRowsTester().shape(s).test(*table);
        }
    ConvShape s;
    s.channels = 3, s.in_height = 19, s.in_width = 2 * v + 5, s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
    // The driver's bands of 8 output rows, and ranges that start and end inside the row blocks.
    for (std::int64_t y = 0; y < 19; y += 8)
      DirectRowsTester().shape(s).rows(y, std::min<std::int64_t>(19, y + 8)).test(*table);
    DirectRowsTester().shape(s).rows(1, 6).test(*table);
    DirectRowsTester().shape(s).rows(3, 4).test(*table);
    // OHWI weights; an NHWC output (columns out_channels apart); rows further apart than their width.
    DirectRowsTester().shape(s).ohwi(true).test(*table);
    DirectRowsTester().shape(s).out_col_stride(3).test(*table);
    DirectRowsTester().shape(s).out_row_extra(7).out_col_stride(2).ohwi(true).test(*table);
    s.channels = 1;
    DirectRowsTester().shape(s).out_col_stride(3).test(*table);  // the general loops (single_channel needs stride 1)
    DirectRowsTester().shape(s).out_row_extra(7).test(*table);
  }
}

TEST_CASE("direct ukernels: rows summing channel blocks (accumulate, finish), with bias and each activation") {
  for (const DirectUkernels* table : direct_tables()) {
    const std::int64_t v = table->vector_floats;
    ConvShape s;
    s.channels = 5, s.in_height = 6, s.in_width = 4 * v + 3, s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
    for (std::int64_t block : {1, 2, 5})
      for (bool bias : {false, true})
        for (Activation activation : kActivations) {
          DirectRowsTester().shape(s).channel_block(block).bias(bias).activation(activation).test(*table);
          DirectRowsTester()
              .shape(s)
              .channel_block(block)
              .out_col_stride(2)
              .bias(bias)
              .activation(activation)
              .test(*table);
        }
    // Strided rows and a kernel of no fixed form, in blocks.
    ConvShape t = s;
    t.kernel_height = 2, t.kernel_width = 4, t.stride_height = 2, t.stride_width = 2, t.dilation_width = 2;
    DirectRowsTester().shape(t).channel_block(2).activation(Activation::Relu).test(*table);
    // The driver's blocks on a 3x3 kernel over 50 channels (accumulation.hpp): 2 blocks of 25, 225 products each.
    ConvShape wide = s;
    wide.channels = 50, wide.in_height = 3, wide.in_width = v + 1;
    DirectRowsTester().shape(wide).channel_block(25).activation(Activation::Relu).test(*table);
  }
}

TEST_CASE("direct ukernels: rows reading the input in place (one channel, 3x3, strides 1-2)") {
  bool any = false;
  for (const DirectUkernels* table : direct_tables()) {
    if (!table->reads_in_place) continue;
    any = true;
    const std::int64_t v = table->vector_floats;
    for (std::int64_t stride_h : {1, 2})
      for (std::int64_t stride_w : {1, 2})
        for (std::int64_t in_width : sizes({1, 2, v - 1, v, v + 1, 2 * v - 1, 2 * v + 1, 3 * v + 2, 112}))
          for (std::int64_t in_height : {1, 3, 9, 18}) {
            for (std::int64_t pad : {0, 1}) {
              ConvShape s;
              s.in_height = in_height, s.in_width = in_width, s.stride_height = stride_h, s.stride_width = stride_w;
              s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
              if (s.out_height() <= 0 || s.out_width() <= 0) continue;
              DirectRowsTester().shape(s).in_place(true).test(*table);
            }
          }
    ConvShape s;
    s.in_height = 12, s.in_width = 2 * v + 3, s.pad_top = 0, s.pad_left = 1, s.pad_bottom = 2, s.pad_right = 0;
    for (bool bias : {false, true})
      for (Activation activation : kActivations)
        DirectRowsTester().shape(s).in_place(true).rows(1, 9).bias(bias).activation(activation).test(*table);
  }
  if (!any) MESSAGE("skipped: no table this CPU runs reads the input in place");
}
