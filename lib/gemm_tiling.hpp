// How the GEMM path cuts a convolution into tiles of output pixels and shares them among threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/gemm_ukernels.hpp"
#include "problem.hpp"
#include "tuning.hpp"

namespace convkit::detail {

// The most workspace one thread's unfolded tile may take. Reductions K = Ci/g * Kh * Kw above 32768 get tiles
// narrower than 16 pixels to stay within it; only beyond K = 524288 does a single pixel's column exceed it.
inline constexpr std::size_t kGemmWorkspaceCapBytes = std::size_t{2} << 20;

struct GemmTiling {
  std::int64_t matrix_pixels;     // pixel rows of one GEMM problem: Ho*Wo, or N*H*W when an NHWC batch is folded
  std::int64_t matrices;          // images * groups (groups when folded)
  std::int64_t tile_pixels;       // pixels per tile (the last tile of a matrix may be shorter)
  std::int64_t tiles_per_matrix;  // ceil(matrix_pixels / tile_pixels)
  std::int64_t channel_block;     // output channels per unit (a multiple of 16 but in the last block); channelwise:
                                  // groups per unit (a multiple of GemmUkernels::channelwise_tile but in the last)
  std::int64_t channel_blocks;    // units per tile: ceil(Co/g / channel_block); channelwise: ceil(g / channel_block)
  int workers;                    // convkit threads; OpenBLAS runs single-threaded in each
  const GemmUkernels* ukernels;   // convkit's GEMM microkernels multiply the native products; null: the BLAS does
  bool transposed;                // each product is computed in the orientation opposite to the output's layout
  // Groups of one input channel (NHWC depthwise) on convkit's kernels: a unit unfolds a block of channel_block
  // groups over its tile and multiplies them all in one call (GemmUkernels::channelwise); a matrix is then a whole
  // image (or the folded batch), not one group of it.
  bool channelwise;
  std::size_t buffer_floats;   // one unfolded tile (0 when nothing is unfolded)
  std::size_t product_floats;  // one transposed product, tile x channel block (0 unless transposed)

  std::int64_t tile_count() const { return matrices * tiles_per_matrix; }
  // A unit of work: a block of output channels of one tile.
  std::int64_t unit_count() const { return tile_count() * channel_blocks; }
  // One buffer and one product per worker (each worker's on pages of its own: threading.hpp, WorkerSlices).
  std::size_t worker_floats() const { return buffer_floats + product_floats; }
};

// Who multiplies the products: the GEMM family's entries (algorithm_gemm.cpp) are named after it.
enum class GemmMultiplier {
  Convkit,             // convkit's GEMM microkernels, native orientation, weights packed into panels
  Channelwise,         // convkit's channelwise microkernel: NHWC groups of one input channel, all at once
  Openblas,            // OpenBLAS, native orientation, bias seeded into the output
  OpenblasTransposed,  // OpenBLAS in the opposite orientation, transposed into place by the epilogue
};

// The tiling of `problem` on at most `threads` threads, its products multiplied by `multiplier`. `unfold`: the input
// is unfolded (im2col/im2row) into the workspace; otherwise it is read in place, and an NHWC batch is then one matrix
// of N*H*W rows. The tiling depends on the problem only, not on `threads` (which sets `workers`): results are the
// same bits for every thread count. CONVKIT_GEMM_TILE_PIXELS and _CHANNEL_BLOCK in `tuning` override it.
// An NCHW product of so few pixels that they fill at most a third of a strip of convkit's GEMM kernels (10 of 32
// with AVX-512), over a reduction long enough to pay for two small transposes: implicit_gemm, whose register tile
// puts the pixels in its rows and the output channels in its lanes, runs it faster than the GEMM family, whose lanes
// the pixels would fill (algorithm_gemm.cpp and algorithm_implicit_gemm.cpp both ask). Measured against every entry
// by name (docs/tuning-log.md): 4 pixels 2.0-2.7x at K = 128-2048, a single pixel 5.4x at K = 256, 9 pixels
// 1.4-1.5x; 16 pixels level or behind (0.95 at K = 512); level at K = 64.
constexpr std::int64_t kFewPixelsMinReduction = 128;
inline bool nchw_few_pixels(const Problem& p, const GemmUkernels* ukernels) {
  return ukernels != nullptr && p.layout == Layout::NCHW && 3 * p.out_pixels() <= ukernels->strip_columns &&
         p.reduction >= kFewPixelsMinReduction;
}

GemmTiling choose_gemm_tiling(const Problem& problem, bool unfold, int threads, const Tuning& tuning,
                              GemmMultiplier multiplier);

// Why `multiplier` cannot multiply the problem's products (no microkernels on this CPU, a transposed product beyond
// the workspace bound, ...), or null.
const char* gemm_multiplier_declines(const Problem& problem, bool unfold, const Tuning& tuning,
                                     GemmMultiplier multiplier);

// Why another multiplier should take the problem although this one could (the GEMM family's own choice, and the
// CONVKIT_GEMM_ENGINE and _ORIENTATION tuning variables), or null.
const char* gemm_multiplier_defers(const Problem& problem, bool unfold, const Tuning& tuning,
                                   GemmMultiplier multiplier);

}  // namespace convkit::detail
