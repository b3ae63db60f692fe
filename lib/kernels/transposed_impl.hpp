// The transposed convolution's vector loops: col2im's additions of columns onto output rows (along the channels for
// NHWC, along a row with the stride for NCHW) and the direct depthwise path's products. Included only by the per-ISA
// files (through direct_ukernels_impl.hpp), each of which defines CONVKIT_ISA_NAMESPACE.
#pragma once

#include "direct_common_impl.hpp"

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

template <class Arch>
struct TransposedLoops {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);

  struct EvenLanes {
    static constexpr bool get(unsigned i, unsigned) { return i % 2 == 0; }
  };
  struct LowHalf {  // lane i takes lane i / 2
    static constexpr unsigned get(unsigned i, unsigned) { return i / 2; }
  };
  struct HighHalf {  // lane i takes lane n / 2 + i / 2
    static constexpr unsigned get(unsigned i, unsigned n) { return n / 2 + i / 2; }
  };

  // target[k * stride] += scale * source[k] for k < count. Stride 1 and 2 (the decoders' upsampling) in vectors: for 2
  // the products are interleaved with zeros and added to two vectors of the target.
  static void scatter_axpy(float* target, std::int64_t stride, const float* source, float scale, std::int64_t count) {
    std::int64_t k = 0;
    const Batch factor(scale);
    if (stride == 1) {
      for (; k + kWidth <= count; k += kWidth)
        xsimd::fma(factor, Batch::load_unaligned(source + k), Batch::load_unaligned(target + k))
            .store_unaligned(target + k);
    } else if (stride == 2) {
      // xsimd 8's zip_lo / zip_hi interleave within 128-bit lanes on AVX; a full swizzle keeps the order.
      using Index = xsimd::batch<std::uint32_t, Arch>;
      const Batch zero(0.0f);
      const auto even = xsimd::make_batch_bool_constant<Batch, EvenLanes>();
      for (; k + kWidth <= count; k += kWidth) {
        const Batch product = factor * Batch::load_unaligned(source + k);
        float* pair = target + 2 * k;
        const Batch low =
            xsimd::select(even, xsimd::swizzle(product, xsimd::make_batch_constant<Index, LowHalf>()), zero);
        const Batch high =
            xsimd::select(even, xsimd::swizzle(product, xsimd::make_batch_constant<Index, HighHalf>()), zero);
        (Batch::load_unaligned(pair) + low).store_unaligned(pair);
        (Batch::load_unaligned(pair + kWidth) + high).store_unaligned(pair + kWidth);
      }
    }
    for (; k < count; ++k) target[k * stride] += scale * source[k];
  }

  // target[k] += weights[k] * source[k] (weights null: += source[k]) for k < count.
  static void add_products(float* target, const float* weights, const float* source, std::int64_t count) {
    std::int64_t k = 0;
    if (weights == nullptr) {
      for (; k + kWidth <= count; k += kWidth)
        (Batch::load_unaligned(target + k) + Batch::load_unaligned(source + k)).store_unaligned(target + k);
      for (; k < count; ++k) target[k] += source[k];
      return;
    }
    for (; k + kWidth <= count; k += kWidth)
      xsimd::fma(Batch::load_unaligned(weights + k), Batch::load_unaligned(source + k),
                 Batch::load_unaligned(target + k))
          .store_unaligned(target + k);
    for (; k < count; ++k) target[k] += weights[k] * source[k];
  }
};

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
