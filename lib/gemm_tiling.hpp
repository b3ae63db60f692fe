// How the GEMM path cuts a convolution into tiles of output pixels and shares them among threads.
#pragma once

#include "problem.hpp"

#include <cstddef>
#include <cstdint>

namespace convkit::detail {

// The most workspace one thread's unfolded tile may take. Reductions K = Ci/g * Kh * Kw above 32768 get tiles
// narrower than 16 pixels to stay within it; only beyond K = 524288 does a single pixel's column exceed it.
inline constexpr std::size_t kGemmWorkspaceCapBytes = std::size_t{2} << 20;

struct GemmTiling {
  std::int64_t matrix_pixels;     // pixel rows of one GEMM problem: Ho*Wo, or N*H*W when an NHWC batch is folded
  std::int64_t matrices;          // images * groups (groups when folded)
  std::int64_t tile_pixels;       // pixels per tile (the last tile of a matrix may be shorter)
  std::int64_t tiles_per_matrix;  // ceil(matrix_pixels / tile_pixels)
  bool shared;                    // the whole team computes each tile together (else tiles are dealt out)
  int workers;                    // convkit threads; OpenBLAS runs single-threaded in each
  std::size_t buffer_floats;      // one unfolded tile (0 when nothing is unfolded)

  std::int64_t tile_count() const { return matrices * tiles_per_matrix; }
  // One buffer for the shared team, one per worker otherwise.
  std::size_t workspace_bytes() const {
    return buffer_floats * sizeof(float) * static_cast<std::size_t>(shared ? 1 : workers);
  }
};

// The tiling of `problem` on at most `threads` threads. `unfold`: the input is unfolded (im2col/im2row) into the
// workspace; otherwise it is read in place, and an NHWC batch is then one matrix of N*H*W rows.
// Two environment variables override the choice, for tests and tuning, read each time a plan is made:
//   CONVKIT_GEMM_TILE_PIXELS=n   tiles of n pixels (capped by the workspace bound)
//   CONVKIT_GEMM_TEAM=split|shared
GemmTiling choose_gemm_tiling(const Problem& problem, bool unfold, int threads);

}  // namespace convkit::detail
