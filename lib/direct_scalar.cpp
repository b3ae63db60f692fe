// direct_scalar: outputs narrower than half a vector, where the vector kernels would waste most lanes and pay for
// staging. Scalar loops run straight on the caller's input: for each output pixel the group's receptive field is
// gathered once into a patch (in the order of the weights, zero where a tap falls in the padding), then every
// output channel of the block is one dot product with it, summed in blocks of kReductionBlock products
// (accumulation.hpp) like every strict path.
#include <algorithm>
#include <iterator>
#include <utility>
#include <vector>

#include "accumulation.hpp"
#include "arithmetic.hpp"
#include "direct.hpp"
#include "epilogue.hpp"
#include "kernels/direct_ukernels.hpp"
#include "memory.hpp"
#include "packing.hpp"
#include "profile.hpp"
#include "threading.hpp"

namespace convkit::detail {
namespace {

class ScalarDirectPrimitive final : public Primitive {
 public:
  explicit ScalarDirectPrimitive(const PrimitiveArguments& args) : p_(args.problem), post_(args.post) {
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
    // Input offset of every tap, in the order of the weights in memory, so that the weight of tap t is weights[t].
    const bool nchw = p_.layout == Layout::NCHW;
    const std::int64_t row_stride = nchw ? p_.in_width : p_.in_width * p_.in_channels;
    const std::int64_t col_stride = nchw ? 1 : p_.in_channels, channel_stride = nchw ? p_.in_pixels() : 1;
    if (p_.reduction > static_cast<std::int64_t>(std::size(inline_taps_))) {
      heap_taps_.resize(static_cast<std::size_t>(p_.reduction));
      taps_ = heap_taps_.data();
    }
    std::int64_t t = 0;
    const auto add_tap = [&](std::int64_t c, std::int64_t i, std::int64_t j) {
      taps_[t++] = c * channel_stride + i * p_.dilation_height * row_stride + j * p_.dilation_width * col_stride;
    };
    for (std::int64_t a = 0; a < (p_.weights_layout == WeightsLayout::OIHW ? cig : kh); ++a)
      for (std::int64_t b = 0; b < (p_.weights_layout == WeightsLayout::OIHW ? kh : kw); ++b)
        for (std::int64_t e = 0; e < (p_.weights_layout == WeightsLayout::OIHW ? kw : cig); ++e) {
          if (p_.weights_layout == WeightsLayout::OIHW) {
            add_tap(a, b, e);
          } else {
            add_tap(e, a, b);
          }
        }
    for (std::int64_t x = 0; x < p_.out_width; ++x) {
      const std::int64_t left = x * p_.stride_width - p_.pad_left;
      column_taps_[x] = {valid_taps_begin(left, p_.dilation_width),
                         std::min(kw, valid_taps_end(left, p_.in_width, p_.dilation_width))};
    }
    // Units of work: (image, group, block of output channels), enough blocks to feed every thread.
    const int threads = threads_worth_using(p_.flops(), args.threads);
    const std::int64_t groups_total = p_.batch * p_.groups;
    const std::int64_t blocks =
        groups_total >= threads ? 1 : std::min(p_.group_out_channels, ceil_div(threads, groups_total));
    block_channels_ = ceil_div(p_.group_out_channels, blocks);
    blocks_per_group_ = ceil_div(p_.group_out_channels, block_channels_);
    units_ = groups_total * blocks_per_group_;
    workers_ = team_size(threads, units_);
    patches_ = WorkerSlices(static_cast<std::size_t>(p_.reduction) * sizeof(float), workers_);
  }

  Algorithm algorithm() const override { return Algorithm::Direct; }
  std::size_t workspace_bytes() const override { return patches_.workspace_bytes(); }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void* workspace) const override {
    parallel_for(workers_, units_, [&](std::int64_t begin, std::int64_t end, int worker) {
      const PhaseTimer timer(Phase::Multiply);  // one phase: loops on the input as it lies (or on a staged copy)
      float* patch = static_cast<float*>(patches_.slice(workspace, worker));
      for (std::int64_t unit = begin; unit < end; ++unit) {
        const std::int64_t image_group = unit / blocks_per_group_, block = unit % blocks_per_group_;
        const std::int64_t n = image_group / p_.groups, g = image_group % p_.groups;
        const std::int64_t first = block * block_channels_;
        compute(input, output, residual_offset, n, g, first, std::min(p_.group_out_channels, first + block_channels_),
                patch);
      }
    });
  }

 private:
  // Narrow outputs: scalar loops straight on the caller's input. For each output pixel the group's receptive field is
  // gathered once into `patch` (in the order of the weights, zero where a tap falls in the padding), then every
  // output channel of the block is one dot product with it: the gather is shared by the channels and the dot
  // product has no bounds test. The valid taps of a pixel are worked out before the loops over them.
  void compute(const float* input, float* output, std::ptrdiff_t residual_offset, std::int64_t n, std::int64_t g,
               std::int64_t first, std::int64_t last, float* patch) const {
    // Locals, not members: the compiler then keeps them in registers across the stores to output.
    const bool nchw = p_.layout == Layout::NCHW;
    const std::int64_t H = p_.in_height, W = p_.in_width, Ho = p_.out_height, Wo = p_.out_width;
    const std::int64_t kh = p_.kernel_height, kw = p_.kernel_width, sh = p_.stride_height, sw = p_.stride_width;
    const std::int64_t dh = p_.dilation_height, pt = p_.pad_top, pl = p_.pad_left;
    const std::int64_t channels = p_.group_in_channels, reduction = p_.reduction;
    const std::int64_t row_stride = nchw ? W : W * p_.in_channels, col_stride = nchw ? 1 : p_.in_channels;
    const float* in =
        nchw ? input + (n * p_.in_channels + g * channels) * H * W : input + n * H * W * p_.in_channels + g * channels;
    const std::int64_t out_channel_stride = nchw ? p_.out_pixels() : 1, out_pixel_stride = nchw ? 1 : p_.out_channels;
    float* out = output + n * p_.out_pixels() * p_.out_channels + (g * p_.group_out_channels) * out_channel_stride;
    const std::int64_t* taps = taps_;
    const bool ohwi = p_.weights_layout == WeightsLayout::OHWI;
    for (std::int64_t y = 0; y < Ho; ++y) {
      const std::int64_t top = y * sh - pt;  // input row of tap 0
      const std::int64_t i_lo = valid_taps_begin(top, dh), i_hi = std::min(kh, valid_taps_end(top, H, dh));
      for (std::int64_t x = 0; x < Wo; ++x) {
        const std::int64_t j_lo = column_taps_[x].first, j_hi = column_taps_[x].second;
        // Offsets, not pointers: the origin itself may lie in the padding, outside the input.
        const std::int64_t origin = top * row_stride + (x * sw - pl) * col_stride;
        if (i_lo == 0 && i_hi == kh && j_lo == 0 && j_hi == kw) {  // every tap inside
          const float* at = in + origin;
          for (std::int64_t t = 0; t < reduction; ++t) patch[t] = at[taps[t]];
        } else {
          std::fill(patch, patch + reduction, 0.0f);
          for (std::int64_t i = i_lo; i < i_hi; ++i)
            for (std::int64_t j = j_lo; j < j_hi; ++j)
              for (std::int64_t c = 0; c < channels; ++c) {
                const std::int64_t t = ohwi ? (i * kw + j) * channels + c : (c * kh + i) * kw + j;
                patch[t] = in[origin + taps[t]];
              }
        }
        float* pixel = out + (y * Wo + x) * out_pixel_stride;
        for (std::int64_t k = first; k < last; ++k) {
          const std::int64_t o = g * p_.group_out_channels + k;
          const float* w = weights_ + o * reduction;
          // Blocks of kReductionBlock taps (accumulation.hpp), each in four partial sums: one would wait on the
          // adder's latency at every tap.
          float sum = bias_ != nullptr ? bias_[o] : 0.0f;
          for (std::int64_t block = 0; block < reduction; block += kReductionBlock) {
            const std::int64_t end = std::min(reduction, block + kReductionBlock);
            float partial[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            std::int64_t t = block;
            for (; t + 4 <= end; t += 4)
              for (int u = 0; u < 4; ++u) partial[u] += patch[t + u] * w[t + u];
            for (; t < end; ++t) partial[0] += patch[t] * w[t];
            sum += (partial[0] + partial[1]) + (partial[2] + partial[3]);
          }
          float* target = pixel + k * out_channel_stride;
          if (post_.residual) sum += post_.residual_scale * *residual_at(target, residual_offset);
          *target = activate_value(post_, sum);
        }
      }
    }
  }

  // First tap t >= 0 with start + t*dilation >= 0, and first with start + t*dilation >= size.
  static std::int64_t valid_taps_begin(std::int64_t start, std::int64_t dilation) {
    if (start >= 0) return 0;
    return dilation == 1 ? -start : ceil_div(-start, dilation);
  }
  static std::int64_t valid_taps_end(std::int64_t start, std::int64_t size, std::int64_t dilation) {
    if (start >= size) return 0;
    return dilation == 1 ? size - start : ceil_div(size - start, dilation);
  }

  Problem p_;
  // The valid kernel columns [first, second) of each output column (fewer than 8 of them), and the input offset of
  // every tap in weights order (inline for small reductions, so small calls allocate nothing).
  std::pair<std::int64_t, std::int64_t> column_taps_[8];
  std::int64_t inline_taps_[64];
  std::vector<std::int64_t> heap_taps_;
  std::int64_t* taps_ = inline_taps_;
  const float* weights_;
  const float* bias_;
  SharedFloats owned_weights_, owned_bias_;
  PostOps post_;
  std::int64_t block_channels_, blocks_per_group_, units_;
  int workers_;
  WorkerSlices patches_;  // per worker: the receptive field of one pixel
};

// Narrow rows: below half a vector the vector kernels waste most lanes and pay for staging.
DeclineReason scalar_defers(const Problem& p, const Tuning&) {
  if (2 * p.out_width < direct_ukernels().vector_floats) return nullptr;
  return "outputs at least half a vector wide: the vector kernels fill their lanes";
}

// The column table holds one entry per output column of a narrow output.
DeclineReason scalar_declines(const Problem& p, const Tuning&) {
  if (p.out_width > 8) return "outputs wider than 8 columns (the scalar path's column table)";
  return nullptr;
}

std::unique_ptr<Primitive> create_scalar(const PrimitiveArguments& args) {
  return std::make_unique<ScalarDirectPrimitive>(args);
}

}  // namespace

const Implementation& direct_scalar_implementation() {
  static const Implementation entry{"direct_scalar", Algorithm::Direct,    scalar_declines,
                                    scalar_defers,   direct_auto_declines, create_scalar};
  return entry;
}

}  // namespace convkit::detail
