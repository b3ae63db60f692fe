// Depthwise NHWC: each pixel's channels are contiguous, so a vector of consecutive channels meets a vector of their
// (per-channel) weights at every tap with no staging and no shuffles, the way oneDNN and XNNPACK vectorise
// depthwise layers in their channel-last layouts. The weights and bias are packed once, tap-major and padded to a
// whole vector, so that their loads are aligned and never partial.
//
// With a channel multiplier m, output channel g*m + k reads input channel g: slice k of the multiplier is again one
// output channel per input channel, computed a row at a time into the worker's scratch row and then spread into
// the output's channels with stride m.
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "arithmetic.hpp"
#include "direct.hpp"
#include "kernels/direct_ukernels.hpp"
#include "memory.hpp"
#include "packing.hpp"
#include "profile.hpp"
#include "threading.hpp"

namespace convkit::detail {
namespace {

class DepthwiseNhwcPrimitive final : public Primitive {
 public:
  explicit DepthwiseNhwcPrimitive(const PrimitiveArguments& args)
      : p_(args.problem),
        ukernels_(direct_ukernels()),
        activation_(args.activation),
        clamp_min_(args.clamp_min),
        clamp_max_(args.clamp_max) {
    const std::int64_t taps = p_.kernel_height * p_.kernel_width;
    multiplier_ = p_.out_channels / p_.groups;
    // Slices of the channel multiplier, the channels in the lanes (packing.hpp).
    ChannelSlices slices = pack_channel_slices(p_, args.weights, args.bias, ukernels_.vector_floats);
    packed_ = std::move(slices.floats);
    padded_channels_ = slices.padded;
    slice_floats_ = slices.slice_floats;
    for (std::int64_t o = 0; o < p_.out_channels; ++o)
      for (std::int64_t tap = 0; tap < taps; ++tap)
        if (!std::isfinite(args.weights[o * taps + tap])) nonfinite_taps_.push_back({o, tap});
    // Output columns whose kernel columns all lie inside the input: x*sw - pad_left >= 0 and
    // x*sw - pad_left + (kw - 1)*dw <= in_width - 1.
    const std::int64_t sw = p_.stride_width, span = (p_.kernel_width - 1) * p_.dilation_width;
    interior_begin_ = std::min(p_.out_width, ceil_div(p_.pad_left, sw));
    const std::int64_t last_start = p_.in_width - 1 + p_.pad_left - span;  // largest x*sw allowed
    interior_end_ = last_start < 0 ? interior_begin_ : std::clamp(last_start / sw + 1, interior_begin_, p_.out_width);
    const int threads = threads_worth_using(p_.flops(), args.threads);
    units_ = p_.batch * p_.out_height;  // output rows
    workers_ = team_size(threads, units_);
    rows_ = WorkerSlices(multiplier_ == 1 ? 0 : static_cast<std::size_t>(p_.out_width * p_.groups) * sizeof(float),
                         workers_);
  }

  Algorithm algorithm() const override { return Algorithm::Direct; }
  std::size_t workspace_bytes() const override { return rows_.workspace_bytes(); }

  void run(const float* input, float* output, void* workspace) const override {
    parallel_for(workers_, units_, [&](std::int64_t begin, std::int64_t end, int worker) {
      const PhaseTimer timer(Phase::Multiply);  // one phase: loops on the input as it lies (or on a staged copy)
      const std::int64_t C = p_.groups, Wo = p_.out_width, taps = p_.kernel_height * p_.kernel_width;
      DepthwiseNhwcTask t;
      t.channels = C;
      t.in_height = p_.in_height;
      t.in_width = p_.in_width;
      t.out_width = Wo;
      t.kernel_height = p_.kernel_height;
      t.kernel_width = p_.kernel_width;
      t.stride_height = p_.stride_height;
      t.stride_width = p_.stride_width;
      t.dilation_height = p_.dilation_height;
      t.dilation_width = p_.dilation_width;
      t.pad_top = p_.pad_top;
      t.pad_left = p_.pad_left;
      t.interior_begin = interior_begin_;
      t.interior_end = interior_end_;
      t.padded_channels = padded_channels_;
      t.activation = activation_;
      t.clamp_min = clamp_min_;
      t.clamp_max = clamp_max_;
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
              for (std::int64_t x = 0; x < Wo; ++x)
                for (std::int64_t g = 0; g < C; ++g) out[x * p_.out_channels + g * multiplier_] = row[x * C + g];
            }
          }
        }
        if (!nonfinite_taps_.empty()) multiply_padding(image_output, first_row, last_row);
        unit = image_end;
      }
    });
  }

 private:
  struct WeightTap {
    std::int64_t out_channel, tap;
  };

  // The kernels skip the taps that fall on padding. Every other algorithm multiplies the padding's zeros like any
  // input, so a non-finite weight there makes its output NaN (0 * inf and 0 * NaN are NaN); this gives rows
  // [row_begin, row_end) of one image's output the same answer, for the few weights that are not finite.
  void multiply_padding(float* image_output, std::int64_t row_begin, std::int64_t row_end) const {
    const std::int64_t kw = p_.kernel_width;
    for (const WeightTap& w : nonfinite_taps_) {
      const std::int64_t i = w.tap / kw, j = w.tap % kw;
      for (std::int64_t y = row_begin; y < row_end; ++y) {
        const std::int64_t ih = y * p_.stride_height - p_.pad_top + i * p_.dilation_height;
        const bool row_outside = ih < 0 || ih >= p_.in_height;
        for (std::int64_t x = 0; x < p_.out_width; ++x) {
          const std::int64_t iw = x * p_.stride_width - p_.pad_left + j * p_.dilation_width;
          if (row_outside || iw < 0 || iw >= p_.in_width)
            image_output[(y * p_.out_width + x) * p_.out_channels + w.out_channel] =
                std::numeric_limits<float>::quiet_NaN();
        }
      }
    }
  }

  Problem p_;
  const DirectUkernels& ukernels_;
  Activation activation_;
  float clamp_min_, clamp_max_;
  std::int64_t multiplier_, padded_channels_, slice_floats_;
  AlignedFloats packed_;  // per slice of the multiplier: weights [tap][padded_channels], then bias [padded_channels]
  std::int64_t interior_begin_, interior_end_;
  std::int64_t units_;
  int workers_;
  WorkerSlices rows_;                      // per worker, with a multiplier: one output row of one slice
  std::vector<WeightTap> nonfinite_taps_;  // weights that are NaN or infinite, usually none
};

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

const Implementation& direct_depthwise_nhwc_implementation() {
  static const Implementation entry{"direct_depthwise_nhwc", Algorithm::Direct,    depthwise_nhwc_declines,
                                    accepts_everything,      direct_auto_declines, create_depthwise_nhwc};
  return entry;
}

}  // namespace convkit::detail
