// im2col_gemm and gemm_1x1: a convolution as matrix products over tiles of output pixels.
//
//   NCHW: out[Co/g x tile] = W[Co/g x K] * columns[K x tile]        (columns from im2col, K = Ci/g * Kh * Kw)
//   NHWC: out[tile x Co/g] = rows[tile x K] * W[Co/g x K]^T         (rows from im2row, ldc = Co)
//
// A tile is a range of output pixels of one image and group (row-major over Ho x Wo, so it may start and end in the
// middle of an output row). Each tile is unfolded into a buffer of K x tile floats sized for the cache, multiplied,
// and finished (bias, activation) while its output is still in cache: the workspace is bounded per thread whatever
// the image size, and no pass over the whole output follows the GEMMs.
//
// A tiling may be `transposed` (gemm_tiling.hpp): each product is then computed in the other orientation, into a
// per-worker block, and the epilogue transposes it into the output with bias and activation. auto's tilings do so
// only for NHWC 1x1 products of few pixels, whose pixels are first transposed into columns (transpose.hpp).
//
// A 1x1 kernel with unit stride and no padding needs no unfolding: the input already is `columns` (NCHW, ld = H*W)
// or `rows` (NHWC, ld = Ci, and all images of the batch form one matrix). gemm_1x1 uses that; im2col_gemm always
// unfolds, so it is the honest measure of the unfolding design on every shape.
//
// The products: on AVX2 and AVX-512 CPUs convkit's own GEMM kernels (kernels/gemm_ukernels.hpp) multiply the native
// orientation, with the weights packed into their panels when the plan is made and the bias and activation applied
// in registers; elsewhere, for transposed tilings and for NHWC groups too narrow for their register tile, OpenBLAS
// does, with the epilogue (epilogue.hpp) around its call.
//
// Groups of one input channel in NHWC (depthwise layers) are the exception to "one image and group" above: a tile is
// a range of pixels of a whole image, a unit unfolds a block of its groups together (im2row over their channels),
// and one channelwise product multiplies them all, their channels in the vector lanes (GemmTiling::channelwise).
//
// Threads: one level only, convkit's. OpenBLAS is always called single-threaded, from convkit's workers, which are
// dealt units of (tile, block of output channels), each worker with its own buffer, on pages of its own
// (gemm_tiling.hpp, threading.hpp). OpenBLAS's own threads are never used: convkit's workers flush subnormals
// (floating_point.hpp) and OpenBLAS's would not.
#include <initializer_list>

#include "arithmetic.hpp"
#include "blas.hpp"
#include "epilogue.hpp"
#include "error.hpp"
#include "gemm_tiling.hpp"
#include "im2col.hpp"
#include "packing.hpp"
#include "primitive.hpp"
#include "profile.hpp"
#include "threading.hpp"
#include "transpose.hpp"

namespace convkit::detail {
namespace {

// A range of output pixels of one image and group.
struct Tile {
  std::int64_t image, group, begin, end;
  std::int64_t size() const { return end - begin; }
};

// Whether the GEMM family reads the input through an unfolded tile: always but for gemm_1x1 on a unit-stride
// unpadded input, which it reads in place.
bool unfolds(const Problem& p, Algorithm algorithm) {
  return !(algorithm == Algorithm::Gemm1x1 && p.is_unit_stride() && p.is_unpadded());
}

class GemmPrimitive final : public Primitive {
 public:
  GemmPrimitive(const PrimitiveArguments& args, Algorithm algorithm, GemmMultiplier multiplier)
      : p_(args.problem),
        algorithm_(algorithm),
        unfold_(unfolds(p_, algorithm)),
        tiling_(choose_gemm_tiling(p_, unfold_, args.threads, args.tuning, multiplier)),
        bias_(bias_form(args.cache, p_, args.bias)),
        post_(args.post),
        epilogue_{bias_.get(), args.activation, args.clamp_min, args.clamp_max, active_post_ops(post_), 0},
        slices_(tiling_.worker_floats() * sizeof(float), tiling_.workers) {
    // The packed weights' reduction order must match the unfolded matrix: (c, i, j) for im2col, (i, j, c) for
    // im2row.
    const WeightsLayout order = p_.layout == Layout::NCHW ? WeightsLayout::OIHW : WeightsLayout::OHWI;
    if (tiling_.channelwise) {
      // Slices of the channel multiplier, the groups in the lanes (packing.hpp).
      const std::int64_t lanes = tiling_.ukernels->channelwise_tile;
      const ChannelSliceShape shape = channel_slice_shape(p_, lanes);
      panels_ = args.cache.get_or_pack("channel_slices lanes=" + std::to_string(lanes), shape.floats,
                                       [&] { return pack_channel_slices(p_, args.weights, args.bias, lanes).floats; });
      channelwise_padded_ = shape.padded;
    } else if (uses_ukernels()) {
      panel_width_ = p_.layout == Layout::NCHW ? tiling_.ukernels->panel_rows : tiling_.ukernels->strip_columns;
      const std::string key = "panels " + weights_key(order).substr(8) +
                              " block=" + std::to_string(tiling_.channel_block) +
                              " width=" + std::to_string(panel_width_);
      panels_ = args.cache.get_or_pack(key, weight_panel_floats(p_, tiling_.channel_block, panel_width_), [&] {
        const AlignedFloats reduction_order = pack_weights(p_, args.weights, order);
        return pack_weight_panels(p_, reduction_order.get(), tiling_.channel_block, panel_width_);
      });
    } else {
      weights_ = weights_form(args.cache, p_, args.weights, order);  // only the BLAS reads them
    }
  }

  Algorithm algorithm() const override { return algorithm_; }
  std::size_t workspace_bytes() const override { return slices_.workspace_bytes(); }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void* workspace) const override {
    TileEpilogue epilogue = epilogue_;
    epilogue.residual_offset = residual_offset;
    parallel_for(
        tiling_.workers, tiling_.unit_count(),
        [&](std::int64_t begin, std::int64_t end, int worker) {
          float* buffer = static_cast<float*>(slices_.slice(workspace, worker));
          float* product = buffer == nullptr ? nullptr : buffer + tiling_.buffer_floats;
          std::int64_t unfolded = -1;  // the tile now in this worker's buffer
          for (std::int64_t unit = begin; unit < end; ++unit) {
            const std::int64_t index = unit / tiling_.channel_blocks, block = unit % tiling_.channel_blocks;
            const Tile tile = tile_at(index);
            if (tiling_.channelwise) {  // each unit unfolds channels of its own
              multiply_channelwise(epilogue, input, output, tile, block, buffer);
              continue;
            }
            if (index != unfolded) {
              const PhaseTimer timer(Phase::Unfold);
              unfold(input, tile, tile.begin, tile.end, buffer);
            }
            unfolded = index;
            const std::int64_t c0 = block * tiling_.channel_block;
            multiply(epilogue, input, output, tile, buffer, product, c0,
                     std::min(c0 + tiling_.channel_block, p_.group_out_channels));
          }
        },
        tiling_.channel_blocks);
  }

 private:
  // convkit's GEMM kernels multiply every product (gemm_tiling.hpp): they run the native orientation only.
  bool uses_ukernels() const { return tiling_.ukernels != nullptr && !tiling_.transposed; }

  // The packed panels of output channels [c0, c0 + channel_block) of `group`.
  const float* panels_of(std::int64_t group, std::int64_t c0) const {
    const std::int64_t block = group * tiling_.channel_blocks + c0 / tiling_.channel_block;
    return panels_.get() + block * round_up(tiling_.channel_block, panel_width_) * p_.reduction;
  }

  const float* bias_of(std::int64_t channel) const { return bias_ ? bias_.get() + channel : nullptr; }

  static MicroGemm micro_gemm(const TileEpilogue& epilogue, std::int64_t m, std::int64_t n, std::int64_t k,
                              const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
                              std::int64_t ldc, const float* bias) {
    MicroGemm g{};
    g.m = m;
    g.n = n;
    g.k = k;
    g.a = a;
    g.lda = lda;
    g.b = b;
    g.ldb = ldb;
    g.c = c;
    g.ldc = ldc;
    g.bias = bias;
    g.activation = epilogue.activation;
    g.clamp_min = epilogue.clamp_min;
    g.clamp_max = epilogue.clamp_max;
    g.post = epilogue.post;
    g.residual_offset = epilogue.residual_offset;
    return g;
  }

  Tile tile_at(std::int64_t index) const {
    const std::int64_t matrix = index / tiling_.tiles_per_matrix, t = index % tiling_.tiles_per_matrix;
    const std::int64_t begin = t * tiling_.tile_pixels;
    const std::int64_t end =
        begin + tiling_.tile_pixels < tiling_.matrix_pixels ? begin + tiling_.tile_pixels : tiling_.matrix_pixels;
    const std::int64_t matrix_groups = tiling_.channelwise ? 1 : p_.groups;  // channelwise: all groups at once
    return {matrix / matrix_groups, matrix % matrix_groups, begin, end};
  }

  // Groups [g0, g0 + channel_block) of the tile: their channels unfolded together (im2row on a view of the problem
  // whose groups are that block), then one channelwise product per slice of the channel multiplier.
  void multiply_channelwise(const TileEpilogue& epilogue, const float* input, float* output, const Tile& tile,
                            std::int64_t block, float* buffer) const {
    const std::int64_t g0 = block * tiling_.channel_block;
    const std::int64_t channels = std::min(tiling_.channel_block, p_.groups - g0);
    const std::int64_t taps = p_.kernel_height * p_.kernel_width, m = p_.group_out_channels;
    const float* rows = buffer;
    std::int64_t lda = taps * channels;
    if (unfold_) {
      const PhaseTimer timer(Phase::Unfold);
      Problem block_view = p_;
      block_view.group_in_channels = channels;
      im2row(block_view, input + tile.image * p_.in_pixels() * p_.in_channels + g0, tile.begin, tile.end, buffer);
    } else {  // a 1x1 kernel's rows are the input's pixels
      rows = nhwc_pixels(input, tile) + g0;
      lda = p_.in_channels;
    }
    float* out = output + (tile.image * p_.out_pixels() + tile.begin) * p_.out_channels + g0 * m;
    const std::int64_t slice = (taps + 1) * channelwise_padded_;
    for (std::int64_t k = 0; k < m; ++k) {
      const float* packed = panels_.get() + k * slice + g0;
      const PhaseTimer timer(Phase::Multiply);
      ChannelwiseGemm g{};
      g.pixels = tile.size();
      g.channels = channels;
      g.taps = taps;
      g.a = rows;
      g.lda = lda;
      g.w = packed;
      g.ldw = channelwise_padded_;
      g.bias = bias_ ? packed + taps * channelwise_padded_ : nullptr;
      g.c = out + k;
      g.ldc = p_.out_channels;
      g.channel_stride = m;
      g.activation = epilogue.activation;
      g.clamp_min = epilogue.clamp_min;
      g.clamp_max = epilogue.clamp_max;
      g.post = epilogue.post;
      g.residual_offset = epilogue.residual_offset;
      tiling_.ukernels->channelwise(g);
    }
  }

  // Unfolds pixels [begin, end) of the tile into their place in its K x size (NCHW) or size x K (NHWC) buffer.
  void unfold(const float* input, const Tile& tile, std::int64_t begin, std::int64_t end, float* buffer) const {
    if (begin >= end) return;
    if (!unfold_) {
      if (p_.layout == Layout::NHWC && tiling_.transposed)
        // For a 1x1 kernel on NHWC data the pixels' channels transposed are im2col's matrix, which lets the product
        // run in NCHW's orientation (GemmTiling::transposed).
        transpose(nhwc_pixels(input, tile) + (begin - tile.begin) * p_.in_channels, p_.in_channels, end - begin,
                  p_.group_in_channels, buffer + (begin - tile.begin), tile.size());
      return;
    }
    if (p_.layout == Layout::NCHW) {
      im2col(p_, input + (tile.image * p_.in_channels + tile.group * p_.group_in_channels) * p_.in_pixels(), begin, end,
             buffer + (begin - tile.begin), tile.size());
    } else {
      im2row(p_, input + tile.image * p_.in_pixels() * p_.in_channels + tile.group * p_.group_in_channels, begin, end,
             buffer + (begin - tile.begin) * p_.reduction);
    }
  }

  // The tile's first pixel, at its group's first channel, in an NHWC input read in place (a 1x1 product; folded, the
  // tile's pixels count over the whole batch, and image is 0).
  const float* nhwc_pixels(const float* input, const Tile& tile) const {
    return input + (tile.image * p_.in_pixels() + tile.begin) * p_.in_channels + tile.group * p_.group_in_channels;
  }

  // Output channels [c0, c1) of the group over the tile, with their bias and activation. A transposed tiling
  // computes them into `product` (tile x channels in NCHW, channels x tile in NHWC) and transposes that into place.
  void multiply(const TileEpilogue& epilogue, const float* input, float* output, const Tile& tile, const float* buffer,
                float* product, std::int64_t c0, std::int64_t c1) const {
    const std::int64_t k = p_.reduction, channel = tile.group * p_.group_out_channels + c0;
    const float* weights = uses_ukernels() ? nullptr : weights_.get() + channel * k;
    if (p_.layout == Layout::NCHW) {
      const float* columns = buffer;
      std::int64_t ld = tile.size();
      if (!unfold_) {
        columns =
            input + (tile.image * p_.in_channels + tile.group * p_.group_in_channels) * p_.in_pixels() + tile.begin;
        ld = p_.in_pixels();
      }
      float* out = output + (tile.image * p_.out_channels + channel) * p_.out_pixels() + tile.begin;
      if (tiling_.transposed) {
        {
          const PhaseTimer timer(Phase::Multiply);
          sgemm(true, true, tile.size(), c1 - c0, k, columns, ld, weights, k, 0.0f, product, c1 - c0);
        }
        const PhaseTimer timer(Phase::Epilogue);
        epilogue.store_transposed(product, tile.size(), c1 - c0, c1 - c0, false, out, p_.out_pixels(), channel);
        return;
      }
      if (uses_ukernels()) {
        const PhaseTimer timer(Phase::Multiply);
        tiling_.ukernels->packed_a(micro_gemm(epilogue, c1 - c0, tile.size(), k, panels_of(tile.group, c0), 0, columns,
                                              ld, out, p_.out_pixels(), bias_of(channel)));
        return;
      }
      float beta = 0.0f;
      {
        const PhaseTimer timer(Phase::Epilogue);
        beta = epilogue.seed_channels_by_row(out, c1 - c0, tile.size(), p_.out_pixels(), channel);
      }
      {
        const PhaseTimer timer(Phase::Multiply);
        sgemm(false, false, c1 - c0, tile.size(), k, weights, k, columns, ld, beta, out, p_.out_pixels());
      }
      const PhaseTimer timer(Phase::Epilogue);
      epilogue.activate_block(out, c1 - c0, tile.size(), p_.out_pixels());
    } else {
      const float* rows = buffer;
      std::int64_t ld = k;
      if (!unfold_) {
        rows = nhwc_pixels(input, tile);
        ld = p_.in_channels;
      }
      float* out = output + (tile.image * p_.out_pixels() + tile.begin) * p_.out_channels + channel;
      if (tiling_.transposed) {
        {
          const PhaseTimer timer(Phase::Multiply);
          if (unfold_) {
            sgemm(false, true, c1 - c0, tile.size(), k, weights, k, rows, ld, 0.0f, product, tile.size());
          } else {
            sgemm(false, false, c1 - c0, tile.size(), k, weights, k, buffer, tile.size(), 0.0f, product, tile.size());
          }
        }
        const PhaseTimer timer(Phase::Epilogue);
        epilogue.store_transposed(product, c1 - c0, tile.size(), tile.size(), true, out, p_.out_channels, channel);
        return;
      }
      if (uses_ukernels()) {
        const PhaseTimer timer(Phase::Multiply);
        tiling_.ukernels->packed_b(micro_gemm(epilogue, tile.size(), c1 - c0, k, rows, ld, panels_of(tile.group, c0), 0,
                                              out, p_.out_channels, bias_of(channel)));
        return;
      }
      float beta = 0.0f;
      {
        const PhaseTimer timer(Phase::Epilogue);
        beta = epilogue.seed_channels_by_column(out, tile.size(), c1 - c0, p_.out_channels, channel);
      }
      {
        const PhaseTimer timer(Phase::Multiply);
        sgemm(false, true, tile.size(), c1 - c0, k, rows, ld, weights, k, beta, out, p_.out_channels);
      }
      const PhaseTimer timer(Phase::Epilogue);
      epilogue.activate_block(out, tile.size(), c1 - c0, p_.out_channels);
    }
  }

  Problem p_;
  Algorithm algorithm_;
  bool unfold_;
  GemmTiling tiling_;
  SharedFloats weights_;  // [Co][K] in the unfolding's reduction order, for the BLAS; empty when the kernels run
  SharedFloats bias_;
  PostOps post_;
  TileEpilogue epilogue_;  // its residual_offset is each run's
  WorkerSlices slices_;    // each worker's buffer and product
  SharedFloats panels_;    // for convkit's GEMM kernels (packing.hpp), panels of panel_width_ channels; channelwise:
                           // see pack_channel_slices
  std::int64_t panel_width_ = 0;
  std::int64_t channelwise_padded_ = 0;
};

// Every size and leading dimension either orientation may pass to the BLAS.
DeclineReason exceeds_blas_index(const Problem& p) {
  // An NHWC 1x1 product may read the whole batch as one matrix of batch * pixels rows.
  const std::int64_t batch_rows = p.layout == Layout::NHWC && p.is_1x1() ? p.batch * p.in_pixels() : 0;
  for (std::int64_t value :
       {p.group_out_channels, p.reduction, p.out_pixels(), p.in_pixels(), p.in_channels, p.out_channels, batch_rows}) {
    if (!fits_blas_index(value)) return "a GEMM dimension exceeds the BLAS's 32-bit index";
  }
  return nullptr;
}

// NCHW products whose pixels fill less than this share of the microkernel's strips (49 pixels in strips of 32 fill
// 0.77) waste the rest of their register tiles; implicit_gemm runs them with the pixels as the tile's rows instead
// (resnet50_res5_1x1 NCHW: 1.10x, a 1x1 on one pixel 3.8x; res4_1x1, 196 pixels filling 0.88, lost there), if its
// output rows are not too short a tile themselves (a 4x4 output lost: rows of 4) and the reduction is long enough to
// pay for its transposes (K = 2048 gained, 512 lost 3%; docs/tuning-log.md).
constexpr double kNchwMinStripFill = 0.8;
constexpr std::int64_t kNchwImplicitMinWidth = 5;
constexpr std::int64_t kNchwImplicitMinReduction = 1024;

// Why auto should leave a layer to implicit_gemm although this family could run it: NCHW products of few pixels.
DeclineReason gemm_auto_declines(const Problem& p) {
  const GemmUkernels* ukernels = gemm_ukernels();
  if (nchw_few_pixels(p, ukernels))
    return "NCHW products of at most a third of a strip of pixels: implicit_gemm puts the channels in the lanes";
  if (ukernels == nullptr || p.layout != Layout::NCHW || p.reduction < kNchwImplicitMinReduction) return nullptr;
  const std::int64_t pixels = p.out_pixels();
  if (p.out_width < kNchwImplicitMinWidth && pixels > 1) return nullptr;
  if (static_cast<double>(pixels) < kNchwMinStripFill * static_cast<double>(round_up(pixels, ukernels->strip_columns)))
    return "NCHW products of few pixels fill the microkernel's strips poorly: implicit_gemm's rows do better";
  return nullptr;
}

// One entry of the GEMM family: the algorithm (how the input reaches the products) and the multiplier.
template <Algorithm kAlgorithm, GemmMultiplier kMultiplier>
struct GemmEntry {
  static DeclineReason declines(const Problem& p, const Tuning& tuning) {
    if (kAlgorithm == Algorithm::Gemm1x1 && !p.is_1x1()) return "the kernel is not 1x1";
    if (const DeclineReason reason = exceeds_blas_index(p)) return reason;
    return gemm_multiplier_declines(p, unfolds(p, kAlgorithm), tuning, kMultiplier);
  }
  static DeclineReason defers(const Problem& p, const Tuning& tuning) {
    return gemm_multiplier_defers(p, unfolds(p, kAlgorithm), tuning, kMultiplier);
  }
  static std::unique_ptr<Primitive> create(const PrimitiveArguments& args) {
    return std::make_unique<GemmPrimitive>(args, kAlgorithm, kMultiplier);
  }
  static Implementation entry(const char* name) {
    return {name, kAlgorithm, declines, defers, gemm_auto_declines, create};
  }
};

}  // namespace

// The multipliers in the order the family tries them: the channelwise microkernel for NHWC groups of one input
// channel (depthwise layers), convkit's microkernels for the rest, OpenBLAS's transposed orientation where it gains
// (NHWC 1x1 products of few pixels), and OpenBLAS, which takes everything.
const Implementation* const* gemm_1x1_implementations() {
  using G = GemmMultiplier;
  static const Implementation channelwise =
      GemmEntry<Algorithm::Gemm1x1, G::Channelwise>::entry("gemm_1x1_channelwise");
  static const Implementation convkit = GemmEntry<Algorithm::Gemm1x1, G::Convkit>::entry("gemm_1x1_convkit");
  static const Implementation transposed =
      GemmEntry<Algorithm::Gemm1x1, G::OpenblasTransposed>::entry("gemm_1x1_openblas_transposed");
  static const Implementation openblas = GemmEntry<Algorithm::Gemm1x1, G::Openblas>::entry("gemm_1x1_openblas");
  static const Implementation* const list[] = {&channelwise, &convkit, &transposed, &openblas, nullptr};
  return list;
}

const Implementation* const* im2col_gemm_implementations() {
  using G = GemmMultiplier;
  static const Implementation channelwise =
      GemmEntry<Algorithm::Im2colGemm, G::Channelwise>::entry("im2col_gemm_channelwise");
  static const Implementation convkit = GemmEntry<Algorithm::Im2colGemm, G::Convkit>::entry("im2col_gemm_convkit");
  static const Implementation transposed =
      GemmEntry<Algorithm::Im2colGemm, G::OpenblasTransposed>::entry("im2col_gemm_openblas_transposed");
  static const Implementation openblas = GemmEntry<Algorithm::Im2colGemm, G::Openblas>::entry("im2col_gemm_openblas");
  static const Implementation* const list[] = {&channelwise, &convkit, &transposed, &openblas, nullptr};
  return list;
}

}  // namespace convkit::detail
