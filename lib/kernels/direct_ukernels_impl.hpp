// The direct-convolution kernels, written once with xsimd. Included only by the per-ISA files, each of which
// defines CONVKIT_ISA_NAMESPACE: everything here lives in that namespace and uses no non-inline std template, so no
// function compiled with one ISA's flags can be merged by the linker into code meant for another.
#pragma once

#include "direct_ukernels.hpp"

#include <xsimd/xsimd.hpp>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <cstdint>

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including direct_ukernels_impl.hpp"
#endif

#include "activation_impl.hpp"

#include <type_traits>

// Loops over register tiles must unroll completely, or the accumulators live in memory.
#if defined(__clang__)
#define CONVKIT_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define CONVKIT_UNROLL _Pragma("GCC unroll 64")
#else
#define CONVKIT_UNROLL
#endif

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

template <class Arch>
struct Direct {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);

  static Batch activate(Batch v, const DirectRowsTask& t) { return activate_batch(v, t); }

  static void store(const Batch& v, const DirectRowsTask& t, float* out, std::int64_t count) {
    if (t.out_col_stride == 1 && count == kWidth) {
      v.store_unaligned(out);
      return;
    }
    alignas(64) float lanes[kWidth];
    v.store_aligned(lanes);
    for (std::int64_t k = 0; k < count; ++k) out[k * t.out_col_stride] = lanes[k];
  }

  // The `count` outputs from out that store(v, t, out, count) writes, gathered alike; lanes beyond are zero.
  static Batch load(const DirectRowsTask& t, const float* out, std::int64_t count) {
    if (t.out_col_stride == 1 && count == kWidth) return Batch::load_unaligned(out);
    alignas(64) float lanes[kWidth] = {};
    for (std::int64_t k = 0; k < count; ++k) lanes[k] = out[k * t.out_col_stride];
    return Batch::load_aligned(lanes);
  }

  // Where the sums of a block of the reduction start: the bias on the first block, zero on the others.
  static Batch start(const DirectRowsTask& t) { return Batch(t.accumulate ? 0.0f : t.bias); }

  // The block's sum for the `count` outputs at out, plus what the blocks before left there, activated after the last.
  static Batch result(Batch sum, const DirectRowsTask& t, const float* out, std::int64_t count) {
    if (t.accumulate) sum += load(t, out, count);
    return t.finish ? activate(sum, t) : sum;
  }

  template <int kRows, int kStrip>
  static void fill_bias(Batch (&acc)[kRows][kStrip], const DirectRowsTask& t) {
    const Batch first = start(t);
    CONVKIT_UNROLL
    for (int r = 0; r < kRows; ++r)
      CONVKIT_UNROLL
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
            for (int s = 0; s < kStrip; ++s) acc[r][s] = xsimd::fma(in[s], weight, acc[r][s]);
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
      for (int i = 0; i < kKh; ++i)
        CONVKIT_UNROLL
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
            for (int s = 0; s < kStrip; ++s) acc[r][s] = xsimd::fma(in[s], weight[i][j], acc[r][s]);
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
          for (int s = 0; s < kStrip; ++s) acc[s] = xsimd::fma(Batch::load_unaligned(src + s * kWidth), weight, acc[s]);
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
        case 4: block_any<kRows, 4>(t, y, x, valid); break;
        case 3: block_any<kRows, 3>(t, y, x, valid); break;
        case 2: block_any<kRows, 2>(t, y, x, valid); break;
        default: block_any<kRows, 1>(t, y, x, valid); break;
      }
    }
  }

  static void row_strided(const DirectRowsTask& t, std::int64_t y) {
    for (std::int64_t x = 0; x < t.out_width; x += 4 * kWidth) {
      std::int64_t valid;
      const std::int64_t vectors = strip_vectors(t.out_width - x, valid);
      switch (vectors) {
        case 4: strip<4>(t, y, x, valid); break;
        case 3: strip<3>(t, y, x, valid); break;
        case 2: strip<2>(t, y, x, valid); break;
        default: strip<1>(t, y, x, valid); break;
      }
    }
  }

  // Rows sharing input rows come in blocks: four with 32 vector registers (AVX-512), two with 16.
  static constexpr int kRowBlock = kWidth >= 16 ? 4 : 2;

  // A group of one input channel (depthwise in NCHW) has too little work per block for block_fixed's setup: its
  // weights, broadcast again for every block, and 16 accumulators that the compiler shuffles between registers
  // (measured on mobilenetv2_dw NCHW: block_fixed<4, 4, 3, 3> at about half the FMA rate). Here the weights are
  // broadcast once per call and stay in registers, and a block is kRows rows by one vector: kRows accumulators.
  // Rows at least a vector wide end with a vector that overlaps the one before it, so every store is a whole vector.
  template <int kKh, int kKw, int kSh, int kRows>
  static void single_channel_block(const DirectRowsTask& t, const Batch (&w)[kKh][kKw],
                                   const std::int64_t (&offsets)[kKw], std::int64_t y, std::int64_t x,
                                   std::int64_t valid) {
    const std::int64_t row_step = t.phases * t.row_floats;
    const float* base = t.staged + y * kSh * row_step + x;
    Batch acc[kRows];
    CONVKIT_UNROLL
    for (int r = 0; r < kRows; ++r) acc[r] = Batch(t.bias);
    CONVKIT_UNROLL
    for (int ir = 0; ir < (kRows - 1) * kSh + kKh; ++ir) {
      CONVKIT_UNROLL
      for (int j = 0; j < kKw; ++j) {
        const Batch in = Batch::load_unaligned(base + ir * row_step + offsets[j]);
        CONVKIT_UNROLL
        for (int r = 0; r < kRows; ++r) {
          const int i = ir - r * kSh;  // the kernel row that meets input row ir in output row y + r
          if (i >= 0 && i < kKh) acc[r] = xsimd::fma(in, w[i][j], acc[r]);  // resolved at compile time
        }
      }
    }
    CONVKIT_UNROLL
    for (int r = 0; r < kRows; ++r) store(activate(acc[r], t), t, t.output + (y + r) * t.out_row_stride + x, valid);
  }

  // Calls block(rows, y, x, valid) over the task's rows in blocks of kRows rows (single rows for the rest, rows being
  // std::integral_constant<int, R>) by one vector from column x, `valid` columns of it real. Rows at least a vector
  // wide end with a vector that overlaps the one before it, so that every store is a whole vector.
  template <int kRows, class Block>
  static void vector_blocks(const DirectRowsTask& t, const Block& block) {
    const auto columns = [&](auto rows, std::int64_t y) {
      if (t.out_width < kWidth) return block(rows, y, 0, t.out_width);
      std::int64_t x = 0;
      for (; x + kWidth <= t.out_width; x += kWidth) block(rows, y, x, kWidth);
      if (x < t.out_width) block(rows, y, t.out_width - kWidth, kWidth);
    };
    std::int64_t y = t.row_begin;
    for (; y + kRows <= t.row_end; y += kRows) columns(std::integral_constant<int, kRows>{}, y);
    for (; y < t.row_end; ++y) columns(std::integral_constant<int, 1>{}, y);
  }

  template <int kKh, int kKw, int kSh>
  static void single_channel(const DirectRowsTask& t) {
    Batch w[kKh][kKw];
    std::int64_t offsets[kKw];
    CONVKIT_UNROLL
    for (int i = 0; i < kKh; ++i)
      CONVKIT_UNROLL
      for (int j = 0; j < kKw; ++j) w[i][j] = Batch(t.weights[i * t.weight_stride_i + j * t.weight_stride_j]);
    CONVKIT_UNROLL
    for (int j = 0; j < kKw; ++j) offsets[j] = t.tap_offsets[j];
    // As many rows as the registers hold beside the weights and an input: 8 rows on mobilenetv2_dw NCHW (AVX-512)
    // gave 37.3 GFLOP/s against 36.0 with 4. The driver's bands of 8 rows are a multiple of every choice.
    constexpr int kRegisters = kWidth >= 16 ? 32 : 16;
    constexpr int kFree = kRegisters - kKh * kKw - 2;
    constexpr int kRows = kFree >= 8 ? 8 : (kFree >= 4 ? 4 : 2);
    vector_blocks<kRows>(t, [&](auto rows, std::int64_t y, std::int64_t x, std::int64_t valid) {
      single_channel_block<kKh, kKw, kSh, decltype(rows)::value>(t, w, offsets, y, x, valid);
    });
  }

#if defined(__AVX512F__)
  static constexpr bool kReadsInPlace = std::is_base_of_v<xsimd::avx512f, Arch>;

  // Loads of kVectors consecutive vectors of padded rows (row 0 being the first of top padding) from padded column
  // `column`, read in place: lanes outside the input are zeros. The lanes inside are worked out once per block,
  // the rows inside once per row; masked loads touch no memory in their masked lanes, so a row's address may lie
  // outside the input when the whole row is masked.
  template <int kVectors>
  struct PaddedRows {
    std::uintptr_t origin;                  // address of lane 0 of the first vector in padded row 0
    std::intptr_t row_bytes;
    std::int64_t pad_top, in_height;
    __mmask16 lanes[kVectors];

    PaddedRows(const DirectRowsTask& t, std::int64_t column) : pad_top(t.pad_top), in_height(t.in_height) {
      const std::int64_t first = column - t.pad_left;  // input column of lane 0
      row_bytes = static_cast<std::intptr_t>(t.in_width * 4);
      origin = reinterpret_cast<std::uintptr_t>(t.input) +
               static_cast<std::uintptr_t>((first - t.pad_top * t.in_width) * 4);
      for (int v = 0; v < kVectors; ++v) {
        const std::int64_t start = first + 16 * v;
        const std::int64_t lo = start < 0 ? (-start < 16 ? -start : 16) : 0;
        const std::int64_t hi = t.in_width - start < 16 ? (t.in_width - start > 0 ? t.in_width - start : 0) : 16;
        lanes[v] = hi <= lo ? __mmask16{0} : static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
      }
    }

    template <int kVector>
    __m512 load(std::int64_t r) const {
      const std::int64_t h = r - pad_top;
      const __mmask16 row = h >= 0 && h < in_height ? __mmask16{0xFFFF} : __mmask16{0};
      const std::uintptr_t address = origin + static_cast<std::uintptr_t>(r * row_bytes + kVector * 64);
      return _mm512_maskz_loadu_ps(static_cast<__mmask16>(row & lanes[kVector]), reinterpret_cast<const void*>(address));
    }
  };

  // Column stride 2: output vector x reads padded columns 2x .. 2x + 32 of each row as three vectors, and
  // two-source permutes make its taps, columns 2x + 2u (even), 2x + 2u + 1 (odd) and 2x + 2u + 2 (even moved on by
  // one, and the third vector's first).
  template <int kSh, int kRows>
  static void deinterleaved_block(const DirectRowsTask& t, const __m512 (&w)[3][3], std::int64_t y, std::int64_t x,
                                  std::int64_t valid) {
    const __m512i even_index = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd_index = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i next_index = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    const PaddedRows<3> rows(t, 2 * x);
    __m512 acc[kRows];
    CONVKIT_UNROLL
    for (int r = 0; r < kRows; ++r) acc[r] = _mm512_set1_ps(t.bias);
    CONVKIT_UNROLL
    for (int ir = 0; ir < (kRows - 1) * kSh + 3; ++ir) {
      const std::int64_t row = y * kSh + ir;
      const __m512 a = rows.template load<0>(row), b = rows.template load<1>(row), c = rows.template load<2>(row);
      const __m512 even = _mm512_permutex2var_ps(a, even_index, b);
      const __m512 odd = _mm512_permutex2var_ps(a, odd_index, b);
      const __m512 next = _mm512_permutex2var_ps(even, next_index, c);
      CONVKIT_UNROLL
      for (int r = 0; r < kRows; ++r) {
        const int i = ir - r * kSh;
        if (i < 0 || i >= 3) continue;  // resolved at compile time
        acc[r] = _mm512_fmadd_ps(even, w[i][0], acc[r]);
        acc[r] = _mm512_fmadd_ps(odd, w[i][1], acc[r]);
        acc[r] = _mm512_fmadd_ps(next, w[i][2], acc[r]);
      }
    }
    CONVKIT_UNROLL
    for (int r = 0; r < kRows; ++r)
      store(activate(Batch(acc[r]), t), t, t.output + (y + r) * t.out_row_stride + x, valid);
  }

  // Column stride 1: the three taps of a row are the vector at padded column x and that vector moved on by one and
  // two columns, made by valignd from it and the next vector.
  template <int kShift>
  static __m512 moved_on(__m512 current, __m512 next) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(current), kShift));
  }

  template <int kSh, int kRows>
  static void moved_block(const DirectRowsTask& t, const __m512 (&w)[3][3], std::int64_t y, std::int64_t x,
                          std::int64_t valid) {
    __m512 acc[kRows];
    CONVKIT_UNROLL
    for (int r = 0; r < kRows; ++r) acc[r] = _mm512_set1_ps(t.bias);
    const PaddedRows<2> rows(t, x);
    CONVKIT_UNROLL
    for (int ir = 0; ir < (kRows - 1) * kSh + 3; ++ir) {
      const std::int64_t row = y * kSh + ir;
      const __m512 current = rows.template load<0>(row), next = rows.template load<1>(row);
      const __m512 taps[3] = {current, moved_on<1>(current, next), moved_on<2>(current, next)};
      CONVKIT_UNROLL
      for (int r = 0; r < kRows; ++r) {
        const int i = ir - r * kSh;
        if (i < 0 || i >= 3) continue;  // resolved at compile time
        CONVKIT_UNROLL
        for (int j = 0; j < 3; ++j) acc[r] = _mm512_fmadd_ps(taps[j], w[i][j], acc[r]);
      }
    }
    CONVKIT_UNROLL
    for (int r = 0; r < kRows; ++r)
      store(activate(Batch(acc[r]), t), t, t.output + (y + r) * t.out_row_stride + x, valid);
  }

  // 8 accumulators, 9 weights, and at most 3 inputs and 3 taps: 23 of the 32 registers.
  template <int kSh, int kSw>
  static void in_place_3x3(const DirectRowsTask& t) {
    __m512 w[3][3];
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) w[i][j] = _mm512_set1_ps(t.weights[i * t.weight_stride_i + j * t.weight_stride_j]);
    vector_blocks<8>(t, [&](auto rows, std::int64_t y, std::int64_t x, std::int64_t valid) {
      if constexpr (kSw == 1) {
        moved_block<kSh, decltype(rows)::value>(t, w, y, x, valid);
      } else {
        deinterleaved_block<kSh, decltype(rows)::value>(t, w, y, x, valid);
      }
    });
  }
#else
  static constexpr bool kReadsInPlace = false;
#endif

  // The fixed forms single_channel serves, a whole group of one channel (its reduction is kh * kw products, never
  // cut into blocks); false sends the task to the general loops.
  static bool single_channel_fixed(const DirectRowsTask& t) {
    if (t.channels != 1 || t.accumulate || !t.finish || t.out_col_stride != 1 || t.dilation_height != 1) return false;
    const std::int64_t kh = t.kernel_height, kw = t.kernel_width, sh = t.stride_height;
    if (kh == 3 && kw == 3 && sh == 1) return single_channel<3, 3, 1>(t), true;
    if (kh == 3 && kw == 3 && sh == 2) return single_channel<3, 3, 2>(t), true;
    if (kh == 5 && kw == 5 && sh == 1) return single_channel<5, 5, 1>(t), true;
    if (kh == 5 && kw == 5 && sh == 2) return single_channel<5, 5, 2>(t), true;
    return false;
  }

  static void rows(const DirectRowsTask& t) {
#if defined(__AVX512F__)
    if constexpr (kReadsInPlace) {
      if (t.staged == nullptr) {  // only the forms of the top of direct_ukernels.hpp
        if (t.stride_height == 1) return t.stride_width == 1 ? in_place_3x3<1, 1>(t) : in_place_3x3<1, 2>(t);
        return t.stride_width == 1 ? in_place_3x3<2, 1>(t) : in_place_3x3<2, 2>(t);
      }
    }
#endif
    if (single_channel_fixed(t)) return;
    std::int64_t y = t.row_begin;
    if (t.stride_height == 1 && t.dilation_height == 1) {
      for (; y + kRowBlock <= t.row_end; y += kRowBlock) row_block<kRowBlock>(t, y);
      for (; y < t.row_end; ++y) row_block<1>(t, y);
      return;
    }
    for (; y < t.row_end; ++y) row_strided(t, y);
  }

  // Staged rows are short (a plane of mobilenetv2_dw_s2 has 112-float rows, split into two phases of 57), so a
  // scalar tail would cost as much as the vectors: a run at least a vector long ends with a vector that overlaps the
  // one before it, which rewrites some floats with the same values.
  static void zero(float* dst, std::int64_t count) {
    const Batch z(0.0f);
    if (count < kWidth) {
      for (std::int64_t k = 0; k < count; ++k) dst[k] = 0.0f;
      return;
    }
    for (std::int64_t k = 0; k + kWidth < count; k += kWidth) z.store_unaligned(dst + k);
    z.store_unaligned(dst + count - kWidth);
  }

  // Zeros [0, lo) and [hi, length) of a run that is filled in [lo, hi) afterwards. The edges are usually shorter
  // than a vector or two: whole vectors at an end cover them, and the filling overwrites what it must.
  static void zero_outside(float* dst, std::int64_t lo, std::int64_t hi, std::int64_t length) {
    if (length < kWidth) {
      zero(dst, lo);
      zero(dst + hi, length - hi);
      return;
    }
    const Batch z(0.0f);
    if (lo <= kWidth) {
      z.store_unaligned(dst);
    } else {
      zero(dst, lo);
    }
    // Rows rounded up to whole vectors leave tails of up to two vectors (as a loop, GCC would call memset).
    if (length - hi <= 2 * kWidth) {
      if (length - hi > kWidth) z.store_unaligned(dst + hi);
      z.store_unaligned(dst + length - kWidth);
    } else {
      zero(dst + hi, length - hi);
    }
  }

  static void copy(const float* src, float* dst, std::int64_t count) {
    if (count < kWidth) {
      for (std::int64_t k = 0; k < count; ++k) dst[k] = src[k];
      return;
    }
    Batch::load_unaligned(src).store_unaligned(dst);
    for (std::int64_t k = to_aligned(dst); k + kWidth < count; k += kWidth)
      Batch::load_unaligned(src + k).store_unaligned(dst + k);
    Batch::load_unaligned(src + count - kWidth).store_unaligned(dst + count - kWidth);
  }

  // The floats from dst to the next vector-aligned address after it: a run that stores its first vector unaligned
  // continues from there with aligned stores, because a store split across two cache lines costs more than a
  // split load (staging a 112-float row of mobilenetv2_dw_s2 into phases at offset 1: 29 against 20 ns at offset 0).
  static std::int64_t to_aligned(const float* dst) {
    const auto misaligned = static_cast<std::int64_t>((reinterpret_cast<std::uintptr_t>(dst) / sizeof(float)) % kWidth);
    return kWidth - misaligned;
  }

  struct EvenLow { static constexpr unsigned get(unsigned i, unsigned n) { return i < n / 2 ? 2 * i : 0; } };
  struct EvenHigh { static constexpr unsigned get(unsigned i, unsigned n) { return i < n / 2 ? 0 : 2 * i - n; } };
  struct OddLow { static constexpr unsigned get(unsigned i, unsigned n) { return i < n / 2 ? 2 * i + 1 : 0; } };
  struct OddHigh { static constexpr unsigned get(unsigned i, unsigned n) { return i < n / 2 ? 0 : 2 * i - n + 1; } };
  struct LowHalf { static constexpr bool get(unsigned i, unsigned n) { return i < n / 2; } };

  // even[k] = source[2k], odd[k] = source[2k + 1] for k < count; reads 2 * count floats.
  static void deinterleave_vector(const float* source, float* even, float* odd) {
    using Index = xsimd::batch<std::uint32_t, Arch>;
    const Batch a = Batch::load_unaligned(source), b = Batch::load_unaligned(source + kWidth);
    const auto low = xsimd::make_batch_bool_constant<Batch, LowHalf>();
    xsimd::select(low, xsimd::swizzle(a, xsimd::make_batch_constant<Index, EvenLow>()),
                  xsimd::swizzle(b, xsimd::make_batch_constant<Index, EvenHigh>()))
        .store_unaligned(even);
    xsimd::select(low, xsimd::swizzle(a, xsimd::make_batch_constant<Index, OddLow>()),
                  xsimd::swizzle(b, xsimd::make_batch_constant<Index, OddHigh>()))
        .store_unaligned(odd);
  }

  static void deinterleave(const float* source, float* even, float* odd, std::int64_t count) {
    if (count < kWidth) {
      for (std::int64_t k = 0; k < count; ++k) {
        even[k] = source[2 * k];
        odd[k] = source[2 * k + 1];
      }
      return;
    }
    // Aligned for even is aligned for odd too when phase rows are whole vectors long, as staged rows are.
    deinterleave_vector(source, even, odd);
    for (std::int64_t k = to_aligned(even); k + kWidth < count; k += kWidth)
      deinterleave_vector(source + 2 * k, even + k, odd + k);
    const std::int64_t last = count - kWidth;
    deinterleave_vector(source + 2 * last, even + last, odd + last);
  }

  static void copy_taps(const float* row, const std::int64_t* tap_offsets, std::int64_t taps, std::int64_t count,
                        float* dst, std::int64_t ld) {
    for (std::int64_t j = 0; j < taps; ++j) copy(row + tap_offsets[j], dst + j * ld, count);
  }

  // `rows` input rows of `width` contiguous floats, source_stride apart, each into `stride` (1 or 2) phase rows of
  // `length` floats, the staged rows consecutive from dst: element k of phase q is input column
  // k*stride + q - pad_left, or zero outside [0, width). The edges are worked out once for all the rows: rows are
  // short (56 or 112 floats in mobilenetv2's layers). That change was measured on the whole layer only, together
  // with whole-vector zeroing and aligned stores: mobilenetv2_dw NCHW, 1 thread, 36.7 -> 41 GFLOP/s.
  static void stage_rows(const float* src, std::int64_t source_stride, std::int64_t rows, std::int64_t width,
                         std::int64_t pad_left, std::int64_t stride, std::int64_t length, float* dst) {
    const auto clamp = [](std::int64_t v, std::int64_t lo, std::int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); };
    if (stride == 1) {
      const std::int64_t lo = clamp(pad_left, 0, length), hi = clamp(width + pad_left, lo, length);
      for (std::int64_t r = 0; r < rows; ++r, src += source_stride, dst += length) {
        zero_outside(dst, lo, hi, length);
        copy(src + (lo - pad_left), dst + lo, hi - lo);
      }
      return;
    }
    // Pairs k in [first, last) lie wholly inside the input: 2k - pad_left >= 0 and 2k + 1 - pad_left <= width - 1.
    // At most one element on each side straddles the edge of the input.
    const std::int64_t first = clamp((pad_left + 1) / 2, 0, length);
    const std::int64_t last = clamp((width + pad_left) / 2, first, length);
    const std::int64_t odd_head = 2 * first - 1 - pad_left, even_tail = 2 * last - pad_left;
    const bool has_odd_head = first > 0 && odd_head >= 0 && odd_head < width;
    const bool has_even_tail = last < length && even_tail >= 0 && even_tail < width;
    for (std::int64_t r = 0; r < rows; ++r, src += source_stride, dst += 2 * length) {
      float* even = dst;
      float* odd = dst + length;
      zero_outside(even, first, last, length);
      zero_outside(odd, first, last, length);
      deinterleave(src + (2 * first - pad_left), even + first, odd + first, last - first);
      if (has_odd_head) odd[first - 1] = src[odd_head];
      if (has_even_tail) even[last] = src[even_tail];
    }
  }
};

template <class Arch>
struct DepthwiseNhwc {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);
  // The interior's register tile: kTilePixels output pixels by kTileVectors channel vectors, with their
  // kTileVectors * kw weights, in the vector registers (32 with AVX-512, 16 below). Measured on mobilenetv2_dw and
  // _dw_s2 in NHWC (convkit_bench, AVX-512, AMD EPYC; GFLOP/s at 1 / 2 threads): 8 x 1 gave 75.8 / 144 and
  // 52.8 / 102; 10 x 2 88.5 / 162 and 56.3 / 109; 12 x 2 84 / 162 and 53 / 102; 8 x 2 83 / 159 and 52 / 100.
  static constexpr bool kManyRegisters = std::is_base_of_v<xsimd::avx512f, Arch>;
  static constexpr int kTilePixels = kManyRegisters ? 10 : 8;
  static constexpr int kTileVectors = kManyRegisters ? 2 : 1;

  static Batch activate(Batch v, const DepthwiseNhwcTask& t) { return activate_batch(v, t); }

  // The last channel block may be partial: no lane beyond `count` is read from the input or written to the output.
  // AVX-512 and AVX2 mask their loads and stores; below them the lanes go through a full vector on the stack (an
  // element-by-element copy, which on AVX-512 made 12 and 24 channels slower than the GEMM path's channelwise kernel).
#if defined(__AVX2__)
  static __m256i lane_mask(std::int64_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
#endif

  template <bool kFull>
  static Batch load(const float* source, std::int64_t count) {
    if constexpr (kFull) {
      return Batch::load_unaligned(source);
    } else {
#if defined(__AVX512F__)
      if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>)
        return Batch(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << count) - 1u), source));
#endif
#if defined(__AVX2__)
      if constexpr (kWidth == 8) return Batch(_mm256_maskload_ps(source, lane_mask(count)));
#endif
      alignas(64) float lanes[kWidth] = {};
      for (std::int64_t k = 0; k < count; ++k) lanes[k] = source[k];
      return Batch::load_aligned(lanes);
    }
  }

  template <bool kFull>
  static void store(const Batch& v, float* target, std::int64_t count) {
    if constexpr (kFull) {
      v.store_unaligned(target);
    } else {
#if defined(__AVX512F__)
      if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
        _mm512_mask_storeu_ps(target, static_cast<__mmask16>((1u << count) - 1u), v);
        return;
      }
#endif
#if defined(__AVX2__)
      if constexpr (kWidth == 8) {
        _mm256_maskstore_ps(target, lane_mask(count), v);
        return;
      }
#endif
      alignas(64) float lanes[kWidth];
      v.store_aligned(lanes);
      for (std::int64_t k = 0; k < count; ++k) target[k] = lanes[k];
    }
  }

  // Every tile starts from the bias of its channels and ends with the activation and the store of its pixels.
  template <int kPixels>
  static void start(Batch (&acc)[kPixels], const DepthwiseNhwcTask& t, std::int64_t c) {
    const Batch bias = Batch::load_aligned(t.bias + c);
    CONVKIT_UNROLL
    for (int u = 0; u < kPixels; ++u) acc[u] = bias;
  }

  template <int kPixels, bool kFull>
  static void finish(const Batch (&acc)[kPixels], const DepthwiseNhwcTask& t, std::int64_t y, std::int64_t x,
                     std::int64_t c, std::int64_t count) {
    float* out = t.output + y * t.out_row_stride + x * t.out_pixel_stride + c;
    CONVKIT_UNROLL
    for (int u = 0; u < kPixels; ++u) store<kFull>(activate(acc[u], t), out + u * t.out_pixel_stride, count);
  }

  // kPixels consecutive output pixels of row y from column x, channels [c, c + count). kCheck tests every tap's
  // column against the input (the border columns); kernel rows outside the input were cut to [i_begin, i_end).
  // kKw > 0 fixes the kernel width at compile time (the border columns of 3- and 5-wide kernels; measured on
  // mobilenetv2_dw NHWC, where 2 of 56 columns are border: the runtime-width loop took 13% of the time).
  template <int kPixels, bool kFull, bool kCheck, int kKw = 0>
  static void tile(const DepthwiseNhwcTask& t, std::int64_t y, std::int64_t i_begin, std::int64_t i_end,
                   std::int64_t x, std::int64_t c, std::int64_t count) {
    const std::int64_t C = t.channels, sw = t.stride_width, dw = t.dilation_width;
    const std::int64_t kw = kKw > 0 ? kKw : t.kernel_width;
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
          acc[u] = xsimd::fma(load<kFull>(row + column * C, count), w, acc[u]);
        }
      }
    }
    finish<kPixels, kFull>(acc, t, y, x, c, count);
  }

  // tile<kPixels, true, false> for a kernel kKw wide, with stride kStride and dilation 1 along the width, over
  // kVectors consecutive channel vectors: the pixels of a kernel row overlap, so each input vector is loaded once and
  // meets every weight that touches it.
  template <int kPixels, int kKw, int kStride, int kVectors>
  static void tile_fixed(const DepthwiseNhwcTask& t, std::int64_t y, std::int64_t i_begin, std::int64_t i_end,
                         std::int64_t x, std::int64_t c) {
    constexpr int kSpan = (kPixels - 1) * kStride + kKw;  // input columns the tile reads in one kernel row
    const std::int64_t C = t.channels;
    Batch acc[kVectors][kPixels];
    CONVKIT_UNROLL
    for (int v = 0; v < kVectors; ++v) start<kPixels>(acc[v], t, c + v * kWidth);
    for (std::int64_t i = i_begin; i < i_end; ++i) {
      const std::int64_t h = y * t.stride_height - t.pad_top + i * t.dilation_height;
      const float* in = t.input + (h * t.in_width + x * kStride - t.pad_left) * C + c;
      const float* w_row = t.weights + i * kKw * t.padded_channels + c;
      Batch w[kVectors][kKw];
      CONVKIT_UNROLL
      for (int v = 0; v < kVectors; ++v)
        CONVKIT_UNROLL
        for (int j = 0; j < kKw; ++j) w[v][j] = Batch::load_aligned(w_row + j * t.padded_channels + v * kWidth);
      CONVKIT_UNROLL
      for (int m = 0; m < kSpan; ++m) {
        CONVKIT_UNROLL
        for (int v = 0; v < kVectors; ++v) {
          const Batch value = Batch::load_unaligned(in + m * C + v * kWidth);
          CONVKIT_UNROLL
          for (int u = 0; u < kPixels; ++u) {
            const int j = m - u * kStride;
            if (j >= 0 && j < kKw) acc[v][u] = xsimd::fma(value, w[v][j], acc[v][u]);  // resolved at compile time
          }
        }
      }
    }
    // At one thread a large layer's input and output outgrow L2, and rows arrive from L3 unless asked for early:
    // fetch the input rows the next output row adds while this one computes (measured on mobilenetv2_dw in NHWC
    // at one thread: 28 -> 43 GFLOP/s; two rows ahead, or the output lines, gained nothing).
    const std::int64_t last_row = y * t.stride_height - t.pad_top + (t.kernel_height - 1) * t.dilation_height;
    for (std::int64_t r = last_row + 1; r <= last_row + t.stride_height && r < t.in_height; ++r) {
      if (r < 0) continue;
      const float* next = t.input + (r * t.in_width + x * kStride) * C + c;
      CONVKIT_UNROLL
      for (int m = 0; m < kPixels * kStride; ++m)
        CONVKIT_UNROLL
        for (int v = 0; v < kVectors; ++v) __builtin_prefetch(next + m * C + v * kWidth);
    }
    CONVKIT_UNROLL
    for (int v = 0; v < kVectors; ++v) finish<kPixels, true>(acc[v], t, y, x, c + v * kWidth, kWidth);
  }

  template <int kPixels, int kVectors>
  static void full_tile(const DepthwiseNhwcTask& t, std::int64_t y, std::int64_t i_begin, std::int64_t i_end,
                        std::int64_t x, std::int64_t c) {
    if (t.dilation_width == 1) {
      const std::int64_t kw = t.kernel_width, sw = t.stride_width;
      if (kw == 3 && sw == 1) return tile_fixed<kPixels, 3, 1, kVectors>(t, y, i_begin, i_end, x, c);
      if (kw == 3 && sw == 2) return tile_fixed<kPixels, 3, 2, kVectors>(t, y, i_begin, i_end, x, c);
      if (kw == 5 && sw == 1) return tile_fixed<kPixels, 5, 1, kVectors>(t, y, i_begin, i_end, x, c);
      if (kw == 5 && sw == 2) return tile_fixed<kPixels, 5, 2, kVectors>(t, y, i_begin, i_end, x, c);
    }
    CONVKIT_UNROLL
    for (int v = 0; v < kVectors; ++v) tile<kPixels, true, false>(t, y, i_begin, i_end, x, c + v * kWidth, kWidth);
  }

  // Every channel block of kPixels pixels; the input pixels of the tile stay in L1 across the blocks.
  template <int kPixels, bool kCheck>
  static void pixels(const DepthwiseNhwcTask& t, std::int64_t y, std::int64_t i_begin, std::int64_t i_end,
                     std::int64_t x) {
    std::int64_t c = 0;
    if constexpr (kCheck) {
      const std::int64_t kw = t.kernel_width;
      for (; c + kWidth <= t.channels; c += kWidth) {
        if (kw == 3) {
          tile<kPixels, true, true, 3>(t, y, i_begin, i_end, x, c, kWidth);
        } else if (kw == 5) {
          tile<kPixels, true, true, 5>(t, y, i_begin, i_end, x, c, kWidth);
        } else {
          tile<kPixels, true, true>(t, y, i_begin, i_end, x, c, kWidth);
        }
      }
    } else {
      constexpr int kVectors = kPixels == kTilePixels ? kTileVectors : 1;
      if constexpr (kVectors > 1) {
        for (; c + kVectors * kWidth <= t.channels; c += kVectors * kWidth)
          full_tile<kPixels, kVectors>(t, y, i_begin, i_end, x, c);
      }
      for (; c + kWidth <= t.channels; c += kWidth) full_tile<kPixels, 1>(t, y, i_begin, i_end, x, c);
    }
    if (c < t.channels) tile<kPixels, false, kCheck>(t, y, i_begin, i_end, x, c, t.channels - c);
  }

  static void rows(const DepthwiseNhwcTask& t) {
    for (std::int64_t y = t.row_begin; y < t.row_end; ++y) {
      const std::int64_t top = y * t.stride_height - t.pad_top, dh = t.dilation_height;
      // Kernel rows inside the input: top + i*dh in [0, in_height).
      const std::int64_t i_begin = top >= 0 ? 0 : (-top + dh - 1) / dh;
      const std::int64_t rows_inside = top >= t.in_height ? 0 : (t.in_height - top + dh - 1) / dh;
      const std::int64_t i_end = rows_inside < t.kernel_height ? rows_inside : t.kernel_height;
      std::int64_t x = 0;
      for (; x < t.interior_begin; ++x) pixels<1, true>(t, y, i_begin, i_end, x);
      for (; x + kTilePixels <= t.interior_end; x += kTilePixels) pixels<kTilePixels, false>(t, y, i_begin, i_end, x);
      for (; x + 8 <= t.interior_end; x += 8) pixels<8, false>(t, y, i_begin, i_end, x);
      for (; x + 4 <= t.interior_end; x += 4) pixels<4, false>(t, y, i_begin, i_end, x);
      for (; x < t.interior_end; ++x) pixels<1, false>(t, y, i_begin, i_end, x);
      for (; x < t.out_width; ++x) pixels<1, true>(t, y, i_begin, i_end, x);
    }
  }
};

template <class Arch>
const DirectUkernels& make_direct_ukernels(const char* isa) {
  static const DirectUkernels ukernels{isa, Direct<Arch>::kWidth, &Direct<Arch>::rows, &Direct<Arch>::stage_rows,
                                     &DepthwiseNhwc<Arch>::rows, &Direct<Arch>::copy_taps,
                                     Direct<Arch>::kReadsInPlace};
  return ukernels;
}

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
