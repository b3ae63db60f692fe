// Unfolding the input so a convolution becomes a matrix product.
//
// im2col (NCHW): for one image and group, a matrix of reduction x pixels, row (c, i, j) holding for every output
// pixel the input value that kernel tap (i, j) of channel c meets there (zero in the padding).
// im2row (NHWC): the transpose, pixels x reduction with columns ordered (i, j, c), so that each kernel tap copies
// one contiguous run of channels.
// Both unfold a range [pixel_begin, pixel_end) of output pixels (row-major over out_height x out_width), so callers
// can tile the output and bound the buffer.
#pragma once

#include <cstdint>

#include "problem.hpp"

namespace convkit::detail {

// `channels` points at the group's first input channel of one NCHW image. Writes reduction rows of (end - begin)
// floats, row r starting at columns + r * ld (ld >= end - begin), so that several calls can fill one matrix.
void im2col(const Problem& problem, const float* channels, std::int64_t pixel_begin, std::int64_t pixel_end,
            float* columns, std::int64_t ld);

// `pixels` points at the group's first channel of pixel (0, 0) of one NHWC image (pixel stride in_channels).
// Writes (end - begin) x reduction floats.
void im2row(const Problem& problem, const float* pixels, std::int64_t pixel_begin, std::int64_t pixel_end, float* rows);

// A row split into its stride phases: phases[r * length + t] = row[t * stride + r] for every t * stride + r < width
// (the other elements untouched), so that every kernel column of a strided convolution reads a contiguous run.
void deinterleave(const float* row, std::int64_t width, std::int64_t stride, std::int64_t length, float* phases);

}  // namespace convkit::detail
