// The contract between the Winograd driver (lib/algorithm_winograd.cpp) and its vector transforms, written once with
// xsimd (winograd_ukernels_impl.hpp) and compiled once per ISA (winograd_<isa>.cpp, built with that ISA's flags).
//
// F(m x m, 3 x 3) works on tiles: an output tile of m x m pixels needs an input tile of t x t = (m + 2) x (m + 2)
// pixels, and its transform has t*t "points". Both transforms are vectorised along the channels, so a pixel is a
// run of channels (contiguous in NHWC, H*W apart in NCHW) and a transformed tile is, per point, a row of channels:
// the layout the transform-point GEMMs read and write.
#pragma once

#include <convkit/convkit.hpp>
#include <cstddef>
#include <cstdint>

#include "../post_ops.hpp"

namespace convkit::detail {

// One input tile: transformed[p * point_stride + c] = (B^T d_c B)[p] for every point p and channel c.
struct WinogradInputTask {
  int tile;                     // m: 2 or 4
  const float* const* pixels;   // t*t, row-major: channel 0 of that input pixel, or null for padding (zeros)
  std::int64_t channel_stride;  // floats between consecutive channels of a pixel
  std::int64_t channels;
  float* transformed;
  std::int64_t point_stride;
};

// One output tile: pixel (p, q) of channel c = activation(bias[c] + (A^T M_c A)[p][q]), where M_c is read like the
// input task's `transformed`.
struct WinogradOutputTask {
  int tile;  // m: 2 or 4
  const float* transformed;
  std::int64_t point_stride;
  std::int64_t channels;
  float* const* pixels;  // m*m, row-major: channel 0 of that output pixel, or null beyond the output's edge
  std::int64_t channel_stride;
  const float* bias;  // `channels` floats, or null
  Activation activation;
  float clamp_min, clamp_max;
  // The residual sum and the activations beyond clamp (../post_ops.hpp): null when none.
  const PostOps* post = nullptr;
  std::ptrdiff_t residual_offset = 0;  // of the output element, in floats (residual_offset())
};

struct WinogradUkernels {
  void (*input)(const WinogradInputTask& task);
  void (*output)(const WinogradOutputTask& task);
};

const WinogradUkernels& winograd_ukernels_sse2();
const WinogradUkernels& winograd_ukernels_sse4_2();
const WinogradUkernels& winograd_ukernels_avx2_fma();
const WinogradUkernels& winograd_ukernels_avx512f();

// The table of the ISA the direct kernels use (lib/isa.cpp): the best this CPU runs, capped by CONVKIT_MAX_ISA.
const WinogradUkernels& winograd_ukernels();

}  // namespace convkit::detail
