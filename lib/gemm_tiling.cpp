#include "gemm_tiling.hpp"

#include <algorithm>

#include "arithmetic.hpp"
#include "kernels/gemm_ukernels.hpp"
#include "threading.hpp"

namespace convkit::detail {
namespace {

// The sizes below were measured with OpenBLAS multiplying the products; convkit's GEMM kernels, which came later, run
// on the same tiling and have not been tuned for it yet.
//
// The tile's unfolded panel (K x tile floats) is aimed at 1 MiB: it is written by the unfolding and read right
// away by the GEMM, so it should stay in the L2 cache (1-2 MiB per core on recent x86) together with the BLAS's
// packed block of weights; on the suite's 3x3 layers (K = 576 and 1152) tiles of 0.5-1 MiB ran at or above the
// speed of one whole-image GEMM (docs/tuning-log.md).
constexpr std::size_t kTileTargetBytes = std::size_t{1} << 20;
// But OpenBLAS packs the weights again for every GEMM call, so a group whose weights exceed the target pays for
// each extra tile with a pass over them: such groups get the largest tile the bound allows (decided on
// resnet50_res4_3x3, 2.4 MB of weights).
constexpr std::size_t kLargeWeightsBytes = std::size_t{1} << 20;
// Tiles narrower than this leave the BLAS's micro-kernel too little to stream over; wider ones gain nothing.
constexpr std::int64_t kMinTilePixels = 32;
constexpr std::int64_t kMaxTilePixels = 1024;
// Tile widths are rounded to a microkernel's grain (see choose_gemm_tiling).
constexpr std::int64_t kPixelGrain = 16;
// Images with fewer tiles than this are also cut along the output channels (see choose_channel_blocks).
constexpr std::int64_t kBalancedUnits = 4;
constexpr std::int64_t kMinSharedTilePixels = 128;
// Blocks of at least this many channels where fewer would leave a worker idle: MobileNetV2's and EfficientNet's
// 14x14 projections (576 -> 96, 672 -> 112, one tile) ran on one thread at 2 (0.48-0.54 of oneDNN, 0.80-0.99 cut
// into 2 blocks).
constexpr std::int64_t kMinBlockChannels = 48;
// Each block of a tile is one more GEMM call that packs the tile's columns again, so blocks are cut at 256 channels
// where that still leaves two units for two threads (decided on resnet50_res5_1x1 and res5_3x3: 512 channels, one
// 7x7 tile; 2 blocks of 256 beat 4 of 128 in both layouts).
constexpr std::int64_t kPreferredBlockChannels = 256;
constexpr std::int64_t kMinSharedUnits = 2;
constexpr std::int64_t kChannelGrain = 16;

// Whether the products should be computed in the orientation opposite to the output's layout, into a scratch block
// that the epilogue then transposes into the output. Only NHWC 1x1 products on narrow tiles with long reductions
// gain: OpenBLAS runs (pixels x K) * (K x channels) with few pixel rows far below its speed in the other orientation,
// enough to pay for transposing the tile's pixels into columns and the product back. Decided on NHWC 1x1 products
// from 49 to 196 pixels and 128 to 2048 input channels (resnet50_res5_1x1 gained most, 196 pixels nothing); products
// of im2row's unfolded tiles (resnet50_res5_3x3, res4_3x3) and NCHW layers gained nowhere (docs/tuning-log.md).
constexpr std::int64_t kTransposedMaxPixels = 144;
constexpr std::int64_t kTransposedMinReduction = 512;

// Groups of one input channel: the unfolded block of a tile, pixels x taps x channels, is aimed at the L1 cache
// (48 KiB of data here, 32-48 KiB on recent x86) together with the weights, since the product reads it right after
// the unfolding wrote it, and its pixels are whole register tiles (GemmUkernels::channelwise_pixels): an edge tile of
// fewer pixels has too few sums to hide the FMA latency. Decided on im2col_gemm over NHWC mobilenetv2_dw and _dw_s2
// (144 and 96 channels), targets from 8 to 128 KiB: 24 KiB was best on the first, level on the second.
constexpr std::int64_t kChannelwiseTileBytes = std::int64_t{24} << 10;

// The tiling of groups of one input channel (GemmTiling::channelwise).
void choose_channelwise_tiling(const Problem& p, bool unfold, int threads, const Tuning& tuning, GemmTiling& t) {
  const std::int64_t taps = p.kernel_height * p.kernel_width, lane_group = t.ukernels->channelwise_tile;
  const std::int64_t pixel_bytes = taps * static_cast<std::int64_t>(sizeof(float));  // one channel of one pixel
  const std::int64_t tile_grain = t.ukernels->channelwise_pixels;
  // All the groups in one block if a register tile of pixels of them fits the target, else blocks as wide as do.
  std::int64_t block = p.groups;
  if (block * pixel_bytes * tile_grain > kChannelwiseTileBytes)
    block = std::max(lane_group, kChannelwiseTileBytes / (pixel_bytes * tile_grain) / lane_group * lane_group);
  if (const std::int64_t forced = tuning.gemm_channel_block; forced > 0)
    block = std::min(p.groups, round_up(forced, lane_group));
  std::int64_t tile = std::max(tile_grain, kChannelwiseTileBytes / (block * pixel_bytes) / tile_grain * tile_grain);
  if (const std::int64_t forced = tuning.gemm_tile_pixels; forced > 0) tile = forced;
  const std::int64_t cap =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(kGemmWorkspaceCapBytes) / (block * pixel_bytes));
  t.tile_pixels = std::max<std::int64_t>(1, std::min({tile, cap, t.matrix_pixels}));
  t.tiles_per_matrix = ceil_div(t.matrix_pixels, t.tile_pixels);
  t.channel_block = block;
  t.channel_blocks = ceil_div(p.groups, block);
  t.workers = team_size(threads_worth_using(p.flops(), threads), t.unit_count());
  t.buffer_floats = unfold ? static_cast<std::size_t>(t.tile_pixels * taps * block) : 0;
}

bool prefers_transposed(const Problem& p, bool unfold, const GemmTiling& t) {
  return p.layout == Layout::NHWC && !unfold && t.tile_pixels <= kTransposedMaxPixels &&
         p.reduction >= kTransposedMinReduction;
}

bool one_channel_groups(const Problem& p) {
  return p.layout == Layout::NHWC && p.group_in_channels == 1 && p.groups > 1;
}

// The workspace a transposed product takes on top of the unfolded tile: a transposed NHWC 1x1 product reads its pixels
// as columns (transpose.hpp) rather than in place. Both within the same bound.
std::int64_t transposed_columns(const Problem& p, bool unfold, const GemmTiling& t) {
  return unfold || p.layout == Layout::NHWC ? t.tile_pixels * p.reduction : 0;
}

// Tiles of output pixels whose unfolded panel is aimed at kTileTargetBytes (see there), in equal widths rounded to
// `grain`, as many as teams of 2 and 4 share equally.
void choose_tiles(const Problem& p, std::int64_t grain, const Tuning& tuning, GemmTiling& t) {
  const std::int64_t column_bytes = p.reduction * static_cast<std::int64_t>(sizeof(float));
  const std::int64_t cap = std::max<std::int64_t>(1, static_cast<std::int64_t>(kGemmWorkspaceCapBytes) / column_bytes);
  const std::int64_t weights_bytes = p.group_out_channels * column_bytes;
  const std::size_t target =
      weights_bytes > static_cast<std::int64_t>(kLargeWeightsBytes) ? kGemmWorkspaceCapBytes : kTileTargetBytes;
  std::int64_t tile =
      std::clamp<std::int64_t>(static_cast<std::int64_t>(target) / column_bytes, kMinTilePixels, kMaxTilePixels);
  // Equal tiles rather than full ones and a remnant: n tiles of ceil(pixels / n), rounded to the grain. A count that
  // is a multiple of kBalancedUnits when there are several, so that teams of 2 and 4 get equal shares (the tiling must
  // not follow the team, see choose_channel_blocks): resnet50_res2_3x3 had 7 tiles, 4 and 3 per thread.
  std::int64_t count = ceil_div(t.matrix_pixels, std::min(tile, t.matrix_pixels));
  if (count > 1) count = std::min(round_up(count, kBalancedUnits), ceil_div(t.matrix_pixels, kMinTilePixels));
  tile = round_up(ceil_div(t.matrix_pixels, count), grain);
  if (tuning.gemm_tile_pixels > 0) tile = tuning.gemm_tile_pixels;
  t.tile_pixels = std::max<std::int64_t>(1, std::min({tile, cap, t.matrix_pixels}));
  t.tiles_per_matrix = ceil_div(t.matrix_pixels, t.tile_pixels);
  // An image with fewer tiles than kBalancedUnits is first cut into more, narrower tiles while they keep at least
  // kMinSharedTilePixels: one GEMM of 64 x 784 x 192 (inception_3a_1x1) otherwise leaves the second thread idle.
  if (t.tile_count() < kBalancedUnits && tuning.gemm_tile_pixels <= 0) {
    const std::int64_t wanted = ceil_div(kBalancedUnits, t.matrices);
    const std::int64_t narrower = round_up(ceil_div(t.matrix_pixels, wanted), grain);
    if (narrower >= kMinSharedTilePixels && narrower < t.tile_pixels) {
      t.tile_pixels = narrower;
      t.tiles_per_matrix = ceil_div(t.matrix_pixels, t.tile_pixels);
    }
  }
}

// The work is dealt out in units of (tile, block of output channels), and the units depend on the problem only, never
// on the thread count: each GEMM call has the same shape whatever the team, so results are the same bits for every
// thread count (OpenBLAS rounds differently when a product's shape changes; the late ResNet stages, decided on
// resnet50_res3-5_3x3, pay a little speed for it). An image with fewer tiles than kBalancedUnits has its output
// channels cut into blocks too (of kPreferredBlockChannels, or of at least kMinBlockChannels where that is what gives
// two units, in an even count of units where the blocks allow it; a multiple of 16), so that up to that many workers
// share it; a worker that meets the same tile again reuses its unfolded panel.
void choose_channel_blocks(const Problem& p, const Tuning& tuning, GemmTiling& t) {
  std::int64_t blocks = 1;
  if (t.tile_count() < kBalancedUnits) {
    blocks =
        std::min(ceil_div(kBalancedUnits, t.tile_count()), ceil_div(p.group_out_channels, kPreferredBlockChannels));
    if (blocks * t.tile_count() < kMinSharedUnits)
      blocks = std::min(ceil_div(kMinSharedUnits, t.tile_count()), ceil_div(p.group_out_channels, kMinBlockChannels));
    // An even count of units, so that two workers get equal shares: 576 channels in one tile, 3 blocks of 192, left
    // one worker twice the other's work (4 blocks of 144 instead).
    if (blocks > 1 && blocks * t.tile_count() % 2 != 0 && p.group_out_channels / (blocks + 1) >= kMinBlockChannels)
      ++blocks;
  }
  if (tuning.gemm_channel_block > 0) blocks = ceil_div(p.group_out_channels, tuning.gemm_channel_block);
  t.channel_block = blocks > 1 ? round_up(ceil_div(p.group_out_channels, blocks), kChannelGrain) : p.group_out_channels;
  t.channel_blocks = ceil_div(p.group_out_channels, t.channel_block);
}
}  // namespace

const char* gemm_multiplier_declines(const Problem& p, bool unfold, const Tuning& tuning, GemmMultiplier multiplier) {
  switch (multiplier) {
    case GemmMultiplier::Channelwise:
      if (gemm_ukernels() == nullptr) return "convkit's GEMM microkernels need AVX2 and FMA";
      if (!one_channel_groups(p)) return "the channelwise microkernel takes NHWC groups of one input channel only";
      return nullptr;
    case GemmMultiplier::Convkit:
      return gemm_ukernels() == nullptr ? "convkit's GEMM microkernels need AVX2 and FMA" : nullptr;
    case GemmMultiplier::OpenblasTransposed: {
      const GemmTiling t = choose_gemm_tiling(p, unfold, 1, tuning, multiplier);
      if (t.transposed) return nullptr;
      return "the transposed product and its columns would exceed the workspace bound";
    }
    case GemmMultiplier::Openblas:
      return nullptr;
  }
  return nullptr;
}

const char* gemm_multiplier_defers(const Problem& p, bool unfold, const Tuning& tuning, GemmMultiplier multiplier) {
  const bool blas_forced = tuning.gemm_engine == Tuning::GemmEngine::Blas;
  switch (multiplier) {
    case GemmMultiplier::Channelwise:
      return blas_forced ? "CONVKIT_GEMM_ENGINE=blas" : nullptr;
    case GemmMultiplier::Convkit:
      if (blas_forced) return "CONVKIT_GEMM_ENGINE=blas";
      if (tuning.gemm_orientation == Tuning::Orientation::Transposed)
        return "CONVKIT_GEMM_ORIENTATION=transposed: OpenBLAS multiplies transposed products";
      // An NHWC product's register tile spans strip_columns output channels; a group with fewer than half of them
      // wastes most of it, and OpenBLAS does better. NCHW tiles of few output channels run tiles of as many rows
      // (gemm_ukernels_impl.hpp), decided on NCHW mobilenetv2_dw (one output channel per group).
      if (p.layout == Layout::NHWC && !one_channel_groups(p) &&
          2 * p.group_out_channels < gemm_ukernels()->strip_columns)
        return "an NHWC group of fewer output channels than half the microkernel's strip: OpenBLAS does better";
      return nullptr;
    case GemmMultiplier::OpenblasTransposed: {
      if (tuning.gemm_orientation == Tuning::Orientation::Transposed) return nullptr;
      if (tuning.gemm_orientation == Tuning::Orientation::Native) return "CONVKIT_GEMM_ORIENTATION=native";
      const GemmTiling t = choose_gemm_tiling(p, unfold, 1, tuning, multiplier);
      if (prefers_transposed(p, unfold, t)) return nullptr;
      return "only NHWC 1x1 products of few pixels and long reductions gain from the transposed orientation";
    }
    case GemmMultiplier::Openblas:
      return nullptr;
  }
  return nullptr;
}

GemmTiling choose_gemm_tiling(const Problem& p, bool unfold, int threads, const Tuning& tuning,
                              GemmMultiplier multiplier) {
  const bool fold_batch = !unfold && p.layout == Layout::NHWC;
  GemmTiling t{};
  const bool convkit_multiplies = multiplier == GemmMultiplier::Convkit || multiplier == GemmMultiplier::Channelwise;
  t.ukernels = convkit_multiplies ? gemm_ukernels() : nullptr;
  // Tile widths are rounded to the grain of whatever multiplies them, so that only a matrix's last tile has a ragged
  // edge: 16 pixels for OpenBLAS's micro-kernel and for convkit's NHWC products (whose pixels are rows), a strip of
  // B for convkit's NCHW products (resnet50_res2_3x3: tiles of 392 pixels left a strip of 8 in each).
  const std::int64_t grain = t.ukernels != nullptr && p.layout == Layout::NCHW
                                 ? std::max<std::int64_t>(kPixelGrain, t.ukernels->strip_columns)
                                 : kPixelGrain;
  t.matrix_pixels = fold_batch ? p.batch * p.out_pixels() : p.out_pixels();
  t.matrices = fold_batch ? p.groups : p.batch * p.groups;
  t.channelwise = multiplier == GemmMultiplier::Channelwise;
  if (t.channelwise) {
    t.matrices = fold_batch ? 1 : p.batch;
    choose_channelwise_tiling(p, unfold, threads, tuning, t);
    return t;
  }

  choose_tiles(p, grain, tuning, t);
  choose_channel_blocks(p, tuning, t);
  const int team = threads_worth_using(p.flops(), threads);
  t.workers = team_size(team, t.unit_count());
  t.buffer_floats = unfold ? static_cast<std::size_t>(t.tile_pixels * p.reduction) : 0;
  // A transposed product takes workspace of its own: together with the unfolded tile, within the same bound.
  const std::int64_t product = t.tile_pixels * t.channel_block;
  const std::int64_t columns = transposed_columns(p, unfold, t);
  t.transposed = multiplier == GemmMultiplier::OpenblasTransposed &&
                 columns + product <= static_cast<std::int64_t>(kGemmWorkspaceCapBytes / sizeof(float));
  if (t.transposed) {
    t.product_floats = static_cast<std::size_t>(product);
    t.buffer_floats = static_cast<std::size_t>(columns);
  }
  return t;
}

}  // namespace convkit::detail
