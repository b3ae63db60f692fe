// The reference algorithm: the definition as plain loops, accumulating in double. It accepts every valid problem
// and is the library's correctness fallback; the tests keep their own, independent oracle.
#include "epilogue.hpp"
#include "packing.hpp"
#include "primitive.hpp"
#include "threading.hpp"

namespace convkit::detail {
namespace {

class ReferencePrimitive final : public Primitive {
 public:
  explicit ReferencePrimitive(const PrimitiveArguments& args)
      : p_(args.problem),
        weights_(weights_form(args.cache, p_, args.weights, WeightsLayout::OIHW)),
        bias_(bias_form(args.cache, p_, args.bias)),
        activation_(args.activation),
        clamp_min_(args.clamp_min),
        clamp_max_(args.clamp_max),
        post_(args.post),
        threads_(threads_worth_using(p_.flops(), args.threads)) {}

  Algorithm algorithm() const override { return Algorithm::Reference; }
  std::size_t workspace_bytes() const override { return 0; }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void*) const override {
    const Problem& p = p_;
    const bool nhwc = p.layout == Layout::NHWC;
    // Element strides of (image, channel, row, column) in the input and output.
    const std::int64_t in_n = p.in_channels * p.in_pixels(), out_n = p.out_channels * p.out_pixels();
    const std::int64_t in_c = nhwc ? 1 : p.in_pixels(), in_h = nhwc ? p.in_width * p.in_channels : p.in_width;
    const std::int64_t in_w = nhwc ? p.in_channels : 1;
    const std::int64_t out_c = nhwc ? 1 : p.out_pixels(), out_h = nhwc ? p.out_width * p.out_channels : p.out_width;
    const std::int64_t out_w = nhwc ? p.out_channels : 1;
    parallel_for(threads_, p.batch * p.out_channels, [&](std::int64_t begin, std::int64_t end, int) {
      for (std::int64_t unit = begin; unit < end; ++unit) {
        const std::int64_t n = unit / p.out_channels, o = unit % p.out_channels;
        const std::int64_t first_channel = o / p.group_out_channels * p.group_in_channels;
        const float* w = weights_.get() + o * p.reduction;
        for (std::int64_t y = 0; y < p.out_height; ++y) {
          for (std::int64_t x = 0; x < p.out_width; ++x) {
            double sum = bias_ ? bias_.get()[o] : 0.0;
            for (std::int64_t c = 0; c < p.group_in_channels; ++c) {
              for (std::int64_t i = 0; i < p.kernel_height; ++i) {
                const std::int64_t ih = y * p.stride_height - p.pad_top + i * p.dilation_height;
                const bool row_inside = ih >= 0 && ih < p.in_height;
                for (std::int64_t j = 0; j < p.kernel_width; ++j) {
                  const std::int64_t iw = x * p.stride_width - p.pad_left + j * p.dilation_width;
                  // Padding is a zero that is multiplied like any input (non-finite weights: docs/robustness.md).
                  const float v = row_inside && iw >= 0 && iw < p.in_width
                                      ? input[n * in_n + (first_channel + c) * in_c + ih * in_h + iw * in_w]
                                      : 0.0f;
                  sum += static_cast<double>(v) * w[(c * p.kernel_height + i) * p.kernel_width + j];
                }
              }
            }
            float* target = output + n * out_n + o * out_c + y * out_h + x * out_w;
            if (post_.residual)
              sum += static_cast<double>(post_.residual_scale) * *residual_at(target, residual_offset);
            *target = activate_value(post_, static_cast<float>(sum));
          }
        }
      }
    });
  }

 private:
  Problem p_;
  SharedFloats weights_;  // OIHW
  SharedFloats bias_;
  Activation activation_;
  float clamp_min_, clamp_max_;
  PostOps post_;  // the whole epilogue: the reference applies every part of it itself
  int threads_;
};

std::unique_ptr<Primitive> create_reference(const PrimitiveArguments& args) {
  return std::make_unique<ReferencePrimitive>(args);
}

}  // namespace

const Implementation* const* reference_implementations() {
  static const Implementation reference{"reference",        Algorithm::Reference, accepts_everything,
                                        accepts_everything, accepts_everything,   create_reference};
  static const Implementation* const list[] = {&reference, nullptr};
  return list;
}

}  // namespace convkit::detail
