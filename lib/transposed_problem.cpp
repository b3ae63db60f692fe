// Validation of a transposed convolution's descriptor, and the forward convolution a stride-1 one equals.
#include <limits>

#include "error.hpp"
#include "transposed.hpp"

namespace convkit::detail {
namespace {

// stride * (size - 1) + output_padding + dilation * (kernel - 1) + 1 - pad_begin - pad_end, or throws when empty.
std::int64_t transposed_extent(std::int64_t size, std::int64_t kernel, std::int64_t stride, std::int64_t dilation,
                               std::int64_t pad_begin, std::int64_t pad_end, std::int64_t output_padding,
                               const char* size_field, const char* pads_fields) {
  const std::int64_t span = checked_add(checked_mul(dilation, kernel - 1, "the dilated kernel"), 1, "the kernel");
  const std::int64_t full =
      checked_add(checked_add(checked_mul(stride, size - 1, size_field), output_padding, size_field), span, size_field);
  const std::int64_t pads = checked_add(pad_begin, pad_end, pads_fields);
  if (pads >= full)
    invalid("the output would be empty: ", pads_fields, " crop ", pads, " of the ", full, " elements that ", size_field,
            " = ", size, " spreads over");
  return full - pads;
}

void require_output_padding(std::int64_t output_padding, std::int64_t stride, std::int64_t dilation,
                            const char* field) {
  require_non_negative(output_padding, field);
  if (output_padding >= stride && output_padding >= dilation)
    invalid(field, " = ", output_padding, " must be smaller than the stride (", stride, ") or the dilation (", dilation,
            ")");
}

}  // namespace

double TransposedProblem::flops() const {
  return 2.0 * static_cast<double>(input_elements) * static_cast<double>(group_out_channels) *
         static_cast<double>(kernel_height * kernel_width);
}

TransposedProblem make_transposed_problem(const ConvTranspose2dDesc& desc) {
  require_positive(desc.batch, "batch");
  require_positive(desc.in_channels, "in_channels");
  require_positive(desc.in_height, "in_height");
  require_positive(desc.in_width, "in_width");
  require_positive(desc.out_channels, "out_channels");
  require_positive(desc.kernel_height, "kernel_height");
  require_positive(desc.kernel_width, "kernel_width");
  require_positive(desc.stride_height, "stride_height");
  require_positive(desc.stride_width, "stride_width");
  require_non_negative(desc.pad_top, "pad_top");
  require_non_negative(desc.pad_left, "pad_left");
  require_non_negative(desc.pad_bottom, "pad_bottom");
  require_non_negative(desc.pad_right, "pad_right");
  require_positive(desc.dilation_height, "dilation_height");
  require_positive(desc.dilation_width, "dilation_width");
  require_output_padding(desc.output_padding_height, desc.stride_height, desc.dilation_height, "output_padding_height");
  require_output_padding(desc.output_padding_width, desc.stride_width, desc.dilation_width, "output_padding_width");
  require_positive(desc.groups, "groups");
  const int layout = static_cast<int>(desc.layout);
  if (layout != static_cast<int>(Layout::NCHW) && layout != static_cast<int>(Layout::NHWC))
    invalid("layout = ", layout, " is not a layout (NCHW = 0, NHWC = 1)");
  const int weights_layout = static_cast<int>(desc.weights_layout);
  if (weights_layout != static_cast<int>(TransposedWeightsLayout::IOHW) &&
      weights_layout != static_cast<int>(TransposedWeightsLayout::OHWI))
    invalid("weights_layout = ", weights_layout, " is not a transposed weights layout (IOHW = 0, OHWI = 1)");
  if (desc.in_channels % desc.groups != 0)
    invalid("groups = ", desc.groups, " must divide in_channels = ", desc.in_channels);
  if (desc.out_channels % desc.groups != 0)
    invalid("groups = ", desc.groups, " must divide out_channels = ", desc.out_channels);

  TransposedProblem p{};
  p.batch = desc.batch;
  p.in_channels = desc.in_channels;
  p.in_height = desc.in_height;
  p.in_width = desc.in_width;
  p.out_channels = desc.out_channels;
  p.kernel_height = desc.kernel_height;
  p.kernel_width = desc.kernel_width;
  p.stride_height = desc.stride_height;
  p.stride_width = desc.stride_width;
  p.pad_top = desc.pad_top;
  p.pad_left = desc.pad_left;
  p.pad_bottom = desc.pad_bottom;
  p.pad_right = desc.pad_right;
  p.output_padding_height = desc.output_padding_height;
  p.output_padding_width = desc.output_padding_width;
  p.dilation_height = desc.dilation_height;
  p.dilation_width = desc.dilation_width;
  p.groups = desc.groups;
  p.layout = desc.layout;
  p.weights_layout = desc.weights_layout;
  p.out_height = transposed_extent(p.in_height, p.kernel_height, p.stride_height, p.dilation_height, p.pad_top,
                                   p.pad_bottom, p.output_padding_height, "in_height", "pad_top + pad_bottom");
  p.out_width = transposed_extent(p.in_width, p.kernel_width, p.stride_width, p.dilation_width, p.pad_left, p.pad_right,
                                  p.output_padding_width, "in_width", "pad_left + pad_right");
  p.group_in_channels = p.in_channels / p.groups;
  p.group_out_channels = p.out_channels / p.groups;

  const std::int64_t kernel_area = checked_mul(p.kernel_height, p.kernel_width, "kernel_height * kernel_width");
  const std::int64_t taps = checked_mul(p.group_out_channels, kernel_area, "out_channels / groups * kernel area");
  p.weights_elements = checked_mul(p.in_channels, taps, "the weights' element count");
  const std::int64_t in_pixels = checked_mul(p.in_height, p.in_width, "in_height * in_width");
  p.input_elements =
      checked_mul(checked_mul(p.batch, p.in_channels, "batch * in_channels"), in_pixels, "the input's element count");
  const std::int64_t out_pixels = checked_mul(p.out_height, p.out_width, "out_height * out_width");
  p.output_elements = checked_mul(checked_mul(p.batch, p.out_channels, "batch * out_channels"), out_pixels,
                                  "the output's element count");
  constexpr std::int64_t kMaxElements =
      std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(sizeof(float));
  for (std::int64_t elements : {p.input_elements, p.weights_elements, p.output_elements}) {
    if (elements > kMaxElements) invalid("a tensor of ", elements, " floats overflows 64-bit byte sizes");
  }
  // The column buffer of one input row: every tap of every output channel of a group.
  if (checked_mul(taps, p.in_width, "the column buffer's element count") > kMaxElements)
    invalid("the column buffer of ", taps, " x ", p.in_width, " floats overflows 64-bit byte sizes");
  return p;
}

bool forward_equivalent(const TransposedProblem& p, Conv2dDesc& forward) {
  if (p.stride_height != 1 || p.stride_width != 1) return false;
  const std::int64_t reach_h = p.dilation_height * (p.kernel_height - 1);
  const std::int64_t reach_w = p.dilation_width * (p.kernel_width - 1);
  Conv2dDesc d;
  d.batch = p.batch;
  d.in_channels = p.in_channels;
  d.in_height = p.in_height;
  d.in_width = p.in_width;
  d.out_channels = p.out_channels;
  d.kernel_height = p.kernel_height;
  d.kernel_width = p.kernel_width;
  d.pad_top = reach_h - p.pad_top;
  d.pad_bottom = reach_h - p.pad_bottom + p.output_padding_height;
  d.pad_left = reach_w - p.pad_left;
  d.pad_right = reach_w - p.pad_right + p.output_padding_width;
  d.dilation_height = p.dilation_height;
  d.dilation_width = p.dilation_width;
  d.groups = p.groups;
  d.layout = p.layout;
  d.weights_layout = WeightsLayout::OIHW;
  if (d.pad_top < 0 || d.pad_bottom < 0 || d.pad_left < 0 || d.pad_right < 0) return false;
  forward = d;
  return true;
}

std::vector<float> forward_equivalent_weights(const TransposedProblem& p, const float* weights) {
  const std::int64_t kh = p.kernel_height, kw = p.kernel_width, cig = p.group_in_channels, cog = p.group_out_channels;
  std::vector<float> forward(static_cast<std::size_t>(p.weights_elements));
  const bool iohw = p.weights_layout == TransposedWeightsLayout::IOHW;
  for (std::int64_t o = 0; o < p.out_channels; ++o) {
    const std::int64_t g = o / cog, ol = o % cog;
    for (std::int64_t cl = 0; cl < cig; ++cl) {
      const std::int64_t c = g * cig + cl;
      for (std::int64_t i = 0; i < kh; ++i) {
        for (std::int64_t j = 0; j < kw; ++j) {
          // The forward tap (i, j) is the transposed tap (kh-1-i, kw-1-j).
          const std::int64_t ti = kh - 1 - i, tj = kw - 1 - j;
          const std::int64_t source =
              iohw ? ((c * cog + ol) * kh + ti) * kw + tj : ((o * kh + ti) * kw + tj) * cig + cl;
          forward[static_cast<std::size_t>(((o * cig + cl) * kh + i) * kw + j)] = weights[source];
        }
      }
    }
  }
  return forward;
}

}  // namespace convkit::detail
