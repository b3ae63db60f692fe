// The staging of the direct path (stage_rows: the padded, phase-split copy of the input described at the top of
// direct_ukernels.hpp), and the copy of a staged row's kernel columns for im2col (copy_taps). Included only by the
// per-ISA files (through direct_ukernels_impl.hpp), each of which defines CONVKIT_ISA_NAMESPACE (see
// direct_ukernels_impl.hpp for why everything lives in that namespace).
#pragma once

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including direct_staging_impl.hpp"
#endif

#include <cstdint>
#include <xsimd/xsimd.hpp>

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

template <class Arch>
struct DirectStaging {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);

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
  // split load (decided on staging a 112-float row of mobilenetv2_dw_s2 into phases at offsets 1 and 0;
  // docs/tuning-log.md).
  static std::int64_t to_aligned(const float* dst) {
    const auto misaligned = static_cast<std::int64_t>((reinterpret_cast<std::uintptr_t>(dst) / sizeof(float)) % kWidth);
    return kWidth - misaligned;
  }

  struct EvenLow {
    static constexpr unsigned get(unsigned i, unsigned n) { return i < n / 2 ? 2 * i : 0; }
  };
  struct EvenHigh {
    static constexpr unsigned get(unsigned i, unsigned n) { return i < n / 2 ? 0 : 2 * i - n; }
  };
  struct OddLow {
    static constexpr unsigned get(unsigned i, unsigned n) { return i < n / 2 ? 2 * i + 1 : 0; }
  };
  struct OddHigh {
    static constexpr unsigned get(unsigned i, unsigned n) { return i < n / 2 ? 0 : 2 * i - n + 1; }
  };
  struct LowHalf {
    static constexpr bool get(unsigned i, unsigned n) { return i < n / 2; }
  };

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
  // with whole-vector zeroing and aligned stores (mobilenetv2_dw NCHW, one thread; docs/tuning-log.md).
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

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
