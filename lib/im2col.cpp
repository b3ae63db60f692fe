#include "im2col.hpp"

#include <algorithm>
#include <cstring>

#include "arithmetic.hpp"
#include "kernels/direct_ukernels.hpp"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace convkit::detail {

namespace {

// dst[0, n) = src[0, n * stride) step stride. For stride 1, memcpy: its run-time dispatched AVX-512 copy beat the
// portable build's SSE2 loop even on 28-float rows (decided on inception_3a_5x5's im2col_gemm; docs/tuning-log.md).
inline void copy_strided(float* dst, const float* src, std::int64_t n, std::int64_t stride) {
  if (stride == 1) {
    if (n > 0) std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
  } else {
    for (std::int64_t k = 0; k < n; ++k) dst[k] = src[k * stride];
  }
}

inline void zero(float* dst, std::int64_t n) {
  for (std::int64_t k = 0; k < n; ++k) dst[k] = 0.0f;
}

// im2col for unit strides and out_width == in_width; lo[j], hi[j]: the output columns [lo, hi) where kernel
// column j lies inside the input.
void im2col_shifted(const Problem& p, const float* channels, std::int64_t pixel_begin, std::int64_t pixel_end,
                    float* columns, std::int64_t ld, const std::int64_t* lo, const std::int64_t* hi) {
  const std::int64_t H = p.in_height, W = p.in_width, plane_size = H * W;
  const std::int64_t Kh = p.kernel_height, Kw = p.kernel_width;
  for (std::int64_t c = 0; c < p.group_in_channels; ++c) {
    const float* plane = channels + c * plane_size;
    for (std::int64_t i = 0; i < Kh; ++i) {
      // Output rows whose input row oh - pad_top + i * dilation lies inside: [row_lo, row_hi), as pixels [a, b).
      const std::int64_t row_offset = i * p.dilation_height - p.pad_top;
      const std::int64_t row_lo = std::max<std::int64_t>(0, -row_offset), row_hi = H - row_offset;
      const std::int64_t a = std::clamp(row_lo * W, pixel_begin, pixel_end);
      const std::int64_t b = std::clamp(row_hi * W, a, pixel_end);
      for (std::int64_t j = 0; j < Kw; ++j) {
        float* dst = columns + ((c * Kh + i) * Kw + j) * ld;  // output pixel q at dst[q - pixel_begin]
        zero(dst, a - pixel_begin);
        zero(dst + (b - pixel_begin), pixel_end - b);
        if (a >= b) continue;
        const std::int64_t shift = row_offset * W + j * p.dilation_width - p.pad_left;
        // Pixels whose source lies outside the plane are border columns: zeroed below with the others.
        const std::int64_t from = std::clamp(-shift, a, b), to = std::clamp(plane_size - shift, from, b);
        copy_strided(dst + (from - pixel_begin), plane + (from + shift), to - from, 1);
        // Columns [0, lo) and [hi, W) of every row that meets [a, b), one border column at a time: a column is a
        // strided run of one store per row. The tile is zero outside [a, b) already, so only the tile's own ends
        // bound the run (per row, two clamped loops took half of inception_3a_5x5's unfolding time).
        const std::int64_t left = std::min(lo[j], W), right = std::clamp(hi[j], left, W);
        if (left == 0 && right == W) continue;
        const std::int64_t first_row = a - a % W, end = std::min((b - 1) - (b - 1) % W + W, pixel_end);
        const auto zero_column = [&](std::int64_t column) {
          std::int64_t q = first_row + column;
          if (q < pixel_begin) q += W;
          for (; q < end; q += W) dst[q - pixel_begin] = 0.0f;
        };
        for (std::int64_t column = 0; column < left; ++column) zero_column(column);
        for (std::int64_t column = right; column < W; ++column) zero_column(column);
      }
    }
  }
}

// im2col for a column stride of 2 (mobilenetv2_dw_s2, resnet50_conv1), a band of output rows at a time: the input
// rows the band meets are staged once, split into their even and odd columns with the padding's zeros in place
// (the vector kernels' stage_rows, kernels/direct_ukernels.hpp), and every kernel column of every output row is then
// one contiguous copy from one phase of a staged row, with no bounds to test (the kernels' copy_taps).
// Decided on mobilenetv2_dw_s2 (96 channels, tiles of 784 pixels) at one thread against the row-by-row split below,
// its unfolding alone and im2col_gemm on the layer (resnet50_conv1 gained less), then copy_taps against memcpy
// (docs/tuning-log.md).
// Staging the whole band before copying matters: staged one row at a time just before its copies, the rows were
// read while their stores were still in flight, and the loads stalled on them (no faster than the row-by-row split).
// Returns false, having written nothing, when the input rows of a single output row exceed the staging buffer.
bool im2col_stride2(const Problem& p, const float* channels, std::int64_t pixel_begin, std::int64_t pixel_end,
                    float* columns, std::int64_t ld) {
  const std::int64_t H = p.in_height, W = p.in_width, Wo = p.out_width, sh = p.stride_height;
  const std::int64_t Kh = p.kernel_height, Kw = p.kernel_width, dh = p.dilation_height, dw = p.dilation_width;
  constexpr std::int64_t kStagedFloats = 8192;
  // A staged row: its even phase, then its odd, each long enough for the last output column's last kernel column.
  const std::int64_t length = round_up(Wo + ((Kw - 1) * dw) / 2, 16), row_floats = 2 * length;
  const std::int64_t rows_per_output_row = (Kh - 1) * dh + 1;
  if (kStagedFloats / row_floats < rows_per_output_row) return false;
  // A band stages about kBandFloats (at least one output row's rows), small beside the tile's unfolded buffer, so
  // that both stay in L1 until the product reads the buffer (decided on mobilenetv2_dw_s2's im2col_gemm at one
  // thread, bands of 2048 floats against 8192; resnet50_conv1 the same within noise; docs/tuning-log.md).
  constexpr std::int64_t kBandFloats = 2048;
  const std::int64_t band_input_rows = std::max(rows_per_output_row, kBandFloats / row_floats);
  const std::int64_t band_rows = (band_input_rows - rows_per_output_row) / sh + 1;
  alignas(64) float staged[kStagedFloats];
  // Kernel column j's run starts at element (j * dw) / 2 of phase (j * dw) % 2.
  constexpr std::int64_t kMaxTaps = 64;
  if (Kw > kMaxTaps) return false;
  std::int64_t tap_offsets[kMaxTaps];
  for (std::int64_t j = 0; j < Kw; ++j) tap_offsets[j] = (j * dw) % 2 * length + (j * dw) / 2;
  const DirectUkernels& kernels = direct_ukernels();
  for (std::int64_t c = 0; c < p.group_in_channels; ++c) {
    const float* plane = channels + c * H * W;
    for (std::int64_t oh0 = pixel_begin / Wo; oh0 * Wo < pixel_end; oh0 += band_rows) {
      const std::int64_t oh1 = std::min(ceil_div(pixel_end, Wo), oh0 + band_rows);
      // The band's pixels, and its input rows [ih0, ih0 + rows_per_output_row + (oh1 - oh0 - 1) * sh), of which those
      // inside the input are staged.
      const std::int64_t band_begin = std::max(oh0 * Wo, pixel_begin), band_end = std::min(oh1 * Wo, pixel_end);
      const std::int64_t ih0 = oh0 * sh - p.pad_top, ih1 = ih0 + (oh1 - oh0 - 1) * sh + rows_per_output_row;
      const std::int64_t inside0 = std::clamp<std::int64_t>(ih0, 0, H), inside1 = std::clamp(ih1, inside0, H);
      if (inside1 > inside0)
        kernels.stage_rows(plane + inside0 * W, W, inside1 - inside0, W, p.pad_left, 2, length,
                           staged + (inside0 - ih0) * row_floats);
      for (std::int64_t i = 0; i < Kh; ++i) {
        // Output rows [r0, r1) of the band meet an input row of kernel row i: 0 <= oh * sh - pad_top + i * dh < H.
        const std::int64_t first = ceil_div(std::max<std::int64_t>(0, p.pad_top - i * dh), sh);
        const std::int64_t end = H - 1 + p.pad_top - i * dh < 0 ? 0 : (H - 1 + p.pad_top - i * dh) / sh + 1;
        const std::int64_t r0 = std::clamp(first, oh0, oh1), r1 = std::clamp(end, r0, oh1);
        const std::int64_t copy_begin = std::clamp(r0 * Wo, band_begin, band_end);
        const std::int64_t copy_end = std::clamp(r1 * Wo, copy_begin, band_end);
        float* const kernel_row = columns + (c * Kh + i) * Kw * ld;  // tap j, pixel q at [j * ld + q - pixel_begin]
        for (std::int64_t j = 0; j < Kw; ++j) {
          zero(kernel_row + j * ld + (band_begin - pixel_begin), copy_begin - band_begin);
          zero(kernel_row + j * ld + (copy_end - pixel_begin), band_end - copy_end);
        }
        // Output pixel (oh, ow) reads element ow + (j * dw) / 2 of phase (j * dw) % 2 of input row
        // oh * sh - pad_top + i * dh, staged row (oh - oh0) * sh + i * dh. Row by row, so that each staged row serves
        // every kernel column while it is in L1; the first and the last row may be partial.
        std::int64_t oh = copy_begin / Wo, ow = copy_begin - oh * Wo;
        for (std::int64_t q = copy_begin; q < copy_end; ++oh, ow = 0) {
          const std::int64_t n = std::min(Wo - ow, copy_end - q);
          kernels.copy_taps(staged + ((oh - oh0) * sh + i * dh) * row_floats + ow, tap_offsets, Kw, n,
                            kernel_row + (q - pixel_begin), ld);
          q += n;
        }
      }
    }
  }
  return true;
}

}  // namespace

void im2col(const Problem& p, const float* channels, std::int64_t pixel_begin, std::int64_t pixel_end, float* columns,
            std::int64_t ld) {
  const std::int64_t H = p.in_height, W = p.in_width, Wo = p.out_width, sw = p.stride_width;
  const std::int64_t Kh = p.kernel_height, Kw = p.kernel_width;
  // Output rows outermost within a (channel, kernel row): the input row is found once and serves every kernel
  // column j, each of which fills its own row of the matrix. For kernel column j, input column ow * sw + offset(j)
  // lies inside for ow in [lo(j), hi(j)), computed on the fly (two divisions) for kernels wider than the table.
  constexpr std::int64_t kTable = 16;
  std::int64_t offset[kTable], lo[kTable], hi[kTable];
  const auto bounds = [&](std::int64_t j, std::int64_t& o, std::int64_t& l, std::int64_t& h) {
    o = j * p.dilation_width - p.pad_left;
    l = std::max<std::int64_t>(0, ceil_div(-o, sw));
    h = std::max<std::int64_t>(0, ceil_div(W - o, sw));
  };
  for (std::int64_t j = 0; j < std::min(Kw, kTable); ++j) bounds(j, offset[j], lo[j], hi[j]);

  // Unit strides with the output as wide as the input ("same" padding: every stride-1 3x3 and 5x5 layer of the
  // suite): output pixel q meets input element q + shift(i, j) of the plane, so a tap's whole run of output rows is
  // one copy, and only the border columns, which met the neighbouring row's elements, are zeroed afterwards.
  if (p.stride_height == 1 && sw == 1 && Wo == W && Kw <= kTable) {
    im2col_shifted(p, channels, pixel_begin, pixel_end, columns, ld, lo, hi);
    return;
  }

  if (sw == 2 && im2col_stride2(p, channels, pixel_begin, pixel_end, columns, ld)) return;

  // Strided columns: kernels wider than their stride read each input row's element several times (resnet50_conv1:
  // a 224-wide row feeds 7 gathers of 112), so the row is first split into its stride phases, phase r holding
  // columns r, r + sw, ... (one pass), and every kernel column then copies a contiguous run of one phase
  // (decided on resnet50_conv1's unfolding; docs/tuning-log.md).
  constexpr std::int64_t kPhaseFloats = 4096;
  float phases[kPhaseFloats];
  const std::int64_t phase_length = ceil_div(W, sw);
  const bool split_phases = sw > 1 && Kw > sw && phase_length * sw <= kPhaseFloats;

  const std::int64_t first_oh = pixel_begin / Wo, first_ow = pixel_begin % Wo;
  for (std::int64_t c = 0; c < p.group_in_channels; ++c) {
    const float* plane = channels + c * H * W;
    for (std::int64_t i = 0; i < Kh; ++i) {
      float* kernel_row = columns + (c * Kh + i) * Kw * ld;
      std::int64_t pixel = pixel_begin, oh = first_oh, ow0 = first_ow;
      while (pixel < pixel_end) {
        const std::int64_t ow1 = std::min(Wo, ow0 + (pixel_end - pixel));
        const std::int64_t n = ow1 - ow0, column = pixel - pixel_begin;
        const std::int64_t ih = oh * p.stride_height - p.pad_top + i * p.dilation_height;
        if (ih < 0 || ih >= H) {
          for (std::int64_t j = 0; j < Kw; ++j) zero(kernel_row + j * ld + column, n);
        } else {
          const float* input_row = plane + ih * W;
          if (split_phases) deinterleave(input_row, W, sw, phase_length, phases);
          for (std::int64_t j = 0; j < Kw; ++j) {
            std::int64_t o, l, h;
            if (j < kTable) {
              o = offset[j], l = lo[j], h = hi[j];
            } else {
              bounds(j, o, l, h);
            }
            float* dst = kernel_row + j * ld + column;
            const std::int64_t a = std::clamp(l, ow0, ow1), b = std::clamp(h, a, ow1);
            zero(dst, a - ow0);
            if (split_phases && b > a) {
              // Input column a * sw + o is element (a * sw + o) / sw of phase (a * sw + o) % sw.
              const std::int64_t first = a * sw + o;
              copy_strided(dst + (a - ow0), phases + first % sw * phase_length + first / sw, b - a, 1);
            } else if (b > a) {
              copy_strided(dst + (a - ow0), input_row + (a * sw + o), b - a, sw);
            }
            zero(dst + (b - ow0), ow1 - b);
          }
        }
        pixel += n;
        ++oh;
        ow0 = 0;
      }
    }
  }
}

void im2row(const Problem& p, const float* pixels, std::int64_t pixel_begin, std::int64_t pixel_end, float* rows) {
  const std::int64_t H = p.in_height, W = p.in_width, Wo = p.out_width, Kw = p.kernel_width;
  const std::int64_t channels = p.group_in_channels, pixel_stride = p.in_channels;
  // Without dilation, and when the group is all the channels, a kernel row's taps are one contiguous run of
  // Kw * channels floats in the input: one copy instead of Kw (resnet50_conv1 in NHWC has runs of 3 channels).
  const bool contiguous_taps = p.dilation_width == 1 && channels == pixel_stride;
  float* dst = rows;
  for (std::int64_t pixel = pixel_begin; pixel < pixel_end; ++pixel) {
    const std::int64_t oh = pixel / Wo, ow = pixel % Wo;
    const std::int64_t iw0 = ow * p.stride_width - p.pad_left;
    for (std::int64_t i = 0; i < p.kernel_height; ++i) {
      const std::int64_t ih = oh * p.stride_height - p.pad_top + i * p.dilation_height;
      if (ih < 0 || ih >= H) {
        zero(dst, Kw * channels);
        dst += Kw * channels;
        continue;
      }
      const float* input_row = pixels + ih * W * pixel_stride;
      if (contiguous_taps && iw0 >= 0 && iw0 + Kw <= W) {
        copy_strided(dst, input_row + iw0 * pixel_stride, Kw * channels, 1);
        dst += Kw * channels;
        continue;
      }
      for (std::int64_t j = 0; j < Kw; ++j) {
        const std::int64_t iw = iw0 + j * p.dilation_width;
        if (iw < 0 || iw >= W) {
          zero(dst, channels);
        } else {
          copy_strided(dst, input_row + iw * pixel_stride, channels, 1);
        }
        dst += channels;
      }
    }
  }
}

void deinterleave(const float* row, std::int64_t width, std::int64_t stride, std::int64_t length, float* phases) {
  if (stride == 2) {  // a form the compiler vectorises (two loads, two shuffles)
    float* even = phases;
    float* odd = phases + length;
    const std::int64_t pairs = width / 2;
    for (std::int64_t t = 0; t < pairs; ++t) {
      even[t] = row[2 * t];
      odd[t] = row[2 * t + 1];
    }
    if (width % 2 != 0) even[pairs] = row[width - 1];
    return;
  }
  for (std::int64_t r = 0; r < stride; ++r)
    for (std::int64_t t = 0; t * stride + r < width; ++t) phases[r * length + t] = row[t * stride + r];
}

}  // namespace convkit::detail
