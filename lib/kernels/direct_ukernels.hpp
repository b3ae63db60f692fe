// The contract between the portable direct-convolution driver (lib/algorithm_direct.cpp) and its vector kernels,
// which are written once with xsimd (direct_ukernels_impl.hpp) and compiled once per ISA (direct_<isa>.cpp, the only
// files built with ISA flags).
//
// The driver stages the input of one image and group into a padded, phase-split copy: for channel c, padded row r
// (r = y*stride_height + i*dilation_height, row 0 being the first row of top padding) and phase q of the width
// stride, a run of row_floats floats whose element k is padded column k*stride_width + q (zero outside the input).
// Tap j of the kernel then reads phase (j*dw) % sw at offset x + (j*dw) / sw: output columns are contiguous in the
// staged copy whatever the stride, the padding is already zeros, and row_floats is rounded up so that a whole
// vector at the last output column stays inside the copy. The kernels therefore never test a bound and never read
// the caller's buffers.
//
// One exception: where a table's `reads_in_place` says so (AVX-512, whose masked loads read a vector's lanes inside
// the input and zero the rest without touching memory beyond it), a group of one channel (NCHW depthwise) with a 3x3
// kernel, strides of 1 or 2 and no dilation is not staged: `staged` is null and the kernel reads the input plane
// where it lies, making the shifted taps of stride 1 with valignd and splitting the even and odd columns of stride 2
// with two-source permutes. Staging cost mobilenetv2_dw about a third of its time and mobilenetv2_dw_s2 half.
// Read in place, a task must be a whole group of one channel (accumulate false, finish true) written to an NCHW
// output (out_col_stride 1): those kernels store whole vectors of consecutive columns and read no output back.
#pragma once

#include <convkit/convkit.hpp>
#include <cstddef>
#include <cstdint>

#include "../post_ops.hpp"

namespace convkit::detail {

// One output channel of one image over the output rows [row_begin, row_end), from `channels` input channels: the
// whole group, or one block of its channels when the driver cuts a long reduction into blocks (../accumulation.hpp),
// the blocks one task each in order, the first with accumulate = false, the last with finish = true.
struct DirectRowsTask {
  const float* staged;        // the group's staged input, channel 0
  std::int64_t plane_floats;  // distance between staged channels
  std::int64_t row_floats;    // one phase of one padded row
  std::int64_t phases;        // stride_width
  std::int64_t stride_width, dilation_width;
  // Read in place (staged is null, see the top of this file): the group's one input channel, contiguous rows.
  const float* input;
  std::int64_t in_height, in_width, pad_top, pad_left;
  std::int64_t channels;  // input channels of the group
  std::int64_t kernel_height, kernel_width, stride_height, dilation_height;
  const std::int64_t* tap_offsets;  // per kernel column j: ((j*dw) % sw) * row_floats + (j*dw) / sw
  const float* weights;             // this output channel's: w(c, i, j) = weights[c*wc + i*wi + j*wj]
  std::int64_t weight_stride_c, weight_stride_i, weight_stride_j;
  float bias;
  bool accumulate;  // sum from zero and add the output already there, rather than start from the bias
  bool finish;      // apply the activation; when false, store the sum as it is
  Activation activation;
  float clamp_min, clamp_max;
  // The residual sum and the activations beyond clamp (../post_ops.hpp): null when none.
  const PostOps* post = nullptr;
  std::ptrdiff_t residual_offset = 0;  // of the output element, in floats (residual_offset())
  float* output;                       // element (y, x) at output[y*out_row_stride + x*out_col_stride]
  std::int64_t out_row_stride, out_col_stride, out_width;
  std::int64_t row_begin, row_end;
};

// Depthwise convolution on NHWC tensors, vectorised along the channels: every tap of a pixel is one vector load of
// consecutive channels, so nothing is staged. Computes, for output rows [row_begin, row_end) of one image, one
// output channel per input channel (one slice of the channel multiplier). Columns [interior_begin, interior_end)
// have every kernel column inside the input and run without tests.
struct DepthwiseNhwcTask {
  const float* input;  // the image: element (h, w, c) at input[(h*in_width + w)*channels + c]
  float* output;       // element (y, x, c) at output[y*out_row_stride + x*out_pixel_stride + c]
  std::int64_t out_row_stride, out_pixel_stride;
  std::int64_t channels, in_height, in_width, out_width;
  std::int64_t kernel_height, kernel_width, stride_height, stride_width, dilation_height, dilation_width;
  std::int64_t pad_top, pad_left;
  std::int64_t interior_begin, interior_end;
  // Packed by the driver, 64-byte aligned and zero beyond `channels`: weight (i, j, c) at
  // weights[(i*kernel_width + j)*padded_channels + c], bias c at bias[c]; padded_channels is a multiple of the vector.
  const float* weights;
  const float* bias;
  std::int64_t padded_channels;
  Activation activation;
  float clamp_min, clamp_max;
  // The residual sum and the activations beyond clamp (../post_ops.hpp): null when none.
  const PostOps* post = nullptr;
  std::ptrdiff_t residual_offset = 0;  // of the output element, in floats (residual_offset())
  std::int64_t row_begin, row_end;
};

// Depthwise convolution on NCHW planes (a group of one input channel, any channel multiplier), in flat form: the
// plane is staged with its padding as zeros, split for a stride of 2 into phase planes (even and odd rows by even
// and odd columns), each phase_width floats wide. Output pixel (y, x) then reads tap (i, j) at staged[tap_offsets[t]
// + y*phase_width + x], so every tap is one shift of the whole staged plane: the outputs of a band of rows are one
// run of flat positions y*phase_width + x, computed a whole vector at a time straight across the row ends, and the
// phase_width - out_width columns past each row's end are computed too and dropped. Rows of any width thus fill
// whole vectors (a 7x7 output: 49 of 64 lanes, where a vector per row fills 7 of 16).
struct DepthwisePlanesTask {
  const float* input;  // input plane g of one image: element (h, w) at input[h*in_width + w]
  std::int64_t in_height, in_width, pad_top, pad_left;
  std::int64_t stride_height, stride_width;       // 1 or 2 each
  std::int64_t taps;                              // kernel_height * kernel_width, at most kReductionBlock
  const std::int64_t* tap_offsets;                // per tap, as above (the driver's, from the kernel shape)
  std::int64_t phase_width, phase_floats;         // phase plane (p, q) at staged + (p*stride_width + q)*phase_floats
  std::int64_t kernel_rows_span;                  // (kernel_height - 1)*dilation_height + 1
  std::int64_t out_height, out_width, band_rows;  // bands of band_rows output rows, each staged once
  // The output channels of the group: channel k (k < multiplier) has weights[k*taps + t], bias[k] and its plane at
  // output + k*out_height*out_width.
  std::int64_t multiplier;
  const float* weights;
  const float* bias;
  float* output;
  Activation activation;
  float clamp_min, clamp_max;
  // The residual sum and the activations beyond clamp (../post_ops.hpp): null when none.
  const PostOps* post = nullptr;
  std::ptrdiff_t residual_offset = 0;  // of the output element, in floats (residual_offset())
  float* staged;                       // scratch, 64-byte aligned: stride_height*stride_width*phase_floats floats
  float* flat;                         // scratch, 64-byte aligned: flat_floats(band_rows, phase_width) floats
};

struct DirectUkernels {
  const char* isa;             // "sse2", "sse4.2", "avx2+fma", "avx512f"
  std::int64_t vector_floats;  // floats per vector register
  void (*rows)(const DirectRowsTask& task);
  // Stages `rows` input rows of `width` contiguous floats, source_stride apart, each into `stride` (1 or 2 only)
  // phase rows of `length` floats, one staged row after the other: element k of phase q is input column
  // k*stride + q - pad_left, or zero outside the input.
  void (*stage_rows)(const float* source, std::int64_t source_stride, std::int64_t rows, std::int64_t width,
                     std::int64_t pad_left, std::int64_t stride, std::int64_t length, float* staged);
  void (*depthwise_nhwc_rows)(const DepthwiseNhwcTask& task);
  void (*depthwise_planes)(const DepthwisePlanesTask& task);
  // For j < taps, copies `count` floats from row + tap_offsets[j] to dst + j * ld: one output row's kernel columns
  // out of a staged row, for im2col (lib/im2col.cpp), inline rather than a library call per run.
  void (*copy_taps)(const float* row, const std::int64_t* tap_offsets, std::int64_t taps, std::int64_t count,
                    float* dst, std::int64_t ld);
  bool reads_in_place;  // see the top of this file
  // target[j * target_ld + i] = source[i * source_ld + j] for i < rows, j < columns, in 16 x 16 register blocks
  // (AVX-512); null where the ISA has none, and the portable transpose (../transpose.hpp) serves.
  void (*transpose)(const float* source, std::int64_t source_ld, std::int64_t rows, std::int64_t columns, float* target,
                    std::int64_t target_ld);
  // activate_tile of ../post_ops.hpp.
  void (*activate_tile)(const PostOps& post, float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld);
  // The transposed convolution's loops (../algorithm_transposed.cpp): target[k * stride] += scale * source[k], and
  // target[k] += weights[k] * source[k] (weights null: += source[k]), for k < count.
  void (*scatter_axpy)(float* target, std::int64_t stride, const float* source, float scale, std::int64_t count);
  void (*add_products)(float* target, const float* weights, const float* source, std::int64_t count);
};

// One table per ISA compiled in.
const DirectUkernels& direct_ukernels_sse2();
const DirectUkernels& direct_ukernels_sse4_2();
const DirectUkernels& direct_ukernels_avx2_fma();
const DirectUkernels& direct_ukernels_avx512f();

// The best table this CPU runs, capped by the environment variable CONVKIT_MAX_ISA (sse2, sse4.2, avx2, avx512f)
// so that tests can cover every ISA on one machine. Chosen once, on first use.
const DirectUkernels& direct_ukernels();

}  // namespace convkit::detail
