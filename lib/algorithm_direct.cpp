// direct: convolution without unfolding or GEMM, for depthwise, small kernels on few channels and tiny shapes.
//
// For each image and group the input is staged, in bands of output rows, into a padded, phase-split copy
// (kernels/direct_ukernels.hpp), then the vector kernel computes each output channel row by row, vectorised along the
// output width, with bias and activation applied in registers before the store. A group of many channels is summed in
// blocks of channels (accumulation.hpp), one call of the kernel each, the first from the bias and the last taking the
// activation; the scalar path for narrow outputs blocks its reduction alike. NCHW depthwise 3x3 kernels at
// strides 1 and 2 skip the staging where the kernels read the input in place (AVX-512). Weights are read as they
// lie, in either layout, through strides.
#include <algorithm>
#include <cstring>
#include <iterator>
#include <utility>
#include <vector>

#include "accumulation.hpp"
#include "arithmetic.hpp"
#include "direct.hpp"
#include "epilogue.hpp"
#include "kernels/direct_ukernels.hpp"
#include "kernels/gemm_ukernels.hpp"
#include "memory.hpp"
#include "packing.hpp"
#include "primitive.hpp"
#include "profile.hpp"
#include "threading.hpp"

namespace convkit::detail {
namespace {

class DirectPrimitive final : public Primitive {
 public:
  DirectPrimitive(const PrimitiveArguments& args, bool in_place)
      : p_(args.problem),
        ukernels_(direct_ukernels()),
        activation_(args.activation),
        clamp_min_(args.clamp_min),
        clamp_max_(args.clamp_max),
        post_(args.post),
        in_place_(in_place) {
    if (args.borrow_weights) {
      weights_ = args.weights;
      bias_ = args.bias;
    } else {
      owned_weights_ = weights_form(args.cache, p_, args.weights, p_.weights_layout);
      owned_bias_ = bias_form(args.cache, p_, args.bias);
      weights_ = owned_weights_.get();
      bias_ = owned_bias_.get();
    }
    const std::int64_t cig = p_.group_in_channels, kh = p_.kernel_height, kw = p_.kernel_width;
    if (p_.weights_layout == WeightsLayout::OIHW) {
      weight_stride_c_ = kh * kw, weight_stride_i_ = kw, weight_stride_j_ = 1;
    } else {
      weight_stride_c_ = 1, weight_stride_i_ = kw * cig, weight_stride_j_ = cig;
    }
    const std::int64_t sw = p_.stride_width;
    // Enough for every tap of a whole vector at the last output column (see direct_ukernels.hpp).
    // Rows of whole vectors: a tap at a vector boundary then loads without splitting a cache line (decided on the
    // strided NCHW layers mobilenetv2_dw_s2 and small_3x3_c3_s2; docs/tuning-log.md).
    row_floats_ = round_up(round_up(p_.out_width, ukernels_.vector_floats) + (kw - 1) * p_.dilation_width / sw,
                           ukernels_.vector_floats);
    // Groups of one channel that the kernels read in place, without staging (direct_ukernels.hpp; decided on
    // mobilenetv2_dw and _dw_s2, NCHW: staging took a third and half of their time).
    // Blocks of at most kReductionBlock products, of equal size (a 3x3 kernel over 50 channels: 25 and 25, not 49
    // and 1).
    const std::int64_t most_channels = std::max<std::int64_t>(1, kReductionBlock / (kh * kw));
    channel_block_ = ceil_div(cig, ceil_div(cig, most_channels));
    staged_rows_ = (p_.out_height - 1) * p_.stride_height + (kh - 1) * p_.dilation_height + 1;
    plane_floats_ = staged_rows_ * sw * row_floats_;
    // Units of work: (image, group, block of output channels). Enough blocks to feed every thread; each worker
    // stages its (image, group) itself, so splitting a group costs one more staging of it per extra block.
    const int threads = threads_worth_using(p_.flops(), args.threads);
    const std::int64_t groups_total = p_.batch * p_.groups;
    const std::int64_t blocks =
        groups_total >= threads ? 1 : std::min(p_.group_out_channels, ceil_div(threads, groups_total));
    block_channels_ = ceil_div(p_.group_out_channels, blocks);
    blocks_per_group_ = ceil_div(p_.group_out_channels, block_channels_);
    units_ = groups_total * blocks_per_group_;
    workers_ = team_size(threads, units_);
    offsets_bytes_ = static_cast<std::size_t>(round_up(kw * static_cast<std::int64_t>(sizeof(std::int64_t)), 64));
    // Per worker: the staged input of one group.
    const std::int64_t worker_floats = in_place_ ? 0 : cig * plane_floats_;
    staging_ = WorkerSlices(static_cast<std::size_t>(worker_floats) * sizeof(float), workers_);
  }

  Algorithm algorithm() const override { return Algorithm::Direct; }
  std::size_t workspace_bytes() const override { return offsets_bytes_ + staging_.workspace_bytes(); }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void* workspace) const override {
    auto* bytes = static_cast<unsigned char*>(workspace);
    auto* tap_offsets = reinterpret_cast<std::int64_t*>(bytes);
    for (std::int64_t j = 0; j < p_.kernel_width; ++j) {
      const std::int64_t column = j * p_.dilation_width;
      tap_offsets[j] = (column % p_.stride_width) * row_floats_ + column / p_.stride_width;
    }
    parallel_for(
        workers_, units_,
        [&](std::int64_t begin, std::int64_t end, int worker) {
          float* staged = static_cast<float*>(staging_.slice(bytes + offsets_bytes_, worker));
          std::int64_t staged_unit = -1;  // (image, group) now in `staged`, its rows [0, staged_end) staged
          std::int64_t staged_end = 0;
          for (std::int64_t unit = begin; unit < end; ++unit) {
            const std::int64_t image_group = unit / blocks_per_group_, block = unit % blocks_per_group_;
            const std::int64_t n = image_group / p_.groups, g = image_group % p_.groups;
            const std::int64_t first = block * block_channels_;
            const std::int64_t last = std::min(p_.group_out_channels, first + block_channels_);
            if (in_place_) {
              const PhaseTimer timer(Phase::Multiply);
              for (std::int64_t k = first; k < last; ++k)
                compute(input, output, residual_offset, nullptr, tap_offsets, n, g * p_.group_out_channels + k, 0,
                        p_.out_height);
              continue;
            }
            if (image_group != staged_unit) {
              staged_unit = image_group;
              staged_end = 0;
            }
            // Bands of output rows, each staging only the rows it adds, meant to let the kernel read rows staged
            // moments before rather than a whole staged plane (mobilenetv2_dw_s2 stages 52 KiB per channel). Measured
            // alone on mobilenetv2_dw and _dw_s2 the bands gained nothing, and lost on mobilenetv2_dw
            // (docs/tuning-log.md); the staged kernels were then tuned on top of them, so they stay.
            for (std::int64_t y = 0; y < p_.out_height; y += kBandRows) {
              const std::int64_t y_end = std::min(p_.out_height, y + kBandRows);
              const std::int64_t rows_needed =
                  (y_end - 1) * p_.stride_height + (p_.kernel_height - 1) * p_.dilation_height + 1;
              if (rows_needed > staged_end) {
                const PhaseTimer timer(Phase::Unfold);
                stage(input, n, g, staged_end, rows_needed, staged);
                staged_end = rows_needed;
              }
              const PhaseTimer timer(Phase::Multiply);
              for (std::int64_t k = first; k < last; ++k)
                compute(input, output, residual_offset, staged, tap_offsets, n, g * p_.group_out_channels + k, y,
                        y_end);
            }
          }
        },
        blocks_per_group_);
  }

 private:
  // Output rows per band: a multiple of the kernels' row blocks (2, 4 and 8 rows).
  static constexpr std::int64_t kBandRows = 8;

  // Copies padded rows [row_begin, row_end) of the group's input channels of image n into the padded, phase-split
  // form of direct_ukernels.hpp.
  void stage(const float* input, std::int64_t n, std::int64_t g, std::int64_t row_begin, std::int64_t row_end,
             float* staged) const {
    const bool nchw = p_.layout == Layout::NCHW;
    const std::int64_t H = p_.in_height, W = p_.in_width, sw = p_.stride_width, L = row_floats_;
    const std::int64_t row_stride = nchw ? W : W * p_.in_channels, col_stride = nchw ? 1 : p_.in_channels;
    for (std::int64_t c = 0; c < p_.group_in_channels; ++c) {
      const std::int64_t channel = g * p_.group_in_channels + c;
      const float* plane =
          nchw ? input + (n * p_.in_channels + channel) * H * W : input + n * H * W * p_.in_channels + channel;
      float* dst_plane = staged + c * plane_floats_;
      if (col_stride == 1 && sw <= 2) {  // the vector kernels' case: padding rows, then one run of input rows
        const std::int64_t inside_begin = std::clamp(p_.pad_top, row_begin, row_end);
        const std::int64_t inside_end = std::clamp(H + p_.pad_top, inside_begin, row_end);
        std::fill(dst_plane + row_begin * sw * L, dst_plane + inside_begin * sw * L, 0.0f);
        ukernels_.stage_rows(plane + (inside_begin - p_.pad_top) * row_stride, row_stride, inside_end - inside_begin, W,
                             p_.pad_left, sw, L, dst_plane + inside_begin * sw * L);
        std::fill(dst_plane + inside_end * sw * L, dst_plane + row_end * sw * L, 0.0f);
        continue;
      }
      for (std::int64_t r = row_begin; r < row_end; ++r) {
        float* dst_row = dst_plane + r * sw * L;
        const std::int64_t ih = r - p_.pad_top;
        if (ih < 0 || ih >= H) {
          std::fill(dst_row, dst_row + sw * L, 0.0f);
          continue;
        }
        const float* src = plane + ih * row_stride;
        for (std::int64_t q = 0; q < sw; ++q) {
          // Element k is padded column k*sw + q, input column k*sw + q - pad_left.
          float* dst = dst_row + q * L;
          const std::int64_t lo = std::clamp<std::int64_t>(ceil_div(p_.pad_left - q, sw), 0, L);
          const std::int64_t hi = std::clamp<std::int64_t>(ceil_div(W + p_.pad_left - q, sw), lo, L);
          std::fill(dst, dst + lo, 0.0f);
          if (sw == 1 && col_stride == 1) {
            std::memcpy(dst + lo, src + (lo - p_.pad_left), static_cast<std::size_t>(hi - lo) * sizeof(float));
          } else {
            for (std::int64_t k = lo; k < hi; ++k) dst[k] = src[(k * sw + q - p_.pad_left) * col_stride];
          }
          std::fill(dst + hi, dst + L, 0.0f);
        }
      }
    }
  }

  // Output rows [row_begin, row_end) of output channel o of image n, from `staged`, or in place when it is null (a
  // group of one channel: one block).
  void compute(const float* input, float* output, std::ptrdiff_t residual_offset, const float* staged,
               const std::int64_t* tap_offsets, std::int64_t n, std::int64_t o, std::int64_t row_begin,
               std::int64_t row_end) const {
    const bool nchw = p_.layout == Layout::NCHW;
    DirectRowsTask t;
    t.plane_floats = plane_floats_;
    t.row_floats = row_floats_;
    t.phases = p_.stride_width;
    t.stride_width = p_.stride_width;
    t.dilation_width = p_.dilation_width;
    // Groups of one channel only: the group's channel is channel o / group_out_channels.
    t.input = nullptr;
    if (staged == nullptr) t.input = input + (n * p_.in_channels + o / p_.group_out_channels) * p_.in_pixels();
    t.in_height = p_.in_height;
    t.in_width = p_.in_width;
    t.pad_top = p_.pad_top;
    t.pad_left = p_.pad_left;
    t.kernel_height = p_.kernel_height;
    t.kernel_width = p_.kernel_width;
    t.stride_height = p_.stride_height;
    t.dilation_height = p_.dilation_height;
    t.tap_offsets = tap_offsets;
    t.weight_stride_c = weight_stride_c_;
    t.weight_stride_i = weight_stride_i_;
    t.weight_stride_j = weight_stride_j_;
    t.bias = bias_ != nullptr ? bias_[o] : 0.0f;
    t.activation = activation_;
    t.clamp_min = clamp_min_;
    t.clamp_max = clamp_max_;
    t.post = active_post_ops(post_);
    t.residual_offset = residual_offset;
    t.output = nchw ? output + (n * p_.out_channels + o) * p_.out_pixels()
                    : output + n * p_.out_pixels() * p_.out_channels + o;
    t.out_row_stride = nchw ? p_.out_width : p_.out_width * p_.out_channels;
    t.out_col_stride = nchw ? 1 : p_.out_channels;
    t.out_width = p_.out_width;
    t.row_begin = row_begin;
    t.row_end = row_end;
    const std::int64_t cig = p_.group_in_channels;
    for (std::int64_t c = 0; c < cig; c += channel_block_) {
      t.staged = staged != nullptr ? staged + c * plane_floats_ : nullptr;
      t.channels = std::min(channel_block_, cig - c);
      t.weights = weights_ + o * p_.reduction + c * weight_stride_c_;
      t.accumulate = c > 0;
      t.finish = c + t.channels == cig;
      ukernels_.rows(t);
    }
    // The activations beyond clamp on the rows just written, while they are in cache.
    if (t.post != nullptr && row_end > row_begin) {
      if (nchw) {
        activate_tile(*t.post, t.output + row_begin * t.out_row_stride, row_end - row_begin, p_.out_width,
                      t.out_row_stride);
      } else {
        activate_tile(*t.post, t.output + row_begin * t.out_row_stride, (row_end - row_begin) * p_.out_width, 1,
                      t.out_col_stride);
      }
    }
  }

  Problem p_;
  const DirectUkernels& ukernels_;
  const float* weights_;
  const float* bias_;
  SharedFloats owned_weights_, owned_bias_;
  Activation activation_;
  float clamp_min_, clamp_max_;
  PostOps post_;
  bool in_place_;  // the kernel reads the input plane where it lies, nothing is staged
  std::int64_t weight_stride_c_, weight_stride_i_, weight_stride_j_;
  std::int64_t channel_block_;  // input channels per block of the reduction
  std::int64_t row_floats_, staged_rows_, plane_floats_;
  std::int64_t block_channels_, blocks_per_group_, units_;
  int workers_;
  std::size_t offsets_bytes_;
  WorkerSlices staging_;
};

}  // namespace

// Where auto prefers im2col_gemm. Decided on direct against im2col_gemm in the same run, at 1 and 2 threads
// (figures in docs/tuning-log.md):
//   direct ahead:  every depthwise layer (mobilenetv2_dw, dw5x5_c32, dw3x3_multiplier2); thin or shallow layers:
//                  small_5x5_c4 (4 output channels), small_3x3_c8 (reduction 72), small_3x3_c3_s2 (reduction 27);
//                  NCHW 3x3 and 5x5 kernels on at most 8 channels, which run fully unrolled from registers
//                  (small_3x3_c8 and small_5x5_c4).
//   GEMM ahead:    inception_3a_5x5 (16 channels, reduction 400): in NHWC by far (im2row copies whole channel runs),
//                  in NCHW narrowly (level on one machine); resnet50_res2_3x3 (64 channels, reduction 576) and every
//                  deeper layer.
DeclineReason direct_auto_declines(const Problem& p) {
  if (p.flops() <= 1e5) return nullptr;           // tiny: the GEMM call and unfolding overheads dominate
  if (p.group_out_channels <= 4) return nullptr;  // depthwise and thin groups: a GEMM of <= 4 rows wastes its tiles
  // Outside the depthwise kernel, an NHWC output is written one channel at a time with a stride of out_channels,
  // while the GEMM's register tile stores whole vectors of channels (decided on 1 -> 16 and 1 -> 64 channel 3x3
  // layers, grayscale first layers: even at 16, the GEMM path far ahead at 64).
  if (p.layout == Layout::NHWC && !is_depthwise_nhwc(p) && p.group_out_channels > 16)
    return "an NHWC output of more than 16 channels per group outside the depthwise kernel: the GEMM's tile writes "
           "whole vectors of channels";
  // convkit's GEMM microkernels (and implicit_gemm, which reads the taps in place) moved the line down to 8 output
  // channels per group, measured on 1-16 input channels, 3x3 and 5x5, strides 1-2 (benchmarks/small_layers.txt and
  // first layers, docs/tuning-log.md): above it the GEMM paths ran 1.3-2.5x faster in both layouts; at 8, NHWC still
  // ran faster here, and NCHW too where the reduction is as short as a grayscale 3x3's.
  if (gemm_ukernels() != nullptr && p.group_out_channels > 8 && !is_depthwise_nhwc(p))
    return "more than 8 output channels per group: convkit's GEMM microkernels are faster";
  if (gemm_ukernels() != nullptr && p.layout == Layout::NCHW && p.group_out_channels == 8 && p.reduction >= 16)
    return "NCHW, 8 output channels per group over a reduction of 16 or more: convkit's GEMM microkernels are faster";
  // Grouped NHWC layers of 8 output channels per group (ResNeXt's 28x28 stage, RegNet): implicit_gemm reads each
  // group's channel run where it lies, 1.3-2.2x faster than staging it (docs/tuning-log.md); at 4 per group level.
  if (gemm_ukernels() != nullptr && p.layout == Layout::NHWC && p.groups > 1 && p.group_out_channels == 8 &&
      !is_depthwise_nhwc(p))
    return "NHWC groups of 8 output channels: implicit_gemm reads each group's channels in place";
  if (p.reduction <= 72) return nullptr;
  const bool unrolled_kernel = p.kernel_height == p.kernel_width && (p.kernel_height == 3 || p.kernel_height == 5) &&
                               p.stride_height == 1 && p.dilation_height == 1;
  if (unrolled_kernel && p.group_in_channels <= 8 && p.layout == Layout::NCHW) return nullptr;
  return "the reduction (Ci/groups * Kh * Kw) exceeds 72 and is not an NCHW 3x3 or 5x5 kernel on <= 8 channels: a "
         "GEMM is faster";
}

namespace {

// A group of one channel that the AVX-512 kernels read in place (direct_ukernels.hpp): NCHW, 3x3, strides of at
// most 2, no dilation, rows at least half a vector wide.
DeclineReason inplace_declines(const Problem& p, const Tuning&) {
  const DirectUkernels& ukernels = direct_ukernels();
  if (!ukernels.reads_in_place) return "reading in place needs AVX-512's masked loads";
  if (p.layout != Layout::NCHW || p.group_in_channels != 1) return "reads NCHW groups of one input channel only";
  if (p.kernel_height != 3 || p.kernel_width != 3) return "reads 3x3 kernels only";
  if (p.stride_height > 2 || p.stride_width > 2) return "reads strides of 1 and 2 only";
  if (p.dilation_height != 1 || p.dilation_width != 1) return "reads undilated kernels only";
  if (2 * p.out_width < ukernels.vector_floats) return "rows narrower than half a vector";
  return nullptr;
}

std::unique_ptr<Primitive> create_staged(const PrimitiveArguments& args) {
  return std::make_unique<DirectPrimitive>(args, /*in_place=*/false);
}

std::unique_ptr<Primitive> create_inplace(const PrimitiveArguments& args) {
  return std::make_unique<DirectPrimitive>(args, /*in_place=*/true);
}

}  // namespace

// The direct family in the order it tries its entries: calls of a few thousand FLOPs on their tap lists, NHWC depthwise
// layers on their channel-vector kernel, NCHW depthwise layers of small planes or general kernels on the same kernel
// between transposes, the other NCHW groups of one channel with narrow outputs in flat form, other narrow outputs on
// the scalar path, NCHW depthwise 3x3 read in place (AVX-512), and the staged kernels for the rest.
const Implementation* const* direct_implementations() {
  static const Implementation inplace{"direct_depthwise_inplace", Algorithm::Direct,    inplace_declines,
                                      accepts_everything,         direct_auto_declines, create_inplace};
  static const Implementation staged{"direct_staged",    Algorithm::Direct,    accepts_everything,
                                     accepts_everything, direct_auto_declines, create_staged};
  static const Implementation* const list[] = {&direct_tiny_implementation(),
                                               &direct_depthwise_nhwc_implementation(),
                                               &direct_depthwise_blocked_implementation(),
                                               &direct_depthwise_planes_implementation(),
                                               &direct_scalar_implementation(),
                                               &inplace,
                                               &staged,
                                               nullptr};
  return list;
}

}  // namespace convkit::detail
