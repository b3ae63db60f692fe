// im2col_gemm and gemm_1x1: a convolution as one matrix product per image and group.
//
//   NCHW: out[Co/g x pixels] = W[Co/g x K] * columns[K x pixels]        (columns from im2col, K = Ci/g * Kh * Kw)
//   NHWC: out[pixels x Co/g] = rows[pixels x K] * W[Co/g x K]^T         (rows from im2row; ldc = Co)
// A 1x1 kernel with unit stride and no padding needs no unfolding: the input already is `columns` (NCHW, ld = H*W)
// or `rows` (NHWC, ld = Ci, and all images of the batch form one matrix). gemm_1x1 uses that; im2col_gemm always
// unfolds, so it is the honest measure of the unfolding design on every shape.
#include "algorithms.hpp"
#include "blas.hpp"
#include "epilogue.hpp"
#include "error.hpp"
#include "im2col.hpp"
#include "packing.hpp"
#include "threading.hpp"

#include <initializer_list>

namespace convkit::detail {
namespace {

class GemmKernel final : public Kernel {
 public:
  GemmKernel(const KernelArguments& args, Algorithm algorithm)
      : p_(args.problem),
        algorithm_(algorithm),
        unfold_(!(algorithm == Algorithm::Gemm1x1 && p_.is_unit_stride() && p_.is_unpadded())),
        // The packed weights' reduction order must match the unfolded matrix: (c, i, j) for im2col, (i, j, c) for im2row.
        weights_(pack_weights(p_, args.weights,
                              p_.layout == Layout::NCHW ? WeightsLayout::OIHW : WeightsLayout::OHWI)),
        bias_(copy_bias(p_, args.bias)),
        epilogue_{bias_.get(), args.activation, args.clamp_min, args.clamp_max} {
    // Images of an NHWC batch are one matrix when nothing is unfolded; otherwise one GEMM per image and group.
    units_ = (!unfold_ && p_.layout == Layout::NHWC) ? p_.groups : p_.batch * p_.groups;
    // Many independent GEMMs: one per worker, each single-threaded. Few: one at a time, threaded inside the BLAS.
    workers_ = units_ >= args.threads ? team_size(args.threads, units_) : 1;
    blas_threads_ = workers_ > 1 ? 1 : args.threads;
    buffer_floats_ = unfold_ ? static_cast<std::size_t>(p_.reduction * p_.out_pixels()) : 0;
  }

  Algorithm algorithm() const override { return algorithm_; }
  std::size_t workspace_bytes() const override { return buffer_floats_ * sizeof(float) * workers_; }

  void run(const float* input, float* output, void* workspace) const override {
    parallel_for(workers_, units_, [&](std::int64_t begin, std::int64_t end, int worker) {
      float* buffer = static_cast<float*>(workspace) + buffer_floats_ * worker;
      for (std::int64_t unit = begin; unit < end; ++unit) {
        if (p_.layout == Layout::NCHW) {
          run_nchw(input, output, unit / p_.groups, unit % p_.groups, buffer);
        } else {
          run_nhwc(input, output, unit / p_.groups, unit % p_.groups, buffer);
        }
      }
    });
  }

 private:
  void run_nchw(const float* input, float* output, std::int64_t n, std::int64_t g, float* buffer) const {
    const std::int64_t pixels = p_.out_pixels(), cog = p_.group_out_channels, k = p_.reduction;
    const float* channels = input + (n * p_.in_channels + g * p_.group_in_channels) * p_.in_pixels();
    float* out = output + (n * p_.out_channels + g * cog) * pixels;
    const float* columns = channels;
    if (unfold_) {
      im2col(p_, channels, 0, pixels, buffer);
      columns = buffer;
    }
    sgemm(false, false, cog, pixels, k, weights_.get() + g * cog * k, k, columns, pixels, 0.0f, out, pixels,
          blas_threads_);
    epilogue_.apply_channels_by_row(out, cog, pixels, pixels, g * cog);
  }

  void run_nhwc(const float* input, float* output, std::int64_t n, std::int64_t g, float* buffer) const {
    const std::int64_t cog = p_.group_out_channels, k = p_.reduction;
    const float* pixels = input + n * p_.in_pixels() * p_.in_channels + g * p_.group_in_channels;
    float* out = output + n * p_.out_pixels() * p_.out_channels + g * cog;
    std::int64_t rows = p_.batch * p_.out_pixels(), lda = p_.in_channels;  // the whole batch, read in place
    const float* a = pixels;
    if (unfold_) {
      rows = p_.out_pixels();
      lda = k;
      im2row(p_, pixels, 0, rows, buffer);
      a = buffer;
    }
    sgemm(false, true, rows, cog, k, a, lda, weights_.get() + g * cog * k, k, 0.0f, out, p_.out_channels,
          blas_threads_);
    epilogue_.apply_channels_by_column(out, rows, cog, p_.out_channels, g * cog);
  }

  Problem p_;
  Algorithm algorithm_;
  bool unfold_;
  AlignedFloats weights_;
  AlignedFloats bias_;
  Epilogue epilogue_;
  std::int64_t units_;
  int workers_, blas_threads_;
  std::size_t buffer_floats_;
};

// Every size and leading dimension either orientation may pass to the BLAS.
DeclineReason exceeds_blas_index(const Problem& p) {
  // An NHWC 1x1 product may read the whole batch as one matrix of batch * pixels rows.
  const std::int64_t batch_rows = p.layout == Layout::NHWC && p.is_1x1() ? p.batch * p.in_pixels() : 0;
  for (std::int64_t value : {p.group_out_channels, p.reduction, p.out_pixels(), p.in_pixels(), p.in_channels,
                             p.out_channels, batch_rows}) {
    if (!fits_blas_index(value)) return "a GEMM dimension exceeds the BLAS's 32-bit index";
  }
  return nullptr;
}

DeclineReason gemm_1x1_declines(const Problem& p) {
  if (!p.is_1x1()) return "the kernel is not 1x1";
  return exceeds_blas_index(p);
}

std::unique_ptr<Kernel> create_im2col_gemm(const KernelArguments& args) {
  return std::make_unique<GemmKernel>(args, Algorithm::Im2colGemm);
}

std::unique_ptr<Kernel> create_gemm_1x1(const KernelArguments& args) {
  return std::make_unique<GemmKernel>(args, Algorithm::Gemm1x1);
}

}  // namespace

const AlgorithmEntry& im2col_gemm_algorithm() {
  static const AlgorithmEntry entry{Algorithm::Im2colGemm, exceeds_blas_index, accepts_everything, create_im2col_gemm};
  return entry;
}

const AlgorithmEntry& gemm_1x1_algorithm() {
  static const AlgorithmEntry entry{Algorithm::Gemm1x1, gemm_1x1_declines, accepts_everything, create_gemm_1x1};
  return entry;
}

}  // namespace convkit::detail
