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
// But OpenBLAS packs the weights again for every GEMM call, so a group whose weights exceed the target pays for
// each extra tile with a pass over them: such groups get the largest tile the bound allows (resnet50_res4_3x3,
// 2.4 MB of weights, at 1 thread against bare sgemm on its shape in the same run: 2 tiles 0.83x, 1 tile of 1.7 MiB
// 0.88x).
constexpr std::size_t kLargeWeightsBytes = std::size_t{1} << 20;
// Tiles narrower than this leave the BLAS's micro-kernel too little to stream over; wider ones gain nothing.
constexpr std::int64_t kMinTilePixels = 32;
constexpr std::int64_t kMaxTilePixels = 1024;
// Tile widths are rounded to the micro-kernel's grain so that only the matrix's last tile has a ragged edge.
constexpr std::int64_t kPixelGrain = 16;
// The fewest output channels per worker for which a tile is shared by the team (see choose_gemm_tiling).
constexpr std::int64_t kSharedMinChannelsPerWorker = 128;

std::int64_t environment_integer(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::atoll(value) : 0;
}

}  // namespace

GemmTiling choose_gemm_tiling(const Problem& p, bool unfold, int threads) {
  const bool fold_batch = !unfold && p.layout == Layout::NHWC;
  GemmTiling t{};
  t.matrix_pixels = fold_batch ? p.batch * p.out_pixels() : p.out_pixels();
  t.matrices = fold_batch ? p.groups : p.batch * p.groups;

  const std::int64_t column_bytes = p.reduction * static_cast<std::int64_t>(sizeof(float));
  const std::int64_t cap = std::max<std::int64_t>(1, static_cast<std::int64_t>(kGemmWorkspaceCapBytes) / column_bytes);
  const std::int64_t weights_bytes = p.group_out_channels * column_bytes;
  const std::size_t target = weights_bytes > static_cast<std::int64_t>(kLargeWeightsBytes) ? kGemmWorkspaceCapBytes
                                                                                          : kTileTargetBytes;
  std::int64_t tile = std::clamp<std::int64_t>(static_cast<std::int64_t>(target) / column_bytes, kMinTilePixels,
                                               kMaxTilePixels);
  // Equal tiles rather than full ones and a remnant: n tiles of ceil(pixels / n), rounded to the grain.
  const std::int64_t count = ceil_div(t.matrix_pixels, std::min(tile, t.matrix_pixels));
  tile = round_up(ceil_div(t.matrix_pixels, count), kPixelGrain);
  const std::int64_t forced_tile = environment_integer("CONVKIT_GEMM_TILE_PIXELS");
  if (forced_tile > 0) tile = forced_tile;
  t.tile_pixels = std::max<std::int64_t>(1, std::min({tile, cap, t.matrix_pixels}));
  t.tiles_per_matrix = ceil_div(t.matrix_pixels, t.tile_pixels);

  // Tiles are dealt out to the workers when they balance over the team (a multiple of it, or enough that the
  // remnant is small). Otherwise a group with many output channels shares each tile among the whole team, which
  // keeps every GEMM as wide as the image allows; a group with few is cut into more tiles, a multiple of the team,
  // because the shared form splits the channels, and with few per worker each one repacks the whole panel for a
  // thin product. Measured at 2 threads against OpenBLAS's threaded GEMM on the whole image: resnet50_res5_3x3
  // (512 channels) shared 175 GFLOP/s (0.98x), dealt out 129; resnet50_res3_3x3 (128) dealt out 203 (0.82x),
  // shared 152-171; resnet50_res2_3x3 (64) dealt out 166, shared 111.
  const int team = threads_worth_using(p.flops(), threads);
  const bool balanced = t.tile_count() % team == 0 || t.tile_count() >= 4 * static_cast<std::int64_t>(team);
  t.shared = !balanced && p.group_out_channels >= kSharedMinChannelsPerWorker * team;
  if (!balanced && !t.shared && forced_tile == 0) {
    std::int64_t tiles = t.tiles_per_matrix;
    while ((t.matrices * tiles) % team != 0 && tiles < t.matrix_pixels) ++tiles;
    t.tile_pixels = std::max<std::int64_t>(1, ceil_div(t.matrix_pixels, tiles));
    t.tiles_per_matrix = ceil_div(t.matrix_pixels, t.tile_pixels);
  }
  if (const char* forced = std::getenv("CONVKIT_GEMM_TEAM"); forced != nullptr) {
    if (std::strcmp(forced, "shared") == 0) t.shared = team > 1;
    if (std::strcmp(forced, "split") == 0) t.shared = false;
  }
  t.workers = t.shared ? team : team_size(team, t.tile_count());
  t.buffer_floats = unfold ? static_cast<std::size_t>(t.tile_pixels * p.reduction) : 0;
  return t;
}

}  // namespace convkit::detail
