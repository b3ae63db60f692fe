// Depthwise convolution on NHWC tensors, vectorised along the channels (DepthwiseNhwcTask in direct_ukernels.hpp).
// Included only by the per-ISA files (through direct_ukernels_impl.hpp), each of which defines CONVKIT_ISA_NAMESPACE
// (see direct_ukernels_impl.hpp for why everything lives in that namespace).
#pragma once

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including depthwise_nhwc_impl.hpp"
#endif

#include "direct_common_impl.hpp"

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

template <class Arch>
struct DepthwiseNhwc {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);
  // The register tile: kTilePixels output pixels of one channel vector, with its kw weights, in the vector
  // registers (32 with AVX-512, 16 below). Decided on mobilenetv2_dw and _dw_s2 in NHWC with AVX-512: 10 pixels ahead
  // of 8 and 12 (docs/tuning-log.md); one vector ahead of two (faster at stride 2, level at 3x3
  // stride 1), whose 20 sums and 6-10 weights left too few registers for the inputs and their
  // addresses. Tiles of fewer pixels: a row cut evenly, 56 = 2 x 10 + 4 x 9.
  static constexpr bool kManyRegisters = std::is_base_of_v<xsimd::avx512f, Arch>;
  static constexpr int kTilePixels = kManyRegisters ? 10 : 8;

  // The last channel block may be partial: no lane beyond `count` is read from the input or written to the output.
  template <bool kFull>
  static Batch load(const float* source, std::int64_t count) {
    if constexpr (kFull) return Batch::load_unaligned(source);
    return PartialVectors<Arch>::load(source, count);
  }

  template <bool kFull>
  static void store(const Batch& v, float* target, std::int64_t count) {
    if constexpr (kFull) return v.store_unaligned(target);
    PartialVectors<Arch>::store(v, target, count);
  }

  // Every tile starts from the bias of its channels and ends with the activation and the store of its pixels, both
  // inlined: called, they took the tile's sums through memory.
  template <int kPixels>
  CONVKIT_ALWAYS_INLINE static void start(Batch (&acc)[kPixels], const DepthwiseNhwcTask& t, std::int64_t c) {
    const Batch bias = Batch::load_aligned(t.bias + c);
    CONVKIT_UNROLL
    for (int u = 0; u < kPixels; ++u) acc[u] = bias;
  }

  template <int kPixels, bool kFull>
  // The sums are finished in place: a copy of them to add the residual to made GCC 12 fail (an internal compiler
  // error in its scalar replacement of aggregates) under -fsanitize=thread at -O1.
  CONVKIT_ALWAYS_INLINE static void finish(Batch (&acc)[kPixels], const DepthwiseNhwcTask& t, std::int64_t y,
                                           std::int64_t x, std::int64_t c, std::int64_t count) {
    float* out = t.output + y * t.out_row_stride + x * t.out_pixel_stride + c;
    if (t.post != nullptr && t.post->residual) {  // read before the stores: in place, the output holds it
      const Batch scale(t.post->residual_scale);
      CONVKIT_UNROLL
      for (int u = 0; u < kPixels; ++u)
        acc[u] = fused_multiply_add(
            scale, load<kFull>(residual_at(out + u * t.out_pixel_stride, t.residual_offset), count), acc[u]);
    }
    with_activation<Batch>(t, [&](const auto& activate) CONVKIT_ALWAYS_INLINE {
      CONVKIT_UNROLL
      for (int u = 0; u < kPixels; ++u) store<kFull>(activate(acc[u]), out + u * t.out_pixel_stride, count);
    });
    if (t.post != nullptr && !t.post->in_registers()) activate_tile(*t.post, out, kPixels, count, t.out_pixel_stride);
  }

  // kPixels consecutive output pixels of row y from column x, channels [c, c + count), any kernel width, stride and
  // dilation. kCheck tests every tap's column against the input (tiles that reach the border columns); kernel rows
  // outside the input were cut to [i_begin, i_end).
  template <int kPixels, bool kFull, bool kCheck>
  static void tile(const DepthwiseNhwcTask& t, std::int64_t y, std::int64_t i_begin, std::int64_t i_end, std::int64_t x,
                   std::int64_t c, std::int64_t count) {
    const std::int64_t C = t.channels, sw = t.stride_width, dw = t.dilation_width, kw = t.kernel_width;
    const std::int64_t left = x * sw - t.pad_left;  // input column of tap 0 of the first pixel
    Batch acc[kPixels];
    start<kPixels>(acc, t, c);
    for (std::int64_t i = i_begin; i < i_end; ++i) {
      const std::int64_t h = y * t.stride_height - t.pad_top + i * t.dilation_height;
      const float* row = t.input + h * t.in_width * C + c;
      const float* w_row = t.weights + i * kw * t.padded_channels + c;
      for (std::int64_t j = 0; j < kw; ++j) {
        const Batch w = Batch::load_aligned(w_row + j * t.padded_channels);
        CONVKIT_UNROLL
        for (int u = 0; u < kPixels; ++u) {
          const std::int64_t column = left + u * sw + j * dw;
          if (kCheck && (column < 0 || column >= t.in_width)) continue;
          acc[u] = fused_multiply_add(load<kFull>(row + column * C, count), w, acc[u]);
        }
      }
    }
    finish<kPixels, kFull>(acc, t, y, x, c, count);
  }

  // tile<kPixels, true, kCheck> for a kernel kKw wide, with stride kStride and dilation kDilation along the width:
  // the pixels of a kernel row overlap, so each input vector is loaded once and meets every weight that touches it.
  // kCheck tests each input column once, not each tap (a tile over the border columns then runs as fast as one
  // inside: on 7- and 14-wide outputs the border is a third of the pixels).
  template <int kPixels, int kKw, int kStride, bool kCheck, int kDilation = 1>
  static void tile_fixed(const DepthwiseNhwcTask& t, std::int64_t y, std::int64_t i_begin, std::int64_t i_end,
                         std::int64_t x, std::int64_t c) {
    constexpr int kSpan = (kPixels - 1) * kStride + (kKw - 1) * kDilation + 1;  // input columns of one kernel row
    const std::int64_t C = t.channels, left = x * kStride - t.pad_left;
    Batch acc[kPixels];
    start<kPixels>(acc, t, c);
    for (std::int64_t i = i_begin; i < i_end; ++i) {
      const std::int64_t h = y * t.stride_height - t.pad_top + i * t.dilation_height;
      const float* w_row = t.weights + i * kKw * t.padded_channels + c;
      Batch w[kKw];
      CONVKIT_UNROLL
      for (int j = 0; j < kKw; ++j) w[j] = Batch::load_aligned(w_row + j * t.padded_channels);
      // One pointer walked along the columns: a pointer per column (21 at stride 2) outgrew the general registers,
      // and their spills took vector registers with them.
      const float* column = t.input + (h * t.in_width + left) * C + c;
      CONVKIT_UNROLL
      for (int m = 0; m < kSpan; ++m, column += C) {
        if (kCheck && (left + m < 0 || left + m >= t.in_width)) continue;
        Batch value = Batch::load_unaligned(column);
        keep_in_register(value);
        CONVKIT_UNROLL
        for (int u = 0; u < kPixels; ++u) {
          const int offset = m - u * kStride, j = offset / kDilation;  // tap j of pixel u reads column m
          if (offset >= 0 && offset % kDilation == 0 && j < kKw)
            acc[u] = fused_multiply_add(value, w[j], acc[u]);  // resolved at compile time
        }
      }
    }
    // At one thread a large layer's input and output outgrow L2, and rows arrive from L3 unless asked for early:
    // fetch the input rows the next output row adds while this one computes (decided on mobilenetv2_dw in NHWC at
    // one thread; two rows ahead, or the output lines, gained nothing; docs/tuning-log.md). Not at stride 2, whose
    // tiles already load two input columns per output pixel: the prefetches took load slots the loads needed
    // (mobilenetv2_dw_s2, with the channels whole and in chunks alike).
    const std::int64_t last_row = y * t.stride_height - t.pad_top + (t.kernel_height - 1) * t.dilation_height;
    for (std::int64_t r = last_row + 1; kStride == 1 && r <= last_row + t.stride_height && r < t.in_height; ++r) {
      if (r < 0) continue;
      const float* next = t.input + (r * t.in_width + x * kStride) * C + c;
      CONVKIT_UNROLL
      for (int m = 0; m < kPixels * kStride; ++m) __builtin_prefetch(next + m * C);
    }
    finish<kPixels, true>(acc, t, y, x, c, kWidth);
  }

  template <int kPixels, bool kCheck>
  static void full_tile(const DepthwiseNhwcTask& t, std::int64_t y, std::int64_t i_begin, std::int64_t i_end,
                        std::int64_t x, std::int64_t c) {
    const std::int64_t kw = t.kernel_width, sw = t.stride_width, dw = t.dilation_width;
    if (dw == 1) {
      if (kw == 3 && sw == 1) return tile_fixed<kPixels, 3, 1, kCheck>(t, y, i_begin, i_end, x, c);
      if (kw == 3 && sw == 2) return tile_fixed<kPixels, 3, 2, kCheck>(t, y, i_begin, i_end, x, c);
      if (kw == 5 && sw == 1) return tile_fixed<kPixels, 5, 1, kCheck>(t, y, i_begin, i_end, x, c);
      if (kw == 5 && sw == 2) return tile_fixed<kPixels, 5, 2, kCheck>(t, y, i_begin, i_end, x, c);
      // Kx1 kernels (the vertical half of a separable pair): nothing shared along the row, but the weights stay in
      // registers and no tap tests a column.
      if (kw == 1 && sw == 1) return tile_fixed<kPixels, 1, 1, kCheck>(t, y, i_begin, i_end, x, c);
      if (kw == 1 && sw == 2) return tile_fixed<kPixels, 1, 2, kCheck>(t, y, i_begin, i_end, x, c);
      if (kw == 7 && sw == 1) return tile_fixed<kPixels, 7, 1, kCheck>(t, y, i_begin, i_end, x, c);  // ConvNeXt's
      if (kw == 9 && sw == 1) return tile_fixed<kPixels, 9, 1, kCheck>(t, y, i_begin, i_end, x, c);  // 1x9
    }
    // Dilated 3x3 (DeepLab's atrous layers, rates 2 and 4): the columns a pixel's taps skip are another pixel's.
    if (kw == 3 && sw == 1 && dw == 2) return tile_fixed<kPixels, 3, 1, kCheck, 2>(t, y, i_begin, i_end, x, c);
    if (kw == 3 && sw == 1 && dw == 4) return tile_fixed<kPixels, 3, 1, kCheck, 4>(t, y, i_begin, i_end, x, c);
    tile<kPixels, true, kCheck>(t, y, i_begin, i_end, x, c, kWidth);
  }

  // The channel blocks in [c_begin, c_end) of kPixels pixels; the input pixels of the tile stay in L1 across the
  // blocks.
  template <int kPixels, bool kCheck>
  static void pixels(const DepthwiseNhwcTask& t, std::int64_t y, std::int64_t i_begin, std::int64_t i_end,
                     std::int64_t x, std::int64_t c_begin, std::int64_t c_end) {
    std::int64_t c = c_begin;
    for (; c + kWidth <= c_end; c += kWidth) full_tile<kPixels, kCheck>(t, y, i_begin, i_end, x, c);
    if (c < c_end) tile<kPixels, false, kCheck>(t, y, i_begin, i_end, x, c, c_end - c);
  }

  // kPixels pixels from column x, tested against the border only where the tile reaches it.
  template <int kPixels>
  static void pixels_at(const DepthwiseNhwcTask& t, std::int64_t y, std::int64_t i_begin, std::int64_t i_end,
                        std::int64_t x, std::int64_t c_begin, std::int64_t c_end) {
    if (x >= t.interior_begin && x + kPixels <= t.interior_end)
      return pixels<kPixels, false>(t, y, i_begin, i_end, x, c_begin, c_end);
    pixels<kPixels, true>(t, y, i_begin, i_end, x, c_begin, c_end);
  }

  template <int kPixels>
  static void pixels_any(const DepthwiseNhwcTask& t, std::int64_t y, std::int64_t i_begin, std::int64_t i_end,
                         std::int64_t x, std::int64_t count, std::int64_t c_begin, std::int64_t c_end) {
    if constexpr (kPixels > 1) {
      if (count < kPixels) return pixels_any<kPixels - 1>(t, y, i_begin, i_end, x, count, c_begin, c_end);
    }
    pixels_at<kPixels>(t, y, i_begin, i_end, x, c_begin, c_end);
  }

  // The channels taken through all the task's rows at a time: as many as keep the input rows one output row reads,
  // and the output row, within half of L1, so that the next output row finds its input rows there (with every
  // channel at once a row of mobilenetv2_dw's 144 channels is 32 KiB, and its three input rows came from L2 for
  // every output row). Whole pairs of channel vectors, at least one pair.
  static std::int64_t channel_chunk(const DepthwiseNhwcTask& t) {
    constexpr std::int64_t kL1Budget = 24 * 1024, kStep = 2 * kWidth;
    const std::int64_t rows = (t.kernel_height - 1) * t.dilation_height + 1 + 1;  // input rows and the output row
    const std::int64_t row_bytes = (t.in_width > t.out_width ? t.in_width : t.out_width) * 4;
    const std::int64_t steps = kL1Budget / (rows * row_bytes * kStep);
    return steps < 1 ? kStep : steps * kStep;
  }

  // A row in as few tiles as kTilePixels allows, of sizes as even as they divide (a 7-wide output is one tile of 7,
  // 14 two of 7, 56 six of 9 or 10): the weights of a kernel row are loaded once per tile, and a tile of few pixels
  // pays them for little work. Border tiles included.
  static void rows(const DepthwiseNhwcTask& t) {
    const std::int64_t tiles = (t.out_width + kTilePixels - 1) / kTilePixels;
    const std::int64_t base = t.out_width / tiles, longer = t.out_width % tiles;  // `longer` tiles of base + 1
    const std::int64_t chunk = channel_chunk(t);
    for (std::int64_t c_begin = 0; c_begin < t.channels; c_begin += chunk) {
      const std::int64_t c_end = t.channels - c_begin < chunk ? t.channels : c_begin + chunk;
      for (std::int64_t y = t.row_begin; y < t.row_end; ++y) {
        const std::int64_t top = y * t.stride_height - t.pad_top, dh = t.dilation_height;
        // Kernel rows inside the input: top + i*dh in [0, in_height).
        const std::int64_t i_begin = top >= 0 ? 0 : (-top + dh - 1) / dh;
        const std::int64_t rows_inside = top >= t.in_height ? 0 : (t.in_height - top + dh - 1) / dh;
        const std::int64_t i_end = rows_inside < t.kernel_height ? rows_inside : t.kernel_height;
        std::int64_t x = 0;
        for (std::int64_t tile = 0; tile < tiles; ++tile) {
          const std::int64_t count = base + (tile < longer ? 1 : 0);
          pixels_any<kTilePixels>(t, y, i_begin, i_end, x, count, c_begin, c_end);
          x += count;
        }
      }
    }
  }
};

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
