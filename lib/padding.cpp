// "Same" padding: the padding TensorFlow's padding="SAME" and ONNX's auto_pad=SAME_UPPER/SAME_LOWER compute, so
// that an engine importing such a model gets the pads its framework would.
#include <convkit/convkit.hpp>

#include "error.hpp"

namespace convkit {
namespace {

void require_at_least_one(std::int64_t value, const char* field) {
  if (value < 1) detail::invalid(field, " = ", value, " must be >= 1");
}

void require_no_overflow(bool overflowed) {
  if (overflowed) detail::invalid("the \"same\" padding of these sizes overflows 64 bits");
}

}  // namespace

Padding same_padding(std::int64_t input_size, std::int64_t kernel_size, std::int64_t stride, std::int64_t dilation,
                     SamePadding mode) {
  require_at_least_one(input_size, "input_size");
  require_at_least_one(kernel_size, "kernel_size");
  require_at_least_one(stride, "stride");
  require_at_least_one(dilation, "dilation");
  if (mode != SamePadding::Upper && mode != SamePadding::Lower)
    detail::invalid("mode = ", static_cast<int>(mode), " is not SAME_UPPER (0) or SAME_LOWER (1)");
  const std::int64_t out = input_size / stride + (input_size % stride != 0 ? 1 : 0);
  // The last window starts at (out - 1) * stride and spans (kernel_size - 1) * dilation + 1 elements.
  std::int64_t start = 0, span = 0, end = 0;
  require_no_overflow(__builtin_mul_overflow(out - 1, stride, &start));
  require_no_overflow(__builtin_mul_overflow(kernel_size - 1, dilation, &span));
  require_no_overflow(__builtin_add_overflow(start, span, &end));
  const std::int64_t total = end - input_size + 1 > 0 ? end - input_size + 1 : 0;
  const std::int64_t smaller = total / 2, larger = total - smaller;
  return mode == SamePadding::Upper ? Padding{smaller, larger} : Padding{larger, smaller};
}

void set_same_padding(Conv2dDesc& desc, SamePadding mode) {
  const Padding rows = same_padding(desc.in_height, desc.kernel_height, desc.stride_height, desc.dilation_height, mode);
  const Padding columns = same_padding(desc.in_width, desc.kernel_width, desc.stride_width, desc.dilation_width, mode);
  desc.pad_top = rows.begin;
  desc.pad_bottom = rows.end;
  desc.pad_left = columns.begin;
  desc.pad_right = columns.end;
}

}  // namespace convkit
