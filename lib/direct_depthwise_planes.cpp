// Depthwise NCHW in flat form (DepthwisePlanesTask, kernels/direct_ukernels.hpp): each input plane is staged with its
// padding as zeros, phase-split for a stride of 2, and every tap becomes one shift of the whole staged plane, so the
// outputs of a band of rows are computed as one run of whole vectors straight across the row ends. A vector per
// output row (the in-place and staged single-channel kernels) fills 14 of 16 lanes on a 14-wide output and 7 on a
// 7-wide one, where MobileNetV2 and EfficientNet spend their last stages; the flat run fills 16 of every
// phase_width + (16 - out_width % 16) lanes whatever the width, and one kernel serves every kernel shape, dilation
// and channel multiplier.
//
// A unit of work is one input plane of one image (all the output channels of its group): the plane is staged once
// per band for every channel of the multiplier.
#include <algorithm>
#include <vector>

#include "accumulation.hpp"
#include "arithmetic.hpp"
#include "direct.hpp"
#include "kernels/direct_ukernels.hpp"
#include "memory.hpp"
#include "packing.hpp"
#include "profile.hpp"
#include "threading.hpp"

namespace convkit::detail {
namespace {

// Staged band and flat outputs of one band together within this many bytes (an L1 cache and a half: the staged
// input is read kh*kw times, the flat outputs once; whole 56x56 planes fit, a 112x112 plane at stride 1 runs in
// bands of about 35 rows).
constexpr std::int64_t kBandBytes = 32 * 1024;
// Slack after each phase plane: the flat run's last vector reads up to a row and a vector past the plane's rows.
constexpr std::int64_t kSlackVectors = 2, kMaxVectorFloats = 16;

class DepthwisePlanesPrimitive final : public Primitive {
 public:
  explicit DepthwisePlanesPrimitive(const PrimitiveArguments& args)
      : p_(args.problem),
        ukernels_(direct_ukernels()),
        activation_(args.activation),
        post_(args.post),
        clamp_min_(args.clamp_min),
        clamp_max_(args.clamp_max) {
    const std::int64_t kh = p_.kernel_height, kw = p_.kernel_width, sh = p_.stride_height, sw = p_.stride_width;
    const std::int64_t dh = p_.dilation_height, dw = p_.dilation_width;
    taps_ = kh * kw;
    // A group of one input channel: OIHW and OHWI are the same order, [out_channel][i][j].
    weights_ = weights_form(args.cache, p_, args.weights, WeightsLayout::OIHW);
    bias_ = args.cache.get_or_pack("bias_or_zeros", static_cast<std::size_t>(p_.out_channels), [&] {
      AlignedFloats bias = allocate_floats(static_cast<std::size_t>(p_.out_channels));
      for (std::int64_t o = 0; o < p_.out_channels; ++o) bias[o] = args.bias != nullptr ? args.bias[o] : 0.0f;
      return bias;
    });
    // The padded width the outputs reach, then per phase of the column stride.
    const std::int64_t padded_width = (p_.out_width - 1) * sw + (kw - 1) * dw + 1;
    phase_width_ = ceil_div(padded_width, sw);
    kernel_rows_span_ = (kh - 1) * dh + 1;
    const std::int64_t bytes_per_row = 4 * phase_width_ * (sh * sw + 1);
    band_rows_ = std::clamp<std::int64_t>(kBandBytes / bytes_per_row, 1, p_.out_height);
    const std::int64_t phase_rows = ceil_div((band_rows_ - 1) * sh + kernel_rows_span_, sh);
    phase_floats_ =
        round_up(phase_rows * phase_width_ + phase_width_ + kSlackVectors * kMaxVectorFloats, kMaxVectorFloats);
    for (std::int64_t i = 0; i < kh; ++i)
      for (std::int64_t j = 0; j < kw; ++j) {
        const std::int64_t row = i * dh, column = j * dw;
        tap_offsets_.push_back(((row % sh) * sw + column % sw) * phase_floats_ + (row / sh) * phase_width_ +
                               column / sw);
      }
    staged_floats_ = sh * sw * phase_floats_;
    // The flat outputs of a band; with a column stride of 2 also one padded input row before its columns are split
    // (the whole row, padding and 2*phase_width columns, and the vectors its stores run on by).
    flat_floats_ = round_up(
        std::max(band_rows_ * phase_width_, p_.pad_left + p_.in_width + 2 * phase_width_ + 3 * kMaxVectorFloats),
        kMaxVectorFloats);
    flat_floats_ += kMaxVectorFloats;  // the last flat vector's whole-vector stores and loads, whatever the ISA
    const int threads = threads_worth_using(p_.flops(), args.threads);
    units_ = p_.batch * p_.groups;
    workers_ = team_size(threads, units_);
    scratch_ = WorkerSlices(static_cast<std::size_t>(staged_floats_ + flat_floats_) * sizeof(float), workers_);
  }

  Algorithm algorithm() const override { return Algorithm::Direct; }
  std::size_t workspace_bytes() const override { return scratch_.workspace_bytes(); }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void* workspace) const override {
    parallel_for(workers_, units_, [&](std::int64_t begin, std::int64_t end, int worker) {
      const PhaseTimer timer(Phase::Multiply);  // one phase: staging is a small part of each band
      float* scratch = static_cast<float*>(scratch_.slice(workspace, worker));
      const std::int64_t multiplier = p_.group_out_channels;
      DepthwisePlanesTask t;
      t.in_height = p_.in_height;
      t.in_width = p_.in_width;
      t.pad_top = p_.pad_top;
      t.pad_left = p_.pad_left;
      t.stride_height = p_.stride_height;
      t.stride_width = p_.stride_width;
      t.taps = taps_;
      t.tap_offsets = tap_offsets_.data();
      t.phase_width = phase_width_;
      t.phase_floats = phase_floats_;
      t.kernel_rows_span = kernel_rows_span_;
      t.out_height = p_.out_height;
      t.out_width = p_.out_width;
      t.band_rows = band_rows_;
      t.multiplier = multiplier;
      t.activation = activation_;
      t.clamp_min = clamp_min_;
      t.clamp_max = clamp_max_;
      t.post = active_post_ops(post_);
      t.residual_offset = residual_offset;
      if (t.post != nullptr) t.activation = Activation::None;  // the copy out of the flat sums finishes them
      t.staged = scratch;
      t.flat = scratch + staged_floats_;
      for (std::int64_t unit = begin; unit < end; ++unit) {  // unit = n * groups + g: input plane `unit`
        const std::int64_t first_out = (unit % p_.groups) * multiplier;
        t.input = input + unit * p_.in_pixels();
        t.weights = weights_.get() + first_out * taps_;
        t.bias = bias_.get() + first_out;
        t.output = output + (unit / p_.groups * p_.out_channels + first_out) * p_.out_pixels();
        ukernels_.depthwise_planes(t);
      }
    });
  }

 private:
  Problem p_;
  const DirectUkernels& ukernels_;
  Activation activation_;
  PostOps post_;
  float clamp_min_, clamp_max_;
  SharedFloats weights_, bias_;
  std::int64_t taps_, phase_width_, phase_floats_, kernel_rows_span_, band_rows_;
  std::vector<std::int64_t> tap_offsets_;
  std::int64_t staged_floats_, flat_floats_, units_;
  int workers_;
  WorkerSlices scratch_;  // per worker: the staged phase planes of one band, then its flat outputs
};

DeclineReason planes_declines(const Problem& p, const Tuning&) {
  if (p.layout != Layout::NCHW || p.group_in_channels != 1) return "NCHW groups of one input channel only";
  if (p.stride_height > 2 || p.stride_width > 2) return "strides of 1 and 2 only (phase planes)";
  // One chain of products per output, as accumulation.hpp allows up to its block.
  if (p.kernel_height * p.kernel_width > kReductionBlock) return "kernels of more taps than a reduction block";
  return nullptr;
}

// Rows wider than a vector fill the lanes of the row kernels (in place or staged), which need no staging pass and
// no copy of the outputs: decided on 3x3 kernels at strides 1 and 2 over widths 7-112 and 5x5 and 7x7 kernels
// over 14-56, in NCHW on AVX-512 (docs/tuning-log.md). At a width of one vector (14 columns) the two ran level;
// below it the row kernels fill half a vector or less, the scalar path runs 10-20x slower, and the flat form leads.
DeclineReason planes_defers(const Problem& p, const Tuning&) {
  if (p.out_width > direct_ukernels().vector_floats)
    return "output rows wider than a vector: the row kernels fill their lanes without staging";
  return nullptr;
}

std::unique_ptr<Primitive> create_planes(const PrimitiveArguments& args) {
  return std::make_unique<DepthwisePlanesPrimitive>(args);
}

}  // namespace

const Implementation& direct_depthwise_planes_implementation() {
  static const Implementation entry{"direct_depthwise_planes", Algorithm::Direct, planes_declines, planes_defers,
                                    direct_auto_declines,      create_planes};
  return entry;
}

}  // namespace convkit::detail
