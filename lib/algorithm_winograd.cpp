// winograd: 3x3 stride-1 convolutions by Winograd's minimal filtering F(m x m, 3 x 3) (Lavin & Gray, 2016), m = 2 or
// 4, with the heavy part still a GEMM: for each of the t*t transform points (t = m + 2), one product
//
//   M[p] (tiles x Co/g) = V[p] (tiles x Ci/g) * U[p] (Ci/g x Co/g)
//
// of the transformed input tiles V by the weights U transformed once, when the kernel is made (packing.hpp). The
// output is cut into m x m tiles, numbered across the whole batch, and handled in blocks of tiles: each block's
// input tiles are transformed into the workspace, its t*t GEMMs run, and its output transform writes the pixels with
// bias and activation fused. A block's V and M are the whole workspace, so it stays bounded whatever the image.
//
// F(2x2) computes 2.25x and F(4x4) 4x fewer multiplications than the definition, at the price of a larger error (the
// transforms add and scale values of different magnitudes): a fast-math algorithm, which `auto` only picks in
// MathMode::Fast. docs/algorithms.md ("Winograd's error") gives the error bounds, tested in tests/test_winograd.cpp.
//
// Layouts: the transforms read and write runs of channels. NHWC pixels are such runs. NCHW tiles are handled a tile
// row at a time: the input rows under the row's tiles are first transposed into a small pixel-major buffer, and the
// output tiles are written to one and transposed into the output planes. Gathering each pixel's channels straight
// from the planes (as the transforms can) was far slower on vgg16_conv1_2 (docs/tuning-log.md): every vector then
// touches 16 planes, and the hardware prefetchers cannot follow hundreds of interleaved streams.
//
// The products: on AVX2 and AVX-512 CPUs convkit's own GEMM kernels (kernels/gemm_ukernels.hpp), with each point's
// weights packed into their strips when the plan is made; elsewhere OpenBLAS, which packs them again on every call
// (a full pass over 16 MiB of weights per call on resnet50_res5_3x3).
//
// Threads: the whole team works on each block, one level only: the tiles of the two transforms are shared out, and
// so are the transform points' GEMMs (single-threaded each), with a barrier between the phases. The
// block size depends on the problem only, never on the thread count, so results are the same for every count.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "arithmetic.hpp"
#include "blas.hpp"
#include "epilogue.hpp"
#include "error.hpp"
#include "kernels/gemm_ukernels.hpp"
#include "kernels/winograd_ukernels.hpp"
#include "memory.hpp"
#include "packing.hpp"
#include "primitive.hpp"
#include "profile.hpp"
#include "threading.hpp"
#include "transpose.hpp"

namespace convkit::detail {
namespace {

// V and M of one block take at most this much: the L2 cache of one core on the machine the choice was measured on
// (Xeon, 1 MiB L2), half the workspace bound of the GEMM path.
constexpr std::size_t kBlockBytes = std::size_t{1} << 20;

// NCHW tile rows are staged at most this many tiles at a time (decided on vgg16_conv1_2 NCHW: its whole rows of 56
// tiles beat rows cut into 16, docs/tuning-log.md; the buffer stays below 400 KiB for 64 channels).
constexpr std::int64_t kRowTiles = 64;

// Blocks per worker from which each worker runs whole blocks of its own, rather than the team sharing each block:
// enough for the last block not to leave a worker idle for long.
constexpr std::int64_t kBlocksPerWorker = 4;

struct WinogradTiling {
  int tile;                       // m: output pixels per tile side
  int points;                     // (m + 2)^2
  std::int64_t tiles_h, tiles_w;  // tiles per image, down and across
  std::int64_t tiles;             // over the whole batch
  std::int64_t block_tiles;       // tiles per block (the last block may hold fewer)
  std::int64_t blocks;            // per group

  std::int64_t tiles_per_image() const { return tiles_h * tiles_w; }
};

std::int64_t tiles_of(const Problem& p, int tile) {
  return p.batch * ceil_div(p.out_height, tile) * ceil_div(p.out_width, tile);
}

// F(4x4) does 1.78x fewer multiplications than F(2x2) but needs 4x as many output pixels per tile: on a small image
// it pads the last tiles (4 tiles of 16 pixels for a 7x7 output) and leaves GEMMs of a few rows, which OpenBLAS runs
// slowly. Decided on resnet50's 3x3 layers in NHWC (docs/tuning-log.md): F(4x4) ahead on res3_3x3 (49 tiles),
// res4_3x3 (16) and res4_3x3_b8 (128), F(2x2) on res5_3x3 (4 tiles).
int natural_tile(const Problem& p) { return tiles_of(p, 4) >= 16 ? 4 : 2; }

// A team cuts the tiles into blocks of no fewer than this many to give each worker blocks of its own: two register
// tiles of convkit's GEMM kernels.
constexpr std::int64_t kMinTeamBlockTiles = 24;

// The tiling of F(tile x tile, 3 x 3). `forced_block_tiles` > 0: blocks of that many tiles
// (CONVKIT_WINOGRAD_BLOCK_TILES); auto's choice is made on the tiling the problem gets without it. `team_workers` > 1:
// blocks small enough for each of that many workers to run kBlocksPerWorker whole blocks of its own where the tiles
// allow it, rather than the team sharing each block between barriers (resnet50_res2_3x3 at 2 threads: 196 tiles in 4
// blocks ran no faster than at 1 thread; in 8 blocks, 1.5-1.7x). Only for convkit's GEMM kernels, which compute each
// row of a product alike whatever its number of rows, so that the results stay the same for every thread count.
WinogradTiling choose_winograd_tiling(const Problem& p, int tile, std::int64_t forced_block_tiles = 0,
                                      int team_workers = 1) {
  WinogradTiling tiling{};
  tiling.tile = tile;
  tiling.points = (tiling.tile + 2) * (tiling.tile + 2);
  tiling.tiles_h = ceil_div(p.out_height, tiling.tile);
  tiling.tiles_w = ceil_div(p.out_width, tiling.tile);
  tiling.tiles = p.batch * tiling.tiles_h * tiling.tiles_w;
  const std::int64_t tile_bytes =
      tiling.points * (p.group_in_channels + p.group_out_channels) * static_cast<std::int64_t>(sizeof(float));
  std::int64_t block = static_cast<std::int64_t>(kBlockBytes) / tile_bytes;
  if (forced_block_tiles > 0) block = forced_block_tiles;
  block = std::clamp<std::int64_t>(block, 1, tiling.tiles);
  // Blocks of equal size: 100 tiles in blocks of at most 64 become 2 blocks of 50, not 64 and 36.
  tiling.blocks = ceil_div(tiling.tiles, block);
  tiling.block_tiles = ceil_div(tiling.tiles, tiling.blocks);
  const std::int64_t wanted = ceil_div(kBlocksPerWorker * team_workers, p.groups);
  if (team_workers > 1 && forced_block_tiles == 0 && tiling.blocks < wanted &&
      tiling.tiles >= wanted * kMinTeamBlockTiles) {
    tiling.blocks = wanted;
    tiling.block_tiles = ceil_div(tiling.tiles, tiling.blocks);
  }
  return tiling;
}

class WinogradPrimitive final : public Primitive {
 public:
  WinogradPrimitive(const PrimitiveArguments& args, int tile)
      : p_(args.problem),
        tiling_(choose_winograd_tiling(p_, tile, args.tuning.winograd_block_tiles,
                                       gemm_ukernels() != nullptr ? threads_worth_using(p_.flops(), args.threads) : 1)),
        workers_(threads_worth_using(p_.flops(), args.threads)),
        row_tiles_(std::min({tiling_.block_tiles, tiling_.tiles_w, kRowTiles})),
        staging_floats_(p_.layout == Layout::NCHW
                            ? std::max((tiling_.tile + 2) * (row_tiles_ * tiling_.tile + 2) * p_.group_in_channels,
                                       tiling_.tile * row_tiles_ * tiling_.tile * p_.group_out_channels)
                            : 0),
        block_floats_(tiling_.points * tiling_.block_tiles * (p_.group_in_channels + p_.group_out_channels)),
        own_blocks_(workers_ > 1 && p_.groups * tiling_.blocks >= kBlocksPerWorker * workers_),
        staging_((staging_floats_ + static_cast<std::size_t>(own_blocks_ ? block_floats_ : 0)) * sizeof(float),
                 workers_),
        bias_(bias_form(args.cache, p_, args.bias)),
        activation_(args.activation),
        post_(args.post),
        clamp_min_(args.clamp_min),
        clamp_max_(args.clamp_max),
        ukernels_(winograd_ukernels()),
        gemm_(gemm_ukernels()) {
    const std::string key = "winograd tile=" + std::to_string(tiling_.tile);
    const std::int64_t points = p_.groups * tiling_.points;
    if (gemm_ != nullptr) {  // convkit's kernels read the points' weights in their strips, packed here once
      const std::int64_t width = gemm_->strip_columns;
      point_floats_ = round_up(p_.group_out_channels, width) * p_.group_in_channels;
      weights_ = args.cache.get_or_pack(
          key + " strips width=" + std::to_string(width), static_cast<std::size_t>(points * point_floats_), [&] {
            const AlignedFloats transformed = pack_winograd_weights(p_, args.weights, tiling_.tile);
            return pack_column_strips(transformed.get(), points, p_.group_in_channels, p_.group_out_channels, width);
          });
    } else {
      weights_ =
          args.cache.get_or_pack(key, static_cast<std::size_t>(points * p_.group_in_channels * p_.group_out_channels),
                                 [&] { return pack_winograd_weights(p_, args.weights, tiling_.tile); });
    }
  }

  Algorithm algorithm() const override { return Algorithm::Winograd; }

  // V and M of a block (each worker's own, or one the team shares), and each worker's staging buffer for NCHW tile
  // rows.
  std::size_t workspace_bytes() const override {
    return (own_blocks_ ? 0 : static_cast<std::size_t>(block_floats_) * sizeof(float)) + staging_.workspace_bytes();
  }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void* workspace) const override {
    const std::int64_t blocks = tiling_.blocks;
    if (own_blocks_) {
      // Each worker takes whole blocks through all three phases in V and M of its own: one job for the layer, no
      // worker ever waits for another's phase.
      parallel_for(workers_, p_.groups * blocks, [&](std::int64_t begin, std::int64_t end, int worker) {
        float* const transformed_input = static_cast<float*>(staging_.slice(workspace, worker));
        float* const products = transformed_input + tiling_.points * tiling_.block_tiles * p_.group_in_channels;
        float* const stage = products + tiling_.points * tiling_.block_tiles * p_.group_out_channels;
        for (std::int64_t unit = begin; unit < end; ++unit) {
          const std::int64_t group = unit / blocks, first = unit % blocks * tiling_.block_tiles;
          const std::int64_t count = std::min(tiling_.block_tiles, tiling_.tiles - first);
          transform_inputs(input, group, first, first, first + count, transformed_input, stage);
          multiply(group, count, 0, tiling_.points, transformed_input, products);
          transform_outputs(products, group, first, first, first + count, output, residual_offset, stage);
        }
      });
      return;
    }
    // Fewer blocks than it takes to keep every worker busy: the team shares each block, in three jobs per block. A
    // block's GEMMs read V only after its input transform's job returned, and its output transform reads M only
    // after the GEMMs' job returned.
    float* const transformed_input = static_cast<float*>(workspace);  // V: [point][tile][cg]
    float* const products = transformed_input + tiling_.points * tiling_.block_tiles * p_.group_in_channels;
    void* const staging = products + tiling_.points * tiling_.block_tiles * p_.group_out_channels;
    for (std::int64_t group = 0; group < p_.groups; ++group) {
      for (std::int64_t block = 0; block < blocks; ++block) {
        const std::int64_t first = block * tiling_.block_tiles;
        const std::int64_t count = std::min(tiling_.block_tiles, tiling_.tiles - first);
        parallel_for(workers_, count, [&](std::int64_t begin, std::int64_t end, int worker) {
          float* const stage = static_cast<float*>(staging_.slice(staging, worker));
          transform_inputs(input, group, first, first + begin, first + end, transformed_input, stage);
        });
        parallel_for(workers_, tiling_.points, [&](std::int64_t begin, std::int64_t end, int) {
          multiply(group, count, begin, end, transformed_input, products);
        });
        parallel_for(workers_, count, [&](std::int64_t begin, std::int64_t end, int worker) {
          float* const stage = static_cast<float*>(staging_.slice(staging, worker));
          transform_outputs(products, group, first, first + begin, first + end, output, residual_offset, stage);
        });
      }
    }
  }

 private:
  struct TilePosition {
    std::int64_t image, y, x;  // the tile's first output pixel
  };

  TilePosition position(std::int64_t index) const {
    const std::int64_t in_image = index % tiling_.tiles_per_image();
    return {index / tiling_.tiles_per_image(), in_image / tiling_.tiles_w * tiling_.tile,
            in_image % tiling_.tiles_w * tiling_.tile};
  }

  // Calls body(begin, end) for each run of tiles [begin, end) within [first, last) that lies in one tile row of one
  // image, at most row_tiles_ long.
  template <class Body>
  void for_each_tile_row(std::int64_t first, std::int64_t last, const Body& body) const {
    while (first < last) {
      const std::int64_t row_end = (first / tiling_.tiles_w + 1) * tiling_.tiles_w;
      const std::int64_t end = std::min({last, row_end, first + row_tiles_});
      body(first, end);
      first = end;
    }
  }

  // Tiles [begin, end) of the block starting at tile `first`: input transforms into V, one tile row at a time.
  void transform_inputs(const float* input, std::int64_t group, std::int64_t first, std::int64_t begin,
                        std::int64_t end, float* transformed_input, float* stage) const {
    for_each_tile_row(begin, end, [&](std::int64_t row_begin, std::int64_t row_end) {
      const PhaseTimer timer(Phase::Unfold);
      transform_input_row(input, group, row_begin, row_end,
                          transformed_input + (row_begin - first) * p_.group_in_channels, stage);
    });
  }

  // M = V x U for transform points [point_begin, point_end) of a block of `count` tiles.
  void multiply(std::int64_t group, std::int64_t count, std::int64_t point_begin, std::int64_t point_end,
                const float* transformed_input, float* products) const {
    const std::int64_t cg = p_.group_in_channels, og = p_.group_out_channels;
    for (std::int64_t point = point_begin; point < point_end; ++point) {
      const PhaseTimer timer(Phase::Multiply);
      const float* v = transformed_input + point * tiling_.block_tiles * cg;
      float* m = products + point * tiling_.block_tiles * og;
      if (gemm_ != nullptr) {
        gemm_->packed_b({count, og, cg, v, cg, weights_.get() + (group * tiling_.points + point) * point_floats_, 0, m,
                         og, nullptr, Activation::None, 0.0f, 0.0f, nullptr, 0, nullptr});
      } else {
        sgemm(false, false, count, og, cg, v, cg, weights_.get() + (group * tiling_.points + point) * cg * og, og, 0.0f,
              m, og);
      }
    }
  }

  // Tiles [begin, end) of the block starting at tile `first`: output transforms from M into the output.
  void transform_outputs(const float* products, std::int64_t group, std::int64_t first, std::int64_t begin,
                         std::int64_t end, float* output, std::ptrdiff_t residual_offset, float* stage) const {
    for_each_tile_row(begin, end, [&](std::int64_t row_begin, std::int64_t row_end) {
      const PhaseTimer timer(Phase::Epilogue);
      transform_output_row(products + (row_begin - first) * p_.group_out_channels, group, row_begin, row_end, output,
                           residual_offset, stage);
    });
  }

  // Input tiles [begin, end) of one tile row into V (tile `begin` at `transformed`, the others after it).
  void transform_input_row(const float* input, std::int64_t group, std::int64_t begin, std::int64_t end,
                           float* transformed, float* stage) const {
    const TilePosition first = position(begin);
    const int t = tiling_.tile + 2;
    const std::int64_t cg = p_.group_in_channels, channel0 = group * cg;
    const std::int64_t top = first.y - p_.pad_top, left = first.x - p_.pad_left;
    const std::int64_t stage_width = (end - begin) * tiling_.tile + 2;  // pixels of a staged row
    // The image's pixel (top + i, left + j): channel 0 of its run, with the stride between its channels.
    const float* base;
    std::int64_t row_stride, pixel_stride, channel_stride;
    if (p_.layout == Layout::NHWC) {
      base = input + ((first.image * p_.in_height + top) * p_.in_width + left) * p_.in_channels + channel0;
      row_stride = p_.in_width * p_.in_channels, pixel_stride = p_.in_channels, channel_stride = 1;
    } else {
      stage_nchw_input(input + (first.image * p_.in_channels + channel0) * p_.in_pixels(), top, left, stage_width,
                       stage);
      base = stage;
      row_stride = stage_width * cg, pixel_stride = cg, channel_stride = 1;
    }
    const float* pixels[36];
    for (std::int64_t index = begin; index < end; ++index) {
      const std::int64_t column = (index - begin) * tiling_.tile;
      for (int i = 0; i < t; ++i) {
        const bool row_inside = top + i >= 0 && top + i < p_.in_height;
        for (int j = 0; j < t; ++j) {
          const std::int64_t x = left + column + j;
          pixels[i * t + j] =
              row_inside && x >= 0 && x < p_.in_width ? base + i * row_stride + (column + j) * pixel_stride : nullptr;
        }
      }
      const WinogradInputTask task{
          tiling_.tile, pixels, channel_stride, cg, transformed + (index - begin) * cg, tiling_.block_tiles * cg};
      ukernels_.input(task);
    }
  }

  // The input pixels under a tile row, NCHW planes -> stage[(i * width + j) * Ci/g + c] for the pixels inside the image
  // (the others are never read: the transform treats them as zeros).
  void stage_nchw_input(const float* planes, std::int64_t top, std::int64_t left, std::int64_t width,
                        float* stage) const {
    const int t = tiling_.tile + 2;
    const std::int64_t cg = p_.group_in_channels;
    const std::int64_t j_begin = std::max<std::int64_t>(0, -left);
    const std::int64_t j_end = std::min<std::int64_t>(width, p_.in_width - left);
    if (j_begin >= j_end) return;
    for (int i = 0; i < t; ++i) {
      const std::int64_t y = top + i;
      if (y < 0 || y >= p_.in_height) continue;
      // (channel c, column j) -> (column j, channel c)
      transpose(planes + y * p_.in_width + left + j_begin, p_.in_pixels(), cg, j_end - j_begin,
                stage + (i * width + j_begin) * cg, cg);
    }
  }

  // Output tiles [begin, end) of one tile row from M (tile `begin` at `products`), with bias and activation.
  void transform_output_row(const float* products, std::int64_t group, std::int64_t begin, std::int64_t end,
                            float* output, std::ptrdiff_t residual_offset, float* stage) const {
    const TilePosition first = position(begin);
    const int m = tiling_.tile;
    const std::int64_t og = p_.group_out_channels, channel0 = group * og;
    const std::int64_t stage_width = (end - begin) * m;
    float* base;
    std::int64_t row_stride, pixel_stride;
    const bool nhwc = p_.layout == Layout::NHWC, finish_in_transpose = !nhwc && post_.residual;
    if (nhwc) {
      base = output + ((first.image * p_.out_height + first.y) * p_.out_width + first.x) * p_.out_channels + channel0;
      row_stride = p_.out_width * p_.out_channels, pixel_stride = p_.out_channels;
    } else {
      base = stage;
      row_stride = stage_width * og, pixel_stride = og;
    }
    float* pixels[16];
    for (std::int64_t index = begin; index < end; ++index) {
      const std::int64_t column = (index - begin) * m;
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j)
          pixels[i * m + j] = first.y + i < p_.out_height && first.x + column + j < p_.out_width
                                  ? base + i * row_stride + (column + j) * pixel_stride
                                  : nullptr;
      WinogradOutputTask task{m,
                              products + (index - begin) * og,
                              tiling_.block_tiles * og,
                              og,
                              pixels,
                              1,
                              bias_ ? bias_.get() + channel0 : nullptr,
                              activation_,
                              clamp_min_,
                              clamp_max_};
      // NCHW stages the tiles [pixel][channel]: with a residual the transpose into the planes finishes them.
      if (nhwc || !finish_in_transpose) {
        task.post = active_post_ops(post_);
        task.residual_offset = residual_offset;
      } else {
        task.activation = Activation::None;
      }
      ukernels_.output(task);
    }
    if (p_.layout == Layout::NCHW) {
      // stage[(i * width + j) * Co/g + c] -> the output planes, for the pixels inside the output.
      float* planes = output + (first.image * p_.out_channels + channel0) * p_.out_pixels();
      const std::int64_t rows = std::min<std::int64_t>(m, p_.out_height - first.y);
      const std::int64_t columns = std::min<std::int64_t>(stage_width, p_.out_width - first.x);
      const TileEpilogue finish{nullptr, activation_, clamp_min_, clamp_max_, active_post_ops(post_), residual_offset};
      for (std::int64_t i = 0; i < rows; ++i) {  // (column j, channel c) -> (channel c, column j)
        float* target = planes + (first.y + i) * p_.out_width + first.x;
        if (finish_in_transpose) {
          finish.store_transposed(stage + i * stage_width * og, columns, og, og, false, target, p_.out_pixels(), 0);
        } else {
          transpose(stage + i * stage_width * og, og, columns, og, target, p_.out_pixels());
        }
      }
    }
  }

  Problem p_;
  WinogradTiling tiling_;
  int workers_;
  std::int64_t row_tiles_;      // the most tiles of one tile row handled at once
  std::size_t staging_floats_;  // per worker: the pixels under row_tiles_ input or output tiles (NCHW only)
  std::int64_t block_floats_;   // V and M of one block
  bool own_blocks_;             // each worker runs whole blocks in V and M of its own
  WorkerSlices staging_;        // per worker: V and M when own_blocks_, then the staging buffer
  SharedFloats weights_;
  SharedFloats bias_;
  Activation activation_;
  PostOps post_;
  float clamp_min_, clamp_max_;
  const WinogradUkernels& ukernels_;
  const GemmUkernels* gemm_;       // convkit's GEMM kernels multiply where the CPU has them, else OpenBLAS
  std::int64_t point_floats_ = 0;  // one point's weights in strips (gemm_ only)
};

DeclineReason winograd_declines(const Problem& p, const Tuning&) {
  if (p.kernel_height != 3 || p.kernel_width != 3) return "Winograd F(m x m, 3 x 3) needs a 3x3 kernel";
  if (!p.is_unit_stride()) return "Winograd needs stride 1";
  if (p.dilation_height != 1 || p.dilation_width != 1) return "Winograd needs dilation 1";
  for (std::int64_t value : {p.group_in_channels, p.group_out_channels, tiles_of(p, 2)})
    if (!fits_blas_index(value)) return "a GEMM dimension exceeds the BLAS's 32-bit index";
  return nullptr;
}

// Each transform point's GEMM is (tiles x Ci/g) by (Ci/g x Co/g): with few channels per group the transforms and the
// GEMM calls cost more than the multiplications they save (decided on 56x56 images with Ci = Co against auto's
// strict choice: far behind direct at 4 and 8 channels, ahead from 16; docs/tuning-log.md).
//
// F(2x2) saves at most 2.25x of the multiplications, less when the output does not divide into 2x2 tiles, and is
// chosen for small images only (natural_tile). When a block of transformed data holds few tiles, each transform
// point's GEMM has as few rows and OpenBLAS (not convkit's kernels, which read the weights packed once: 1.2x oneDNN
// on resnet50_res5_3x3) runs it far below its speed, which costs more than F(2x2) saves
// (decided on 7x7 images of 512 channels, resnet50_res5_3x3, blocks of 16 tiles whatever the batch: behind
// im2col_gemm in both layouts at batch 1 and 8; a 10x10 image of 256 channels, 25 tiles in one block, was level;
// docs/tuning-log.md). F(4x4) gains even on blocks of 8 tiles (resnet50_res4_3x3).
constexpr std::int64_t kMinF2BlockTiles = 20;

DeclineReason winograd_auto_declines(const Problem& p) {
  if (p.group_in_channels < 16 || p.group_out_channels < 16) return "fewer than 16 channels per group";
  const WinogradTiling tiling = choose_winograd_tiling(p, natural_tile(p));
  if (gemm_ukernels() == nullptr && tiling.tile == 2 && tiling.block_tiles < kMinF2BlockTiles)
    return "F(2x2) blocks of fewer than 20 tiles (a small image with many channels): its GEMMs are too short";
  return nullptr;
}

// F(4x4) saves more multiplications but wastes more on the edges of small images (natural_tile);
// CONVKIT_WINOGRAD_TILE forces either.
DeclineReason f4x4_defers(const Problem& p, const Tuning& tuning) {
  if (tuning.winograd_tile == 2) return "CONVKIT_WINOGRAD_TILE=2";
  if (tuning.winograd_tile == 0 && natural_tile(p) != 4) return "fewer than 16 F(4x4) tiles: F(2x2) wastes less";
  return nullptr;
}

template <int kTile>
std::unique_ptr<Primitive> create_winograd(const PrimitiveArguments& args) {
  return std::make_unique<WinogradPrimitive>(args, kTile);
}

}  // namespace

const Implementation* const* winograd_implementations() {
  static const Implementation f4x4{"winograd_f4x4", Algorithm::Winograd,    winograd_declines,
                                   f4x4_defers,     winograd_auto_declines, create_winograd<4>};
  static const Implementation f2x2{"winograd_f2x2",    Algorithm::Winograd,    winograd_declines,
                                   accepts_everything, winograd_auto_declines, create_winograd<2>};
  static const Implementation* const list[] = {&f4x4, &f2x2, nullptr};
  return list;
}

}  // namespace convkit::detail
