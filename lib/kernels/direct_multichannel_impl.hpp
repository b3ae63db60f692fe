// The direct kernels for groups of several input channels, and for the groups of one that
// direct_single_channel_impl.hpp does not serve: blocks of output rows by strips of vectors, summed over the channels
// of the staged input (over one block of them when the driver cuts a long reduction into blocks). Included only by
// the per-ISA files (through direct_ukernels_impl.hpp), each of which defines CONVKIT_ISA_NAMESPACE (see
// direct_ukernels_impl.hpp for why everything lives in that namespace).
#pragma once

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including direct_multichannel_impl.hpp"
#endif

#include "direct_common_impl.hpp"

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

template <class Arch>
struct DirectMultichannel : DirectVectors<Arch> {
  using Base = DirectVectors<Arch>;
  using Base::activate;
  using Base::kWidth;
  using Base::load;
  using Base::store;
  using typename Base::Batch;

  // Where the sums of a block of the reduction start: the bias on the first block, zero on the others.
  static Batch start(const DirectRowsTask& t) { return Batch(t.accumulate ? 0.0f : t.bias); }

  // The block's sum for the `count` outputs at out, plus what the blocks before left there, activated after the last.
  static Batch result(Batch sum, const DirectRowsTask& t, const float* out, std::int64_t count) {
    sum = t.accumulate ? sum + load(t, out, count) : Base::add_residual(sum, t, out, count);
    return t.finish ? activate(sum, t) : sum;
  }

  template <int kRows, int kStrip>
  static void fill_bias(Batch (&acc)[kRows][kStrip], const DirectRowsTask& t) {
    const Batch first = start(t);
    CONVKIT_UNROLL
    for (int r = 0; r < kRows; ++r) CONVKIT_UNROLL
    for (int s = 0; s < kStrip; ++s) acc[r][s] = first;
  }

  // The result, then the store, of rows [y, y + kRows) from column x; `valid` columns of the last vector are real.
  template <int kRows, int kStrip>
  static void store_block(const Batch (&acc)[kRows][kStrip], const DirectRowsTask& t, std::int64_t y, std::int64_t x,
                          std::int64_t valid) {
    CONVKIT_UNROLL
    for (int r = 0; r < kRows; ++r) {
      float* out = t.output + (y + r) * t.out_row_stride + x * t.out_col_stride;
      CONVKIT_UNROLL
      for (int s = 0; s < kStrip; ++s) {
        float* at = out + s * kWidth * t.out_col_stride;
        const std::int64_t count = s + 1 < kStrip ? kWidth : valid;
        store(result(acc[r][s], t, at, count), t, at, count);
      }
    }
  }

  // kRows output rows from y (consecutive, which needs stride_height = dilation_height = 1) by kStrip vectors from
  // column x; `valid` columns of the last vector are real. Each input row is loaded once for all the output rows it
  // feeds, and each weight broadcast once per input row.
  template <int kRows, int kStrip>
  static void block(const DirectRowsTask& t, std::int64_t y, std::int64_t x, std::int64_t valid) {
    Batch acc[kRows][kStrip];
    fill_bias<kRows, kStrip>(acc, t);
    const std::int64_t row_step = t.phases * t.row_floats;
    const std::int64_t input_rows = kRows + t.kernel_height - 1;
    for (std::int64_t c = 0; c < t.channels; ++c) {
      const float* plane = t.staged + c * t.plane_floats + y * row_step + x;
      const float* w_c = t.weights + c * t.weight_stride_c;
      for (std::int64_t ir = 0; ir < input_rows; ++ir) {
        const float* row = plane + ir * row_step;
        for (std::int64_t j = 0; j < t.kernel_width; ++j) {
          const float* src = row + t.tap_offsets[j];
          Batch in[kStrip];
          CONVKIT_UNROLL
          for (int s = 0; s < kStrip; ++s) in[s] = Batch::load_unaligned(src + s * kWidth);
          CONVKIT_UNROLL
          for (int r = 0; r < kRows; ++r) {
            const std::int64_t i = ir - r;  // the kernel row that meets input row ir in output row y + r
            if (i < 0 || i >= t.kernel_height) continue;
            const Batch weight(w_c[i * t.weight_stride_i + j * t.weight_stride_j]);
            CONVKIT_UNROLL
            for (int s = 0; s < kStrip; ++s) acc[r][s] = fused_multiply_add(in[s], weight, acc[r][s]);
          }
        }
      }
    }
    store_block<kRows, kStrip>(acc, t, y, x, valid);
  }

  // block<kRows, kStrip> for a kernel of kKh x kKw known at compile time: the loops unroll completely, the kernel
  // rows meeting each input row are known, and the channel's weights sit in registers.
  template <int kRows, int kStrip, int kKh, int kKw>
  static void block_fixed(const DirectRowsTask& t, std::int64_t y, std::int64_t x, std::int64_t valid) {
    Batch acc[kRows][kStrip];
    fill_bias<kRows, kStrip>(acc, t);
    const std::int64_t row_step = t.phases * t.row_floats;
    std::int64_t offsets[kKw];
    CONVKIT_UNROLL
    for (int j = 0; j < kKw; ++j) offsets[j] = t.tap_offsets[j];
    for (std::int64_t c = 0; c < t.channels; ++c) {
      const float* plane = t.staged + c * t.plane_floats + y * row_step + x;
      const float* w_c = t.weights + c * t.weight_stride_c;
      Batch weight[kKh][kKw];
      CONVKIT_UNROLL
      for (int i = 0; i < kKh; ++i) CONVKIT_UNROLL
      for (int j = 0; j < kKw; ++j) weight[i][j] = Batch(w_c[i * t.weight_stride_i + j * t.weight_stride_j]);
      CONVKIT_UNROLL
      for (int ir = 0; ir < kRows + kKh - 1; ++ir) {
        const float* row = plane + ir * row_step;
        CONVKIT_UNROLL
        for (int j = 0; j < kKw; ++j) {
          Batch in[kStrip];
          CONVKIT_UNROLL
          for (int s = 0; s < kStrip; ++s) in[s] = Batch::load_unaligned(row + offsets[j] + s * kWidth);
          CONVKIT_UNROLL
          for (int r = 0; r < kRows; ++r) {
            const int i = ir - r;
            if (i < 0 || i >= kKh) continue;  // resolved at compile time once unrolled
            CONVKIT_UNROLL
            for (int s = 0; s < kStrip; ++s) acc[r][s] = fused_multiply_add(in[s], weight[i][j], acc[r][s]);
          }
        }
      }
    }
    store_block<kRows, kStrip>(acc, t, y, x, valid);
  }

  template <int kRows, int kStrip>
  static void block_any(const DirectRowsTask& t, std::int64_t y, std::int64_t x, std::int64_t valid) {
    if (t.kernel_height == 3 && t.kernel_width == 3) return block_fixed<kRows, kStrip, 3, 3>(t, y, x, valid);
    if (t.kernel_height == 5 && t.kernel_width == 5) return block_fixed<kRows, kStrip, 5, 5>(t, y, x, valid);
    block<kRows, kStrip>(t, y, x, valid);
  }

  // One output row (any stride and dilation) by kStrip vectors.
  template <int kStrip>
  static void strip(const DirectRowsTask& t, std::int64_t y, std::int64_t x, std::int64_t valid) {
    Batch acc[kStrip];
    CONVKIT_UNROLL
    for (int s = 0; s < kStrip; ++s) acc[s] = start(t);
    const std::int64_t row_step = t.phases * t.row_floats;
    for (std::int64_t c = 0; c < t.channels; ++c) {
      const float* plane = t.staged + c * t.plane_floats + x;
      const float* w_c = t.weights + c * t.weight_stride_c;
      for (std::int64_t i = 0; i < t.kernel_height; ++i) {
        const float* row = plane + (y * t.stride_height + i * t.dilation_height) * row_step;
        const float* w = w_c + i * t.weight_stride_i;
        for (std::int64_t j = 0; j < t.kernel_width; ++j) {
          const Batch weight(w[j * t.weight_stride_j]);
          const float* src = row + t.tap_offsets[j];
          CONVKIT_UNROLL
          for (int s = 0; s < kStrip; ++s)
            acc[s] = fused_multiply_add(Batch::load_unaligned(src + s * kWidth), weight, acc[s]);
        }
      }
    }
    float* out = t.output + y * t.out_row_stride + x * t.out_col_stride;
    CONVKIT_UNROLL
    for (int s = 0; s < kStrip; ++s) {
      float* at = out + s * kWidth * t.out_col_stride;
      const std::int64_t count = s + 1 < kStrip ? kWidth : valid;
      store(result(acc[s], t, at, count), t, at, count);
    }
  }

  // How many vectors (at most four) the next strip of a row with `left` columns takes, and how many columns of its
  // last vector are real.
  static std::int64_t strip_vectors(std::int64_t left, std::int64_t& valid) {
    const std::int64_t vectors = left >= 4 * kWidth ? 4 : (left + kWidth - 1) / kWidth;
    const std::int64_t last = left - (vectors - 1) * kWidth;
    valid = last < kWidth ? last : kWidth;
    return vectors;
  }

  // The columns of rows [y, y + kRows) in strips of up to four vectors.
  template <int kRows>
  static void row_block(const DirectRowsTask& t, std::int64_t y) {
    for (std::int64_t x = 0; x < t.out_width; x += 4 * kWidth) {
      std::int64_t valid;
      const std::int64_t vectors = strip_vectors(t.out_width - x, valid);
      switch (vectors) {
        case 4:
          block_any<kRows, 4>(t, y, x, valid);
          break;
        case 3:
          block_any<kRows, 3>(t, y, x, valid);
          break;
        case 2:
          block_any<kRows, 2>(t, y, x, valid);
          break;
        default:
          block_any<kRows, 1>(t, y, x, valid);
          break;
      }
    }
  }

  static void row_strided(const DirectRowsTask& t, std::int64_t y) {
    for (std::int64_t x = 0; x < t.out_width; x += 4 * kWidth) {
      std::int64_t valid;
      const std::int64_t vectors = strip_vectors(t.out_width - x, valid);
      switch (vectors) {
        case 4:
          strip<4>(t, y, x, valid);
          break;
        case 3:
          strip<3>(t, y, x, valid);
          break;
        case 2:
          strip<2>(t, y, x, valid);
          break;
        default:
          strip<1>(t, y, x, valid);
          break;
      }
    }
  }

  // Rows sharing input rows come in blocks: four with 32 vector registers (AVX-512), two with 16.
  static constexpr int kRowBlock = kWidth >= 16 ? 4 : 2;

  // Rows [row_begin, row_end): in blocks of kRowBlock rows sharing input rows where output rows are consecutive
  // (stride_height = dilation_height = 1), else one row at a time.
  static void rows(const DirectRowsTask& t) {
    std::int64_t y = t.row_begin;
    if (t.stride_height == 1 && t.dilation_height == 1) {
      for (; y + kRowBlock <= t.row_end; y += kRowBlock) row_block<kRowBlock>(t, y);
      for (; y < t.row_end; ++y) row_block<1>(t, y);
      return;
    }
    for (; y < t.row_end; ++y) row_strided(t, y);
  }
};

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
