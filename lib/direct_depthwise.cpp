// Depthwise NHWC: each pixel's channels are contiguous, so a vector of consecutive channels meets a vector of their
// (per-channel) weights at every tap with no staging and no shuffles, the way oneDNN and XNNPACK vectorise
// depthwise layers in their channel-last layouts. The weights and bias are packed once, tap-major and padded to a
// whole vector, so that their loads are aligned and never partial.
#include "direct_depthwise.hpp"

#include "arithmetic.hpp"
#include "kernels/direct_kernels.hpp"
#include "memory.hpp"
#include "threading.hpp"

#include <algorithm>

namespace convkit::detail {
namespace {

class DepthwiseNhwcKernel final : public Kernel {
 public:
  explicit DepthwiseNhwcKernel(const KernelArguments& args)
      : p_(args.problem), kernels_(direct_kernels()), activation_(args.activation), clamp_min_(args.clamp_min),
        clamp_max_(args.clamp_max) {
    const std::int64_t C = p_.out_channels, taps = p_.kernel_height * p_.kernel_width;
    padded_channels_ = round_up(C, kernels_.vector_floats);
    weights_ = allocate_floats(static_cast<std::size_t>(taps * padded_channels_));
    bias_ = allocate_floats(static_cast<std::size_t>(padded_channels_));
    std::fill(weights_.get(), weights_.get() + taps * padded_channels_, 0.0f);
    std::fill(bias_.get(), bias_.get() + padded_channels_, 0.0f);
    for (std::int64_t c = 0; c < C; ++c) {
      for (std::int64_t tap = 0; tap < taps; ++tap) {
        // OIHW [C][1][Kh][Kw] and OHWI [C][Kh][Kw][1] agree when each group has one input channel.
        weights_[tap * padded_channels_ + c] = args.weights[c * taps + tap];
      }
      if (args.bias != nullptr) bias_[c] = args.bias[c];
    }
    // Output columns whose kernel columns all lie inside the input: x*sw - pad_left >= 0 and
    // x*sw - pad_left + (kw - 1)*dw <= in_width - 1.
    const std::int64_t sw = p_.stride_width, span = (p_.kernel_width - 1) * p_.dilation_width;
    interior_begin_ = std::min(p_.out_width, ceil_div(p_.pad_left, sw));
    const std::int64_t last_start = p_.in_width - 1 + p_.pad_left - span;  // largest x*sw allowed
    interior_end_ = last_start < 0 ? interior_begin_ : std::clamp(last_start / sw + 1, interior_begin_, p_.out_width);
    const int threads = threads_worth_using(p_.flops(), args.threads);
    units_ = p_.batch * p_.out_height;  // output rows
    workers_ = team_size(threads, units_);
  }

  Algorithm algorithm() const override { return Algorithm::Direct; }
  std::size_t workspace_bytes() const override { return 0; }

  void run(const float* input, float* output, void* /*workspace*/) const override {
    parallel_for(workers_, units_, [&](std::int64_t begin, std::int64_t end, int /*worker*/) {
      DepthwiseNhwcTask t;
      t.channels = p_.out_channels;
      t.in_height = p_.in_height;
      t.in_width = p_.in_width;
      t.out_width = p_.out_width;
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
      t.weights = weights_.get();
      t.bias = bias_.get();
      t.padded_channels = padded_channels_;
      t.activation = activation_;
      t.clamp_min = clamp_min_;
      t.clamp_max = clamp_max_;
      // The range may span images: one task per image it touches.
      for (std::int64_t unit = begin; unit < end;) {
        const std::int64_t n = unit / p_.out_height;
        const std::int64_t image_end = std::min(end, (n + 1) * p_.out_height);
        t.input = input + n * p_.input_elements / p_.batch;
        t.output = output + n * p_.output_elements / p_.batch;
        t.row_begin = unit - n * p_.out_height;
        t.row_end = image_end - n * p_.out_height;
        kernels_.depthwise_nhwc_rows(t);
        unit = image_end;
      }
    });
  }

 private:
  Problem p_;
  const DirectKernels& kernels_;
  Activation activation_;
  float clamp_min_, clamp_max_;
  std::int64_t padded_channels_;
  AlignedFloats weights_, bias_;
  std::int64_t interior_begin_, interior_end_;
  std::int64_t units_;
  int workers_;
};

}  // namespace

bool is_depthwise_nhwc(const Problem& p) {
  return p.layout == Layout::NHWC && p.groups == p.in_channels && p.out_channels == p.in_channels;
}

std::unique_ptr<Kernel> create_depthwise_nhwc(const KernelArguments& args) {
  return std::make_unique<DepthwiseNhwcKernel>(args);
}

}  // namespace convkit::detail
