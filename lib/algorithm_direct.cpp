// direct: convolution without unfolding or GEMM, for depthwise, small kernels on few channels and tiny shapes.
//
// For each image and group the input is staged into a padded, phase-split copy (kernels/direct_kernels.hpp), then
// the vector kernel computes each output channel row by row, vectorised along the output width, with bias and
// activation applied in registers before the store. Weights are read as they lie, in either layout, through strides.
#include "algorithms.hpp"
#include "kernels/direct_kernels.hpp"
#include "memory.hpp"
#include "packing.hpp"
#include "threading.hpp"

#include <algorithm>
#include <cstring>

namespace convkit::detail {
namespace {

// Below this many FLOPs a call runs on the calling thread: opening an OpenMP parallel region costs a few
// microseconds, the time direct needs for ~2e5 FLOPs. Measured with bench_conv (BM_Conv/direct/*/threads:1 vs
// threads:2): the lesson's shapes (48 and 108 FLOPs) are several times slower with a parallel region, while
// small-channel layers of 1e6 FLOPs and more gain from the second thread.
constexpr double kParallelMinFlops = 2e5;

std::int64_t round_up(std::int64_t value, std::int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

class DirectKernel final : public Kernel {
 public:
  explicit DirectKernel(const KernelArguments& args)
      : p_(args.problem), kernels_(direct_kernels()), activation_(args.activation),
        clamp_min_(args.clamp_min), clamp_max_(args.clamp_max) {
    if (args.borrow_weights) {
      weights_ = args.weights;
      bias_ = args.bias;
    } else {
      owned_weights_ = pack_weights(p_, args.weights, p_.weights_layout);
      owned_bias_ = copy_bias(p_, args.bias);
      weights_ = owned_weights_.get();
      bias_ = owned_bias_.get();
    }
    const std::int64_t cig = p_.group_in_channels, kh = p_.kernel_height, kw = p_.kernel_width;
    if (p_.weights_layout == WeightsLayout::OIHW) {
      weight_stride_c_ = kh * kw, weight_stride_i_ = kw, weight_stride_j_ = 1;
    } else {
      weight_stride_c_ = 1, weight_stride_i_ = kw * cig, weight_stride_j_ = cig;
    }
    const std::int64_t sw = p_.stride_width;
    // Enough for every tap of a whole vector at the last output column (see direct_kernels.hpp).
    row_floats_ = round_up(p_.out_width, kernels_.vector_floats) + (kw - 1) * p_.dilation_width / sw;
    staged_rows_ = (p_.out_height - 1) * p_.stride_height + (kh - 1) * p_.dilation_height + 1;
    plane_floats_ = staged_rows_ * sw * row_floats_;
    // Units of work: (image, group, block of output channels). Enough blocks to feed every thread; each worker
    // stages its (image, group) itself, so splitting a group costs one more staging of it per extra block.
    const int threads = p_.flops() < kParallelMinFlops ? 1 : args.threads;
    const std::int64_t groups_total = p_.batch * p_.groups;
    const std::int64_t blocks = groups_total >= threads ? 1 : std::min(p_.group_out_channels, ceil_div(threads, groups_total));
    block_channels_ = ceil_div(p_.group_out_channels, blocks);
    blocks_per_group_ = ceil_div(p_.group_out_channels, block_channels_);
    units_ = groups_total * blocks_per_group_;
    workers_ = team_size(threads, units_);
    offsets_bytes_ = static_cast<std::size_t>(round_up(kw * static_cast<std::int64_t>(sizeof(std::int64_t)), 64));
    staging_bytes_ = static_cast<std::size_t>(round_up(cig * plane_floats_ * static_cast<std::int64_t>(sizeof(float)), 64));
  }

  Algorithm algorithm() const override { return Algorithm::Direct; }
  std::size_t workspace_bytes() const override { return offsets_bytes_ + staging_bytes_ * workers_; }

  void run(const float* input, float* output, void* workspace) const override {
    auto* bytes = static_cast<unsigned char*>(workspace);
    auto* tap_offsets = reinterpret_cast<std::int64_t*>(bytes);
    for (std::int64_t j = 0; j < p_.kernel_width; ++j) {
      const std::int64_t column = j * p_.dilation_width;
      tap_offsets[j] = (column % p_.stride_width) * row_floats_ + column / p_.stride_width;
    }
    parallel_for(workers_, units_, [&](std::int64_t begin, std::int64_t end, int worker) {
      float* staged = reinterpret_cast<float*>(bytes + offsets_bytes_ + staging_bytes_ * worker);
      std::int64_t staged_unit = -1;  // (image, group) now in `staged`
      for (std::int64_t unit = begin; unit < end; ++unit) {
        const std::int64_t image_group = unit / blocks_per_group_, block = unit % blocks_per_group_;
        const std::int64_t n = image_group / p_.groups, g = image_group % p_.groups;
        if (image_group != staged_unit) {
          stage(input, n, g, staged);
          staged_unit = image_group;
        }
        const std::int64_t first = block * block_channels_;
        const std::int64_t last = std::min(p_.group_out_channels, first + block_channels_);
        for (std::int64_t k = first; k < last; ++k) compute(output, staged, tap_offsets, n, g * p_.group_out_channels + k);
      }
    });
  }

 private:
  // Copies the group's input channels of image n into the padded, phase-split form of direct_kernels.hpp.
  void stage(const float* input, std::int64_t n, std::int64_t g, float* staged) const {
    const bool nchw = p_.layout == Layout::NCHW;
    const std::int64_t H = p_.in_height, W = p_.in_width, sw = p_.stride_width, L = row_floats_;
    const std::int64_t row_stride = nchw ? W : W * p_.in_channels, col_stride = nchw ? 1 : p_.in_channels;
    for (std::int64_t c = 0; c < p_.group_in_channels; ++c) {
      const std::int64_t channel = g * p_.group_in_channels + c;
      const float* plane = nchw ? input + (n * p_.in_channels + channel) * H * W
                                : input + n * H * W * p_.in_channels + channel;
      float* dst_plane = staged + c * plane_floats_;
      for (std::int64_t r = 0; r < staged_rows_; ++r) {
        float* dst_row = dst_plane + r * sw * L;
        const std::int64_t ih = r - p_.pad_top;
        if (ih < 0 || ih >= H) {
          std::fill(dst_row, dst_row + sw * L, 0.0f);
          continue;
        }
        const float* src = plane + ih * row_stride;
        for (std::int64_t q = 0; q < sw; ++q) {
          // Element k is padded column k*sw + q, input column k*sw + q - pad_left.
          float* dst = dst_row + q * L;
          const std::int64_t lo = std::clamp<std::int64_t>(ceil_div(p_.pad_left - q, sw), 0, L);
          const std::int64_t hi = std::clamp<std::int64_t>(ceil_div(W + p_.pad_left - q, sw), lo, L);
          std::fill(dst, dst + lo, 0.0f);
          if (sw == 1 && col_stride == 1) {
            std::memcpy(dst + lo, src + (lo - p_.pad_left), static_cast<std::size_t>(hi - lo) * sizeof(float));
          } else {
            for (std::int64_t k = lo; k < hi; ++k) dst[k] = src[(k * sw + q - p_.pad_left) * col_stride];
          }
          std::fill(dst + hi, dst + L, 0.0f);
        }
      }
    }
  }

  void compute(float* output, const float* staged, const std::int64_t* tap_offsets, std::int64_t n,
               std::int64_t o) const {
    const bool nchw = p_.layout == Layout::NCHW;
    DirectRowsTask t;
    t.staged = staged;
    t.plane_floats = plane_floats_;
    t.row_floats = row_floats_;
    t.phases = p_.stride_width;
    t.channels = p_.group_in_channels;
    t.kernel_height = p_.kernel_height;
    t.kernel_width = p_.kernel_width;
    t.stride_height = p_.stride_height;
    t.dilation_height = p_.dilation_height;
    t.tap_offsets = tap_offsets;
    t.weights = weights_ + o * p_.reduction;
    t.weight_stride_c = weight_stride_c_;
    t.weight_stride_i = weight_stride_i_;
    t.weight_stride_j = weight_stride_j_;
    t.bias = bias_ != nullptr ? bias_[o] : 0.0f;
    t.activation = activation_;
    t.clamp_min = clamp_min_;
    t.clamp_max = clamp_max_;
    t.output = nchw ? output + (n * p_.out_channels + o) * p_.out_pixels()
                    : output + n * p_.out_pixels() * p_.out_channels + o;
    t.out_row_stride = nchw ? p_.out_width : p_.out_width * p_.out_channels;
    t.out_col_stride = nchw ? 1 : p_.out_channels;
    t.out_width = p_.out_width;
    t.row_begin = 0;
    t.row_end = p_.out_height;
    kernels_.rows(t);
  }

  Problem p_;
  const DirectKernels& kernels_;
  const float* weights_;
  const float* bias_;
  AlignedFloats owned_weights_, owned_bias_;
  Activation activation_;
  float clamp_min_, clamp_max_;
  std::int64_t weight_stride_c_, weight_stride_i_, weight_stride_j_;
  std::int64_t row_floats_, staged_rows_, plane_floats_;
  std::int64_t block_channels_, blocks_per_group_, units_;
  int workers_;
  std::size_t offsets_bytes_, staging_bytes_;
};

DeclineReason accepts_all(const Problem&) { return nullptr; }

// Where auto prefers im2col_gemm, measured on the layer suite (README "Algorithms"): direct does one broadcast and
// one FMA per vector per tap, at 30-60 GFLOP/s, while a GEMM reaches 100+ GFLOP/s once the product has enough rows
// (output channels per group) and depth (input channels per group times kernel area) to block for registers.
DeclineReason direct_auto_declines(const Problem& p) {
  if (p.flops() <= 1e5) return nullptr;  // tiny: the GEMM call and unfolding overheads dominate
  if (p.group_out_channels <= 4) return nullptr;  // depthwise and thin groups: a GEMM of <= 4 rows wastes its tiles
  if (p.reduction > 64) return "the reduction (Ci/groups * Kh * Kw) exceeds 64: a GEMM is faster";
  return nullptr;
}

std::unique_ptr<Kernel> create_direct(const KernelArguments& args) { return std::make_unique<DirectKernel>(args); }

}  // namespace

const AlgorithmEntry& direct_algorithm() {
  static const AlgorithmEntry entry{Algorithm::Direct, accepts_all, direct_auto_declines, create_direct};
  return entry;
}

}  // namespace convkit::detail
