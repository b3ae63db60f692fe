// The transposed convolution's oracle: convkit.hpp's definition in its scatter form (every input element times every
// tap added into a double output), written from the header's formula, independently of the forward oracle
// (oracle.hpp) and of the library. Shared by tests/test_conv_transpose.cpp and the fuzzer.
#pragma once

#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdint>
#include <vector>

namespace convkit_test {

using i64 = std::int64_t;
using TDesc = convkit::ConvTranspose2dDesc;
using convkit::Layout;
using convkit::TransposedWeightsLayout;

struct Shape {
  i64 height, width;
};

// Ho = sh * (H - 1) + oph + dh * (Kh - 1) + 1 - pt - pb (Wo alike), from the header's formula.
inline Shape t_output_shape(const TDesc& d) {
  return {d.stride_height * (d.in_height - 1) + d.output_padding_height + d.dilation_height * (d.kernel_height - 1) +
              1 - d.pad_top - d.pad_bottom,
          d.stride_width * (d.in_width - 1) + d.output_padding_width + d.dilation_width * (d.kernel_width - 1) + 1 -
              d.pad_left - d.pad_right};
}

// Element (n, c, h, w) of an activation tensor of C channels and H x W pixels.
inline i64 at_nchw(i64 C, i64 H, i64 W, i64 n, i64 c, i64 h, i64 w) { return ((n * C + c) * H + h) * W + w; }
inline i64 at_nhwc(i64 C, i64 H, i64 W, i64 n, i64 c, i64 h, i64 w) { return ((n * H + h) * W + w) * C + c; }
inline i64 at_layout(Layout layout, i64 C, i64 H, i64 W, i64 n, i64 c, i64 h, i64 w) {
  return layout == Layout::NCHW ? at_nchw(C, H, W, n, c, h, w) : at_nhwc(C, H, W, n, c, h, w);
}

// Weight of input channel c to output channel o (of c's group) at tap (i, j).
inline i64 t_weight_at(const TDesc& d, i64 c, i64 o, i64 i, i64 j) {
  const i64 cg = d.in_channels / d.groups, og = d.out_channels / d.groups, g = c / cg;
  if (d.weights_layout == TransposedWeightsLayout::IOHW)
    return ((c * og + (o - g * og)) * d.kernel_height + i) * d.kernel_width + j;  // Ci x Co/g x Kh x Kw
  return ((o * d.kernel_height + i) * d.kernel_width + j) * cg + (c - g * cg);    // Co x Kh x Kw x Ci/g
}

// The exact output (double), the scale of its rounding (|bias| + sum |products|) and what a naive loop accumulating in
// float gets, each in logical N x Co x Ho x Wo order.
struct TransposedOracle {
  Shape shape;
  std::vector<double> value, magnitude;
  std::vector<float> naive;
};

inline TransposedOracle t_oracle(const TDesc& d, const float* in, const float* w, const float* bias) {
  TransposedOracle r;
  r.shape = t_output_shape(d);
  const i64 Ho = r.shape.height, Wo = r.shape.width, Co = d.out_channels;
  const std::size_t count = static_cast<std::size_t>(d.batch * Co * Ho * Wo);
  r.value.assign(count, 0.0);
  r.magnitude.assign(count, 0.0);
  r.naive.assign(count, 0.0f);
  if (bias != nullptr)
    for (std::size_t k = 0; k < count; ++k) {
      const float b = bias[(k / static_cast<std::size_t>(Ho * Wo)) % static_cast<std::size_t>(Co)];
      r.value[k] = b;
      r.magnitude[k] = std::fabs(static_cast<double>(b));
      r.naive[k] = b;
    }
  const i64 cg = d.in_channels / d.groups, og = Co / d.groups;
  for (i64 n = 0; n < d.batch; ++n)
    for (i64 c = 0; c < d.in_channels; ++c)
      for (i64 iy = 0; iy < d.in_height; ++iy)
        for (i64 ix = 0; ix < d.in_width; ++ix) {
          const float a = in[at_layout(d.layout, d.in_channels, d.in_height, d.in_width, n, c, iy, ix)];
          const i64 g = c / cg;
          for (i64 o = g * og; o < (g + 1) * og; ++o)
            for (i64 i = 0; i < d.kernel_height; ++i) {
              const i64 y = iy * d.stride_height - d.pad_top + i * d.dilation_height;
              if (y < 0 || y >= Ho) continue;  // cropped by the pads
              for (i64 j = 0; j < d.kernel_width; ++j) {
                const i64 x = ix * d.stride_width - d.pad_left + j * d.dilation_width;
                if (x < 0 || x >= Wo) continue;
                const float b = w[t_weight_at(d, c, o, i, j)];
                const std::size_t k = static_cast<std::size_t>(at_nchw(Co, Ho, Wo, n, o, y, x));
                const double p = static_cast<double>(a) * b;
                r.value[k] += p;
                r.magnitude[k] += std::fabs(p);
                const float product = a * b;
                r.naive[k] = r.naive[k] + product;
              }
            }
        }
  return r;
}

}  // namespace convkit_test
