#include "gemm_tiling.hpp"

#include "arithmetic.hpp"
#include "threading.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace convkit::detail {
namespace {

// The tile's unfolded panel (K x tile floats) is aimed at 1 MiB: it is written by the unfolding and read right
// away by the GEMM, so it should stay in the L2 cache (2 MiB per core here, 1-2 MiB on recent x86) together with
// the BLAS's packed block of weights. Measured with `cblas_sgemm` on tiles of the suite's 3x3 layers at 1 thread
// (K = 576: 256 pixels 131 GFLOP/s, 512: 134, 1024: 104 against 107 for the whole image; K = 1152: 256: 134,
// 512: 142), tiles of 0.5-1 MiB run at or above the speed of one whole-image GEMM.
constexpr std::size_t kTileTargetBytes = std::size_t{1} << 20;
// Tiles narrower than this leave the BLAS's micro-kernel too little to stream over; wider ones gain nothing.
constexpr std::int64_t kMinTilePixels = 32;
constexpr std::int64_t kMaxTilePixels = 1024;
// Tile widths are rounded to the micro-kernel's grain so that only the matrix's last tile has a ragged edge.
constexpr std::int64_t kPixelGrain = 16;

std::int64_t environment_integer(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::atoll(value) : 0;
}

}  // namespace

GemmTiling choose_gemm_tiling(const Problem& p, bool unfold, bool fold_batch, int threads) {
  GemmTiling t{};
  t.matrix_pixels = fold_batch ? p.batch * p.out_pixels() : p.out_pixels();
  t.matrices = fold_batch ? p.groups : p.batch * p.groups;

  const std::int64_t column_bytes = p.reduction * static_cast<std::int64_t>(sizeof(float));
  const std::int64_t cap = std::max<std::int64_t>(1, static_cast<std::int64_t>(kGemmWorkspaceCapBytes) / column_bytes);
  std::int64_t tile = std::clamp<std::int64_t>(static_cast<std::int64_t>(kTileTargetBytes) / column_bytes,
                                               kMinTilePixels, kMaxTilePixels);
  // Equal tiles rather than full ones and a remnant: n tiles of ceil(pixels / n), rounded to the grain.
  const std::int64_t count = ceil_div(t.matrix_pixels, std::min(tile, t.matrix_pixels));
  tile = round_up(ceil_div(t.matrix_pixels, count), kPixelGrain);
  if (const std::int64_t forced = environment_integer("CONVKIT_GEMM_TILE_PIXELS"); forced > 0) tile = forced;
  t.tile_pixels = std::max<std::int64_t>(1, std::min({tile, cap, t.matrix_pixels}));
  t.tiles_per_matrix = ceil_div(t.matrix_pixels, t.tile_pixels);

  // Tiles are dealt out when they balance over the team (a multiple of it, or enough that the remnant is small);
  // otherwise each tile is shared by the whole team, which keeps the GEMMs as wide as the image allows.
  const double flops = 2.0 * static_cast<double>(p.batch) * static_cast<double>(p.out_channels) *
                       static_cast<double>(p.out_pixels()) * static_cast<double>(p.reduction);
  const int team = threads_worth_using(flops, threads);
  const std::int64_t tiles = t.tile_count();
  t.shared = team > 1 && tiles % team != 0 && tiles < 4 * static_cast<std::int64_t>(team);
  if (const char* forced = std::getenv("CONVKIT_GEMM_TEAM"); forced != nullptr) {
    if (std::strcmp(forced, "shared") == 0) t.shared = team > 1;
    if (std::strcmp(forced, "split") == 0) t.shared = false;
  }
  t.workers = t.shared ? team : team_size(team, tiles);
  t.buffer_floats = unfold ? static_cast<std::size_t>(t.tile_pixels * p.reduction) : 0;
  return t;
}

}  // namespace convkit::detail
