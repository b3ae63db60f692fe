// direct_tiny: calls of a few thousand FLOPs (the lesson's shapes, a projection of a handful of pixels), where
// anything around the arithmetic costs more than the arithmetic itself. Everything the other paths work out per call
// is worked out when the plan is made: for each output pixel, the list of its taps that fall inside the input, as
// pairs (input offset, row of the packed weights). A run walks those lists on the calling thread: no parallel region,
// no staging, no workspace, nothing allocated, and no switch of the floating-point environment unless an input could
// make a subnormal (floating_point.hpp).
//
// Each pixel's output channels are in the vector lanes: a tap is one input value broadcast against a row of the
// weights packed [K][Co/g rounded up to the lanes], so the caller's input is read where it lies, with no unfolded
// copy (which would be written as scalars and read back as vectors, stalling on store forwarding). The vectors are
// the baseline ISA's (SSE2 on x86-64) in every build: at this size the width of the arithmetic matters less than
// the loads around it, and a table lookup per call would cost more than the wider vectors save.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "accumulation.hpp"
#include "arithmetic.hpp"
#include "direct.hpp"
#include "floating_point.hpp"
#include "memory.hpp"
#include "packing.hpp"
#include "profile.hpp"

namespace convkit::detail {
namespace {

using Vector = xsimd::batch<float>;
constexpr std::int64_t kVector = static_cast<std::int64_t>(Vector::size);

// Above this many FLOPs the other paths pay their setup back with faster, wider arithmetic; above the second, a 1x1
// layer that gemm_1x1 reads in place (tiny_defers).
constexpr double kTinyFlops = 3072;
constexpr double kTinyFlopsInPlace = 256;

// Taps per pixel at most: one block of the strict paths' summation (accumulation.hpp), so a pixel's sum needs no
// blocks.
constexpr std::int64_t kMaxReduction = kReductionBlock;

class TinyDirectPrimitive final : public Primitive {
 public:
  explicit TinyDirectPrimitive(const PrimitiveArguments& args)
      : p_(args.problem),
        weight_columns_(round_up(p_.group_out_channels, kVector)),
        activation_(args.activation),
        clamp_min_(args.clamp_min),
        clamp_max_(args.clamp_max),
        post_(args.post) {
    const std::int64_t K = p_.reduction, cog = p_.group_out_channels;
    // Each group's weights as [K][Co/g rounded up to the lanes], zeros in the rounding, taps in (c, i, j) order;
    // the bias rounded up alike.
    const std::string lanes = " lanes=" + std::to_string(kVector);
    weights_ =
        args.cache.get_or_pack("tiny_columns" + lanes, static_cast<std::size_t>(p_.groups * K * weight_columns_), [&] {
          const AlignedFloats packed = pack_weights(p_, args.weights, WeightsLayout::OIHW);
          AlignedFloats columns = zeroed_floats(static_cast<std::size_t>(p_.groups * K * weight_columns_));
          for (std::int64_t g = 0; g < p_.groups; ++g)
            for (std::int64_t o = 0; o < cog; ++o)
              for (std::int64_t k = 0; k < K; ++k)
                columns[(g * K + k) * weight_columns_ + o] = packed[(g * cog + o) * K + k];
          return columns;
        });
    bias_ = args.cache.get_or_pack("tiny_bias" + lanes, static_cast<std::size_t>(p_.groups * weight_columns_), [&] {
      AlignedFloats bias = zeroed_floats(static_cast<std::size_t>(p_.groups * weight_columns_));
      if (args.bias != nullptr)
        for (std::int64_t g = 0; g < p_.groups; ++g)
          for (std::int64_t o = 0; o < cog; ++o) bias[g * weight_columns_ + o] = args.bias[g * cog + o];
      return bias;
    });
    // The taps of each output pixel, relative to the group's first channel in an image. A pixel whose taps all lie
    // inside the input reads tap k at its base offset plus tap_offsets_[k], and such pixels run four at a time (four
    // independent sums hide the adder's latency, and each row of weights is loaded once for the four). A pixel at
    // the border has its own list of the taps inside the input (those in the padding add zero), as pairs of an
    // input offset and the offset of the tap's row in the group's packed weights.
    const bool nchw = p_.layout == Layout::NCHW;
    const std::int64_t row_stride = nchw ? p_.in_width : p_.in_width * p_.in_channels;
    const std::int64_t column_stride = nchw ? 1 : p_.in_channels, channel_stride = nchw ? p_.in_pixels() : 1;
    for (std::int64_t c = 0; c < p_.group_in_channels; ++c)
      for (std::int64_t i = 0; i < p_.kernel_height; ++i)
        for (std::int64_t j = 0; j < p_.kernel_width; ++j)
          tap_offsets_.push_back(static_cast<std::int32_t>(c * channel_stride + i * p_.dilation_height * row_stride +
                                                           j * p_.dilation_width * column_stride));
    border_taps_.push_back(0);
    for (std::int64_t y = 0; y < p_.out_height; ++y)
      for (std::int64_t x = 0; x < p_.out_width; ++x) {
        const std::int64_t top = y * p_.stride_height - p_.pad_top, left = x * p_.stride_width - p_.pad_left;
        const auto pixel = static_cast<std::int32_t>(y * p_.out_width + x);
        if (top >= 0 && top + (p_.kernel_height - 1) * p_.dilation_height < p_.in_height && left >= 0 &&
            left + (p_.kernel_width - 1) * p_.dilation_width < p_.in_width) {
          interior_pixels_.push_back(pixel);
          interior_bases_.push_back(static_cast<std::int32_t>(top * row_stride + left * column_stride));
          continue;
        }
        border_pixels_.push_back(pixel);
        for (std::int64_t c = 0, k = 0; c < p_.group_in_channels; ++c)
          for (std::int64_t i = 0; i < p_.kernel_height; ++i)
            for (std::int64_t j = 0; j < p_.kernel_width; ++j, ++k) {
              const std::int64_t h = top + i * p_.dilation_height, w = left + j * p_.dilation_width;
              if (h < 0 || h >= p_.in_height || w < 0 || w >= p_.in_width) continue;
              border_offsets_.push_back(
                  static_cast<std::int32_t>(c * channel_stride + h * row_stride + w * column_stride));
              border_rows_.push_back(static_cast<std::int32_t>(k * weight_columns_));
            }
        border_taps_.push_back(static_cast<std::int32_t>(border_offsets_.size()));
      }
    const std::int64_t taps_read =
        static_cast<std::int64_t>(interior_pixels_.size()) * K + static_cast<std::int64_t>(border_offsets_.size());
    input_floor_ = subnormal_free_input_floor(args.weights, p_.weights_elements, args.bias, p_.out_channels,
                                              activation_, clamp_min_, clamp_max_);
    // The inputs are checked against the floor in one vector pass over the images, unless they hold many more floats
    // than the call reads (a large stride): flushing then costs less than the check.
    check_inputs_ = input_floor_ < std::numeric_limits<float>::infinity() &&
                    p_.input_elements <= 4 * p_.batch * p_.groups * taps_read;
  }

  Algorithm algorithm() const override { return Algorithm::Direct; }
  std::size_t workspace_bytes() const override { return 0; }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void* /*workspace*/) const override {
    const PhaseTimer timer(Phase::Multiply);  // one phase: the loops on the input as it lies
    std::optional<FlushSubnormals> flush;
    if (!check_inputs_ || has_magnitude_below(input, p_.input_elements, input_floor_)) flush.emplace();
    const bool nchw = p_.layout == Layout::NCHW;
    const std::int64_t K = p_.reduction, P = p_.out_pixels(), cog = p_.group_out_channels, Co = p_.out_channels;
    const std::int64_t group_input = nchw ? p_.group_in_channels * p_.in_pixels() : p_.group_in_channels;
    const std::int64_t image_input = p_.in_channels * p_.in_pixels();
    // Output element (channel o, pixel q) of an image at o*channel_step + q*pixel_step.
    const std::int64_t channel_step = nchw ? P : 1, pixel_step = nchw ? 1 : Co;
    for (std::int64_t n = 0; n < p_.batch; ++n)
      for (std::int64_t g = 0; g < p_.groups; ++g) {
        const float* in = input + n * image_input + g * group_input;
        const float* weights = weights_.get() + g * K * weight_columns_;
        const float* bias = bias_.get() + g * weight_columns_;
        float* out = output + n * Co * P + g * cog * channel_step;
        for (std::int64_t o = 0; o < cog; o += 2 * kVector) {
          const Channels block{weights + o,    bias + o,   out + o * channel_step,
                               channel_step,   pixel_step, std::min(cog - o, 2 * kVector),
                               residual_offset};
          if (block.count > kVector) {
            pixels<2>(in, block);
          } else {
            pixels<1>(in, block);
          }
        }
      }
  }

 private:
  // A block of up to two vectors of a group's output channels: their packed weights and bias, and where their
  // outputs go (channel l of pixel q at out[l*channel_step + q*pixel_step]).
  struct Channels {
    const float* weights;
    const float* bias;
    float* out;
    std::int64_t channel_step, pixel_step, count;
    std::ptrdiff_t residual_offset;  // the run's (post_ops.hpp)
  };

  template <int kVectors>
  void pixels(const float* in, const Channels& block) const {
    const std::int64_t interior = static_cast<std::int64_t>(interior_pixels_.size());
    std::int64_t q = 0;
    for (; q + 4 <= interior; q += 4) interior_pixels<4, kVectors>(in, block, q);
    for (; q < interior; ++q) interior_pixels<1, kVectors>(in, block, q);
    for (std::size_t b = 0; b < border_pixels_.size(); ++b) border_pixel<kVectors>(in, block, b);
  }

  // Interior pixels q .. q + kPixels - 1 (of interior_pixels_).
  template <int kPixels, int kVectors>
  void interior_pixels(const float* in, const Channels& block, std::int64_t q) const {
    Vector sum[kPixels][kVectors];
    for (int p = 0; p < kPixels; ++p)
      for (int v = 0; v < kVectors; ++v) sum[p][v] = Vector::load_aligned(block.bias + v * kVector);
    const float* at[kPixels];
    for (int p = 0; p < kPixels; ++p) at[p] = in + interior_bases_[static_cast<std::size_t>(q + p)];
    const std::int32_t* offsets = tap_offsets_.data();
    const std::int64_t taps = p_.reduction;
    const float* row = block.weights;
    for (std::int64_t k = 0; k < taps; ++k, row += weight_columns_) {
      Vector w[kVectors];
      for (int v = 0; v < kVectors; ++v) w[v] = Vector::load_aligned(row + v * kVector);
      for (int p = 0; p < kPixels; ++p) {
        const Vector x(at[p][offsets[k]]);
        for (int v = 0; v < kVectors; ++v) sum[p][v] = xsimd::fma(x, w[v], sum[p][v]);
      }
    }
    for (int p = 0; p < kPixels; ++p) store<kVectors>(sum[p], block, interior_pixels_[static_cast<std::size_t>(q + p)]);
  }

  // Border pixel b (of border_pixels_), on its own tap list. Two sums per vector, the even taps and the odd, halve
  // the chain of dependent additions.
  template <int kVectors>
  void border_pixel(const float* in, const Channels& block, std::size_t b) const {
    Vector even[kVectors], odd[kVectors];
    for (int v = 0; v < kVectors; ++v) {
      even[v] = Vector::load_aligned(block.bias + v * kVector);
      odd[v] = Vector(0.0f);
    }
    const std::int32_t* offsets = border_offsets_.data();
    const std::int32_t* rows = border_rows_.data();
    std::int64_t t = border_taps_[b];
    const std::int64_t end = border_taps_[b + 1];
    for (; t + 2 <= end; t += 2) {
      const Vector x0(in[offsets[t]]), x1(in[offsets[t + 1]]);
      for (int v = 0; v < kVectors; ++v) {
        even[v] = xsimd::fma(x0, Vector::load_aligned(block.weights + rows[t] + v * kVector), even[v]);
        odd[v] = xsimd::fma(x1, Vector::load_aligned(block.weights + rows[t + 1] + v * kVector), odd[v]);
      }
    }
    if (t < end)
      for (int v = 0; v < kVectors; ++v)
        even[v] =
            xsimd::fma(Vector(in[offsets[t]]), Vector::load_aligned(block.weights + rows[t] + v * kVector), even[v]);
    for (int v = 0; v < kVectors; ++v) even[v] += odd[v];
    store<kVectors>(even, block, border_pixels_[b]);
  }

  // The activation on whole vectors (NaN stays NaN: comparisons with it are false, as in activate()), then the
  // block's channels of one pixel: one vector store where they are contiguous and whole, else one store per channel.
  template <int kVectors>
  void store(const Vector* sum, const Channels& block, std::int64_t pixel) const {
    if (post_.active()) {  // residual or the activations beyond clamp: one channel at a time, on calls this small
      alignas(64) float values[kVectors * kVector];
      for (int v = 0; v < kVectors; ++v) sum[v].store_aligned(values + v * kVector);
      float* out = block.out + pixel * block.pixel_step;
      for (std::int64_t l = 0; l < block.count; ++l) {
        float* target = out + l * block.channel_step;
        float value = values[l];
        if (post_.residual) value += post_.residual_scale * *residual_at(target, block.residual_offset);
        *target = activate_value(post_, value);
      }
      return;
    }
    Vector x[kVectors];
    for (int v = 0; v < kVectors; ++v) {
      x[v] = sum[v];
      if (activation_ == Activation::Relu) {
        x[v] = xsimd::select(x[v] < Vector(0.0f), Vector(0.0f), x[v]);
      } else if (activation_ == Activation::Clamp) {
        x[v] = xsimd::select(x[v] < Vector(clamp_min_), Vector(clamp_min_), x[v]);
        x[v] = xsimd::select(x[v] > Vector(clamp_max_), Vector(clamp_max_), x[v]);
      }
    }
    float* out = block.out + pixel * block.pixel_step;
    if (block.channel_step == 1 && block.count == kVectors * kVector) {
      for (int v = 0; v < kVectors; ++v) x[v].store_unaligned(out + v * kVector);
      return;
    }
    alignas(64) float values[kVectors * kVector];
    for (int v = 0; v < kVectors; ++v) x[v].store_aligned(values + v * kVector);
    for (std::int64_t l = 0; l < block.count; ++l) out[l * block.channel_step] = values[l];
  }

  // Whether any of the count floats is nonzero and of magnitude below `floor`.
  static bool has_magnitude_below(const float* values, std::int64_t count, float floor) {
    const Vector limit(floor), zero(0.0f);
    auto below = limit < zero;  // all false
    std::int64_t i = 0;
    for (; i + kVector <= count; i += kVector) {
      const Vector magnitude = xsimd::abs(Vector::load_unaligned(values + i));
      below = below || ((magnitude < limit) && (magnitude > zero));
    }
    bool tail = false;
    for (; i < count; ++i) {
      const float magnitude = values[i] < 0.0f ? -values[i] : values[i];
      tail = tail || (magnitude < floor && magnitude > 0.0f);
    }
    return tail || xsimd::any(below);
  }

  Problem p_;
  std::int64_t weight_columns_;
  SharedFloats weights_, bias_;
  std::vector<std::int32_t> tap_offsets_;                       // per tap k, from an interior pixel's base
  std::vector<std::int32_t> interior_pixels_, interior_bases_;  // output pixel, input offset of its tap 0
  // Border pixel b (border_pixels_[b]) has the taps [border_taps_[b], border_taps_[b + 1]) of border_offsets_
  // (input offsets) and border_rows_ (offsets of their rows in the packed weights).
  std::vector<std::int32_t> border_pixels_, border_taps_, border_offsets_, border_rows_;
  Activation activation_;
  float clamp_min_, clamp_max_;
  PostOps post_;
  float input_floor_;  // an input of smaller nonzero magnitude could make a subnormal
  bool check_inputs_;  // else every run flushes
};

DeclineReason tiny_declines(const Problem& p, const Tuning&) {
  if (p.reduction > kMaxReduction) return "more taps per output than one summation block (kReductionBlock)";
  if (p.in_channels * p.in_pixels() > std::numeric_limits<std::int32_t>::max())
    return "an image of more than 2^31 - 1 floats (the tap lists hold 32-bit offsets)";
  if (p.out_pixels() * p.reduction > (std::int64_t{1} << 20))
    return "more than 2^20 taps in all (the tap lists are built for calls of a few thousand FLOPs)";
  return nullptr;
}

// Measured against every other entry by name on calls of 100-30,000 FLOPs, both layouts (docs/tuning-log.md): above
// kTinyFlops, or on narrow groups, or on a 1x1 layer read in place, another entry is faster.
DeclineReason tiny_defers(const Problem& p, const Tuning&) {
  if (p.flops() > kTinyFlops) return "more than kTinyFlops: the family's other entries pay their setup back";
  if (p.groups > 1 && p.group_out_channels < kVector)
    return "groups narrower than a vector: the depthwise entries put the channels of many groups in the lanes";
  if (p.is_1x1() && p.is_unit_stride() && p.is_unpadded() && p.flops() > kTinyFlopsInPlace)
    return "a 1x1 layer of more than kTinyFlopsInPlace: gemm_1x1 reads its input in place";
  return nullptr;
}

std::unique_ptr<Primitive> create_tiny(const PrimitiveArguments& args) {
  return std::make_unique<TinyDirectPrimitive>(args);
}

}  // namespace

const Implementation& direct_tiny_implementation() {
  static const Implementation entry{"direct_tiny", Algorithm::Direct,  tiny_declines,
                                    tiny_defers,   accepts_everything, create_tiny};
  return entry;
}

const Implementation* const* tiny_call_implementations() {
  static const Implementation* const list[] = {&direct_tiny_implementation(), nullptr};
  return list;
}

}  // namespace convkit::detail
