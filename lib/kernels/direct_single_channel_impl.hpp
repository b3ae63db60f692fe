// The direct kernels for a group of one input channel (NCHW depthwise) in the forms that have kernels of their own:
// 3x3 and 5x5 with a row stride of 1 or 2 over the staged input, and on AVX-512 3x3 read in place (see the top of
// direct_ukernels.hpp). Included only by the per-ISA files (through direct_ukernels_impl.hpp), each of which defines
// CONVKIT_ISA_NAMESPACE (see direct_ukernels_impl.hpp for why everything lives in that namespace).
#pragma once

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including direct_single_channel_impl.hpp"
#endif

#include "direct_common_impl.hpp"

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

template <class Arch>
struct DirectSingleChannel : DirectVectors<Arch> {
  using Base = DirectVectors<Arch>;
  using Base::kWidth;
  using Base::store;
  using typename Base::Batch;

  // A block's kRows accumulators, activated, to output rows y.. from column x.
  template <int kRows, class Vector>
  static void store_rows(const Vector (&acc)[kRows], const DirectRowsTask& t, std::int64_t y, std::int64_t x,
                         std::int64_t valid) {
    // The residual's test once per block, not per row: a branch per stored vector slowed the stride-2 rows.
    if (t.post != nullptr && t.post->residual) {
      const Batch scale(t.post->residual_scale);
      return with_activation<Batch>(t, [&](const auto& activate) CONVKIT_ALWAYS_INLINE {
        CONVKIT_UNROLL
        for (int r = 0; r < kRows; ++r) {
          float* out = t.output + (y + r) * t.out_row_stride + x;
          const Batch residual = Base::load(t, residual_at(out, t.residual_offset), valid);
          store(activate(xsimd::fma(scale, residual, Batch(acc[r]))), t, out, valid);
        }
      });
    }
    with_activation<Batch>(t, [&](const auto& activate) CONVKIT_ALWAYS_INLINE {
      CONVKIT_UNROLL
      for (int r = 0; r < kRows; ++r)
        store(activate(Batch(acc[r])), t, t.output + (y + r) * t.out_row_stride + x, valid);
    });
  }

  // A group of one input channel (depthwise in NCHW) has too little work per block for the setup of
  // DirectMultichannel::block_fixed: its weights, broadcast again for every block, and 16 accumulators that the
  // compiler shuffles between registers (measured on mobilenetv2_dw NCHW: block_fixed<4, 4, 3, 3> at about half the
  // FMA rate). Here the weights are broadcast once per call and stay in registers, and a block is kRows rows by one
  // vector: kRows accumulators. Rows at least a vector wide end with a vector that overlaps the one before it, so
  // every store is a whole vector.
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
          if (i >= 0 && i < kKh) acc[r] = fused_multiply_add(in, w[i][j], acc[r]);  // resolved at compile time
        }
      }
    }
    store_rows<kRows>(acc, t, y, x, valid);
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
      if (x >= t.out_width) return;
      // A residual read in place by the overlapping vector would already hold the vector before's results: the
      // row ends in a partial vector instead (staged rows are whole vectors long; read in place, loads are masked).
      if (t.post != nullptr && t.post->residual) return block(rows, y, x, t.out_width - x);
      block(rows, y, t.out_width - kWidth, kWidth);
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
    for (int i = 0; i < kKh; ++i) CONVKIT_UNROLL
    for (int j = 0; j < kKw; ++j) w[i][j] = Batch(t.weights[i * t.weight_stride_i + j * t.weight_stride_j]);
    CONVKIT_UNROLL
    for (int j = 0; j < kKw; ++j) offsets[j] = t.tap_offsets[j];
    // As many rows as the registers hold beside the weights and an input (decided on mobilenetv2_dw NCHW, AVX-512:
    // 8 rows a little ahead of 4; docs/tuning-log.md). The driver's bands of 8 rows are a multiple of every choice.
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
    std::uintptr_t origin;  // address of lane 0 of the first vector in padded row 0
    std::intptr_t row_bytes;
    std::int64_t pad_top, in_height;
    __mmask16 lanes[kVectors];

    PaddedRows(const DirectRowsTask& t, std::int64_t column) : pad_top(t.pad_top), in_height(t.in_height) {
      const std::int64_t first = column - t.pad_left;  // input column of lane 0
      row_bytes = static_cast<std::intptr_t>(t.in_width * 4);
      origin =
          reinterpret_cast<std::uintptr_t>(t.input) + static_cast<std::uintptr_t>((first - t.pad_top * t.in_width) * 4);
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
      return _mm512_maskz_loadu_ps(static_cast<__mmask16>(row & lanes[kVector]),
                                   reinterpret_cast<const void*>(address));
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
    store_rows<kRows>(acc, t, y, x, valid);
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
    store_rows<kRows>(acc, t, y, x, valid);
  }

  // Asks for the input rows [first, first + count) that the next block of rows adds, while this block computes.
  // Rows past the plane are the next channel's, which the same worker usually takes next (a prefetch never faults).
  // The hardware's prefetchers missed these: a block reads its rows a vector of columns at a time, 10-17 rows in
  // turn (decided on mobilenetv2_dw and _dw_s2 in NCHW, one thread; docs/tuning-log.md).
  static void prefetch_rows(const DirectRowsTask& t, std::int64_t first, std::int64_t count) {
    const std::uintptr_t input = reinterpret_cast<std::uintptr_t>(t.input);  // addresses, not pointers past the end
    for (std::int64_t r = first < 0 ? 0 : first; r < first + count; ++r) {
      const std::uintptr_t row = input + static_cast<std::uintptr_t>(r * t.in_width * 4);
      for (std::int64_t byte = 0; byte < t.in_width * 4; byte += 64)
        __builtin_prefetch(reinterpret_cast<const void*>(row + static_cast<std::uintptr_t>(byte)));
    }
  }

  // 8 accumulators, 9 weights, and at most 3 inputs and 3 taps: 23 of the 32 registers.
  template <int kSh, int kSw>
  static void in_place_3x3(const DirectRowsTask& t) {
    __m512 w[3][3];
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) w[i][j] = _mm512_set1_ps(t.weights[i * t.weight_stride_i + j * t.weight_stride_j]);
    vector_blocks<8>(t, [&](auto rows, std::int64_t y, std::int64_t x, std::int64_t valid) {
      if (x == 0) prefetch_rows(t, (y + 8) * kSh + 3 - t.pad_top, 8 * kSh);
      if constexpr (kSw == 1) {
        moved_block<kSh, decltype(rows)::value>(t, w, y, x, valid);
      } else {
        deinterleaved_block<kSh, decltype(rows)::value>(t, w, y, x, valid);
      }
    });
  }

  // The forms of the top of direct_ukernels.hpp, a task whose staged is null.
  static void in_place(const DirectRowsTask& t) {
    if (t.stride_height == 1) return t.stride_width == 1 ? in_place_3x3<1, 1>(t) : in_place_3x3<1, 2>(t);
    return t.stride_width == 1 ? in_place_3x3<2, 1>(t) : in_place_3x3<2, 2>(t);
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
};

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
