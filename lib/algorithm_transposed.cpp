// The transposed convolution's implementations, best first, and the plans made of them.
//
//   conv_transpose_as_conv          stride 1: the forward convolution with the kernel turned half a turn (every forward
//                                   path, 1x1 as gemm_1x1 and depthwise as the direct kernels, at the forward speed)
//   conv_transpose_direct_depthwise one input channel per group: taps gathered straight into each output row
//   conv_transpose_gemm_disjoint    stride >= dilated kernel (stride equal to the kernel, 1x1 with stride): one GEMM
//                                   per band of input rows, each output element stored once from its one tap
//   conv_transpose_gemm_col2im      any shape: one GEMM W^T X per band of input rows into columns, which col2im adds
//                                   onto the output rows they reach
//   conv_transpose_reference        the definition gathered per output element, accumulating in double
//
// The GEMM paths keep the epilogue per band: the rows a band is the last to reach are finished (activation) right
// after its col2im, while in cache; the bias and the residual seed each row before the first band adds to it, which is
// also what makes an in-place residual work (read before the row is written).
#include <algorithm>
#include <cstring>

#include "blas.hpp"
#include "epilogue.hpp"
#include "error.hpp"
#include "kernels/direct_ukernels.hpp"
#include "kernels/gemm_ukernels.hpp"
#include "memory.hpp"
#include "primitive.hpp"
#include "threading.hpp"
#include "transposed.hpp"

namespace convkit::detail {
namespace {

struct TransposedArguments {
  const TransposedProblem& problem;
  const float* weights;  // in problem.weights_layout
  const float* bias;     // out_channels floats or null
  const PostOps& post;
  int threads;
};

struct TransposedImplementation {
  const char* name;
  Algorithm algorithm;  // Auto for conv_transpose_as_conv: the forward convolution's
  DeclineReason (*declines)(const TransposedProblem& problem);
  std::unique_ptr<Primitive> (*create)(const TransposedArguments& arguments);  // null for conv_transpose_as_conv
};

// Weight (c, o_local, i, j) of either layout: c an input channel, o_local an output channel of c's group.
class TransposedWeights {
 public:
  TransposedWeights(const TransposedProblem& p, const float* weights) : p_(p), w_(weights) {}
  float operator()(std::int64_t c, std::int64_t o_local, std::int64_t i, std::int64_t j) const {
    const TransposedProblem& p = p_;
    if (p.weights_layout == TransposedWeightsLayout::IOHW)
      return w_[((c * p.group_out_channels + o_local) * p.kernel_height + i) * p.kernel_width + j];
    const std::int64_t g = c / p.group_in_channels, o = g * p.group_out_channels + o_local;
    return w_[((o * p.kernel_height + i) * p.kernel_width + j) * p.group_in_channels + c % p.group_in_channels];
  }

 private:
  const TransposedProblem& p_;
  const float* w_;
};

std::vector<float> copy_bias(const TransposedProblem& p, const float* bias) {
  return bias == nullptr ? std::vector<float>(static_cast<std::size_t>(p.out_channels), 0.0f)
                         : std::vector<float>(bias, bias + p.out_channels);
}

// The activation of the epilogue over a rows x cols block (leading dimension ld), in place.
void activate_block(const PostOps& post, float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  const Activation activation = post.register_activation();
  if (activation != Activation::None) {
    for (std::int64_t r = 0; r < rows; ++r) {
      float* row = block + r * ld;
      for (std::int64_t c = 0; c < cols; ++c) row[c] = activate(row[c], activation, post.clamp_min, post.clamp_max);
    }
  }
  activate_tile(post, block, rows, cols, ld);
}

// Writes bias (one value per row of channels_by_row, or per column) plus the scaled residual into a rows x cols block;
// the residual may be the block itself (read before written).
void seed_block(const PostOps& post, std::ptrdiff_t residual_offset, float* block, std::int64_t rows, std::int64_t cols,
                std::int64_t ld, const float* bias, bool channels_by_row) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = block + r * ld;
    if (!post.residual) {
      if (channels_by_row)
        std::fill(row, row + cols, bias[r]);
      else
        std::copy(bias, bias + cols, row);
      continue;
    }
    const float* residual = residual_at(row, residual_offset);
    const float scale = post.residual_scale;
    for (std::int64_t c = 0; c < cols; ++c) row[c] = (channels_by_row ? bias[r] : bias[c]) + scale * residual[c];
  }
}

// The input pixels ix whose column x = ix * stride - pad + tap * dilation lies in [0, extent): [begin, end).
struct Span {
  std::int64_t begin, end;
};
Span reaching(std::int64_t in_extent, std::int64_t out_extent, std::int64_t stride, std::int64_t offset) {
  // x = ix * stride + offset; 0 <= x < out_extent.
  std::int64_t begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  std::int64_t end = out_extent - 1 - offset < 0 ? 0 : (out_extent - 1 - offset) / stride + 1;
  return {std::min(begin, in_extent), std::min(end, in_extent)};
}

// ---- the GEMM paths -------------------------------------------------------------------------------------------------

// The columns of one band of input rows of one image, group and block of output channels are a GEMM:
//   NCHW: cols[(o, i, j)][pixel] = W^T[(o, i, j)][c] * X[c][pixel]   (weights as rows (o, i, j) of c)
//   NHWC: cols[pixel][(i, j, o)] = X[pixel][c] * W[c][(i, j, o)]     (weights per block as columns (i, j, o))
// so that col2im reads each tap's values contiguously along the output's own contiguous dimension.
class GemmPrimitive final : public Primitive {
 public:
  GemmPrimitive(const TransposedArguments& args, bool disjoint)
      : p_(args.problem), post_(args.post), bias_(copy_bias(p_, args.bias)), disjoint_(disjoint) {
    const TransposedProblem& p = p_;
    taps_ = p.kernel_height * p.kernel_width;
    threads_ = threads_worth_using(p.flops(), args.threads);
    // Enough blocks of output channels that every thread has one when images and groups are fewer than threads; a
    // block keeps at least 8 channels, below which the GEMM's rows get too few.
    const std::int64_t images = p.batch * p.groups;
    const std::int64_t wanted = (threads_ + images - 1) / images;
    const std::int64_t blocks = std::max<std::int64_t>(1, std::min(wanted, p.group_out_channels / 8));
    block_ = (p.group_out_channels + blocks - 1) / blocks;
    blocks_ = (p.group_out_channels + block_ - 1) / block_;
    // A band of input rows whose columns fit in about 256 KiB, so that the col2im that follows reads them while in
    // L2; but every band streams the block's weights again, so a band's columns may grow to the weights' size (up to
    // 4 MiB). Decided on DCGAN's 1024 -> 512 layer on a 4x4 input, whose 32 MB of weights were streamed once per band
    // of 8 pixels.
    constexpr std::int64_t kColumnFloats = 64 * 1024, kMostColumnFloats = 1024 * 1024;
    const std::int64_t row_floats = std::max<std::int64_t>(1, p.in_width * block_ * taps_);
    const std::int64_t budget =
        std::clamp<std::int64_t>(block_ * taps_ * p.group_in_channels, kColumnFloats, kMostColumnFloats);
    band_rows_ = std::clamp<std::int64_t>(budget / row_floats, 1, p.in_height);
    ukernels_ = gemm_ukernels();
    // An NCHW image of so few pixels that they fill half the columns of a register tile or less (DCGAN's 4x4 input)
    // leaves packed_a's register tile nearly empty: its product runs in the NHWC orientation instead, the band's input
    // transposed first (a copy of pixels x channels).
    channel_rows_ = p.layout == Layout::NCHW && !(ukernels_ != nullptr && p.in_pixels() <= kFewPixels);
    pack(args.weights);
    transposed_floats_ = p.layout == Layout::NCHW && !channel_rows_ ? band_rows_ * p.in_width * p.group_in_channels : 0;
    slices_ = WorkerSlices(
        static_cast<std::size_t>(band_rows_ * p.in_width * block_ * taps_ + transposed_floats_) * sizeof(float),
        team_size(threads_, p.batch * p.groups * blocks_));
  }

  Algorithm algorithm() const override { return disjoint_ ? Algorithm::Gemm1x1 : Algorithm::Im2colGemm; }
  std::size_t workspace_bytes() const override { return slices_.workspace_bytes(); }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void* workspace) const override {
    const TransposedProblem& p = p_;
    parallel_for(threads_, p.batch * p.groups * blocks_, [&](std::int64_t begin, std::int64_t end, int worker) {
      float* cols = static_cast<float*>(slices_.slice(workspace, worker));
      for (std::int64_t unit = begin; unit < end; ++unit) {
        const std::int64_t b = unit % blocks_, g = unit / blocks_ % p.groups, n = unit / blocks_ / p.groups;
        run_block(input, output, residual_offset, cols, n, g, b);
      }
    });
  }

 private:
  void pack(const float* weights) {
    const TransposedProblem& p = p_;
    const TransposedWeights w(p, weights);
    const std::int64_t cig = p.group_in_channels, cog = p.group_out_channels, kh = p.kernel_height, kw = p.kernel_width;
    weights_.resize(static_cast<std::size_t>(p.weights_elements));
    for (std::int64_t g = 0; g < p.groups; ++g) {
      float* group = weights_.data() + g * cog * taps_ * cig;
      for (std::int64_t b = 0; b < blocks_; ++b) {
        const std::int64_t o0 = b * block_, count = std::min(block_, cog - o0);
        float* form = group + o0 * taps_ * cig;
        for (std::int64_t c = 0; c < cig; ++c)
          for (std::int64_t o = 0; o < count; ++o)
            for (std::int64_t i = 0; i < kh; ++i)
              for (std::int64_t j = 0; j < kw; ++j) {
                const float v = w(g * cig + c, o0 + o, i, j);
                if (channel_rows_)
                  form[((o * kh + i) * kw + j) * cig + c] = v;  // rows (o, i, j), columns c
                else
                  form[c * taps_ * count + (i * kw + j) * count + o] = v;  // rows c, columns (i, j, o)
              }
      }
    }
    if (ukernels_ != nullptr) pack_panels();
  }

  // For convkit's GEMM kernels, which read the weights in panels packed once (kernels/gemm_ukernels.hpp) where the
  // BLAS would pack them again on every call: NCHW's A in panels of panel_rows rows (o, i, j), NHWC's B in strips of
  // strip_columns columns (i, j, o); each panel k-major, zeros beyond the block's rows or columns. The same data as
  // weights_, which is then dropped.
  void pack_panels() {
    const TransposedProblem& p = p_;
    const bool nchw = channel_rows_;
    const std::int64_t cig = p.group_in_channels, cog = p.group_out_channels;
    const std::int64_t width = nchw ? ukernels_->panel_rows : ukernels_->strip_columns;
    std::vector<float> panels;
    panel_offsets_.clear();
    for (std::int64_t g = 0; g < p.groups; ++g) {
      for (std::int64_t b = 0; b < blocks_; ++b) {
        const std::int64_t o0 = b * block_, count = std::min(block_, cog - o0), lines = count * taps_;
        const float* form = weights_.data() + (g * cog + o0) * taps_ * cig;
        const std::int64_t padded = (lines + width - 1) / width * width;
        const std::size_t start = panels.size();
        panel_offsets_.push_back(static_cast<std::int64_t>(start));
        panels.resize(start + static_cast<std::size_t>(padded * cig), 0.0f);
        float* target = panels.data() + start;
        for (std::int64_t line = 0; line < lines; ++line) {
          float* panel = target + line / width * width * cig + line % width;
          for (std::int64_t c = 0; c < cig; ++c)
            panel[c * width] = nchw ? form[line * cig + c] : form[c * lines + line];
        }
      }
    }
    weights_ = std::move(panels);
  }

  // The output rows [first, last) of the block's channels as a rows x cols block of the output: a pointer, the row
  // count (for NCHW, per channel) and the leading dimension.
  void run_block(const float* input, float* output, std::ptrdiff_t residual_offset, float* cols, std::int64_t n,
                 std::int64_t g, std::int64_t b) const {
    const TransposedProblem& p = p_;
    const bool nchw = p.layout == Layout::NCHW;
    const std::int64_t cig = p.group_in_channels, cog = p.group_out_channels;
    const std::int64_t o0 = b * block_, count = std::min(block_, cog - o0), first_channel = g * cog + o0;
    const std::int64_t in_pixels = p.in_pixels(), out_pixels = p.out_pixels();
    const float* form =
        weights_.data() + (ukernels_ != nullptr ? panel_offsets_[static_cast<std::size_t>(g * blocks_ + b)]
                                                : (g * cog + o0) * taps_ * cig);
    const float* image = input + n * p.in_channels * in_pixels;
    float* out_image = output + n * p.out_channels * out_pixels;
    const float* bias = bias_.data() + first_channel;

    // Rows [seeded, finished) hold the bias and residual and some taps; rows below `finished` are done.
    std::int64_t seeded = 0, finished = 0;
    auto seed_rows = [&](std::int64_t last) {
      last = std::min(last, p.out_height);
      if (last <= seeded) return;
      if (nchw) {
        for (std::int64_t o = 0; o < count; ++o) {
          float* plane = out_image + (first_channel + o) * out_pixels;
          seed_block(post_, residual_offset, plane + seeded * p.out_width, 1, (last - seeded) * p.out_width, 0,
                     bias + o, true);
        }
      } else {
        seed_block(post_, residual_offset, out_image + seeded * p.out_width * p.out_channels + first_channel,
                   (last - seeded) * p.out_width, count, p.out_channels, bias, false);
      }
      seeded = last;
    };
    auto finish_rows = [&](std::int64_t last) {
      last = std::min(last, p.out_height);
      if (last <= finished) return;
      if (nchw) {
        for (std::int64_t o = 0; o < count; ++o)
          activate_block(post_, out_image + (first_channel + o) * out_pixels + finished * p.out_width, 1,
                         (last - finished) * p.out_width, 0);
      } else {
        activate_block(post_, out_image + finished * p.out_width * p.out_channels + first_channel,
                       (last - finished) * p.out_width, count, p.out_channels);
      }
      finished = last;
    };

    for (std::int64_t iy0 = 0; iy0 < p.in_height; iy0 += band_rows_) {
      const std::int64_t rows = std::min(band_rows_, p.in_height - iy0), pixels = rows * p.in_width;
      if (channel_rows_) {
        multiply(true, count * taps_, pixels, cig, form, cig, image + g * cig * in_pixels + iy0 * p.in_width, in_pixels,
                 cols, pixels);
      } else if (nchw) {
        float* band = cols + band_rows_ * p.in_width * block_ * taps_;  // pixels x channels
        const float* source = image + g * cig * in_pixels + iy0 * p.in_width;
        for (std::int64_t c = 0; c < cig; ++c)
          for (std::int64_t q = 0; q < pixels; ++q) band[q * cig + c] = source[c * in_pixels + q];
        multiply(false, pixels, taps_ * count, cig, band, cig, form, taps_ * count, cols, taps_ * count);
      } else {
        multiply(false, pixels, taps_ * count, cig, image + iy0 * p.in_width * p.in_channels + g * cig, p.in_channels,
                 form, taps_ * count, cols, taps_ * count);
      }
      // Output rows below this are reached by no later band.
      const std::int64_t done = iy0 + rows == p.in_height ? p.out_height : (iy0 + rows) * p.stride_height - p.pad_top;
      if (disjoint_) {
        seed_rows(done);
        add_disjoint(out_image, cols, iy0, rows, first_channel, count, finished, done);
      } else {
        seed_rows((iy0 + rows - 1) * p.stride_height - p.pad_top + (p.kernel_height - 1) * p.dilation_height + 1);
        add_columns(out_image, cols, iy0, rows, first_channel, count);
        seed_rows(done);
      }
      finish_rows(done);
    }
  }

  // C = A * B with the weights' operand (A for NCHW: weights_a) as packed: convkit's kernels, or the BLAS.
  void multiply(bool weights_a, std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                const float* b, std::int64_t ldb, float* c, std::int64_t ldc) const {
    if (ukernels_ == nullptr) return sgemm(false, false, m, n, k, a, lda, b, ldb, 0.0f, c, ldc);
    MicroGemm gemm{};
    gemm.m = m;
    gemm.n = n;
    gemm.k = k;
    gemm.a = a;
    gemm.lda = lda;
    gemm.b = b;
    gemm.ldb = ldb;
    gemm.c = c;
    gemm.ldc = ldc;
    gemm.activation = Activation::None;
    (weights_a ? ukernels_->packed_a : ukernels_->packed_b)(gemm);
  }

  // col2im: adds every tap of the band's columns onto the output element it reaches.
  void add_columns(float* out_image, const float* cols, std::int64_t iy0, std::int64_t rows, std::int64_t first_channel,
                   std::int64_t count) const {
    const TransposedProblem& p = p_;
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t i = 0; i < p.kernel_height; ++i) {
        const std::int64_t y = (iy0 + r) * p.stride_height - p.pad_top + i * p.dilation_height;
        if (y >= 0 && y < p.out_height) add_tap_row(out_image, cols, rows, r, i, y, first_channel, count);
      }
    }
  }

  // Taps that never overlap: output rows [first_row, last_row), seeded, each take their one tap row (or none: bias
  // only) from the band's columns.
  void add_disjoint(float* out_image, const float* cols, std::int64_t iy0, std::int64_t rows,
                    std::int64_t first_channel, std::int64_t count, std::int64_t first_row,
                    std::int64_t last_row) const {
    const TransposedProblem& p = p_;
    for (std::int64_t y = first_row; y < std::min(last_row, p.out_height); ++y) {
      // The input row and tap that reach y, if any: y + pad = iy * stride + i * dilation with i * dilation < stride.
      const std::int64_t q = y + p.pad_top, iy = q / p.stride_height, rest = q % p.stride_height;
      if (rest % p.dilation_height != 0 || rest / p.dilation_height >= p.kernel_height || iy < iy0 || iy >= iy0 + rows)
        continue;
      add_tap_row(out_image, cols, rows, iy - iy0, rest / p.dilation_height, y, first_channel, count);
    }
  }

  // Adds the columns of the band's row r and kernel row i, every kernel column j, onto output row y.
  void add_tap_row(float* out_image, const float* cols, std::int64_t rows, std::int64_t r, std::int64_t i,
                   std::int64_t y, std::int64_t first_channel, std::int64_t count) const {
    const DirectUkernels& loops = direct_ukernels();
    const TransposedProblem& p = p_;
    const std::int64_t kh = p.kernel_height, kw = p.kernel_width, sw = p.stride_width;
    const std::int64_t pixels = rows * p.in_width, out_pixels = p.out_pixels();
    for (std::int64_t j = 0; j < kw; ++j) {
      const std::int64_t offset = j * p.dilation_width - p.pad_left;
      const Span span = reaching(p.in_width, p.out_width, sw, offset);
      if (channel_rows_) {
        for (std::int64_t o = 0; o < count; ++o) {
          const float* column = cols + ((o * kh + i) * kw + j) * pixels + r * p.in_width;
          float* row = out_image + (first_channel + o) * out_pixels + y * p.out_width + offset;
          loops.scatter_axpy(row + span.begin * sw, sw, column + span.begin, 1.0f, span.end - span.begin);
        }
      } else if (p.layout == Layout::NCHW) {  // columns by pixel into channel planes: the few-pixel images
        const std::int64_t ld = taps_ * count;
        for (std::int64_t ix = span.begin; ix < span.end; ++ix) {
          const float* column = cols + (r * p.in_width + ix) * ld + (i * kw + j) * count;
          float* target = out_image + first_channel * out_pixels + y * p.out_width + ix * sw + offset;
          for (std::int64_t o = 0; o < count; ++o) target[o * out_pixels] += column[o];
        }
      } else {
        const std::int64_t ld = taps_ * count;
        for (std::int64_t ix = span.begin; ix < span.end; ++ix) {
          const float* column = cols + (r * p.in_width + ix) * ld + (i * kw + j) * count;
          float* target = out_image + (y * p.out_width + ix * sw + offset) * p.out_channels + first_channel;
          loops.add_products(target, nullptr, column, count);
        }
      }
    }
  }

  TransposedProblem p_;
  PostOps post_;
  std::vector<float> bias_;
  bool disjoint_;
  static constexpr std::int64_t kFewPixels = 16;
  std::int64_t taps_ = 0, block_ = 0, blocks_ = 0, band_rows_ = 0, transposed_floats_ = 0;
  // The GEMM's rows are the taps (o, i, j) and its columns the band's pixels (NCHW); otherwise the other way round.
  bool channel_rows_ = true;
  int threads_ = 1;
  // Per group, per block of output channels: the GEMM's weight operand, in panels for convkit's kernels (at
  // panel_offsets_[g * blocks_ + b]) or row-major for the BLAS.
  std::vector<float> weights_;
  std::vector<std::int64_t> panel_offsets_;
  const GemmUkernels* ukernels_ = nullptr;
  WorkerSlices slices_;
};

// ---- direct depthwise
// ------------------------------------------------------------------------------------------------

// One input channel per group (depthwise, with any channel multiplier m): each output row is seeded, then every tap
// of every input row reaching it adds a strided run of input values times one weight (NCHW) or a run of channels
// times the tap's channel weights (NHWC), then finished.
class DepthwisePrimitive final : public Primitive {
 public:
  explicit DepthwisePrimitive(const TransposedArguments& args)
      : p_(args.problem), post_(args.post), bias_(copy_bias(p_, args.bias)) {
    const TransposedProblem& p = p_;
    const TransposedWeights w(p, args.weights);
    const std::int64_t taps = p.kernel_height * p.kernel_width;
    weights_.resize(static_cast<std::size_t>(taps * p.out_channels));  // [tap][o]
    for (std::int64_t o = 0; o < p.out_channels; ++o)
      for (std::int64_t i = 0; i < p.kernel_height; ++i)
        for (std::int64_t j = 0; j < p.kernel_width; ++j)
          weights_[static_cast<std::size_t>((i * p.kernel_width + j) * p.out_channels + o)] =
              w(o / p.group_out_channels, o % p.group_out_channels, i, j);
    threads_ = threads_worth_using(p.flops(), args.threads);
  }

  Algorithm algorithm() const override { return Algorithm::Direct; }
  std::size_t workspace_bytes() const override { return 0; }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void*) const override {
    const TransposedProblem& p = p_;
    const bool nchw = p.layout == Layout::NCHW;
    const std::int64_t units = nchw ? p.batch * p.out_channels : p.batch * p.out_height;
    parallel_for(threads_, units, [&](std::int64_t begin, std::int64_t end, int) {
      for (std::int64_t unit = begin; unit < end; ++unit) {
        if (nchw) {
          const std::int64_t n = unit / p.out_channels, o = unit % p.out_channels;
          for (std::int64_t y = 0; y < p.out_height; ++y) plane_row(input, output, residual_offset, n, o, y);
        } else {
          pixel_row(input, output, residual_offset, unit / p.out_height, unit % p.out_height);
        }
      }
    });
  }

 private:
  // Calls add(iy, i) for every input row iy and tap row i reaching output row y.
  template <typename Add>
  void for_each_reaching_row(std::int64_t y, Add add) const {
    const TransposedProblem& p = p_;
    for (std::int64_t i = 0; i < p.kernel_height; ++i) {
      const std::int64_t q = y + p.pad_top - i * p.dilation_height;
      if (q < 0) break;
      if (q % p.stride_height != 0) continue;
      const std::int64_t iy = q / p.stride_height;
      if (iy < p.in_height) add(iy, i);
    }
  }

  void plane_row(const float* input, float* output, std::ptrdiff_t residual_offset, std::int64_t n, std::int64_t o,
                 std::int64_t y) const {
    const DirectUkernels& loops = direct_ukernels();
    const TransposedProblem& p = p_;
    const std::int64_t c = o / p.group_out_channels, sw = p.stride_width;
    float* row = output + (n * p.out_channels + o) * p.out_pixels() + y * p.out_width;
    seed_block(post_, residual_offset, row, 1, p.out_width, 0, bias_.data() + o, true);
    const float* plane = input + (n * p.in_channels + c) * p.in_pixels();
    for_each_reaching_row(y, [&](std::int64_t iy, std::int64_t i) {
      const float* in_row = plane + iy * p.in_width;
      for (std::int64_t j = 0; j < p.kernel_width; ++j) {
        const float weight = weights_[static_cast<std::size_t>((i * p.kernel_width + j) * p.out_channels + o)];
        const std::int64_t offset = j * p.dilation_width - p.pad_left;
        const Span span = reaching(p.in_width, p.out_width, sw, offset);
        float* target = row + offset;
        loops.scatter_axpy(target + span.begin * sw, sw, in_row + span.begin, weight, span.end - span.begin);
      }
    });
    activate_block(post_, row, 1, p.out_width, 0);
  }

  void pixel_row(const float* input, float* output, std::ptrdiff_t residual_offset, std::int64_t n,
                 std::int64_t y) const {
    const DirectUkernels& loops = direct_ukernels();
    const TransposedProblem& p = p_;
    const std::int64_t co = p.out_channels, ci = p.in_channels, m = p.group_out_channels, sw = p.stride_width;
    float* row = output + (n * p.out_height + y) * p.out_width * co;
    seed_block(post_, residual_offset, row, p.out_width, co, co, bias_.data(), false);
    for_each_reaching_row(y, [&](std::int64_t iy, std::int64_t i) {
      const float* in_row = input + (n * p.in_height + iy) * p.in_width * ci;
      for (std::int64_t j = 0; j < p.kernel_width; ++j) {
        const float* weights = weights_.data() + (i * p.kernel_width + j) * co;
        const std::int64_t offset = j * p.dilation_width - p.pad_left;
        const Span span = reaching(p.in_width, p.out_width, sw, offset);
        for (std::int64_t ix = span.begin; ix < span.end; ++ix) {
          const float* source = in_row + ix * ci;
          float* target = row + (ix * sw + offset) * co;
          if (m == 1) {
            loops.add_products(target, weights, source, co);
          } else {
            for (std::int64_t o = 0; o < co; ++o) target[o] += weights[o] * source[o / m];
          }
        }
      }
    });
    activate_block(post_, row, p.out_width, co, co);
  }

  TransposedProblem p_;
  PostOps post_;
  std::vector<float> bias_;
  std::vector<float> weights_;
  int threads_ = 1;
};

// ---- reference
// -------------------------------------------------------------------------------------------------------

// Each output element gathers the taps that reach it, in double: independent of the GEMM paths' scatter.
class ReferencePrimitive final : public Primitive {
 public:
  explicit ReferencePrimitive(const TransposedArguments& args)
      : p_(args.problem),
        post_(args.post),
        bias_(copy_bias(p_, args.bias)),
        weights_(args.weights, args.weights + args.problem.weights_elements),
        threads_(threads_worth_using(p_.flops(), args.threads)) {}

  Algorithm algorithm() const override { return Algorithm::Reference; }
  std::size_t workspace_bytes() const override { return 0; }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void*) const override {
    const TransposedProblem& p = p_;
    const TransposedWeights w(p, weights_.data());
    const bool nhwc = p.layout == Layout::NHWC;
    const std::int64_t in_c = nhwc ? 1 : p.in_pixels(), in_h = nhwc ? p.in_width * p.in_channels : p.in_width;
    const std::int64_t in_w = nhwc ? p.in_channels : 1;
    const std::int64_t out_c = nhwc ? 1 : p.out_pixels(), out_h = nhwc ? p.out_width * p.out_channels : p.out_width;
    const std::int64_t out_w = nhwc ? p.out_channels : 1;
    parallel_for(threads_, p.batch * p.out_channels, [&](std::int64_t begin, std::int64_t end, int) {
      for (std::int64_t unit = begin; unit < end; ++unit) {
        const std::int64_t n = unit / p.out_channels, o = unit % p.out_channels;
        const std::int64_t g = o / p.group_out_channels, o_local = o % p.group_out_channels;
        const float* image = input + n * p.input_elements / p.batch;
        for (std::int64_t y = 0; y < p.out_height; ++y) {
          for (std::int64_t x = 0; x < p.out_width; ++x) {
            double sum = bias_[static_cast<std::size_t>(o)];
            for (std::int64_t i = 0; i < p.kernel_height; ++i) {
              const std::int64_t qy = y + p.pad_top - i * p.dilation_height;
              if (qy < 0 || qy % p.stride_height != 0 || qy / p.stride_height >= p.in_height) continue;
              for (std::int64_t j = 0; j < p.kernel_width; ++j) {
                const std::int64_t qx = x + p.pad_left - j * p.dilation_width;
                if (qx < 0 || qx % p.stride_width != 0 || qx / p.stride_width >= p.in_width) continue;
                const float* pixel = image + qy / p.stride_height * in_h + qx / p.stride_width * in_w;
                for (std::int64_t cl = 0; cl < p.group_in_channels; ++cl) {
                  const std::int64_t c = g * p.group_in_channels + cl;
                  sum += static_cast<double>(pixel[c * in_c]) * w(c, o_local, i, j);
                }
              }
            }
            float* target = output + n * p.output_elements / p.batch + o * out_c + y * out_h + x * out_w;
            if (post_.residual)
              sum += static_cast<double>(post_.residual_scale) * *residual_at(target, residual_offset);
            *target = activate_value(post_, static_cast<float>(sum));
          }
        }
      }
    });
  }

 private:
  TransposedProblem p_;
  PostOps post_;
  std::vector<float> bias_;
  std::vector<float> weights_;
  int threads_;
};

// ---- the list
// --------------------------------------------------------------------------------------------------------

DeclineReason as_conv_declines(const TransposedProblem& p) {
  Conv2dDesc forward;
  if (p.stride_height != 1 || p.stride_width != 1) return "the stride is not 1";
  if (!forward_equivalent(p, forward)) return "a pad exceeds the dilated kernel's reach";
  return nullptr;
}
DeclineReason depthwise_declines(const TransposedProblem& p) {
  return p.is_depthwise() ? nullptr : "groups have more than one input channel";
}
// The GEMM paths' operands: every dimension within the BLAS's 32-bit index.
DeclineReason gemm_declines(const TransposedProblem& p) {
  const std::int64_t taps = p.kernel_height * p.kernel_width * p.group_out_channels;
  if (!fits_blas_index(p.in_channels * p.in_pixels()) || !fits_blas_index(taps * p.in_width))
    return "a GEMM operand exceeds the BLAS's 32-bit index";
  return nullptr;
}
DeclineReason disjoint_declines(const TransposedProblem& p) {
  if (!p.taps_disjoint()) return "taps overlap: a stride is below its dilated kernel extent";
  return gemm_declines(p);
}
DeclineReason accepts_all(const TransposedProblem&) { return nullptr; }

std::unique_ptr<Primitive> create_depthwise(const TransposedArguments& a) {
  return std::make_unique<DepthwisePrimitive>(a);
}
std::unique_ptr<Primitive> create_disjoint(const TransposedArguments& a) {
  return std::make_unique<GemmPrimitive>(a, true);
}
std::unique_ptr<Primitive> create_col2im(const TransposedArguments& a) {
  return std::make_unique<GemmPrimitive>(a, false);
}
std::unique_ptr<Primitive> create_reference(const TransposedArguments& a) {
  return std::make_unique<ReferencePrimitive>(a);
}

const TransposedImplementation kAsConv{"conv_transpose_as_conv", Algorithm::Auto, as_conv_declines, nullptr};
const TransposedImplementation kList[] = {
    kAsConv,
    {"conv_transpose_direct_depthwise", Algorithm::Direct, depthwise_declines, create_depthwise},
    {"conv_transpose_gemm_disjoint", Algorithm::Gemm1x1, disjoint_declines, create_disjoint},
    {"conv_transpose_gemm_col2im", Algorithm::Im2colGemm, gemm_declines, create_col2im},
    {"conv_transpose_reference", Algorithm::Reference, accepts_all, create_reference},
};

std::string describe(const TransposedProblem& p) {
  return concat("transposed N=", p.batch, " Ci=", p.in_channels, " H=", p.in_height, " W=", p.in_width,
                " Co=", p.out_channels, " K=", p.kernel_height, "x", p.kernel_width, " stride=", p.stride_height, ",",
                p.stride_width, " pad=", p.pad_top, ",", p.pad_left, ",", p.pad_bottom, ",", p.pad_right,
                " output_padding=", p.output_padding_height, ",", p.output_padding_width,
                " dilation=", p.dilation_height, ",", p.dilation_width, " groups=", p.groups,
                p.layout == Layout::NCHW ? " NCHW" : " NHWC");
}

// The entry for the options: auto takes the first that accepts; an algorithm asked for, its first entry that
// accepts, else the forward convolution's entry of that algorithm when the stride is 1.
const TransposedImplementation& choose(const TransposedProblem& p, Algorithm requested) {
  for (const TransposedImplementation& entry : kList) {
    if (requested != Algorithm::Auto && entry.algorithm != requested) continue;
    if (entry.declines(p) == nullptr) return entry;
  }
  if (requested != Algorithm::Auto && as_conv_declines(p) == nullptr) return kAsConv;
  fail(Status::Unsupported, "algorithm ", algorithm_name(requested), " declines ", describe(p),
       ": it has no transposed path for this shape");
}

const TransposedImplementation& find(const char* name) {
  for (const TransposedImplementation& entry : kList)
    if (std::strcmp(entry.name, name) == 0) return entry;
  invalid("no transposed implementation is named \"", name, "\"");
}

// The tensors a run checks its buffers against, as the forward Problem fields the checks read: the transposed
// convolution's own input, output, weights and bias sizes.
Problem buffer_problem(const TransposedProblem& t) {
  Problem p{};
  p.batch = t.batch;
  p.in_channels = t.in_channels;
  p.in_height = t.in_height;
  p.in_width = t.in_width;
  p.out_channels = t.out_channels;
  p.kernel_height = t.kernel_height;
  p.kernel_width = t.kernel_width;
  p.stride_height = t.stride_height;
  p.stride_width = t.stride_width;
  p.pad_top = t.pad_top;
  p.pad_left = t.pad_left;
  p.pad_bottom = t.pad_bottom;
  p.pad_right = t.pad_right;
  p.dilation_height = t.dilation_height;
  p.dilation_width = t.dilation_width;
  p.groups = t.groups;
  p.layout = t.layout;
  p.out_height = t.out_height;
  p.out_width = t.out_width;
  p.group_in_channels = t.group_in_channels;
  p.group_out_channels = t.group_out_channels;
  p.input_elements = t.input_elements;
  p.weights_elements = t.weights_elements;
  p.output_elements = t.output_elements;
  return p;
}

// The options of conv_transpose_as_conv's forward plan: the algorithm asked for, or auto when the entry was named.
// An input smaller than the kernel (a generator's first layer, DCGAN's 1x1 projection to 4x4) becomes a forward
// convolution padded mostly with zeros, which implicit_gemm skips and im2col_gemm would unfold and multiply: auto
// takes implicit_gemm there when this CPU has it.
Options forward_options(const TransposedProblem& p, const Conv2dDesc& forward, const Options& options, bool named) {
  Options chosen = options;
  if (named) chosen.algorithm = Algorithm::Auto;
  if (chosen.algorithm == Algorithm::Auto && (p.in_height < p.kernel_height || p.in_width < p.kernel_width)) {
    Options implicit = chosen;
    implicit.algorithm = Algorithm::ImplicitGemm;
    try {
      chosen_algorithm(forward, implicit);
      return implicit;
    } catch (const Error& error) {
      if (error.status() != Status::Unsupported) throw;
    }
  }
  return chosen;
}

}  // namespace

PlanState make_transposed_plan(const TransposedProblem& problem, const float* weights, const float* bias,
                               const Options& options, const Epilogue* epilogue, const char* implementation) {
  const PlanEpilogue fused = plan_epilogue(options, epilogue);
  if (weights == nullptr) invalid("weights is null");
  const TransposedImplementation& entry =
      implementation != nullptr ? find(implementation) : choose(problem, options.algorithm);
  if (const DeclineReason reason = entry.declines(problem))
    fail(Status::Unsupported, entry.name, " declines ", describe(problem), ": ", reason);
  if (entry.create == nullptr) {
    Conv2dDesc forward;
    forward_equivalent(problem, forward);
    const std::vector<float> forward_weights = forward_equivalent_weights(problem, weights);
    PlanState state = make_plan(make_problem(forward), forward_weights.data(), bias,
                                forward_options(problem, forward, options, implementation != nullptr),
                                /*borrow_weights=*/false, epilogue);
    state.description = concat(entry.name, "(", state.description, ")");
    return state;
  }
  const int threads = resolve_threads(options);
  PlanState plan{buffer_problem(problem), nullptr, entry.name, fused.epilogue, fused.post.residual, threads};
  try {
    plan.primitive = entry.create({problem, weights, bias, fused.post, threads});
  } catch (const std::bad_alloc&) {
    fail(Status::OutOfMemory, "out of memory while preparing ", entry.name, " for ", describe(problem));
  }
  return plan;
}

Algorithm chosen_transposed_algorithm(const TransposedProblem& problem, const Options& options) {
  validate_options(options);
  const TransposedImplementation& entry = choose(problem, options.algorithm);
  if (entry.create != nullptr) return entry.algorithm;
  Conv2dDesc forward;
  forward_equivalent(problem, forward);
  return chosen_algorithm(forward, forward_options(problem, forward, options, false));
}

std::vector<std::string> transposed_implementation_names() {
  std::vector<std::string> names;
  for (const TransposedImplementation& entry : kList) names.emplace_back(entry.name);
  return names;
}

Plan transposed_plan_with(const ConvTranspose2dDesc& desc, const float* weights, const float* bias,
                          const Options& options, const char* implementation, const Epilogue* epilogue) {
  return PlanAccess::plan(
      make_transposed_plan(make_transposed_problem(desc), weights, bias, options, epilogue, implementation));
}

}  // namespace convkit::detail
