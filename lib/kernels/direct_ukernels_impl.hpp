// The direct-convolution kernels, written once with xsimd. Included only by the per-ISA files, each of which
// defines CONVKIT_ISA_NAMESPACE: everything here lives in that namespace and uses no non-inline std template, so no
// function compiled with one ISA's flags can be merged by the linker into code meant for another.
//
// One header per family of kernels, each in that namespace and refusing to compile without it:
//   direct_common_impl.hpp          the includes, CONVKIT_UNROLL, and DirectVectors (a task's output vectors)
//   direct_multichannel_impl.hpp    DirectMultichannel: blocks of rows by strips of vectors over several channels
//   direct_single_channel_impl.hpp  DirectSingleChannel: groups of one channel, staged or (AVX-512) read in place
//   direct_staging_impl.hpp         DirectStaging: stage_rows and im2col's copy_taps
//   depthwise_nhwc_impl.hpp         DepthwiseNhwc: depthwise on NHWC, along the channels
//   depthwise_planes_impl.hpp       DepthwisePlanes: depthwise on NCHW planes, in flat form
//   direct_transpose_impl.hpp       Avx512Transpose: the blocked transpose in registers (AVX-512 only)
//   activation_tile_impl.hpp        ActivationTile: the activations beyond ReLU and clamp, on a stored tile
//   transposed_impl.hpp             TransposedLoops: the transposed convolution's col2im and depthwise loops
// This header puts them together into the ISA's table.
#pragma once

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including direct_ukernels_impl.hpp"
#endif

#include "activation_tile_impl.hpp"
#include "depthwise_nhwc_impl.hpp"
#include "depthwise_planes_impl.hpp"
#include "direct_multichannel_impl.hpp"
#include "direct_single_channel_impl.hpp"
#include "direct_staging_impl.hpp"
#include "direct_transpose_impl.hpp"
#include "direct_ukernels.hpp"
#include "transposed_impl.hpp"

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

// DirectUkernels::rows: a group of one channel in a form of its own goes to DirectSingleChannel, read in place
// (AVX-512) or from the staged input; everything else to DirectMultichannel.
template <class Arch>
void direct_rows(const DirectRowsTask& t) {
  using SingleChannel = DirectSingleChannel<Arch>;
#if defined(__AVX512F__)
  if constexpr (SingleChannel::kReadsInPlace) {
    if (t.staged == nullptr) return SingleChannel::in_place(t);  // only the forms of the top of direct_ukernels.hpp
  }
#endif
  if (SingleChannel::single_channel_fixed(t)) return;
  DirectMultichannel<Arch>::rows(t);
}

template <class Arch>
auto transpose_kernel() -> void (*)(const float*, std::int64_t, std::int64_t, std::int64_t, float*, std::int64_t) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) return &Avx512Transpose::transpose;
#endif
  return nullptr;
}

template <class Arch>
const DirectUkernels& make_direct_ukernels(const char* isa) {
  static const DirectUkernels ukernels{isa,
                                       DirectVectors<Arch>::kWidth,
                                       &direct_rows<Arch>,
                                       &DirectStaging<Arch>::stage_rows,
                                       &DepthwiseNhwc<Arch>::rows,
                                       &DepthwisePlanes<Arch>::planes,
                                       &DirectStaging<Arch>::copy_taps,
                                       DirectSingleChannel<Arch>::kReadsInPlace,
                                       transpose_kernel<Arch>(),
                                       &ActivationTile<Arch>::tile,
                                       &TransposedLoops<Arch>::scatter_axpy,
                                       &TransposedLoops<Arch>::add_products};
  return ukernels;
}

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
