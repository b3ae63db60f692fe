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
// MathMode::Fast. README "Winograd" gives the measured error bounds, tested in tests/test_winograd.cpp.
//
// Threads: the whole team works on each block, one level only: the tiles of the two transforms are shared out, and
// so are the transform points' GEMMs (OpenBLAS single-threaded on each), with a barrier between the phases. The
// block size depends on the problem only, never on the thread count, so results are the same for every count.
#include "algorithms.hpp"
#include "arithmetic.hpp"
#include "blas.hpp"
#include "error.hpp"
#include "kernels/winograd_kernels.hpp"
#include "memory.hpp"
#include "packing.hpp"
#include "threading.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace convkit::detail {
namespace {

// V and M of one block take at most this much: the L2 cache of one core on the machine the choice was measured on
// (Xeon, 1 MiB L2), half the workspace bound of the GEMM path.
constexpr std::size_t kBlockBytes = std::size_t{1} << 20;

// Read each time a kernel is made: overrides for tests and tuning, 0 when unset or invalid.
std::int64_t environment_integer(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return 0;
  char* end = nullptr;
  const long long parsed = std::strtoll(value, &end, 10);
  return end != value && *end == '\0' && parsed > 0 ? parsed : 0;
}

struct WinogradTiling {
  int tile;                        // m: output pixels per tile side
  int points;                      // (m + 2)^2
  std::int64_t tiles_h, tiles_w;   // tiles per image, down and across
  std::int64_t tiles;              // over the whole batch
  std::int64_t block_tiles;        // tiles per block (the last block may hold fewer)
  std::int64_t blocks;             // per group

  std::int64_t tiles_per_image() const { return tiles_h * tiles_w; }
};

std::int64_t tiles_of(const Problem& p, int tile) {
  return p.batch * ceil_div(p.out_height, tile) * ceil_div(p.out_width, tile);
}

// F(4x4) does 1.78x fewer multiplications than F(2x2) but needs 4x as many output pixels per tile: on a small image
// it pads the last tiles (4 tiles of 16 pixels for a 7x7 output) and leaves GEMMs of a few rows, which OpenBLAS runs
// slowly. Measured with convkit_bench at 1 thread: TODO
int choose_tile(const Problem& p) {
  const std::int64_t forced = environment_integer("CONVKIT_WINOGRAD_TILE");
  if (forced == 2 || forced == 4) return static_cast<int>(forced);
  return tiles_of(p, 4) >= 16 ? 4 : 2;
}

WinogradTiling choose_winograd_tiling(const Problem& p) {
  WinogradTiling tiling{};
  tiling.tile = choose_tile(p);
  tiling.points = (tiling.tile + 2) * (tiling.tile + 2);
  tiling.tiles_h = ceil_div(p.out_height, tiling.tile);
  tiling.tiles_w = ceil_div(p.out_width, tiling.tile);
  tiling.tiles = p.batch * tiling.tiles_h * tiling.tiles_w;
  const std::int64_t tile_bytes =
      tiling.points * (p.group_in_channels + p.group_out_channels) * static_cast<std::int64_t>(sizeof(float));
  std::int64_t block = static_cast<std::int64_t>(kBlockBytes) / tile_bytes;
  if (const std::int64_t forced = environment_integer("CONVKIT_WINOGRAD_BLOCK_TILES")) block = forced;
  block = std::clamp<std::int64_t>(block, 1, tiling.tiles);
  // Blocks of equal size: 100 tiles in blocks of at most 64 become 2 blocks of 50, not 64 and 36.
  tiling.blocks = ceil_div(tiling.tiles, block);
  tiling.block_tiles = ceil_div(tiling.tiles, tiling.blocks);
  return tiling;
}

class WinogradKernel final : public Kernel {
 public:
  explicit WinogradKernel(const KernelArguments& args)
      : p_(args.problem),
        tiling_(choose_winograd_tiling(p_)),
        workers_(threads_worth_using(p_.flops(), args.threads)),
        weights_(pack_winograd_weights(p_, args.weights, tiling_.tile)),
        bias_(copy_bias(p_, args.bias)),
        activation_(args.activation),
        clamp_min_(args.clamp_min),
        clamp_max_(args.clamp_max),
        kernels_(winograd_kernels()) {}

  Algorithm algorithm() const override { return Algorithm::Winograd; }

  std::size_t workspace_bytes() const override {
    return static_cast<std::size_t>(tiling_.points * tiling_.block_tiles *
                                    (p_.group_in_channels + p_.group_out_channels)) * sizeof(float);
  }

  void run(const float* input, float* output, void* workspace) const override {
    const std::int64_t cg = p_.group_in_channels, og = p_.group_out_channels, points = tiling_.points;
    float* const transformed_input = static_cast<float*>(workspace);                 // V: [point][tile][cg]
    float* const products = transformed_input + points * tiling_.block_tiles * cg;   // M: [point][tile][og]
    parallel_team(workers_, [&](int worker, int team) noexcept {
      for (std::int64_t group = 0; group < p_.groups; ++group) {
        for (std::int64_t block = 0; block < tiling_.blocks; ++block) {
          const std::int64_t first = block * tiling_.block_tiles;
          const std::int64_t count = std::min(tiling_.block_tiles, tiling_.tiles - first);
          // The phases' barriers also keep blocks apart: a block's input transform overwrites V only after every
          // worker passed the previous block's second barrier (its GEMMs, the readers of V, are done), and its GEMMs
          // overwrite M only after the first barrier, which every worker reaches after its previous output transform.
          for (std::int64_t b = count * worker / team; b < count * (worker + 1) / team; ++b)
            transform_input(input, group, first + b, transformed_input + b * cg);
          team_barrier();
          for (std::int64_t point = points * worker / team; point < points * (worker + 1) / team; ++point) {
            sgemm(false, false, count, og, cg, transformed_input + point * tiling_.block_tiles * cg, cg,
                  weights_.get() + (group * points + point) * cg * og, og, 0.0f,
                  products + point * tiling_.block_tiles * og, og);
          }
          team_barrier();
          for (std::int64_t b = count * worker / team; b < count * (worker + 1) / team; ++b)
            transform_output(products + b * og, group, first + b, output);
        }
      }
    });
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

  void transform_input(const float* input, std::int64_t group, std::int64_t index, float* transformed) const {
    const TilePosition tile = position(index);
    const int t = tiling_.tile + 2;
    const float* pixels[36];
    const std::int64_t channel0 = group * p_.group_in_channels;
    for (int i = 0; i < t; ++i) {
      const std::int64_t y = tile.y + i - p_.pad_top;
      for (int j = 0; j < t; ++j) {
        const std::int64_t x = tile.x + j - p_.pad_left;
        const bool inside = y >= 0 && y < p_.in_height && x >= 0 && x < p_.in_width;
        pixels[i * t + j] = !inside ? nullptr
                            : p_.layout == Layout::NCHW
                                ? input + ((tile.image * p_.in_channels + channel0) * p_.in_height + y) * p_.in_width + x
                                : input + ((tile.image * p_.in_height + y) * p_.in_width + x) * p_.in_channels + channel0;
      }
    }
    const WinogradInputTask task{tiling_.tile, pixels,
                                 p_.layout == Layout::NCHW ? p_.in_pixels() : 1, p_.group_in_channels,
                                 transformed, tiling_.block_tiles * p_.group_in_channels};
    kernels_.input(task);
  }

  void transform_output(const float* products, std::int64_t group, std::int64_t index, float* output) const {
    const TilePosition tile = position(index);
    const int m = tiling_.tile;
    float* pixels[16];
    const std::int64_t channel0 = group * p_.group_out_channels;
    for (int i = 0; i < m; ++i) {
      const std::int64_t y = tile.y + i;
      for (int j = 0; j < m; ++j) {
        const std::int64_t x = tile.x + j;
        const bool inside = y < p_.out_height && x < p_.out_width;
        pixels[i * m + j] =
            !inside ? nullptr
            : p_.layout == Layout::NCHW
                ? output + ((tile.image * p_.out_channels + channel0) * p_.out_height + y) * p_.out_width + x
                : output + ((tile.image * p_.out_height + y) * p_.out_width + x) * p_.out_channels + channel0;
      }
    }
    const WinogradOutputTask task{m,
                                  products,
                                  tiling_.block_tiles * p_.group_out_channels,
                                  p_.group_out_channels,
                                  pixels,
                                  p_.layout == Layout::NCHW ? p_.out_pixels() : 1,
                                  bias_ ? bias_.get() + channel0 : nullptr,
                                  activation_,
                                  clamp_min_,
                                  clamp_max_};
    kernels_.output(task);
  }

  Problem p_;
  WinogradTiling tiling_;
  int workers_;
  AlignedFloats weights_;
  AlignedFloats bias_;
  Activation activation_;
  float clamp_min_, clamp_max_;
  const WinogradKernels& kernels_;
};

DeclineReason winograd_declines(const Problem& p) {
  if (p.kernel_height != 3 || p.kernel_width != 3) return "Winograd F(m x m, 3 x 3) needs a 3x3 kernel";
  if (!p.is_unit_stride()) return "Winograd needs stride 1";
  if (p.dilation_height != 1 || p.dilation_width != 1) return "Winograd needs dilation 1";
  for (std::int64_t value : {p.group_in_channels, p.group_out_channels, tiles_of(p, 2)})
    if (!fits_blas_index(value)) return "a GEMM dimension exceeds the BLAS's 32-bit index";
  return nullptr;
}

// Each transform point's GEMM is (tiles x Ci/g) by (Ci/g x Co/g): with few channels per group the transforms cost
// more than the multiplications they save. TODO measure
DeclineReason winograd_auto_declines(const Problem& p) {
  if (p.group_in_channels < 16 || p.group_out_channels < 16) return "fewer than 16 channels per group";
  return nullptr;
}

std::unique_ptr<Kernel> create_winograd(const KernelArguments& args) { return std::make_unique<WinogradKernel>(args); }

}  // namespace

const AlgorithmEntry& winograd_algorithm() {
  static const AlgorithmEntry entry{Algorithm::Winograd, winograd_declines, winograd_auto_declines, create_winograd};
  return entry;
}

}  // namespace convkit::detail
