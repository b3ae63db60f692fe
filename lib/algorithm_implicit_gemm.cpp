// implicit_gemm: the NHWC-orientation GEMM of im2col_gemm, out[pixels x Co/g] = rows[pixels x K] * W^T, without the
// unfolded rows. Like oneDNN's brgconv and XNNPACK's indirect GEMM, the microkernel reads each tap's rows where they
// lie (kernels/gemm_ukernels.hpp, TapGemm): the taps of one output row are segments of the input rows it covers, so
// the input is read once per tap from cache instead of being copied Kh*Kw times, and the taps that fall on padding
// rows are skipped instead of multiplied.
//
// A unit of work is a band of output rows of one image and group, and a block of its output channels. It first copies
// the input rows the band covers into the worker's buffer as NHWC rows of the group's channels framed by their zero
// padding columns (an NCHW input is transposed on the way); every output row of the band is then one TapGemm whose
// pixels are Wo rows of A at a stride of stride_width * Ci/g floats. An NHWC output takes the products in place; an
// NCHW output takes them transposed from a per-worker block (pixels x channels), a chunk of a row at a time.
//
// Padding: the rows of zeros above and below the image are never multiplied when the weights are finite (a zero
// product adds nothing); with a non-finite weight they are, so that its output channel becomes NaN as on every path
// (docs/robustness.md). The zero columns at the sides are multiplied.
//
// Each output element sums the same segments in the same order whatever the band, the channel block or the thread
// count: results are the same bits for every thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "arithmetic.hpp"
#include "epilogue.hpp"
#include "error.hpp"
#include "gemm_tiling.hpp"
#include "im2col.hpp"
#include "kernels/gemm_ukernels.hpp"
#include "packing.hpp"
#include "primitive.hpp"
#include "profile.hpp"
#include "threading.hpp"
#include "transpose.hpp"

namespace convkit::detail {
namespace {

// A band's buffer (its input rows, padded and in NHWC) is aimed at half of a recent x86 core's L2 (1-2 MiB), so that
// it stays there beside the block of packed weights while all its output rows are multiplied. Larger bands copy the
// (Kh - 1) * dilation rows two bands share fewer times.
constexpr std::int64_t kBandTargetBytes = std::int64_t{512} << 10;
// An NCHW output row is multiplied in chunks of at most this many pixels (a multiple of the register tiles' rows),
// bounding the per-worker block of products.
constexpr std::int64_t kChunkPixels = 240;
// auto's thresholds (implicit_gemm_auto_declines), measured against im2col_gemm on convkit's kernels over the suite
// and benchmarks/classes.txt (docs/tuning-log.md).
// NHWC: an output row is a register tile of its own (its pixels are the tile's rows), so rows of fewer pixels than
// this leave the tile too short (late_3x3_on_4x4, head_3x3_on_2x2_s2); im2col_gemm's tiles run across rows.
constexpr std::int64_t kNhwcMinOutputWidth = 5;
// NCHW in the transposed form (outputs narrower than kNativeNchwMinWidth, or strided columns): the input is
// transposed into the band and each output row back, a cost per input and output element that only a long reduction
// pays for (regnet_3x3_16ch, separable_3x1 and downsample_1x1_s2 lost, K = 144-256; 400 and up won), and that grows
// on large planes (56x56 and smaller won).
constexpr std::int64_t kNchwMinReduction = 384;
constexpr std::int64_t kNchwMaxOutputPixels = 56 * 56;
// NCHW in its own orientation: no transposes, so only the shortest reductions lose, where each tap's row of B is a
// run of one or few channels (a grayscale 3x3, K = 9, lost 5%; vgg16's first layer, K = 27, was level; K = 72 and
// up won 1.1-1.2x).
constexpr std::int64_t kNativeNchwMinReduction = 32;
// With strided columns the band's rows are split into phases, a copy whose cost only enough work per input element
// repays: output channels per group x taps / strides (resnet50_conv1: 784, 1.09x; a 3x3 stride-2 layer of 64
// channels on 224 px: 144, 1.22x; of 32 output channels: 72, 0.95x).
constexpr std::int64_t kStridedNativeMinWork = 128;
// Weights of a group larger than this (about an L2) are split among a team's workers rather than its rows.
constexpr std::int64_t kLargeWeightsBytes = std::int64_t{1} << 20;
// An NCHW output in the transposed form is multiplied several rows at a time, into a per-worker block of at most this
// many floats (rows x pixels x channels), then transposed row by row.
constexpr std::int64_t kProductBlockFloats = std::int64_t{64} << 10;
// Images with fewer bands than this per worker also split their output channels (in multiples of the strip).
constexpr std::int64_t kUnitsPerWorker = 2;

// NCHW outputs at least this wide run in their own orientation (multiply_native_row): their rows fill the
// microkernel's strips of pixels, and the transposes of the other form (the input into an NHWC band, each output row
// back) cost 15-20% on planes of 64x64 and more (vgg16_conv1_2, unet_3x3_c128_64, yolo_3x3_c32_208). Narrower ones
// leave the last strip of each row partly empty and take the transposed form. Any column stride: the band's rows
// are then split into their phases (copy_native_row).
constexpr std::int64_t kNativeNchwMinWidth = 64;

bool runs_native_nchw(const Problem& p) { return p.layout == Layout::NCHW && p.out_width >= kNativeNchwMinWidth; }

class ImplicitGemmPrimitive final : public Primitive {
 public:
  explicit ImplicitGemmPrimitive(const PrimitiveArguments& args)
      : p_(args.problem),
        ukernels_(gemm_ukernels()),
        padded_width_(p_.pad_left + p_.in_width + p_.pad_right),
        phase_width_(ceil_div(padded_width_, p_.stride_width)),
        skip_padding_rows_(args.cache.all_finite(args.weights, p_.weights_elements)),
        native_nchw_(runs_native_nchw(p_)),
        bias_(bias_form(args.cache, p_, args.bias)),
        activation_(args.activation),
        clamp_min_(args.clamp_min),
        clamp_max_(args.clamp_max),
        post_(args.post) {
    choose_tiling(args.threads);
    if (native_nchw_) {
      // The reduction in im2col's order (c, i, j), each row of B one tap's input row in the band [c][row][column].
      panels_ = panels_form(args, WeightsLayout::OIHW, ukernels_->panel_rows);
      const std::int64_t rows = band_input_rows(band_rows_);
      for (std::int64_t c = 0; c < p_.group_in_channels; ++c)
        for (std::int64_t i = 0; i < p_.kernel_height; ++i)
          for (std::int64_t j = 0; j < p_.kernel_width; ++j)
            b_rows_.push_back(
                ((c * rows + i * p_.dilation_height) * p_.stride_width + j * p_.dilation_width % p_.stride_width) *
                    phase_width_ +
                j * p_.dilation_width / p_.stride_width);
    } else {
      panels_ = panels_form(args, WeightsLayout::OHWI, ukernels_->strip_columns);
    }
    slices_ = WorkerSlices(worker_floats() * sizeof(float) + segment_bytes(), workers_);
  }

  Algorithm algorithm() const override { return Algorithm::ImplicitGemm; }

 private:
  // The weights in reduction order `order`, cut into panels of `width` channels in blocks of channel_block_.
  SharedFloats panels_form(const PrimitiveArguments& args, WeightsLayout order, std::int64_t width) const {
    const std::string key = "panels " + weights_key(order).substr(8) + " block=" + std::to_string(channel_block_) +
                            " width=" + std::to_string(width);
    return args.cache.get_or_pack(key, weight_panel_floats(p_, channel_block_, width), [&] {
      const AlignedFloats reduction_order = pack_weights(p_, args.weights, order);
      return pack_weight_panels(p_, reduction_order.get(), channel_block_, width);
    });
  }

 public:
  std::size_t workspace_bytes() const override { return slices_.workspace_bytes(); }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void* workspace) const override {
    const std::int64_t units = p_.batch * p_.groups * bands_ * channel_blocks_;
    parallel_for(
        workers_, units,
        [&](std::int64_t begin, std::int64_t end, int worker) {
          float* band = static_cast<float*>(slices_.slice(workspace, worker));
          float* products = band + band_floats_;
          std::int64_t copied = -1;  // the (image, group, band) now in this worker's buffer
          auto* segments = reinterpret_cast<TapSegment*>(band + worker_floats());
          for (std::int64_t unit = begin; unit < end; ++unit) {
            const std::int64_t block = unit % channel_blocks_, rows = unit / channel_blocks_;
            const std::int64_t band_index = rows % bands_, matrix = rows / bands_;
            const std::int64_t image = matrix / p_.groups, group = matrix % p_.groups;
            const std::int64_t oh0 = band_begin(band_index), oh1 = band_begin(band_index + 1);
            if (rows != copied) {
              const PhaseTimer timer(Phase::Unfold);
              copy_band(input, image, group, oh0, oh1, band);
            }
            copied = rows;
            if (native_nchw_) {
              for (std::int64_t oh = oh0; oh < oh1; ++oh)
                multiply_native_row(output, residual_offset, image, group, block, oh,
                                    band + (oh - oh0) * p_.stride_height * native_row_floats());
              continue;
            }
            // Runs of rows whose taps meet the same input rows share their segments, and one call.
            for (std::int64_t oh = oh0; oh < oh1;) {
              std::int64_t count = 1;
              while (oh + count < oh1 && count < rows_per_call_ && same_taps(oh, oh + count)) ++count;
              multiply_rows(output, residual_offset, image, group, block, oh, count,
                            band + (oh - oh0) * p_.stride_height * padded_row_floats(), segments, products);
              oh += count;
            }
          }
        },
        channel_blocks_);
  }

 private:
  std::int64_t padded_row_floats() const { return padded_width_ * p_.group_in_channels; }
  // One channel's padded input row in the native NCHW band: its stride_width phases, phase_width_ columns each.
  std::int64_t native_row_floats() const { return p_.stride_width * phase_width_; }
  // Input rows (padded) a band of `rows` output rows covers.
  std::int64_t band_input_rows(std::int64_t rows) const {
    return (rows - 1) * p_.stride_height + (p_.kernel_height - 1) * p_.dilation_height + 1;
  }
  // The first output row of band `band` (bands_ for the end): bands differ by at most one row.
  std::int64_t band_begin(std::int64_t band) const { return band * p_.out_height / bands_; }
  // A worker's band and products, rounded up to whole TapSegments, then its list of segments.
  std::size_t worker_floats() const {
    const auto floats_per_segment = static_cast<std::int64_t>(sizeof(TapSegment) / sizeof(float));
    return static_cast<std::size_t>(round_up(band_floats_ + product_floats_, floats_per_segment));
  }
  std::size_t segment_bytes() const {
    return static_cast<std::size_t>(p_.kernel_height * p_.kernel_width) * sizeof(TapSegment);
  }

  void choose_tiling(int threads) {
    const std::int64_t row_bytes = padded_row_floats() * static_cast<std::int64_t>(sizeof(float));
    band_rows_ = 1;
    while (band_rows_ < p_.out_height && band_input_rows(band_rows_ + 1) * row_bytes <= kBandTargetBytes) ++band_rows_;
    const int team = threads_worth_using(p_.flops(), threads);
    const std::int64_t images = p_.batch * p_.groups, strip = ukernels_->strip_columns;
    const std::int64_t strips = ceil_div(p_.group_out_channels, strip);
    const std::int64_t weights_bytes = p_.reduction * p_.group_out_channels * static_cast<std::int64_t>(sizeof(float));
    channel_block_ = p_.group_out_channels;
    if (team > 1 && weights_bytes > kLargeWeightsBytes && strips >= team) {
      // Weights beyond the L2 are read from farther for every call: a team splits them, one block per worker, and
      // each worker multiplies whole bands with its block (resnet50_res5_3x3, 9.4 MB: cut into bands of one row, every
      // unit read half of them again).
      channel_block_ = round_up(ceil_div(p_.group_out_channels, team), strip);
    } else if (team > 1) {
      // Several units per worker: a team first cuts the images into more bands (inception_3a_5x5 fits one band, and
      // resnet50_conv1 two unequal ones), then, if the rows run out, the output channels into blocks.
      const std::int64_t wanted_bands = std::min(p_.out_height, ceil_div(kUnitsPerWorker * team, images));
      if (ceil_div(p_.out_height, band_rows_) < wanted_bands) band_rows_ = ceil_div(p_.out_height, wanted_bands);
      const std::int64_t matrices = images * ceil_div(p_.out_height, band_rows_);
      if (matrices < kUnitsPerWorker * team) {
        // Cut the channels in blocks of whole strips, as many as give each worker kUnitsPerWorker units.
        const std::int64_t wanted = std::min(ceil_div(kUnitsPerWorker * team, matrices), strips);
        channel_block_ = round_up(ceil_div(p_.group_out_channels, wanted), strip);
      }
    }
    // Bands of equal height but for one row (band_begin): 28 rows in 8 bands are 4 bands of 4 and 4 of 3, not 7 of 4.
    bands_ = ceil_div(p_.out_height, band_rows_);
    band_rows_ = ceil_div(p_.out_height, bands_);
    const std::int64_t matrices = images * bands_;
    channel_blocks_ = ceil_div(p_.group_out_channels, channel_block_);
    workers_ = team_size(team, matrices * channel_blocks_);
    band_floats_ =
        band_input_rows(band_rows_) * (native_nchw_ ? p_.group_in_channels * native_row_floats() : padded_row_floats());
    rows_per_call_ = band_rows_;
    product_floats_ = 0;
    if (p_.layout == Layout::NCHW && !native_nchw_) {
      const std::int64_t row_floats = std::min(kChunkPixels, p_.out_width) * channel_block_;
      rows_per_call_ =
          p_.out_width <= kChunkPixels ? std::clamp(kProductBlockFloats / row_floats, std::int64_t{1}, band_rows_) : 1;
      product_floats_ = rows_per_call_ * row_floats;
    }
    if (native_nchw_ && p_.stride_width > 1) product_floats_ = padded_width_;  // copy_native_row's padded row
  }

  // The padded input rows of output rows [oh0, oh1) of one image and group, NHWC, into `band`.
  void copy_band(const float* input, std::int64_t image, std::int64_t group, std::int64_t oh0, std::int64_t oh1,
                 float* band) const {
    const std::int64_t cig = p_.group_in_channels, row_floats = padded_row_floats();
    const std::int64_t first = oh0 * p_.stride_height - p_.pad_top;  // input row of the band's row 0
    for (std::int64_t r = 0; r < band_input_rows(oh1 - oh0); ++r) {
      const std::int64_t y = first + r;
      if (native_nchw_) {
        copy_native_row(input, image, group, y, r, band, band + band_floats_);
        continue;
      }
      float* target = band + r * row_floats;
      if (y < 0 || y >= p_.in_height) {
        std::memset(target, 0, static_cast<std::size_t>(row_floats) * sizeof(float));
        continue;
      }
      std::memset(target, 0, static_cast<std::size_t>(p_.pad_left * cig) * sizeof(float));
      std::memset(target + (p_.pad_left + p_.in_width) * cig, 0,
                  static_cast<std::size_t>(p_.pad_right * cig) * sizeof(float));
      float* pixels = target + p_.pad_left * cig;
      if (p_.layout == Layout::NHWC) {
        const float* source = input + ((image * p_.in_height + y) * p_.in_width) * p_.in_channels + group * cig;
        if (p_.groups == 1) {
          std::memcpy(pixels, source, static_cast<std::size_t>(p_.in_width * cig) * sizeof(float));
        } else {
          for (std::int64_t x = 0; x < p_.in_width; ++x)
            std::memcpy(pixels + x * cig, source + x * p_.in_channels, static_cast<std::size_t>(cig) * sizeof(float));
        }
      } else {
        const float* source = input + ((image * p_.in_channels + group * cig) * p_.in_height + y) * p_.in_width;
        transpose(source, p_.in_pixels(), cig, p_.in_width, pixels, cig);
      }
    }
  }

  // Input row y (padded row r of the band) of the group's channels into the NCHW band [c][row][phase][column], zeros
  // where it is padding. With a column stride s the row is split into its s phases (columns x with x % s = phase, at
  // x / s), so that the columns one tap reads for consecutive output pixels lie side by side (resnet50_conv1).
  void copy_native_row(const float* input, std::int64_t image, std::int64_t group, std::int64_t y, std::int64_t r,
                       float* band, float* padded_row) const {
    const std::int64_t rows = band_input_rows(band_rows_), s = p_.stride_width, row_floats = native_row_floats();
    for (std::int64_t c = 0; c < p_.group_in_channels; ++c) {
      float* target = band + (c * rows + r) * row_floats;
      if (y < 0 || y >= p_.in_height) {
        std::memset(target, 0, static_cast<std::size_t>(row_floats) * sizeof(float));
        continue;
      }
      const float* source =
          input + ((image * p_.in_channels + group * p_.group_in_channels + c) * p_.in_height + y) * p_.in_width;
      if (s == 1) {
        std::memset(target, 0, static_cast<std::size_t>(p_.pad_left) * sizeof(float));
        std::memset(target + p_.pad_left + p_.in_width, 0, static_cast<std::size_t>(p_.pad_right) * sizeof(float));
        std::memcpy(target + p_.pad_left, source, static_cast<std::size_t>(p_.in_width) * sizeof(float));
        continue;
      }
      std::memset(padded_row, 0, static_cast<std::size_t>(p_.pad_left) * sizeof(float));
      std::memset(padded_row + p_.pad_left + p_.in_width, 0, static_cast<std::size_t>(p_.pad_right) * sizeof(float));
      std::memcpy(padded_row + p_.pad_left, source, static_cast<std::size_t>(p_.in_width) * sizeof(float));
      deinterleave(padded_row, padded_width_, s, phase_width_, target);
    }
  }

  // The segments of output row oh: one per tap whose input row is not padding (or every tap), the taps of a kernel
  // row merged into one when they lie side by side (dilation 1).
  std::int64_t row_segments(std::int64_t oh, TapSegment* segments) const {
    const std::int64_t cig = p_.group_in_channels, row_floats = padded_row_floats();
    std::int64_t count = 0;
    for (std::int64_t i = 0; i < p_.kernel_height; ++i) {
      const std::int64_t y = oh * p_.stride_height - p_.pad_top + i * p_.dilation_height;
      if (skip_padding_rows_ && (y < 0 || y >= p_.in_height)) continue;
      for (std::int64_t j = 0; j < p_.kernel_width; ++j) {
        const TapSegment tap{i * p_.dilation_height * row_floats + j * p_.dilation_width * cig,
                             (i * p_.kernel_width + j) * cig, cig};
        TapSegment* last = count > 0 ? &segments[count - 1] : nullptr;
        if (last != nullptr && last->a_offset + last->length == tap.a_offset && last->b_row + last->length == tap.b_row)
          last->length += tap.length;
        else
          segments[count++] = tap;
      }
    }
    return count;
  }

  // Output row oh of an NCHW layer in its own orientation: channels x pixels, each row of B a tap's input row in the
  // band (MicroGemm::b_rows), the padding rows multiplied as zeros.
  void multiply_native_row(float* output, std::ptrdiff_t residual_offset, std::int64_t image, std::int64_t group,
                           std::int64_t block, std::int64_t oh, const float* rows) const {
    const std::int64_t c0 = block * channel_block_, channels = std::min(channel_block_, p_.group_out_channels - c0);
    const std::int64_t channel = group * p_.group_out_channels + c0;
    MicroGemm g{};
    g.m = channels;
    g.n = p_.out_width;
    g.k = p_.reduction;
    g.a = panels_.get() +
          (group * channel_blocks_ + block) * round_up(channel_block_, ukernels_->panel_rows) * p_.reduction;
    g.b = rows;
    g.c = output + (image * p_.out_channels + channel) * p_.out_pixels() + oh * p_.out_width;
    g.ldc = p_.out_pixels();
    g.bias = bias_ ? bias_.get() + channel : nullptr;
    g.activation = activation_;
    g.clamp_min = clamp_min_;
    g.clamp_max = clamp_max_;
    g.post = active_post_ops(post_);
    g.residual_offset = residual_offset;
    g.b_rows = b_rows_.data();
    const PhaseTimer timer(Phase::Multiply);
    ukernels_->packed_a_rows(g);
  }

  // The kernel rows whose input rows are padding (skipped) for output row oh: those before `first`, from `end` on.
  void valid_taps(std::int64_t oh, std::int64_t& first, std::int64_t& end) const {
    first = 0;
    end = p_.kernel_height;
    if (!skip_padding_rows_) return;
    const std::int64_t y0 = oh * p_.stride_height - p_.pad_top, dh = p_.dilation_height;
    while (first < end && y0 + first * dh < 0) ++first;
    while (end > first && y0 + (end - 1) * dh >= p_.in_height) --end;
  }

  bool same_taps(std::int64_t oh, std::int64_t other) const {
    std::int64_t first = 0, end = 0, other_first = 0, other_end = 0;
    valid_taps(oh, first, end);
    valid_taps(other, other_first, other_end);
    return first == other_first && end == other_end;
  }

  // Output rows [oh, oh + rows), whose taps meet the same input rows.
  void multiply_rows(float* output, std::ptrdiff_t residual_offset, std::int64_t image, std::int64_t group,
                     std::int64_t block, std::int64_t oh, std::int64_t rows, const float* row, TapSegment* segments,
                     float* products) const {
    const std::int64_t c0 = block * channel_block_, channels = std::min(channel_block_, p_.group_out_channels - c0);
    const std::int64_t channel = group * p_.group_out_channels + c0;  // first output channel
    TapGemm g{};
    g.n = channels;
    g.lda = p_.stride_width * p_.group_in_channels;
    g.segments = segments;
    g.segment_count = row_segments(oh, segments);
    g.b = panels_.get() +
          (group * channel_blocks_ + block) * round_up(channel_block_, ukernels_->strip_columns) * p_.reduction;
    g.k = p_.reduction;
    g.bias = bias_ ? bias_.get() + channel : nullptr;
    g.activation = activation_;
    g.clamp_min = clamp_min_;
    g.clamp_max = clamp_max_;
    g.post = active_post_ops(post_);
    g.residual_offset = residual_offset;
    g.rows = rows;
    g.a_row_stride = p_.stride_height * padded_row_floats();
    if (p_.layout == Layout::NHWC) {
      g.m = p_.out_width;
      g.a = row;
      g.c = output + ((image * p_.out_height + oh) * p_.out_width) * p_.out_channels + channel;
      g.ldc = p_.out_channels;
      g.c_row_stride = p_.out_width * p_.out_channels;
      const PhaseTimer timer(Phase::Multiply);
      ukernels_->taps(g);
      return;
    }
    float* out = output + (image * p_.out_channels + channel) * p_.out_pixels() + oh * p_.out_width;
    // The products are [pixel][channel], not the output's layout: with a residual they come out bare and the
    // transpose into the output finishes them (residual, then the activation); without one the kernel finishes them.
    const bool finish_in_transpose = g.post != nullptr && g.post->residual;
    const TileEpilogue finish{nullptr, activation_, clamp_min_, clamp_max_, g.post, residual_offset};
    if (finish_in_transpose) {
      g.activation = Activation::None;
      g.post = nullptr;
    }
    const auto store = [&](const float* product, std::int64_t pixels, float* target) {
      if (finish_in_transpose) {
        finish.store_transposed(product, pixels, channels, channels, false, target, p_.out_pixels(), 0);
      } else {
        transpose(product, channels, pixels, channels, target, p_.out_pixels());
      }
    };
    if (p_.out_width <= kChunkPixels) {  // the rows at once, into `products` [row][pixel][channel]
      g.m = p_.out_width;
      g.a = row;
      g.c = products;
      g.ldc = channels;
      g.c_row_stride = p_.out_width * channels;
      {
        const PhaseTimer timer(Phase::Multiply);
        ukernels_->taps(g);
      }
      const PhaseTimer timer(Phase::Epilogue);
      for (std::int64_t r = 0; r < rows; ++r) store(products + r * g.c_row_stride, g.m, out + r * p_.out_width);
      return;
    }
    g.rows = 1;  // rows_per_call_ is 1 then
    for (std::int64_t ow0 = 0; ow0 < p_.out_width; ow0 += kChunkPixels) {
      g.m = std::min(kChunkPixels, p_.out_width - ow0);
      g.a = row + ow0 * g.lda;
      g.c = products;
      g.ldc = channels;
      {
        const PhaseTimer timer(Phase::Multiply);
        ukernels_->taps(g);
      }
      const PhaseTimer timer(Phase::Epilogue);
      store(products, g.m, out + ow0);
    }
  }

  const Problem p_;
  const GemmUkernels* ukernels_;
  const std::int64_t padded_width_, phase_width_;
  const bool skip_padding_rows_;
  const bool native_nchw_;  // see runs_native_nchw
  std::vector<std::int64_t> b_rows_;
  SharedFloats bias_;
  const Activation activation_;
  const float clamp_min_, clamp_max_;
  const PostOps post_;
  std::int64_t band_rows_ = 1, bands_ = 1, channel_block_ = 1, channel_blocks_ = 1;
  std::int64_t band_floats_ = 0, product_floats_ = 0;
  std::int64_t rows_per_call_ = 1;  // output rows one TapGemm may take (multiply_rows)
  int workers_ = 1;
  SharedFloats panels_;
  WorkerSlices slices_;
};

DeclineReason implicit_gemm_declines(const Problem&, const Tuning&) {
  return gemm_ukernels() == nullptr ? "convkit's GEMM microkernels need AVX2 and FMA" : nullptr;
}

// Grouped NCHW layers of at least 16 channels per group on small images (ResNeXt's and RegNet's later stages):
// im2col_gemm's panels of 12 output channels run each group's 16-32 channels partly empty, where implicit_gemm puts
// them in its lanes. Against im2col_gemm by name (docs/tuning-log.md): 1.13-2.66x at 49-196 output pixels and
// K = 144-288; at 784 pixels level (1.06) or behind (0.90), so larger images keep the reduction threshold above.
constexpr std::int64_t kGroupedMaxOutputPixels = 196;
constexpr std::int64_t kGroupedMinReduction = 144;
bool grouped_small_image(const Problem& p) {
  return p.groups > 1 && p.group_in_channels > 1 && p.group_out_channels >= 16 &&
         p.out_pixels() <= kGroupedMaxOutputPixels && p.reduction >= kGroupedMinReduction;
}

// auto's choice (the thresholds above).
DeclineReason implicit_gemm_auto_declines(const Problem& p) {
  if (p.groups > 1 && p.group_in_channels == 1)
    return "depthwise: a group's segment is one step per tap, the channelwise kernels put the groups in the lanes";
  if (p.layout == Layout::NHWC) {
    if (p.out_width < kNhwcMinOutputWidth) return "NHWC outputs narrower than 5 pixels: each row too short a tile";
    return nullptr;
  }
  if (runs_native_nchw(p)) {
    if (p.reduction < kNativeNchwMinReduction) return "NCHW with a reduction below 32: rows of B too short";
    const std::int64_t work =
        p.group_out_channels * p.kernel_height * p.kernel_width / (p.stride_height * p.stride_width);
    if (p.stride_width > 1 && work < kStridedNativeMinWork)
      return "NCHW with strided columns and little work per input element: splitting the rows costs more";
    return nullptr;
  }
  if (p.reduction < kNchwMinReduction && !nchw_few_pixels(p, gemm_ukernels()) && !grouped_small_image(p))
    return "NCHW with a reduction below 384: transposing input and output costs more than unfolding";
  if (p.out_pixels() > kNchwMaxOutputPixels)
    return "NCHW outputs larger than 56x56: transposing input and output costs more than unfolding";
  return nullptr;
}

std::unique_ptr<Primitive> create_implicit_gemm(const PrimitiveArguments& args) {
  return std::make_unique<ImplicitGemmPrimitive>(args);
}

}  // namespace

const Implementation* const* implicit_gemm_implementations() {
  static const Implementation convkit{"implicit_gemm_convkit", Algorithm::ImplicitGemm,     implicit_gemm_declines,
                                      accepts_everything,      implicit_gemm_auto_declines, create_implicit_gemm};
  static const Implementation* const list[] = {&convkit, nullptr};
  return list;
}

}  // namespace convkit::detail
