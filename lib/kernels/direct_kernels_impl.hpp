// The direct-convolution kernels, written once with xsimd. Included only by the per-ISA files, each of which
// defines CONVKIT_ISA_NAMESPACE: everything here lives in that namespace and uses no non-inline std template, so no
// function compiled with one ISA's flags can be merged by the linker into code meant for another.
#pragma once

#include "direct_kernels.hpp"

#include <xsimd/xsimd.hpp>

#include <cstdint>

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including direct_kernels_impl.hpp"
#endif

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

template <class Arch>
struct Direct {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);

  static Batch activate(Batch v, const DirectRowsTask& t) {
    switch (t.activation) {
      case Activation::Relu: {
        const Batch zero(0.0f);
        return xsimd::select(v < zero, zero, v);  // NaN stays NaN
      }
      case Activation::Clamp: {
        const Batch lo(t.clamp_min), hi(t.clamp_max);
        return xsimd::select(v < lo, lo, xsimd::select(v > hi, hi, v));
      }
      default:
        return v;
    }
  }

  // kStrip vectors of output row y from column x; `valid` columns of the last vector are real.
  template <int kStrip>
  static void strip(const DirectRowsTask& t, std::int64_t y, std::int64_t x, std::int64_t valid) {
    Batch acc[kStrip];
    for (int s = 0; s < kStrip; ++s) acc[s] = Batch(t.bias);
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
          for (int s = 0; s < kStrip; ++s) acc[s] = xsimd::fma(Batch::load_unaligned(src + s * kWidth), weight, acc[s]);
        }
      }
    }
    float* out = t.output + y * t.out_row_stride + x * t.out_col_stride;
    for (int s = 0; s < kStrip; ++s) {
      const Batch v = activate(acc[s], t);
      const std::int64_t count = s + 1 < kStrip ? kWidth : valid;
      if (t.out_col_stride == 1 && count == kWidth) {
        v.store_unaligned(out + s * kWidth);
      } else {
        alignas(64) float lanes[kWidth];
        v.store_aligned(lanes);
        float* dst = out + s * kWidth * t.out_col_stride;
        for (std::int64_t k = 0; k < count; ++k) dst[k * t.out_col_stride] = lanes[k];
      }
    }
  }

  static void rows(const DirectRowsTask& t) {
    for (std::int64_t y = t.row_begin; y < t.row_end; ++y) {
      std::int64_t x = 0;
      // Four vectors at a time: each weight broadcast serves four loads and four FMAs.
      for (; x + 4 * kWidth <= t.out_width; x += 4 * kWidth) strip<4>(t, y, x, kWidth);
      for (; x < t.out_width; x += kWidth) {
        const std::int64_t left = t.out_width - x;
        strip<1>(t, y, x, left < kWidth ? left : kWidth);
      }
    }
  }
};

template <class Arch>
const DirectKernels& make_direct_kernels(const char* isa) {
  static const DirectKernels kernels{isa, Direct<Arch>::kWidth, &Direct<Arch>::rows};
  return kernels;
}

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
