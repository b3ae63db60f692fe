// Depthwise NHWC: each pixel's channels are contiguous, so a vector of consecutive channels meets a vector of their
// (per-channel) weights at every tap with no staging and no shuffles, the way oneDNN and XNNPACK vectorise
// depthwise layers in their channel-last layouts. The weights and bias are packed once, tap-major and padded to a
// whole vector, so that their loads are aligned and never partial.
//
// With a channel multiplier m, output channel g*m + k reads input channel g: slice k of the multiplier is again one
// output channel per input channel, computed a row at a time into the worker's scratch row and then spread into
// the output's channels with stride m.
//
// The same kernel serves NCHW depthwise layers whose planes are small or whose kernels the NCHW row kernels have no
// unrolled form for (direct_depthwise_blocked): a block of planes is transposed channels-last into scratch, computed
// there, and transposed back.
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "arithmetic.hpp"
#include "direct.hpp"
#include "epilogue.hpp"
#include "kernels/direct_ukernels.hpp"
#include "memory.hpp"
#include "packing.hpp"
#include "profile.hpp"
#include "threading.hpp"
#include "transpose.hpp"

namespace convkit::detail {
namespace {

// The fields of a DepthwiseNhwcTask that the problem decides: everything but the tensors, the channel count and
// the rows. Interior columns are those whose kernel columns all lie inside the input: x*sw - pad_left >= 0 and
// x*sw - pad_left + (kw - 1)*dw <= in_width - 1.
DepthwiseNhwcTask depthwise_task(const Problem& p, Activation activation, float clamp_min, float clamp_max,
                                 std::int64_t padded_channels) {
  DepthwiseNhwcTask t{};
  t.in_height = p.in_height;
  t.in_width = p.in_width;
  t.out_width = p.out_width;
  t.kernel_height = p.kernel_height;
  t.kernel_width = p.kernel_width;
  t.stride_height = p.stride_height;
  t.stride_width = p.stride_width;
  t.dilation_height = p.dilation_height;
  t.dilation_width = p.dilation_width;
  t.pad_top = p.pad_top;
  t.pad_left = p.pad_left;
  const std::int64_t sw = p.stride_width, span = (p.kernel_width - 1) * p.dilation_width;
  t.interior_begin = std::min(p.out_width, ceil_div(p.pad_left, sw));
  const std::int64_t last_start = p.in_width - 1 + p.pad_left - span;  // largest x*sw allowed
  t.interior_end = last_start < 0 ? t.interior_begin : std::clamp(last_start / sw + 1, t.interior_begin, p.out_width);
  t.padded_channels = padded_channels;
  t.activation = activation;
  t.clamp_min = clamp_min;
  t.clamp_max = clamp_max;
  return t;
}

// The weights that are NaN or infinite, usually none: the kernels skip the taps that fall on padding, while every
// other algorithm multiplies the padding's zeros like any input, so such a weight there makes its output NaN (0 * inf
// and 0 * NaN are NaN). NonfiniteTaps gives those outputs the same answer.
class NonfiniteTaps {
 public:
  NonfiniteTaps(const Problem& p, const float* weights) : p_(p) {
    const std::int64_t taps = p.kernel_height * p.kernel_width;
    for (std::int64_t o = 0; o < p.out_channels; ++o)
      for (std::int64_t tap = 0; tap < taps; ++tap)
        if (!std::isfinite(weights[o * taps + tap])) taps_.push_back({o, tap});
  }

  bool empty() const { return taps_.empty(); }

  // Rows [row_begin, row_end) of output channels [first, first + count) of one image, channel o's pixel (y, x) at
  // output[(y*out_width + x)*pixel_stride + (o - first)*channel_stride].
  void apply(float* output, std::int64_t pixel_stride, std::int64_t channel_stride, std::int64_t first,
             std::int64_t count, std::int64_t row_begin, std::int64_t row_end) const {
    const std::int64_t kw = p_.kernel_width;
    for (const WeightTap& w : taps_) {
      if (w.out_channel < first || w.out_channel >= first + count) continue;
      const std::int64_t i = w.tap / kw, j = w.tap % kw;
      for (std::int64_t y = row_begin; y < row_end; ++y) {
        const std::int64_t ih = y * p_.stride_height - p_.pad_top + i * p_.dilation_height;
        const bool row_outside = ih < 0 || ih >= p_.in_height;
        for (std::int64_t x = 0; x < p_.out_width; ++x) {
          const std::int64_t iw = x * p_.stride_width - p_.pad_left + j * p_.dilation_width;
          if (row_outside || iw < 0 || iw >= p_.in_width)
            output[(y * p_.out_width + x) * pixel_stride + (w.out_channel - first) * channel_stride] =
                std::numeric_limits<float>::quiet_NaN();
        }
      }
    }
  }

 private:
  struct WeightTap {
    std::int64_t out_channel, tap;
  };
  Problem p_;
  std::vector<WeightTap> taps_;
};

// The weights and bias in slices of the multiplier, the channels in the vector lanes (packing.hpp).
SharedFloats channel_slices_form(const PrimitiveArguments& args) {
  const std::int64_t lanes = direct_ukernels().vector_floats;
  return args.cache.get_or_pack(
      "channel_slices lanes=" + std::to_string(lanes), channel_slice_shape(args.problem, lanes).floats,
      [&] { return pack_channel_slices(args.problem, args.weights, args.bias, lanes).floats; });
}

class DepthwiseNhwcPrimitive final : public Primitive {
 public:
  explicit DepthwiseNhwcPrimitive(const PrimitiveArguments& args)
      : p_(args.problem), ukernels_(direct_ukernels()), nonfinite_(args.problem, args.weights) {
    multiplier_ = p_.out_channels / p_.groups;
    // Slices of the channel multiplier, the channels in the lanes (packing.hpp).
    const ChannelSliceShape slices = channel_slice_shape(p_, ukernels_.vector_floats);
    packed_ = channel_slices_form(args);
    padded_channels_ = slices.padded;
    slice_floats_ = slices.slice_floats;
    task_ = depthwise_task(p_, args.activation, args.clamp_min, args.clamp_max, padded_channels_);
    post_ = args.post;
    task_.post = active_post_ops(post_);
    row_post_ = post_;
    row_post_.residual = false;
    const int threads = threads_worth_using(p_.flops(), args.threads);
    units_ = p_.batch * p_.out_height;  // output rows
    workers_ = team_size(threads, units_);
    rows_ = WorkerSlices(multiplier_ == 1 ? 0 : static_cast<std::size_t>(p_.out_width * p_.groups) * sizeof(float),
                         workers_);
  }

  Algorithm algorithm() const override { return Algorithm::Direct; }
  std::size_t workspace_bytes() const override { return rows_.workspace_bytes(); }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void* workspace) const override {
    parallel_for(workers_, units_, [&](std::int64_t begin, std::int64_t end, int worker) {
      const PhaseTimer timer(Phase::Multiply);  // one phase: loops on the input as it lies (or on a staged copy)
      const std::int64_t C = p_.groups, Wo = p_.out_width, taps = p_.kernel_height * p_.kernel_width;
      DepthwiseNhwcTask t = task_;
      t.residual_offset = residual_offset;
      // With a multiplier the kernel writes one slice's row apart, and the copy into the output finishes it.
      const PostOps* post = t.post;
      if (multiplier_ != 1 && post != nullptr) {
        t.post = nullptr;
        t.activation = Activation::None;
      }
      t.channels = C;
      t.out_pixel_stride = C;
      float* row = static_cast<float*>(rows_.slice(workspace, worker));  // null without a multiplier
      // The range may span images: one pass per image it touches.
      for (std::int64_t unit = begin; unit < end;) {
        const std::int64_t n = unit / p_.out_height;
        const std::int64_t image_end = std::min(end, (n + 1) * p_.out_height);
        t.input = input + n * p_.input_elements / p_.batch;
        float* image_output = output + n * p_.output_elements / p_.batch;
        const std::int64_t first_row = unit - n * p_.out_height, last_row = image_end - n * p_.out_height;
        if (multiplier_ == 1) {
          t.weights = packed_.get();
          t.bias = packed_.get() + taps * padded_channels_;
          t.output = image_output;
          t.out_row_stride = Wo * C;
          t.row_begin = first_row;
          t.row_end = last_row;
          ukernels_.depthwise_nhwc_rows(t);
        } else {
          t.output = row;
          t.out_row_stride = 0;
          for (std::int64_t y = first_row; y < last_row; ++y) {
            t.row_begin = y;
            t.row_end = y + 1;
            for (std::int64_t k = 0; k < multiplier_; ++k) {
              t.weights = packed_.get() + k * slice_floats_;
              t.bias = t.weights + taps * padded_channels_;
              ukernels_.depthwise_nhwc_rows(t);
              float* out = image_output + y * Wo * p_.out_channels + k;
              if (multiplier_ != 1 && post != nullptr) {
                // The slice's row is contiguous here and strided in the output: its residual is gathered into it
                // (each read before the spread below writes it), then the activation finishes the whole row.
                if (post->residual)
                  for (std::int64_t x = 0; x < Wo; ++x)
                    for (std::int64_t g = 0; g < C; ++g)
                      row[x * C + g] += post->residual_scale *
                                        *residual_at(out + x * p_.out_channels + g * multiplier_, residual_offset);
                finish_copy(row_post_, row, row, Wo * C, 0);
              }
              for (std::int64_t x = 0; x < Wo; ++x)
                for (std::int64_t g = 0; g < C; ++g) out[x * p_.out_channels + g * multiplier_] = row[x * C + g];
            }
          }
        }
        if (!nonfinite_.empty())
          nonfinite_.apply(image_output, p_.out_channels, 1, 0, p_.out_channels, first_row, last_row);
        unit = image_end;
      }
    });
  }

 private:
  Problem p_;
  const DirectUkernels& ukernels_;
  NonfiniteTaps nonfinite_;
  DepthwiseNhwcTask task_;  // what the problem decides (depthwise_task)
  PostOps post_;            // task_.post points here
  PostOps row_post_;        // post_ without the residual: finishes a slice's row whose residual is already added
  std::int64_t multiplier_, padded_channels_, slice_floats_;
  SharedFloats packed_;  // per slice of the multiplier: weights [tap][padded_channels], then bias [padded_channels]
  std::int64_t units_;
  int workers_;
  WorkerSlices rows_;  // per worker, with a multiplier: one output row of one slice
};

// NCHW depthwise of small planes, computed along the channels: a block of planes is transposed into a pixel-major
// copy (channels in the lanes), run through the NHWC kernel, and the outputs transposed back. The 7x7 and 14x14
// planes of the last stages leave a kernel along the width a fixed cost per plane (staging, copying out) as large
// as the arithmetic; along the channels a tile of 10 pixels by a vector of channels fills every lane whatever the
// width, and the transposes cost less than the per-plane work they replace.
class DepthwiseBlockedPrimitive final : public Primitive {
 public:
  explicit DepthwiseBlockedPrimitive(const PrimitiveArguments& args)
      : p_(args.problem),
        ukernels_(direct_ukernels()),
        transpose_(ukernels_.transpose != nullptr ? ukernels_.transpose : &transpose),
        nonfinite_(args.problem, args.weights) {
    packed_ = channel_slices_form(args);
    padded_channels_ = channel_slice_shape(p_, ukernels_.vector_floats).padded;
    task_ = depthwise_task(p_, args.activation, args.clamp_min, args.clamp_max, padded_channels_);
    post_ = args.post;
    // A residual is read in the output's layout: the transpose back adds it, then activates. Without one the
    // kernel finishes its block (the activations beyond clamp on each tile in L1) and the transpose only copies.
    if (post_.residual) {
      task_.activation = Activation::None;
    } else {
      task_.post = active_post_ops(post_);
    }
    const int threads = threads_worth_using(p_.flops(), args.threads);
    // Blocks of two vectors while they give every worker several, one vector otherwise (the block size hardly
    // matters with one-vector tiles; docs/tuning-log.md).
    const std::int64_t vector = ukernels_.vector_floats;
    block_ = p_.groups >= 2 * vector * 4 * threads ? 2 * vector : vector;
    blocks_ = ceil_div(p_.groups, block_);
    units_ = p_.batch * blocks_;
    workers_ = team_size(threads, units_);
    staged_floats_ = round_up(p_.in_pixels() * block_, 16);
    scratch_ =
        WorkerSlices(static_cast<std::size_t>(staged_floats_ + p_.out_pixels() * block_) * sizeof(float), workers_);
  }

  Algorithm algorithm() const override { return Algorithm::Direct; }
  std::size_t workspace_bytes() const override { return scratch_.workspace_bytes(); }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void* workspace) const override {
    const TileEpilogue finish{nullptr,        post_.register_activation(), post_.clamp_min, post_.clamp_max, &post_,
                              residual_offset};
    parallel_for(workers_, units_, [&](std::int64_t begin, std::int64_t end, int worker) {
      const PhaseTimer timer(Phase::Multiply);  // one phase: the transposes are a small part of each block
      float* staged = static_cast<float*>(scratch_.slice(workspace, worker));
      float* computed = staged + staged_floats_;
      const std::int64_t C = p_.groups, in_pixels = p_.in_pixels(), out_pixels = p_.out_pixels();
      const std::int64_t taps = p_.kernel_height * p_.kernel_width;
      for (std::int64_t unit = begin; unit < end; ++unit) {
        const std::int64_t n = unit / blocks_, first = unit % blocks_ * block_;
        const std::int64_t count = std::min(block_, C - first);
        transpose_(input + (n * C + first) * in_pixels, in_pixels, count, in_pixels, staged, count);
        DepthwiseNhwcTask t = task_;
        t.input = staged;
        t.channels = count;
        t.weights = packed_.get() + first;
        t.bias = packed_.get() + taps * padded_channels_ + first;
        t.output = computed;
        t.out_pixel_stride = count;
        t.out_row_stride = p_.out_width * count;
        t.row_begin = 0;
        t.row_end = p_.out_height;
        ukernels_.depthwise_nhwc_rows(t);
        if (!nonfinite_.empty()) nonfinite_.apply(computed, count, 1, first, count, 0, p_.out_height);
        float* target = output + (n * C + first) * out_pixels;
        if (post_.residual) {
          finish.store_transposed(computed, out_pixels, count, count, false, target, out_pixels, 0);
        } else {
          transpose_(computed, count, out_pixels, count, target, out_pixels);
        }
      }
    });
  }

 private:
  Problem p_;
  const DirectUkernels& ukernels_;
  decltype(DirectUkernels::transpose) transpose_;  // the ISA's, or the portable one
  NonfiniteTaps nonfinite_;
  DepthwiseNhwcTask task_;
  PostOps post_;
  std::int64_t padded_channels_;
  SharedFloats packed_;  // weights [tap][padded_channels], then bias [padded_channels]
  std::int64_t block_, blocks_, units_, staged_floats_;
  int workers_;
  WorkerSlices scratch_;  // per worker: a block's planes pixel-major, then its outputs alike
};

// Input planes of at most this many pixels (64x64): a block's copies of its planes (32 channels) then stay within
// 1 MiB, an L2 cache; the 112x112 planes of the stems are left to the row kernels.
constexpr std::int64_t kBlockedPlanePixels = 4096;

DeclineReason depthwise_blocked_declines(const Problem& p, const Tuning&) {
  if (p.layout != Layout::NCHW || p.groups != p.in_channels || p.groups < 2 || p.group_out_channels != 1)
    return "NCHW depthwise layers without a channel multiplier only";
  if (p.in_pixels() > kBlockedPlanePixels) return "input planes of more than 4096 pixels (the channels-last copy)";
  return nullptr;
}

// Rows where the row kernels have an unrolled form that fills their lanes (3x3 at strides 1-2 and 5x5 at stride 1,
// no dilation) and that are wide enough to pay for a block's setup need no transposes; everything else runs faster
// along the channels. Decided on the depthwise suite in NCHW, AVX-512 (figures in docs/tuning-log.md): 7x7, 1x9, 3x1,
// dilated 3x3 and 5x5 at stride 2 all ran faster blocked.
// The widths: narrower 3x3 and 5x5 rows leave the row kernels' lanes partly empty and their per-block setup
// unshared, and ran faster blocked; 3x3 at stride 2 ran level either way on 28-wide outputs and stays in rows.
DeclineReason depthwise_blocked_defers(const Problem& p, const Tuning&) {
  const bool undilated = p.dilation_height == 1 && p.dilation_width == 1 && p.kernel_height == p.kernel_width;
  const std::int64_t vector = direct_ukernels().vector_floats;
  const bool wide_3x3 = p.kernel_height == 3 && (p.stride_height == 1 ? 2 * p.out_width >= 5 * vector
                                                                      : p.stride_height == 2 && p.out_width > vector);
  const bool wide_5x5 = p.kernel_height == 5 && p.stride_height == 1 && 2 * p.out_width >= 7 * vector;
  if (undilated && (wide_3x3 || wide_5x5))
    return "3x3 rows of 2.5 vectors or more (stride 2: more than one), 5x5 rows of 3.5 or more: the row kernels fill "
           "their lanes without transposes";
  return nullptr;
}

std::unique_ptr<Primitive> create_depthwise_blocked(const PrimitiveArguments& args) {
  return std::make_unique<DepthwiseBlockedPrimitive>(args);
}

DeclineReason depthwise_nhwc_declines(const Problem& p, const Tuning&) {
  if (!is_depthwise_nhwc(p)) return "NHWC depthwise layers only (groups == in_channels > 1)";
  return nullptr;
}

std::unique_ptr<Primitive> create_depthwise_nhwc(const PrimitiveArguments& args) {
  return std::make_unique<DepthwiseNhwcPrimitive>(args);
}

}  // namespace

// One group is an ordinary convolution, even of one input channel: vectorised along its single channel, this kernel
// would fill one lane of each vector and run the output channels as a channel multiplier, one slice at a time.
bool is_depthwise_nhwc(const Problem& p) {
  return p.layout == Layout::NHWC && p.groups == p.in_channels && p.groups > 1;
}

const Implementation& direct_depthwise_blocked_implementation() {
  static const Implementation entry{"direct_depthwise_blocked", Algorithm::Direct,    depthwise_blocked_declines,
                                    depthwise_blocked_defers,   direct_auto_declines, create_depthwise_blocked};
  return entry;
}

const Implementation& direct_depthwise_nhwc_implementation() {
  static const Implementation entry{"direct_depthwise_nhwc", Algorithm::Direct,    depthwise_nhwc_declines,
                                    accepts_everything,      direct_auto_declines, create_depthwise_nhwc};
  return entry;
}

}  // namespace convkit::detail
